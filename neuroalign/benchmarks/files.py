"""Benchmarks from files: a researcher's own recording, scored without touching the package.

A benchmark file (YAML) names its data relative to its own folder::

    identifier: mylab.v4.encoding
    kind: encoding            # encoding | pls | rsa | cka | ood
    region: V4
    assembly: responses.nc    # a NetCDF assembly in the data contract
    stimuli: images.zip       # an image folder or a zip

Instead of ``assembly``: ``responses: {array: r.npy, rows: rows.csv}`` (an ``.npy`` or
``.npz`` ``(presentation, neuroid)`` array with a CSV of ``stimulus_id`` and optional
``repetition`` per row), ``fmri: {maps: betas.nii.gz, mask: roi.nii.gz, table: vols.csv}``
(nilearn masker), or ``rdms: rdms.nc`` (an RDM set, for ``kind: rsa``). ``options``:
``n_splits``, ``ceiling`` (``reliability`` | ``internal_consistency``), ``protocol``
(``neuroalign`` | ``brainscore``), ``method`` (RSA), ``debiased`` (CKA), ``n_halves``,
and for OOD ``split`` with its keys. The file is validated against a schema and every
path must stay inside the file's folder; an error names the file and the key.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import yaml

from ..errors import DataError
from ..guard import record_inputs
from ..yamlsafe import describe, safe_load
from . import Benchmark
from .imported import options_block

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["identifier", "kind", "region", "stimuli"],
    "properties": {
        "identifier": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.]*$"},
        "version": {"type": "integer", "minimum": 1},
        "kind": {"enum": []},  # the registered metric kinds, filled in by schema()
        "region": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "stimuli": {"type": "string"},
        "assembly": {"type": "string"},
        "responses": {"type": "object", "additionalProperties": False, "required": ["array", "rows"],
                      "properties": {"array": {"type": "string"}, "rows": {"type": "string"},
                                     "key": {"type": "string"}}},
        "fmri": {"type": "object", "additionalProperties": False, "required": ["maps", "mask", "table"],
                 "properties": {"maps": {"type": "string"}, "mask": {"type": "string"}, "table": {"type": "string"}}},
        "rdms": {"type": "string"},
        "options": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "n_splits": {"type": "integer", "minimum": 2},
                "ceiling": {"enum": ["reliability", "internal_consistency"]},
                "protocol": {"enum": []},  # schema(): the records' protocols
                "method": {"type": "string"},
                "debiased": {"type": "boolean"},
                "n_halves": {"type": "integer", "minimum": 2},
                "split": {"enum": []},  # schema(): the OOD split kinds
                "column": {"type": "string"}, "train": {"type": "string"}, "test": {"type": "string"},
                "statistic": {"type": "string"}, "direction": {"enum": ["low_to_high", "high_to_low"]},
                "n_clusters": {"type": "integer", "minimum": 2}, "n_held_out": {"type": "integer", "minimum": 1},
            },
        },
    },
    "oneOf": [{"required": ["assembly"]}, {"required": ["responses"]}, {"required": ["fmri"]},
              {"required": ["rdms"]}],
}
DATA_KEYS = ("assembly", "responses", "fmri", "rdms")


def schema() -> dict:
    """:data:`SCHEMA` with the enums read from their tables: ``kind`` from the metric-kind records
    (plugins' too), ``protocol`` from their protocols, ``split`` from the OOD split kinds."""
    from ..scorers import kinds, protocols
    from ..scorers.ood import SPLITS

    props = SCHEMA["properties"]
    options = {**props["options"], "properties": {**props["options"]["properties"],
                                                  "protocol": {"enum": list(protocols())},
                                                  "split": {"enum": list(SPLITS)}}}
    return {**SCHEMA, "properties": {**props, "kind": {"enum": list(kinds())}, "options": options}}


def _inside(folder: Path, rel: str, source: Path, key: str) -> Path:
    """``rel`` resolved against the benchmark's folder; refuses a path that leaves it."""
    path = (folder / rel).resolve()
    if Path(rel).is_absolute() or (path != folder and folder not in path.parents):
        raise DataError(f"benchmark file {source}: {key} = {rel!r} points outside the benchmark's folder {folder}; "
                        "put the data beside the file (or in a folder under it).")
    if not path.exists():
        raise DataError(f"benchmark file {source}: {key} = {rel!r} does not exist ({path}).")
    return path


def read_benchmark_spec(path: str | os.PathLike) -> dict:
    """The validated contents of a benchmark file (schema errors name the file and the key)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"benchmark file {path} does not exist.")
    try:
        spec = safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"benchmark file {path} is not valid YAML{describe(exc)}.") from None
    if not isinstance(spec, dict):
        raise DataError(f"benchmark file {path}: expected a mapping of keys (identifier, kind, region, ...).")
    data = [k for k in DATA_KEYS if k in spec]
    if len(data) != 1:
        raise DataError(f"benchmark file {path}: give exactly one of {', '.join(DATA_KEYS)} "
                        f"(found {data or 'none'}).")
    errors = sorted(jsonschema.Draft7Validator(schema()).iter_errors(spec), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(map(str, e.absolute_path)) or "(top level)"
        if e.validator == "required":
            where = e.message.split("'")[1]
            raise DataError(f"benchmark file {path}: missing key {where!r} (needed: identifier, kind, region, "
                            "stimuli and one of assembly, responses, fmri, rdms).")
        if e.validator == "additionalProperties":
            raise DataError(f"benchmark file {path}: {e.message} at {where}.")
        raise DataError(f"benchmark file {path}: key {where}: {e.message}.")
    if spec["kind"] == "ood" and "split" not in spec.get("options", {}):
        raise DataError(f"benchmark file {path}: kind 'ood' needs options/split (label, statistic or clusters).")
    if "rdms" in spec and spec["kind"] != "rsa":
        raise DataError(f"benchmark file {path}: key rdms serves kind 'rsa' only (this file says {spec['kind']!r}).")
    return spec


def _npy_assembly(folder: Path, r: dict, source: Path, region: str):
    arr_path = _inside(folder, r["array"], source, "responses/array")
    rows_path = _inside(folder, r["rows"], source, "responses/rows")
    return read_array_assembly(arr_path, rows_path, key=r.get("key"), where=f"benchmark file {source}",
                               region=region)


def read_array_assembly(arr_path: Path, rows_path: Path, *, key: str | None, where: str, region: str):
    """An ``.npy``/``.npz`` response array and its rows CSV as an assembly (``key``: the array in an .npz)."""
    rows = pd.read_csv(rows_path, dtype={"stimulus_id": str})
    try:
        if arr_path.suffix == ".npz":
            with np.load(arr_path, allow_pickle=False) as z:
                key = key or (z.files[0] if len(z.files) == 1 else None)
                if key is None or key not in z.files:
                    raise DataError(f"{where}: responses/key must name one of {z.files} in {arr_path.name}.")
                values = z[key]
        else:
            values = np.load(arr_path, allow_pickle=False)
    except DataError:
        raise
    except ValueError as exc:  # object arrays need pickle, which could run code: never loaded
        if "allow_pickle" in str(exc):
            raise DataError(f"{where}: {arr_path} holds an object (pickled) array; save the responses as numbers, "
                            "e.g. np.save(path, values.astype('float64')).") from None
        raise DataError(f"{where}: {arr_path} is not a readable .npy/.npz array ({exc}).") from None
    return array_to_assembly(values, rows, where=f"{where} (responses)", region=region, rows_path=rows_path)


def array_to_assembly(values: np.ndarray, rows: pd.DataFrame, *, where: str, region: str | None = None,
                      neuroid_ids=None, rows_path: Path | None = None):
    """``(presentation, neuroid)`` values and a row table (``stimulus_id`` [, ``repetition``]) as an
    assembly; numbers only, all finite (a NaN/Inf neuroid is refused by name, not scored as 0)."""
    from ..data.assembly import make_assembly

    values = np.asarray(values)
    if values.ndim != 2:
        raise DataError(f"{where}: the response array must be 2-D (presentation, neuroid); got shape {values.shape}.")
    if values.dtype.kind not in "biuf":
        raise DataError(f"{where}: the response array has dtype {values.dtype}; responses must be real numbers.")
    if "stimulus_id" not in rows.columns:
        raise DataError(f"{where}: the rows table needs a 'stimulus_id' column (has {list(rows.columns)}).")
    if len(rows) != values.shape[0]:
        hint = (" The array looks transposed (its columns match the table's rows): save array.T, shaped "
                "(presentation, neuroid).") if values.shape[1] == len(rows) else ""
        raise DataError(f"{where}: {values.shape[0]} response rows but {len(rows)} rows in the table.{hint}")
    extra = {c: rows[c].to_numpy() for c in rows.columns if c not in ("stimulus_id", "repetition")}
    da = make_assembly(values.astype(np.float64), stimulus_id=rows["stimulus_id"].astype(str).to_numpy(),
                       repetition=_repetitions(rows, rows_path or where), neuroid_id=neuroid_ids,
                       region=region or "unknown", presentation_coords=extra or None)
    bad = ~np.isfinite(da.values).all(axis=0)
    if bad.any():
        names = da["neuroid_id"].values[bad].tolist()
        raise DataError(f"{where}: {int((~np.isfinite(da.values)).sum())} NaN/Inf value(s) in {len(names)} neuroid(s) "
                        f"{names[:10]}; drop those neuroids or fill the values before importing.")
    return da


def _repetitions(rows: pd.DataFrame, source) -> np.ndarray | None:
    """The rows table's ``repetition`` column as whole numbers (None without one)."""
    if "repetition" not in rows.columns:
        return None
    rep = pd.to_numeric(rows["repetition"], errors="coerce")
    bad = rep.isna() | (rep != rep.round())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: repetition must be a whole number on every row; row {i + 1} has "
                        f"{rows['repetition'].iloc[i]!r}.")
    return rep.to_numpy().astype(np.int64)


