"""The ``neuroalign`` command. Thin: every subcommand calls the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ConfigError, DataError, NeuroalignError


def _print_table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    rows = [{c: _cell(r.get(c, "")) for c in columns} for r in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in columns))


def _cell(value) -> str:
    """A table cell; a missing value (None, NA, NaN) reads "–", not "None"."""
    text = str(value)
    return "–" if text in ("None", "<NA>", "nan") else text


def cmd_datasets(args: argparse.Namespace) -> int:
    import os

    from .data.registry import ENV_VAR, data_dir, status

    if args.data_dir:  # an explicit flag beats the environment
        os.environ[ENV_VAR] = str(args.data_dir)
    rows = status(present_only=not args.all)
    print(f"data directory: {data_dir()}")
    _print_table(rows, ["dataset", "file", "present", "checksum", "path"])
    bad = [r for r in rows if r["checksum"] == "MISMATCH"]
    if args.check:
        missing = [r for r in rows if not r["present"]] if args.all else []
        if bad or missing:
            print(f"{len(bad)} file(s) fail their checksum, {len(missing)} missing.", file=sys.stderr)
            return 1
        if not rows:
            print("no dataset files found: set NEUROALIGN_DATA.", file=sys.stderr)
            return 1
    if args.output:
        import pandas as pd

        from .atomic import atomic_path

        with atomic_path(args.output) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    return 1 if bad else 0


def _datasets_parser(sub) -> None:
    d = sub.add_parser("datasets", help="list registered dataset files, where they are and whether checksums hold",
                       description="List each registered dataset file: its local path, presence and SHA-256 check.")
    d.add_argument("--all", action="store_true", help="also list registered files that are not present locally")
    d.add_argument("--check", action="store_true", help="exit non-zero on a checksum mismatch (or, with --all, a missing file)")
    d.add_argument("--data-dir", default=None, help="data directory (default: $NEUROALIGN_DATA, then the user cache)")
    d.add_argument("--output", type=Path, default=None, help="also write the table as CSV")
    d.set_defaults(func=cmd_datasets)

def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (batch sizes, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str, *, zero_ok: bool) -> float:
    """argparse type body: a finite number > 0 (>= 0 with ``zero_ok``); nan and inf are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 if zero_ok else value > 0) or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>=' if zero_ok else '>'} 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: memory budgets, learning rates, durations."""
    return _number(text, zero_ok=False)


def _nonnegative_float(text: str) -> float:
    """argparse type: weights and pauses, where 0 means none."""
    return _number(text, zero_ok=True)


def _progress() -> bool:
    """Progress bars on a terminal only: a log file or pipe (the workflow's logs) stays quiet."""
    return sys.stderr.isatty()


def _budget(args) -> float | None:
    return None if getattr(args, "budget_gb", None) is None else float(args.budget_gb) * 1e9


def cmd_models(args: argparse.Namespace) -> int:
    from .models import available_models, list_layers, load_model

    if args.layers:
        model = load_model(args.layers)
        print(f"{model.name}  identity {model.identity}")
        print("default layers:", ", ".join(model.layers))
        print("all layers:")
        for name in list_layers(model):
            print(" ", name)
        return 0
    from .models.registry import spec_help

    if args.all:
        for spec in available_models():
            print(spec)
        return 0
    print("Model specs (the MODEL of extract, score, rdms, finetune):")
    for spec, what in spec_help().items():
        print(f"  {spec}\n      {what}")
    print("`neuroalign models --all`: every named model and torchvision architecture;\n"
          "`neuroalign models --layers SPEC`: a model's layers.")
    return 0


def _models_parser(sub) -> None:
    m = sub.add_parser("models", help="list model specs, or the layers of one model",
                       description="List the model spec forms (named models, torchvision:, timm:, checkpoint:, plugin:). "
                                   "Example: neuroalign models --layers timm:resnet18")
    m.add_argument("--layers", metavar="MODEL", default=None, help="print the identity and layer names of MODEL")
    m.add_argument("--all", action="store_true", help="list every named model and torchvision:<arch> spec")
    m.set_defaults(func=cmd_models)

def cmd_benchmarks(args: argparse.Namespace) -> int:
    from .benchmarks import availability, benchmarks, get_benchmark

    chosen = list(benchmarks().values()) if not args.files else [get_benchmark(str(f)) for f in args.files]
    if not args.files:  # Brain-Score datasets converted earlier (brainscore:<id>) are local too
        from .interop.brainscore_benchmarks import cached

        for ident in cached():
            try:
                chosen.append(get_benchmark(f"brainscore:{ident}"))
            except NeuroalignError as exc:  # several regions: name one; list what the cache holds
                print(f"brainscore:{ident}: {exc}", file=sys.stderr)
    rows = [{"benchmark": b.identifier, "kind": b.kind, "region": b.region, "stimuli": b.stimulus_set,
             "data": availability(b), "source": b.source, "description": b.description} for b in chosen]
    n_all = len(rows)
    keep = {"kind": lambda r: r["kind"] == args.kind, "region": lambda r: r["region"].lower() == args.region.lower(),
            "local": lambda r: r["data"] == "local"}
    for key, test in keep.items():
        if getattr(args, key):
            rows = [r for r in rows if test(r)]
    _print_table(rows, ["benchmark", "kind", "region", "data"] + (["stimuli", "description"] if args.long else []))
    n_local = sum(r["data"] == "local" for r in rows)
    print(f"{len(rows)} of {n_all} benchmarks shown, {n_local} with their data here (data directory: NEUROALIGN_DATA).\n"
          "Filter with --kind, --region, --local; --long adds stimulus sets and descriptions.")
    return 0


