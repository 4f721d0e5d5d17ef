"""Brain-Score's own numbers on files neuroalign wrote: PLS predictivity, internal consistency, CKA.

Runs in the brainscore-vision environment (never imports neuroalign). Inputs are
Brain-Score assembly files (read with brainscore's own loader) and a JSON of fixed
splits; the output JSON holds brainscore-vision's scores with their per-split,
per-neuroid raw values so the caller can compare them with neuroalign's.

    python scripts_brainscore/parity.py --assembly assy.nc --features feats.nc --splits splits.json --out result.json

splits.json (every key optional):
    {"pls": [{"train": [stimulus ids], "test": [stimulus ids]}, ...],
     "ceiling": [{"half1": [repetition values], "half2": [repetition values]}, ...]}
A metric without fixed splits uses brainscore's defaults; the splits it drew are recorded
in the output either way (as stimulus ids / repetition values).
"""

from __future__ import annotations

import argparse
import json
import os
from importlib.metadata import version

import numpy as np

os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")
os.environ.setdefault("RESULTCACHING_DISABLE", "1")


class RecordedSplitter:
    """Stands in for the sklearn splitter inside brainscore's ``Split``.

    With ``fixed`` positions it yields those; otherwise it delegates to brainscore's own
    splitter. Either way it records what it yielded.
    """

    def __init__(self, inner, fixed=None):
        self.inner, self.fixed, self.yielded = inner, fixed, []

    def split(self, X, *args):
        splits = self.fixed if self.fixed is not None else list(self.inner.split(X, *args))
        self.yielded = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]
        return iter(self.yielded)


def _positions(order, values, what):
    index = {v: i for i, v in enumerate(order)}
    missing = [v for v in values if v not in index]
    if missing:
        raise SystemExit(f"parity: {what} names values not in the data, e.g. {missing[:5]}")
    return np.asarray([index[v] for v in values], dtype=int)


def run_pls(source, target, fixed):
    from brainscore_vision import load_metric

    metric = load_metric("pls", crossvalidation_kwargs=dict(stratification_coord=None))
    split = metric.cross_validation._split
    order = [str(s) for s in target["stimulus_id"].values]  # build_splits indexes the target's stimulus order
    _, default = split.build_splits(target)  # what brainscore would draw by itself (random_state=1)
    default = [{"train": [order[i] for i in tr], "test": [order[i] for i in te]} for tr, te in default]
    positions = None
    if fixed:
        positions = [(_positions(order, [str(s) for s in f["train"]], "pls train"),
                      _positions(order, [str(s) for s in f["test"]], "pls test")) for f in fixed]
    split._split = RecordedSplitter(split._split, positions)
    score = metric(source, target)
    raw = score.attrs["raw"]  # split × neuroid Pearson r
    raw = raw.transpose("split", "neuroid")
    return {
        "score": float(score.values),
        "neuroid_id": [str(n) for n in raw["neuroid_id"].values],
        "r": raw.values.tolist(),
        "splits": [{"train": [order[i] for i in tr], "test": [order[i] for i in te]}
                   for tr, te in split._split.yielded],
        "default_splits": default,
    }


def run_ceiling(assembly, fixed):
    from brainscore_vision import load_ceiling

    ceiling = load_ceiling("internal_consistency")
    split = ceiling._consistency._cross_validation._split
    reps = np.unique(assembly["repetition"].values)  # brainscore splits the unique repetition values
    order = [int(r) for r in reps]
    positions = None
    if fixed:
        positions = [(_positions(order, [int(r) for r in f["half1"]], "ceiling half1"),
                      _positions(order, [int(r) for r in f["half2"]], "ceiling half2")) for f in fixed]
    split._split = RecordedSplitter(split._split, positions)
    score = ceiling(assembly)
    raw = score.attrs["raw"].transpose("split", "neuroid")
    return {
        "score": float(score.values),
        "neuroid_id": [str(n) for n in raw["neuroid_id"].values],
        "raw": raw.values.tolist(),
        "splits": [{"half1": [order[i] for i in tr], "half2": [order[i] for i in te]}
                   for tr, te in split._split.yielded],
    }


def run_cka(source, target):
    from brainscore_vision import load_metric

    return {"unbiased": float(load_metric("cka")(source, target).values),
            "biased": float(load_metric("cka_biased")(source, target).values)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assembly", required=True, help="single-trial Brain-Score assembly (.nc)")
    parser.add_argument("--features", required=True, help="model features as a Brain-Score assembly (.nc)")
    parser.add_argument("--splits", help="JSON of fixed splits")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    from brainscore_vision.benchmark_helpers.neural_common import average_repetition

    # brainscore's loader opens files lazily with dask when dask is importable; load into memory once
    assembly = NeuroidAssembly.from_files(args.assembly).load()
    features = NeuroidAssembly.from_files(args.features).load()
    splits = json.load(open(args.splits)) if args.splits else {}
    target = average_repetition(assembly)  # brainscore's own averaging (groupby: sorted by stimulus)
    result = {
        "versions": {d: version(d) for d in ("brainscore-vision", "brainscore-core", "numpy", "scikit-learn",
                                             "xarray", "scipy")},
        "n_stimuli": int(len(target["stimulus_id"])),
        "n_neuroids": int(len(target["neuroid_id"])),
        "pls": run_pls(features, target, splits.get("pls")),
        "ceiling": run_ceiling(assembly, splits.get("ceiling")),
        "cka": run_cka(features, target),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: result[k]["score"] for k in ("pls", "ceiling")} | {"cka": result["cka"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