@lru_cache(maxsize=16)
def _load_data(path: str, mtime: float):
    """The file benchmark's neural data, checked against its stimuli (cached per file version)."""
    from ..data.assembly import load_assembly, validate_assembly
    from ..data.stimuli import StimulusSet

    source = Path(path)
    spec = read_benchmark_spec(source)
    folder = source.parent.resolve()
    stim_path = _inside(folder, spec["stimuli"], source, "stimuli")
    stimuli = StimulusSet.from_zip(stim_path) if stim_path.suffix.lower() == ".zip" else \
        StimulusSet.from_folder(stim_path)
    region = spec["region"]
    if "assembly" in spec:
        try:
            data = load_assembly(_inside(folder, spec["assembly"], source, "assembly"))
        except DataError as exc:
            if str(source) in str(exc):
                raise
            raise DataError(f"benchmark file {source}: key assembly: {exc}") from None
    elif "responses" in spec:
        data = _npy_assembly(folder, spec["responses"], source, region)
    elif "fmri" in spec:
        from ..data.fmri import load_fmri_betas

        f = spec["fmri"]
        data = load_fmri_betas(_inside(folder, f["maps"], source, "fmri/maps"),
                               _inside(folder, f["mask"], source, "fmri/mask"),
                               _inside(folder, f["table"], source, "fmri/table"), region=region)
    else:
        from ..atomic import read_netcdf

        data = read_netcdf(_inside(folder, spec["rdms"], source, "rdms"), what="RDM file", array=True)
        if set(data.dims) != {"rdm", "row", "col"}:
            raise DataError(f"benchmark file {source}: rdms must have dims (rdm, row, col); got {data.dims}.")
    if "rdms" not in spec:
        try:
            validate_assembly(data, name=f"{source} ({'assembly' if 'assembly' in spec else 'responses'})")
        except DataError as exc:
            raise DataError(f"benchmark file {source}: {exc}") from None
        ids = np.unique(data["stimulus_id"].values.astype(str))
    else:
        ids = data["row"].values.astype(str)
    missing = [s for s in ids if s not in stimuli]
    if missing:
        raise DataError(f"benchmark file {source}: {len(missing)} stimulus_id(s) of the responses are not among the "
                        f"{len(stimuli)} images of {spec['stimuli']}, e.g. {', '.join(map(str, missing[:5]))}; ids are the "
                        "image file names without extension.")
    return spec, data, str(stim_path)