def _benchmarks_parser(sub) -> None:
    b = sub.add_parser("benchmarks", help="list registered benchmarks (built-in, plugins) and whether their data is here",
                       description="Example: neuroalign benchmarks   |   neuroalign benchmarks mylab/bench.yaml")
    b.add_argument("files", nargs="*", type=Path, help="benchmark files (.yaml) to check and describe instead")
    b.add_argument("--kind", default=None, help="only this kind: encoding | pls | rsa | cka | ood")
    b.add_argument("--region", default=None, help="only this region, e.g. V4, IT (case-insensitive)")
    b.add_argument("--local", action="store_true", help="only benchmarks whose data is here")
    b.add_argument("--long", action="store_true", help="also the stimulus set and the description of each")
    b.set_defaults(func=cmd_benchmarks)

STIMULI_HELP = ("a named set (synthetic, kriegeskorte2008_92, cowley2023_v4-<session>), or the path of a folder "
                 "of images or a .zip of images of your own (ids are the file names without extension)")


def _load_stimuli(name: str, color: str = "error"):
    """``--stimuli``: a folder or zip that exists, a path that does not (said so), or a named set."""
    import copy
    import os

    from .benchmarks import load_stimulus_set
    from .data.stimuli import StimulusSet

    path = Path(name).expanduser()
    if path.is_dir():
        return StimulusSet.from_folder(path, color=color)
    if path.is_file() and path.suffix.lower() == ".zip":
        return StimulusSet.from_zip(path, color=color)
    if path.exists():
        raise DataError(f"--stimuli {name}: {path} is a file but not a .zip; give a folder of images or a zip.")
    if "/" in name or os.sep in name or path.suffix.lower() == ".zip" or name.startswith((".", "~")):
        raise DataError(f"--stimuli {name}: the folder or zip {path.absolute()} does not exist.")
    stimuli = load_stimulus_set(name)
    if color != stimuli.color:  # named sets are cached: change a copy
        stimuli = copy.copy(stimuli)
        stimuli.color = color
    return stimuli


def _sandboxed(args: argparse.Namespace, stimuli, source: str):
    """Activations of untrusted code (``--sandbox``): computed in the sandbox, checked and cached by the host."""
    from .boundary import Job, require_sandbox, sandboxed_features

    from .limits import positive_finite

    require_sandbox(args.model)
    job = Job(args.model, source, args.layers, reduction=args.reduction, batch_size=getattr(args, "batch_size", 32),
              device=str(args.device), timeout=positive_finite(args.timeout, "--timeout"),
              memory_gb=positive_finite(args.memory_gb, "--memory-gb"), color=getattr(args, "color", "error"))
    feats, info = sandboxed_features(job, stimuli, cache_dir=args.cache_dir, pinned=args.pinned, budget=_budget(args))
    print(f"sandboxed extraction ({info['limits']}): arrays checked by the host", file=sys.stderr)
    return feats, info


def _features(args: argparse.Namespace, model, stimuli, source: str):
    """``({layer: activations}, {"name", "identity"})`` of MODEL, sandboxed or not."""
    if args.sandbox:
        feats, info = _sandboxed(args, stimuli, source)
        return feats, {"name": getattr(args, "name", None) or args.model, "identity": info["identity"]}
    from .activations import extract

    feats = extract(model, stimuli, args.layers or model.layers, reduction=args.reduction,
                    batch_size=getattr(args, "batch_size", 32), device=args.device, cache_dir=args.cache_dir,
                    budget_bytes=_budget(args), progress=_progress())
    return feats, {"name": model.name, "identity": model.identity}


def cmd_extract(args: argparse.Namespace) -> int:
    """One or more stimulus sets in one process (the workflow extracts all of a model's sets
    this way: one interpreter, torch start-up and model load); each set's manifest is written
    as soon as its stores are complete."""
    from .activations import extraction_manifest, write_manifest
    from .boundary import Refused
    from .models import load_model

    for flag, paths in (("--manifest", args.manifest), ("--out", args.out)):
        if paths and len(paths) != len(args.stimuli):
            raise ConfigError(f"{flag} was given {len(paths)} time(s) for {len(args.stimuli)} --stimuli; "
                              f"give one {flag} per --stimuli, in the same order (or none).")
    model = None if args.sandbox else load_model(args.model)  # untrusted code is never loaded here
    for i, name in enumerate(args.stimuli):
        stimuli = _load_stimuli(name, args.color)
        try:
            feats, who = _features(args, model, stimuli, name)
        except Refused as exc:
            if not (args.record_refusal and args.manifest):
                raise
            info = {"model": args.model, "stimuli": name, "refused": str(exc)}
            print(f"{args.model} on {name}: {exc}", file=sys.stderr)
        else:
            info = extraction_manifest(who, name, stimuli, args.reduction, feats, sandboxed=bool(args.sandbox))
            for k, v in info["layers"].items():
                print(f"{k}: {v['shape'][0]} stimuli x {v['shape'][1]} features -> {v['store'] or '(in memory)'}")
            stores = {str(Path(v["store"]).parent) for v in info["layers"].values() if v["store"]}
            if stores:
                print(f"activations (Zarr stores, reused by `score` and `rdms`): {', '.join(sorted(stores))}")
            if args.out:
                from .activations.export import write_features

                write_features(feats, args.out[i], {k: v for k, v in info.items() if k != "layers"})
                print(f"activations for xarray (xr.open_dataset / xr.open_zarr): {args.out[i]}")
        if args.manifest:
            write_manifest(info, args.manifest[i])
            print(f"manifest: {args.manifest[i]}", flush=True)
    return 0


def _extract_parser(sub) -> None:
    e = sub.add_parser("extract", help="extract activations of MODEL to stimulus sets into the cache",
                       description="Example: neuroalign extract efficientnet-lite0 --stimuli kriegeskorte2008_92. "
                                   "Repeat --stimuli (with one --manifest each) to extract several in one process.")
    e.add_argument("model", help="model spec, e.g. efficientnet-lite0 or torchvision:resnet18")
    e.add_argument("--stimuli", required=True, action="append", help=STIMULI_HELP + "; repeatable")
    e.add_argument("--color", choices=("error", "convert"), default="error",
                   help="grayscale, RGBA or palette images: 'error' (default) names the first such file, "
                        "'convert' converts them to RGB")
    e.add_argument("--batch-size", type=_positive_int, default=32)
    e.add_argument("--manifest", type=Path, action="append", default=None,
                   help="write a JSON summary of the stores here (one per --stimuli, in order)")
    e.add_argument("--out", type=Path, action="append", default=None,
                   help="also write the activations to FILE.nc (NetCDF) or FILE.zarr (consolidated Zarr), one "
                        "variable per layer, readable with plain xarray (one per --stimuli, in order)")
    _add_extraction_args(e)
    e.set_defaults(func=cmd_extract)

def cmd_score(args: argparse.Namespace) -> int:
    """One or more benchmarks in one process (one interpreter, torch start-up and model load):
    the workflow scores every benchmark of a stimulus set this way. Each benchmark's outputs
    are written (atomically) as soon as it is scored, so a later failure keeps the earlier ones."""
    from .atomic import atomic_path
    from .boundary import Refused
    from .models import load_model
    from .scoring import result_rows, save_score

    benches = args.benchmark
    for flag, paths in (("--out", args.out), ("--table", args.table)):
        if paths and len(paths) != len(benches):
            raise ConfigError(f"{flag} was given {len(paths)} time(s) for {len(benches)} --benchmark(s); "
                              f"give one {flag} per --benchmark, in the same order (or none).")
    model = None if args.sandbox else load_model(args.model)  # untrusted code is never loaded here
    if model is not None and args.name:
        model.name = args.name
    for i, bench in enumerate(benches):
        try:
            ds = _score_one(args, model, bench)
        except Refused as exc:
            if not (args.record_refusal and (args.out or args.table)):
                raise
            _write_refusal(args, i, bench, str(exc))
            continue
        a = ds.attrs
        print(f"{a['model']} on {a['benchmark']} ({a['kind']}): layer {a['layer']}")
        print(f"  raw {a['aggregate_raw']:.4f}  ceiling {a['aggregate_ceiling']:.4f}  "
              f"normalized {a['aggregate_normalized']:.4f}  [{a['normalization']}]")
        print(f"  layer selection: {a['layer_selection']}", flush=True)
        if args.out:
            save_score(ds, args.out[i])
        if args.table:
            with atomic_path(args.table[i]) as tmp:
                result_rows(ds).to_csv(tmp, index=False)
    return 0


def _score_parser(sub) -> None:
    sc = sub.add_parser("score", help="score MODEL on one or more benchmarks",
                        description="Example: neuroalign score efficientnet-lite0 --benchmark cowley2023.210325.encoding. "
                                    "Repeat --benchmark (with one --out / --table each) to score several in one process.")
    sc.add_argument("model", help="model spec")
    sc.add_argument("--benchmark", required=True, action="append",
                    help="benchmark id (see `neuroalign benchmarks`), the path of a benchmark file (.yaml), "
                         "or brainscore:<dataset identifier>; repeatable")
    sc.add_argument("--name", default=None, help="name to record for the model (default: its spec)")
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--dask", default=None, help="fit ridge targets on a dask cluster: local | slurm | <address>")
    sc.add_argument("--dask-workers", type=_positive_int, default=2,
                    help="workers (local) or jobs (slurm; queue/account from dask-jobqueue's config) to start")
    sc.add_argument("--protocol", default=None,  # checked against the metric-kind records by score()
                    help="PLS benchmarks: 'brainscore' reproduces Brain-Score's number (all images, its splits and "
                         "ceiling); default 'neuroalign' chooses the layer without the reported images")
    sc.add_argument("--out", type=Path, action="append", default=None,
                    help="write the Score as NetCDF (one per --benchmark, in order)")
    sc.add_argument("--table", type=Path, action="append", default=None,
                    help="write the results-table rows as CSV (one per --benchmark, in order)")
    _add_extraction_args(sc)
    sc.set_defaults(func=cmd_score)

def _score_one(args: argparse.Namespace, model, bench: str):
    """One benchmark's Score; with ``--sandbox`` the host scores the checked arrays (no model here)."""
    from types import SimpleNamespace

    from .benchmarks import get_benchmark
    from .scoring import score

    features = None
    if model is None:
        b = get_benchmark(bench)
        feats, who = _features(args, None, b.stimuli(), b.stimulus_set)
        features = {k: v.load() for k, v in feats.items()}
        model = SimpleNamespace(**who, is_twin=False)
    return score(model, bench, layers=args.layers, reduction=args.reduction, seed=args.seed, features=features,
                 device=args.device, cache_dir=args.cache_dir, budget_bytes=_budget(args), progress=_progress(),
                 dask=args.dask, dask_workers=args.dask_workers, protocol=args.protocol)