def load_benchmark_file(path: str | os.PathLike) -> Benchmark:
    """A :class:`Benchmark` from a benchmark file; nothing is written."""
    source = Path(path).resolve()
    spec, _, stim = _load_data(str(source), source.stat().st_mtime if source.exists() else 0.0)
    options = dict(spec.get("options", {}))
    if "rdms" in spec:
        options["rdms_file"] = spec["rdms"]
    return Benchmark(
        spec["identifier"], spec["kind"], spec["region"], stim,
        spec.get("description", f"from {source}"), options, source=f"file:{source}",
        loader=lambda: _load_data(str(source), source.stat().st_mtime)[1], version=int(spec.get("version", 1)),
    )


def import_data(array: str | os.PathLike, rows: str | os.PathLike, stimuli: str | os.PathLike,
                out_dir: str | os.PathLike, *, identifier: str, kind: str = "encoding", region: str = "unknown",
                key: str | None = None, options: dict | None = None) -> Path:
    """Turn ``(array, stimulus ids, images)`` into a checked assembly and a benchmark file.

    Writes ``out_dir/responses.nc``, a copy of the images (``images.zip`` or ``images/``)
    and ``out_dir/benchmark.yaml``, which is loaded back (the same checks as scoring)
    before the folder appears; ``out_dir`` must not exist yet. Returns the benchmark file.
    """
    import shutil

    from ..data.assembly import save_assembly
    from ..scorers import standalone_kinds

    if kind not in standalone_kinds():
        raise DataError(f"import-data: kind {kind!r} is not one of {', '.join(standalone_kinds())} (the kinds whose "
                        "benchmarks need only their data); nothing was written.")
    out_dir, array, rows, stimuli = Path(out_dir), Path(array), Path(rows), Path(stimuli)
    if out_dir.exists():
        raise DataError(f"import-data: {out_dir} already exists; choose a new folder (nothing was written).")
    for p, what in ((array, "response array"), (rows, "rows table"), (stimuli, "stimuli")):
        if not p.exists():
            raise DataError(f"import-data: {what} {p} does not exist.")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        assembly = read_array_assembly(array, rows, key=key, where=f"import-data {rows}", region=region)
        _check_images(stimuli)
        check_ids(assembly, rows, stimuli)
        save_assembly(assembly, tmp / "responses.nc")
        if stimuli.is_dir():
            shutil.copytree(stimuli, tmp / "images")
            stim_rel = "images"
        else:
            shutil.copy2(stimuli, tmp / "images.zip")
            stim_rel = "images.zip"
        spec = {"identifier": identifier, "kind": kind, "region": region, "assembly": "responses.nc",
                "stimuli": stim_rel, "description": f"imported from {array.name} + {rows.name} + {stimuli.name}"}
        text = yaml.safe_dump(spec, sort_keys=False) + options_block(kind, options)
        (tmp / "benchmark.yaml").write_text(text)
        load_benchmark_file(tmp / "benchmark.yaml").load()  # every check a score would make
        _load_data.cache_clear()
        record_inputs([array, rows, stimuli], tmp)  # later commands refuse to write over these
        tmp.rename(out_dir)
    except DataError as exc:  # the checks ran on the temporary copy: name the user's folder
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(str(exc).replace(str(tmp.resolve()), str(out_dir.resolve())).replace(str(tmp), str(out_dir))
                        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "benchmark.yaml"


def _check_images(stimuli: Path) -> None:
    """Every image import-data will copy: no link leading out of the folder (it would be copied
    in), and each one decodes, so a broken image is named now rather than at score time."""
    from ..data.stimuli import StimulusSet

    if stimuli.is_dir():
        root = stimuli.resolve()
        for p in sorted(stimuli.rglob("*")):
            if p.is_symlink() and not p.resolve().is_relative_to(root):
                raise DataError(f"import-data: {p} is a link to {p.resolve()}, outside the image folder {stimuli}; "
                                "copy the image into the folder instead (nothing was written).")
        images = StimulusSet.from_folder(stimuli, color="convert")
    else:
        images = StimulusSet.from_zip(stimuli, color="convert")
    for sid in images.stimulus_ids:
        images.load_image(sid)


def check_ids(assembly, rows: Path, stimuli: Path) -> None:
    """Every stimulus_id of the rows table names an image (said in the user's terms, before anything is written)."""
    from ..data.stimuli import StimulusSet

    images = StimulusSet.from_folder(stimuli) if stimuli.is_dir() else StimulusSet.from_zip(stimuli)
    ids = pd.unique(assembly["stimulus_id"].values.astype(str))
    missing = [str(s) for s in ids if s not in images]
    if missing:
        stripped = [Path(s).stem for s in missing if Path(s).suffix and Path(s).stem in images]
        hint = (f" ids are file names without extension: write {stripped[0]!r}, not {missing[0]!r}."
                if stripped else " ids are the image file names without extension.")
        raise DataError(f"import-data: {len(missing)} stimulus_id(s) of {rows} are not among the {len(images)} images "
                        f"of {stimuli}, e.g. {', '.join(missing[:5])};{hint}")