def _write_refusal(args: argparse.Namespace, i: int, bench: str, reason: str) -> None:
    """``--record-refusal``: the outputs say "refused: reason" (the leaderboard shows it), never a score."""
    from .atomic import atomic_path, write_netcdf
    from .scoring import refusal_rows

    rows = refusal_rows(args.name or args.model, bench, reason)
    print(f"{args.name or args.model} on {bench}: {reason}", file=sys.stderr)
    if args.out:
        import xarray as xr

        write_netcdf(xr.Dataset(attrs={k: str(v) for k, v in rows.iloc[0].items() if isinstance(v, str)}), args.out[i])
    if args.table:
        with atomic_path(args.table[i]) as tmp:
            rows.to_csv(tmp, index=False)


def cmd_import_data(args: argparse.Namespace) -> int:
    from .benchmarks.files import import_data

    from .benchmarks import get_benchmark
    from .benchmarks.imported import summary

    path = import_data(args.array, args.rows, args.stimuli, args.out_dir, identifier=args.identifier,
                       kind=args.kind, region=args.region, key=args.key)
    bench = get_benchmark(str(path))
    print(f"imported {bench.identifier} ({bench.kind}, region {bench.region}):")
    print(summary(bench.load(), bench.kind, bench.options, bench.options.get("ceiling", "reliability")))
    print(f"benchmark file {path} (assembly {path.parent / 'responses.nc'}; options: docs/benchmark-files.md); "
          f"score it with:\n  neuroalign score MODEL --benchmark {path} --table {path.parent / 'scores.csv'}")
    return 0


def _import_data_parser(sub) -> None:
    im = sub.add_parser("import-data", help="turn (response array, stimulus ids, images) into a checked benchmark",
                        description="Example: neuroalign import-data --array r.npy --rows rows.csv --stimuli images.zip "
                                    "--identifier mylab.v4.encoding --region V4 --out-dir mylab_v4")
    im.add_argument("--array", type=Path, required=True, help="(presentation, neuroid) responses: .npy or .npz")
    im.add_argument("--key", default=None, help="the array's name inside an .npz holding several")
    im.add_argument("--rows", type=Path, required=True,
                    help="CSV with one row per presentation: stimulus_id (image file name without extension) "
                         "and optionally repetition and other columns")
    im.add_argument("--stimuli", type=Path, required=True, help="a folder of images or a .zip of images")
    im.add_argument("--identifier", required=True, help="benchmark id, e.g. mylab.v4.encoding")
    im.add_argument("--kind", default="encoding",  # checked against the metric-kind records by import_data
                    help="a kind whose benchmarks need only their data: encoding, pls, rsa, cka or a plugin's")
    im.add_argument("--region", default="unknown")
    im.add_argument("--out-dir", type=Path, required=True, help="new folder for the assembly, images and benchmark.yaml")
    im.set_defaults(func=cmd_import_data)

def cmd_results(args: argparse.Namespace) -> int:
    from .atomic import atomic_path
    from .results import combine_tables

    from .scoring import check_identities

    if not args.tables:
        raise ConfigError(f"no results tables given: name the per-benchmark CSVs (`score --table`), e.g. "
                          f"neuroalign results results/scores/*/*.csv --out {args.out}")
    df = combine_tables(args.tables)
    if args.kind:
        df = df[df["kind"] == args.kind]
    broken = check_identities(df)
    if broken:
        raise DataError(f"{len(broken)} row(s) break the normalisation identities of docs/methods.md, e.g. "
                        f"{broken[0]}; rescore them with this version of neuroalign.")
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    print(f"{len(df)} rows from {len(args.tables)} table(s) -> {args.out}")
    return 0


def _results_parser(sub) -> None:
    r = sub.add_parser("results", help="concatenate results-table CSVs", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Concatenate the per-benchmark tables written by `score --table` into one\n"
                                   "results table (checked against the normalisation identities of docs/methods.md),\n"
                                   "the input of `figures` and `leaderboard`.\n\n"
                                   "Example: neuroalign results results/scores/*/*.csv --out results.csv")
    r.add_argument("tables", nargs="*", type=Path, help="results-table CSVs (`score --table` outputs)")
    r.add_argument("--kind", default=None, help="keep only rows of this benchmark kind")
    r.add_argument("--out", type=Path, required=True, help="the combined CSV (never one of the input tables)")
    r.set_defaults(func=cmd_results)


def cmd_compare(args: argparse.Namespace) -> int:
    """Paired comparison of two models (or two score files) per benchmark, BH-FDR across them."""
    from .atomic import atomic_path
    from .comparison import COLUMNS, compare

    if args.scores:
        if args.models or args.benchmark:
            raise ConfigError("compare: give either MODEL_A MODEL_B --benchmark ..., or --scores A.nc B.nc, not both.")
        df = compare(scores=[args.scores])
    else:
        if len(args.models) != 2 or not args.benchmark:
            raise ConfigError("compare: give two models and at least one --benchmark (or --scores A.nc B.nc).")
        df = compare(*args.models, args.benchmark, cache_dir=args.cache_dir, results=args.results, config=args.config,
                     device=args.device, layers=args.layers,
                     reduction=args.reduction, budget_bytes=_budget(args), progress=_progress())
    shown = df.assign(**{c: df[c].map(lambda v: f"{v:.4g}") for c in ("score_a", "score_b", "diff", "ci_low",
                                                                         "ci_high", "p_value", "q_value")})
    _print_table(shown.to_dict("records"), [c for c in COLUMNS if c != "method"])
    print(f"method: {df['method'].iloc[0]}")
    if args.table:
        with atomic_path(args.table) as tmp:
            df.to_csv(tmp, index=False)
    return 0


def _compare_parser(sub) -> None:
    cp = sub.add_parser("compare", help="paired comparison of two models per benchmark (interval, p, FDR q)",
                        description="Example: neuroalign compare efficientnet-lite0 squeezenet-untrained "
                                    "--benchmark cowley2023.210325.encoding --benchmark kriegeskorte2008.human_it.rsa "
                                    "--results results (names of the workflow config's models, or specs)")
    cp.add_argument("models", nargs="*", help="MODEL_A MODEL_B: names of the workflow config's models (e.g. "
                    "squeezenet-untrained) or specs")
    cp.add_argument("--benchmark", action="append", default=[], help="benchmark id or file; repeatable")
    cp.add_argument("--scores", nargs=2, type=Path, default=None, metavar=("A.nc", "B.nc"),
                    help="compare two score files instead (same benchmark version)")
    cp.add_argument("--table", type=Path, default=None, help="write the comparison table as CSV")
    cp.add_argument("--results", type=Path, default=None,
                    help="the workflow's results folder: its scores/<model>/<benchmark>.nc are used when current")
    cp.add_argument("--config", type=Path, default=None,
                    help="workflow config whose model names resolve to specs (default: the built-in default.yaml)")
    _add_extraction_args(cp)
    cp.set_defaults(func=cmd_compare)


def cmd_rdms(args: argparse.Namespace) -> int:
    import xarray as xr

    from .atomic import write_netcdf
    from .models import load_model
    from .scoring import model_features
    from .similarity import compute_rdms

    stimuli = _load_stimuli(args.stimuli, args.color)
    if args.sandbox:  # untrusted code: checked arrays only, the model is never loaded here
        got, model = _features(args, None, stimuli, args.stimuli)
        model = type("Sandboxed", (), model)
        feats = {k: v.load() for k, v in got.items()}
    else:
        model = load_model(args.model)
        feats = model_features(model, stimuli, args.layers, reduction=args.reduction, device=args.device,
                               cache_dir=args.cache_dir, budget_bytes=_budget(args), progress=_progress())
    rdms = xr.concat([compute_rdms(f, args.method) for f in feats.values()], dim="rdm")
    rdms = rdms.assign_coords(layer=("rdm", list(feats))).rename("rdms")
    rdms.attrs = {"model": model.name, "model_identity": model.identity, "stimuli": args.stimuli,
                  "method": args.method, "stimuli_hash": stimuli.content_hash}
    write_netcdf(rdms, args.out)
    print(f"{rdms.sizes['rdm']} RDM(s) over {rdms.sizes['row']} stimuli -> {args.out}")
    return 0


def _rdms_parser(sub) -> None:
    rd = sub.add_parser("rdms", help="write a model's per-layer RDMs on a stimulus set (NetCDF)",
                        description="Example: neuroalign rdms efficientnet-lite0 --stimuli kriegeskorte2008_92 --out rdms.nc")
    rd.add_argument("model")
    rd.add_argument("--stimuli", required=True, help=STIMULI_HELP)
    rd.add_argument("--color", choices=("error", "convert"), default="error",
                    help="grayscale, RGBA or palette images: 'error' (default) or 'convert' to RGB")
    rd.add_argument("--method", default="correlation", help="correlation | euclidean | cosine")
    rd.add_argument("--out", type=Path, required=True)
    _add_extraction_args(rd)
    rd.set_defaults(func=cmd_rdms)

def cmd_export_brainscore(args: argparse.Namespace) -> int:
    from .interop.brainscore_export import export_brainscore_plugin, region_layers_from_results

    region_layers = region_layers_from_results(args.results, args.model) if args.results else {}
    for item in args.region or []:
        region, sep, layer = item.partition("=")
        if not sep:
            raise ConfigError(f"--region expects REGION=LAYER, got {item!r}.")
        region_layers[region] = layer
    out = export_brainscore_plugin(args.model, args.out_dir, region_layers or None)
    print(f"Brain-Score plugin for {args.model} written to {out}")
    return 0


def _export_brainscore_parser(sub) -> None:
    eb = sub.add_parser("export-brainscore", help="write a Brain-Score model plugin folder for MODEL",
                        description="Example: neuroalign export-brainscore efficientnet-lite0 plugins/effnet "
                                    "--results results/results.csv")
    eb.add_argument("model")
    eb.add_argument("out_dir", type=Path)
    eb.add_argument("--region", action="append", help="REGION=LAYER (repeatable), e.g. V4=_blocks.6")
    eb.add_argument("--results", type=Path, default=None, help="take each region's layer from neuroalign's choice")
    eb.set_defaults(func=cmd_export_brainscore)

def cmd_finetune(args: argparse.Namespace) -> int:
    from .finetune import run_finetune

    kw = dict(layer=args.layer, neural=args.neural, loss=args.loss, lam=args.lam, balance=args.balance,
              steps=args.steps, warmup=args.warmup, probability=args.probability, task_data=args.task_data,
              batch_size=args.batch_size, lr=args.lr, eval_neural=args.eval_neural or None, pool=args.pool)
    if args.lam_sweep is not None:
        return _finetune_sweep(args, kw)
    ds = run_finetune(args.model, condition=args.condition, seed=args.seed, device=args.device, out_dir=args.out_dir,
                      progress=_progress(), **kw)
    a = ds.attrs
    keys = [k for k in ("heldout_predictivity", "generalization_predictivity", "task_fidelity") if k in a]
    print(f"{args.condition}: " + ", ".join(f"{k} {float(a[k]):.4f}" for k in keys))
    pgd = ", ".join(f"{e * 255:g}/255 {float(v):.4f}" for e, v in zip(ds["pgd_eps"].values, ds["robustness_pgd"].values))
    print(f"PGD robust accuracy ({a['pgd_steps']} steps, on {a['pgd_n_clean_correct']} clean-correct images): {pgd}")
    print(f"score: {Path(args.out_dir) / 'score.nc'}")
    return 0


def _finetune_parser(sub) -> None:
    ft = sub.add_parser("finetune", help="fine-tune MODEL with neural data as a regulariser (or a control)",
                        description="Example: neuroalign finetune efficientnet-lite0 --layer _blocks.6 "
                                    "--neural cowley:210322:natural --loss cka --condition shuffled --out-dir ft/shuffled")
    ft.add_argument("model")
    ft.add_argument("--layer", required=True, help="layer whose activations the neural loss shapes")
    ft.add_argument("--neural", default="synthetic",
                    help="a benchmark id or file with responses per image [:family]; synthetic | cowley:<session>[:<family>]")
    ft.add_argument("--loss", default="cka", choices=["cka", "cka_debiased", "rsa", "readout_mse", "readout_poisson"])
    ft.add_argument("--lam", type=_nonnegative_float, default=0.1,
                    help="the neural term's share of the update, in [0, 1) (--balance gradnorm), or a raw weight (none)")
    ft.add_argument("--balance", default="gradnorm", choices=["gradnorm", "none"],
                    help="gradnorm: λ calibrated on both terms' gradient norms at the start (docs/methods.md)")
    ft.add_argument("--lam-sweep", nargs="?", const="0.02,0.05,0.1,0.2,0.5", default=None, metavar="L1,L2,...",
                    help="run these λ (default 0.02,0.05,0.1,0.2,0.5) × --sweep-conditions × --seeds into --out-dir, "
                         "robustness levels calibrated; writes sweep.csv, comparison.csv and the Pareto figure")
    ft.add_argument("--sweep-conditions", default="neural,shuffled,pixel")
    ft.add_argument("--seeds", default="0,1,2", help="training seeds of a sweep (one split, split seed 0)")
    ft.add_argument("--steps", type=int, default=200)
    ft.add_argument("--warmup", type=int, default=0, help="task-only steps before the neural term starts")
    ft.add_argument("--probability", type=float, default=1.0, help="chance of the neural term on a step")
    ft.add_argument("--condition", default="neural", choices=["neural", "shuffled", "pixel", "lambda0"])
    ft.add_argument("--task-data", default=None,
                    help="ImageFolder path (cross-entropy); default: distillation to the original logits")
    ft.add_argument("--eval-neural", action="append", help="other neurons/sessions to evaluate on (repeatable)")
    ft.add_argument("--pool", default="flatten", choices=["flatten", "mean"])
    ft.add_argument("--batch-size", type=_positive_int, default=32)
    ft.add_argument("--lr", type=_positive_float, default=1e-4)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", default="auto")
    ft.add_argument("--out-dir", type=Path, required=True, help="checkpoints, final weights and score.nc")
    ft.set_defaults(func=cmd_finetune)


def _finetune_sweep(args: argparse.Namespace, kw: dict) -> int:
    from .figures import finetune_pareto
    from .finetune.sweep import run_sweep

    lams = [float(v) for v in args.lam_sweep.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    kw = {k: v for k, v in kw.items() if k != "lam"} | dict(noise_levels="auto", pgd_eps="auto")
    out = run_sweep(args.model, out_dir=args.out_dir, lams=lams, conditions=args.sweep_conditions.split(","),
                    seeds=seeds, device=args.device, progress=_progress(), **kw)
    made = finetune_pareto(out["summary"], args.out_dir)
    print(out["summary"].to_string(index=False, float_format="%.4f"))
    print(out["comparison"].to_string(index=False, float_format="%.4f"))
    print(f"sweep: {Path(args.out_dir) / 'sweep.csv'}, comparison: {Path(args.out_dir) / 'comparison.csv'}, "
          f"figure: {made['png']}")
    return 0


def cmd_finetune_summary(args: argparse.Namespace) -> int:
    from .atomic import atomic_path
    from .finetune import figure_table, summarize

    wide = summarize(args.scores)
    with atomic_path(args.out) as tmp:
        figure_table(wide).to_csv(tmp, index=False)
    with atomic_path(Path(args.out).with_name(Path(args.out).stem + "_wide.csv")) as tmp:
        wide.to_csv(tmp, index=False)
    print(wide.to_string(index=False))
    return 0


def _finetune_summary_parser(sub) -> None:
    fs = sub.add_parser("finetune-summary", help="table of fine-tuning scores (one row per condition)")
    fs.add_argument("scores", nargs="+", type=Path)
    fs.add_argument("--out", type=Path, required=True)
    fs.set_defaults(func=cmd_finetune_summary)

def cmd_scaling(args: argparse.Namespace) -> int:
    from .models import load_model
    from .scaling import data_id, default_grid, load_scaling_data, run_scaling, write_scaling
    from .scoring import model_features

    assembly, stimuli = load_scaling_data(args.stimuli)
    feats = model_features(load_model(args.model), stimuli, [args.layer], reduction=args.reduction, device=args.device,
                           cache_dir=args.cache_dir, progress=True)[args.layer]
    images, repeats, alloc = default_grid(assembly, args.n_points, min_images=args.min_images, repeats=args.repeats)
    name = args.name or args.stimuli
    run = run_scaling(assembly, feats, images, repeats, alloc, seed=args.seed, n_draws=args.n_draws,
                      device=args.device, stimulus_duration_s=args.stimulus_duration_s,
                      interstimulus_s=args.interstimulus_s, dataset=name)
    written = write_scaling(run, args.out, name, n_boot=args.n_boot, seed=args.seed, benchmark=data_id(args.stimuli),
                            model=args.model_name or args.model, layer=args.layer)
    print(run.points.groupby(["result", "n_images", "n_repeats"])[["recording_time_s", "feve"]].mean().to_string())
    print(written["fit"].table().to_string(index=False))
    print(written["allocation"].to_string(index=False))
    return 0


def _scaling_parser(sub) -> None:
    sl = sub.add_parser("scaling", help="predictivity vs recording time: subsample images and repeats",
                        description="Example: neuroalign scaling synthetic --model reference --layer block2 --out scaling.csv")
    sl.add_argument("stimuli", help="data with single trials: a stimulus set (synthetic, cowley2023_v4-210325), a "
                                    "benchmark id or a benchmark file (.yaml)")
    sl.add_argument("--repeats", type=int, default=None,
                    help="the curve's repeats per image (default: the dataset's repeat count)")
    sl.add_argument("--model", default="reference")
    sl.add_argument("--layer", default="block2")
    sl.add_argument("--n-points", type=_positive_int, default=6, help="image counts on a log grid")
    sl.add_argument("--min-images", type=_positive_int, default=10, help="smallest training-image count of the grid")
    sl.add_argument("--n-draws", type=_positive_int, default=3, help="independent subsamples per (images, repeats) point")
    sl.add_argument("--n-boot", type=_positive_int, default=1000, help="bootstrap resamples of neurons and test images")
    sl.add_argument("--stimulus-duration-s", type=_positive_float, default=None,
                    help="seconds each image is shown (default: the dataset's metadata)")
    sl.add_argument("--interstimulus-s", type=_nonnegative_float, default=None,
                    help="seconds between images (default: the dataset's metadata)")
    sl.add_argument("--name", default=None, help="dataset label in the tables (default: the stimulus set)")
    sl.add_argument("--model-name", default=None,
                    help="the model's name in the tables and the figure's title (default: its spec)")
    sl.add_argument("--seed", type=int, default=0)
    sl.add_argument("--out", type=Path, required=True,
                    help="points CSV; <stem>_boot.csv (bootstrap refits) and <stem>_fit.csv are written beside it")
    _add_extraction_args(sl, layers_and_budget=False)  # one --layer; no budget check in this command
    sl.set_defaults(func=cmd_scaling)

def cmd_figures(args: argparse.Namespace) -> int:
    from .figures import make_all_figures

    made = make_all_figures(args.results, args.out_dir, scaling=args.scaling, finetune=args.finetune,
                            n_boot=args.n_boot, seed=args.seed, scores=args.scores)
    png = args.out_dir / "png"
    png.mkdir(parents=True, exist_ok=True)
    for name, paths in made.items():
        print(f"{name}: {paths['png']}")
        if "/" not in name:  # top-level figures also gathered for the workflow report
            import shutil

            shutil.copyfile(paths["png"], png / Path(paths["png"]).name)
    if not made:
        print("no figure has data in these results", file=sys.stderr)
        return 1
    return 0


def _figures_parser(sub) -> None:
    f = sub.add_parser("figures", help="regenerate every figure from a results table",
                       description="Example: neuroalign figures results/results.csv results/figures")
    f.add_argument("results", type=Path, help="results CSV or a folder of them")
    f.add_argument("out_dir", type=Path)
    f.add_argument("--scaling", type=Path, nargs="+", default=None,
                   help="scaling-law points CSVs (their _boot.csv beside them give the bands)")
    f.add_argument("--finetune", type=Path, default=None, help="fine-tuning summary CSV")
    f.add_argument("--scores", type=Path, default=None,
                   help="folder of score NetCDFs (results/scores): the model-comparison figure with tiers")
    f.add_argument("--n-boot", type=_positive_int, default=1000)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(func=cmd_figures)

def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .leaderboard import write_leaderboard

    out = write_leaderboard(args.results, args.out_dir, figures_dir=args.figures_dir, info=args.info,
                            scores=args.scores)
    print(f"leaderboard: {out['html']} (open it in a browser; {len(out['models'])} model pages in "
          f"{out['html'].parent / 'models'}), {out['csv']} and {out['json']}")
    return 0


def _leaderboard_parser(sub) -> None:
    lb = sub.add_parser("leaderboard", help="write the leaderboard site (ranked table, a page per model, CSV, JSON)",
                        description="Example: neuroalign leaderboard results/results.csv --out-dir results/leaderboard "
                                    "--figures-dir results/figures --info results/submissions.yaml")
    lb.add_argument("results", type=Path, help="results CSV or a folder of them")
    lb.add_argument("--out-dir", type=Path, required=True)
    lb.add_argument("--figures-dir", default=None, help="figures folder (`neuroalign figures`) shown on the model pages")
    lb.add_argument("--info", action="append", type=Path, default=None,
                    help="YAML of model details shown on the model pages (spec, authors, identity...): the "
                         "submissions file, or any file shaped `models: {name: {...}}` (repeatable)")
    lb.add_argument("--scores", type=Path, default=None,
                    help="folder of score NetCDFs (the workflow's results/scores): tiers, intervals of the means and "
                         "a pairwise page per benchmark")
    lb.set_defaults(func=cmd_leaderboard)

def cmd_new_submission(args: argparse.Namespace) -> int:
    from .submission_template import write_template

    files = write_template(args.folder, name=args.name)
    print(f"wrote {', '.join(str(f) for f in files)}")
    print(f"next: edit {files[1]}, then `neuroalign submit {args.folder}` (checks it and adds it to the grid)")
    return 0


def _new_submission_parser(sub) -> None:
    ns = sub.add_parser("new-submission", help="write a working submission template into a new folder",
                        description="Example: neuroalign new-submission my_model  (then edit my_model/model.py and "
                                    "run neuroalign submit my_model)")
    ns.add_argument("folder", type=Path, help="a folder that does not exist yet (or is empty)")
    ns.add_argument("--name", default=None, help="the model's name (default: the folder's name)")
    ns.set_defaults(func=cmd_new_submission)

def cmd_submit(args: argparse.Namespace) -> int:
    from .submit import submit

    rec = submit(args.path, args.submissions, timeout=args.timeout, memory_gb=args.memory_gb,
                 trust_code=args.trust_code, replace=args.replace)
    from .submission_template import placeholder_warnings

    for warning in placeholder_warnings(rec):
        print(f"neuroalign submit: warning: {warning}", file=sys.stderr)
    print(f"submitted {rec['name']} ({rec['identity']}); layers {', '.join(rec['layers'])}; limits: {rec['limits']}")
    print(f"added to {args.submissions}: the next workflow run scores it on every benchmark of the grid")
    return 0


def _submit_parser(sub) -> None:
    su = sub.add_parser("submit", help="validate a model package in a sandboxed subprocess and add it to the grid",
                        description="Example: neuroalign submit my_model/ --submissions results/submissions.yaml")
    su.add_argument("path", type=Path, help="folder with metadata.yaml, or a .py file with a sibling .yaml")
    su.add_argument("--submissions", type=Path, default=Path("results/submissions.yaml"),
                    help="the submissions file the workflow reads (config key `submissions`)")
    su.add_argument("--timeout", type=float, default=300, help="seconds the validation may take")
    su.add_argument("--memory-gb", type=float, default=8,
                    help="memory limit of the sandbox (whole sandbox with a cgroup; per process otherwise)")
    su.add_argument("--replace", action="store_true",
                    help="replace an entry of the same name submitted from another folder")
    su.add_argument("--trust-code", action="store_true",
                    help="run the code without the bubblewrap sandbox (only for code you trust; the workflow then "
                         "runs it unsandboxed too)")
    su.set_defaults(func=cmd_submit)

def _add_extraction_args(p: argparse.ArgumentParser, *, layers_and_budget: bool = True) -> None:
    if layers_and_budget:
        p.add_argument("--layers", nargs="+", default=None, help="layer names (default: the model's default layers)")
    p.add_argument("--reduction", default="avgpool", help="avgpool | flatten | srp:<dim> (sparse random projection)")
    p.add_argument("--cache-dir", default=None, help="activation cache folder (default: the user cache)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU) | cpu | cuda | mps")
    if layers_and_budget:
        p.add_argument("--budget-gb", type=_positive_float, default=None, help="refuse work whose memory estimate exceeds this")
    p.add_argument("--sandbox", action="store_true",
                   help="untrusted model code: only its activations are computed, inside the bubblewrap sandbox "
                        "(no network, minimal read-only view); the host checks them and scores (docs/security.md)")
    p.add_argument("--memory-gb", type=float, default=8, help="--sandbox: memory limit of the sandbox")
    p.add_argument("--timeout", type=float, default=3600, help="--sandbox: seconds the model may run")
    p.add_argument("--pinned", default=None, metavar="SHA256",
                   help="--sandbox: refuse unless the plugin's folder still hashes to this (`neuroalign submit`'s pin)")
    p.add_argument("--record-refusal", action="store_true",
                   help="--sandbox: output that fails the host's checks is written as a 'refused: reason' result "
                        "(exit 0) instead of an error (the workflow uses it)")




#: Each command's parser builder (beside its ``cmd_*``), in the order ``neuroalign --help`` lists them.
PARSERS = (
    _datasets_parser, _models_parser, _benchmarks_parser, _extract_parser, _score_parser, _compare_parser, _rdms_parser,
    _import_data_parser, _results_parser, _export_brainscore_parser, _finetune_parser, _finetune_summary_parser,
    _scaling_parser, _figures_parser, _leaderboard_parser, _submit_parser, _new_submission_parser,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroalign", description="Measure how brain-like a vision model is.")
    p.add_argument("--version", action="version", version=f"neuroalign {__import__('neuroalign').__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in PARSERS:
        add(sub)
    return p


COMPUTE_COMMANDS = ("extract", "score", "rdms", "scaling", "finetune", "submit")
SANDBOXED_COMMANDS = ("extract", "score", "rdms")  # untrusted code computes activations only


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `neuroalign benchmarks | head` exits quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in COMPUTE_COMMANDS:
        from .allocator import keep_large_allocations

        keep_large_allocations()  # activations are reused, not page-faulted in per batch
    try:
        if getattr(args, "sandbox", False) and args.command not in SANDBOXED_COMMANDS:
            raise ConfigError(f"{args.command} --sandbox is not supported: run `neuroalign extract --sandbox` for the "
                              "model first, or drop --sandbox for code you trust.")
        from .guard import check_outputs

        check_outputs(args)  # writable before any work; never over a file this run reads or import-data was given
        if getattr(args, "device", None) is not None:  # resolved once per command, passed down as a torch.device
            from .device import resolve_device

            args.device = resolve_device(args.device)
        return int(args.func(args) or 0)
    except NeuroalignError as exc:
        from .sandbox import clean

        print(f"neuroalign {args.command}: error: {clean(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuroalign {args.command}: interrupted; nothing was written (outputs are renamed into place only "
              "when complete).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
