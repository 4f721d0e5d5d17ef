"""Out-of-distribution predictivity: fit on ID images, test on equally many ID and OOD images."""

from __future__ import annotations


import numpy as np
import pandas as pd
import xarray as xr

from ..data.assembly import as_averaged, stimulus_ids
from ..progress import steps
from ..errors import DataError
from ._build import (NORMALIZATION, build_score, ceiling_of, included_neuroids, masked_median, undefined_as_zero)

#: A benchmark's ``split`` option -> how its ID/OOD split is drawn (``neuroalign.ood``).
SPLITS = {
    "label": lambda ood, o, stimuli, seed: ood.split_by_label(stimuli, o["column"], [o["train"]], [o["test"]]),
    "statistic": lambda ood, o, stimuli, seed: ood.split_by_statistic(stimuli, o["statistic"],
                                                                      direction=o.get("direction", "low_to_high")),
    "clusters": lambda ood, o, stimuli, seed: ood.split_by_clusters(stimuli, n_clusters=o["n_clusters"],
                                                                    n_held_out=o["n_held_out"], seed=seed),
}


def ood_split(bench, stimuli, seed: int = 0):
    from .. import ood

    o = bench.options
    if o["split"] not in SPLITS:
        raise DataError(f"benchmark {bench.identifier}: unknown OOD split kind {o['split']!r}.")
    return SPLITS[o["split"]](ood, o, stimuli, seed)


def score_ood(features, assembly, split, *, seed: int = 0, device="auto", estimator=None,
              ceiling_method: str = "reliability") -> xr.Dataset:
    """ID vs OOD predictivity per layer: the layer is chosen per fold by its inner score on the
    fold's ID training images; ID and OOD are tested on equally many images and each side is
    normalised by a ceiling on exactly its tested images (where repeats exist)."""
    from ..ood import evaluate_ood
    from ..selection import nested_choice

    layers = list(features)
    ceilings = {}  # per side's tested stimulus ids: the same for every layer, computed once

    def ceiling(a):
        key = tuple(stimulus_ids(a))
        if key not in ceilings:
            ceilings[key] = ceiling_of(a, method=ceiling_method)
        return ceilings[key]

    res = {layer: evaluate_ood(features[layer], assembly, split, seed=seed, ceiling=ceiling, device=device,
                               estimator=estimator) for layer in steps(layers, "OOD: layers")}
    first = res[layers[0]]
    inner = np.stack([res[layer]["inner_r2"].values for layer in layers])  # (layer, fold)
    choice = nested_choice(inner)
    folds = np.arange(inner.shape[1])
    has_c = "id_ceiling" in first
    c_id = first["id_ceiling"].values if has_c else None
    c_ood = first["ood_ceiling"].values if has_c else None
    from ..metrics import constant_columns  # torch: imported when scoring, not with the kinds

    ok, n_excl, why = included_neuroids(first["id_r"].values, None if not has_c else np.minimum(c_id, c_ood),
                                        constant_columns(as_averaged(assembly).values))  # the data's set
    id_f = np.stack([res[layer]["id_r_folds"].values for layer in layers])[choice, folds]  # (fold, neuroid)
    ood_f = np.stack([res[layer]["ood_r_folds"].values for layer in layers])[choice, folds]
    n_undef = int((ok & ~(np.isfinite(id_f) & np.isfinite(ood_f)).all(0)).sum())
    id_f, ood_f = undefined_as_zero(id_f, ok)[0], undefined_as_zero(ood_f, ok)[0]  # undefined r counts as 0
    id_r, ood_r = np.nanmean(id_f, axis=0), np.nanmean(ood_f, axis=0)
    med = lambda v: masked_median(v, ok)  # noqa: E731
    C_id, C_ood = (med(c_id), med(c_ood)) if has_c else (float("nan"), float("nan"))
    scale_id = np.sqrt(C_id) if has_c else 1.0
    scale_ood = np.sqrt(C_ood) if has_c else 1.0
    id_raw, ood_raw = med(id_r), med(ood_r)
    id_n, ood_n = id_raw / scale_id, ood_raw / scale_ood
    n_test, n_train = int(first["n_test"].values.mean()), int(first["n_train"].values.mean())
    cis = fold_intervals(id_f, ood_f, ok, scale_id, scale_ood, n_train, n_test)
    ctrl = range_matched_control(res, layers, choice, ok, n_train, n_test)
    table = _layer_table(res, ok, scale_id, scale_ood, has_c, n_train, n_test)
    scale_note = NORMALIZATION["ood"] if has_c else \
        "none: no repeats, so gap and ratio are on raw Pearson r (no ceiling on either side)"
    return build_score(
        {f"layer_{k}": ("layer", v) for k, v in table.items()} | {
            "raw": ("neuroid", ood_r), "id_raw": ("neuroid", id_r),
            "id_r_folds": (("fold", "neuroid"), id_f), "ood_r_folds": (("fold", "neuroid"), ood_f),
            "layer_inner_score": (("layer", "fold"), inner),
            "chosen_layer_per_fold": ("fold", np.array(layers)[choice]),
            "id_ceiling": ("neuroid", c_id if has_c else np.full(ood_r.shape, np.nan)),
            "ceiling": ("neuroid", c_ood if has_c else np.full(ood_r.shape, np.nan)),
            "included": ("neuroid", ok),
            **chosen_predictions(res, layers, choice)},
        {"layer": layers, "fold": folds,
                "neuroid_id": ("neuroid", first["neuroid_id"].values)},
        **{"metric": "Pearson r: fit on in-distribution images, tested on held-out ID folds and equally many "
                         "OOD images; " + first.attrs["protocol"],
               "normalization": scale_note,
               "layer": pd.Series(np.array(layers)[choice]).mode().iloc[0],
               "layer_selection": "nested: per fold, the layer with the best inner GCV R² on the fold's ID training "
                                  "images (never the reported ID test images, never the OOD set)",
               "split": split.to_json(),
               "id_score": id_raw, "ood_score": ood_raw, "id_normalized": id_n if has_c else float("nan"),
               "ood_normalized": ood_n if has_c else float("nan"),
               "gap": id_n - ood_n, "ratio": ood_n / id_n if id_n > 0 else float("nan"),
               **cis, **ctrl,
               "ci_method": "95% interval of the mean over folds, Nadeau-Bengio corrected variance",
               "train_test_distance": float(first.attrs.get("train_test_distance", np.nan)),
               "aggregate_raw": ood_raw, "aggregate_ceiling": C_ood, "aggregate_normalized": ood_n if has_c else
               float("nan"), "brainscore_normalized": float("nan"),
               "id_ceiling": C_id, "n_excluded": n_excl, "n_undefined": n_undef, "excluded_reason": why, "protocol": "neuroalign",
               "n_id_tested": int(first.attrs["n_id_tested"]), "n_ood_tested": int(first.attrs["n_ood_tested"]),
               "n_stimuli": split.n_train + split.n_test},
    )


def chosen_predictions(res: dict, layers: list, choice: np.ndarray) -> dict:
    """Each tested image's out-of-fold prediction (float32) from the layer its fold chose, ID
    and OOD side: what the shared resamples use (:mod:`neuroalign.resampling`)."""
    out, first = {}, res[layers[0]]
    for side in ("id", "ood"):
        fold = first[f"{side}_tested_fold"].values
        full = np.full(first[f"{side}_prediction"].shape, np.nan, np.float32)
        for k, c in enumerate(choice):
            full[fold == k] = res[layers[c]][f"{side}_prediction"].values[fold == k]
        out[f"{side}_prediction"] = xr.DataArray(full, dims=(f"{side}_tested", "neuroid"),
                                                 coords={f"{side}_tested": first[f"{side}_tested"].values})
    return out


def fold_intervals(id_f, ood_f, ok, scale_id, scale_ood, n_train: int, n_test: int) -> dict[str, float]:
    """The corrected fold intervals (:func:`neuroalign.selection.corrected_fold_interval`) of one
    layer choice's per-fold medians (folds × neuroids of r, undefined r already 0): ``ci_*`` of
    the OOD side's raw r, ``id_ci_*`` of the ID side's raw r, ``gap_ci_*`` of the gap (each side
    divided by its ``scale``, √ceiling or 1)."""
    from ..selection import corrected_fold_interval

    i_med = np.array([masked_median(row, ok) for row in id_f])
    o_med = np.array([masked_median(row, ok) for row in ood_f])
    out = {}
    for name, v in (("", o_med), ("id_", i_med), ("gap_", i_med / scale_id - o_med / scale_ood)):
        out[f"{name}ci_low"], out[f"{name}ci_high"] = corrected_fold_interval(v, n_train, n_test)
    return out


def _layer_table(res: dict, ok, scale_id, scale_ood, has_c: bool, n_train: int, n_test: int) -> dict[str, list]:
    """Per layer (every fold with that layer): full-data numbers for layer-by-layer figures, and
    their fold intervals (:func:`fold_intervals`)."""
    table = {k: [] for k in ("id_score", "ood_score", "gap", "ratio", "raw", "normalized", "id_normalized",
                             "ood_normalized", "ci_low", "ci_high", "id_ci_low", "id_ci_high", "gap_ci_low",
                             "gap_ci_high")}
    for layer in res:
        folds = (undefined_as_zero(res[layer][f"{v}_folds"].values, ok)[0] for v in ("id_r", "ood_r"))
        for k, v in fold_intervals(*folds, ok, scale_id, scale_ood, n_train, n_test).items():
            table[k].append(v)
        i_raw, o_raw = (masked_median(undefined_as_zero(res[layer][v].values, ok)[0], ok) for v in ("id_r", "ood_r"))
        i_r, o_r = i_raw / scale_id, o_raw / scale_ood
        table["id_score"].append(i_raw)
        table["ood_score"].append(o_raw)
        table["raw"].append(o_raw)
        table["normalized"].append(o_r if has_c else float("nan"))
        table["id_normalized"].append(i_r if has_c else float("nan"))
        table["ood_normalized"].append(o_r if has_c else float("nan"))
        table["gap"].append(i_r - o_r)
        table["ratio"].append(o_r / i_r if i_r > 0 else float("nan"))
    return table


def _rho(ev: np.ndarray, err: np.ndarray) -> np.ndarray:
    """The noise-free correlation a prediction with error variance ``err`` reaches on
    signal variance ``ev``: ``sqrt(ev⁺ / (ev⁺ + err⁺))``."""
    ev, err = np.clip(ev, 0, None), np.clip(err, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.where(ev + err > 0, ev / (ev + err), 0.0))


def range_matched_control(res: dict, layers: list, choice: np.ndarray, ok: np.ndarray, n_train: int,
                          n_test: int) -> dict:
    """The OOD gap at one signal range: per fold, the chosen layer's ID and OOD prediction
    errors each put on the OOD side's explainable signal variance (:func:`_rho`), median over
    the included neuroids; ``gap_control`` = mean over folds of ID − OOD, with its corrected
    interval. An exactly transferring map has the same error on both sides, so its control
    gap is 0 whatever the ranges (docs/methods.md, "OOD"). NaN without repeats."""
    from ..selection import corrected_fold_interval

    folds = np.arange(len(choice))
    err_id, err_ood, ev = (np.stack([res[layer][f"{k}_folds"].values for layer in layers])[choice, folds]
                           for k in ("id_err", "ood_err", "ood_ev"))
    if not np.isfinite(ev).any():
        return {}
    id_c = np.array([masked_median(_rho(ev[k], err_id[k]), ok) for k in folds])
    ood_c = np.array([masked_median(_rho(ev[k], err_ood[k]), ok) for k in folds])
    lo, hi = corrected_fold_interval(id_c - ood_c, n_train, n_test)
    return {"gap_control": float(np.mean(id_c - ood_c)), "gap_control_ci_low": lo, "gap_control_ci_high": hi,
            "id_control_normalized": float(np.mean(id_c))}


def metric(features, data, bench, *, seed=0, device="auto", stimuli=None):
    o = bench.options
    return score_ood(features, data, ood_split(bench, stimuli if stimuli is not None else bench.stimuli(), seed),
                     seed=seed, device=device, ceiling_method=o.get("ceiling", "reliability"))


#: The OOD kind's result columns (reported row: the Score field; layer rows: ``layer_<c>``, first six)
#: and its further Score fields, in the order a Score carries them.
COLUMNS = ("id_score", "ood_score", "gap", "ratio", "id_normalized", "ood_normalized", "gap_ci_low", "gap_ci_high")
#: Its columns added with the range-matched control (issue 27), after the common later columns.
LATE_COLUMNS = ("gap_control", "gap_control_ci_low", "gap_control_ci_high")
#: The ID side's interval (raw r; ``ci_low``/``ci_high`` are the OOD side's), reported row and layer rows (issue 28).
ID_CI_COLUMNS = ("id_ci_low", "id_ci_high")
FIELDS = ("id_score", "ood_score", "id_normalized", "ood_normalized", "gap", "ratio", "gap_ci_low", "gap_ci_high",
          "id_ceiling", *LATE_COLUMNS, "id_control_normalized", *ID_CI_COLUMNS)


def identities(row, num, where: str, atol: float) -> list[str]:
    """The reported row's gap and ratio follow from ``id_normalized`` and ``ood_normalized``, and
    the reported ``normalized`` is the OOD side's (docs/methods.md)."""
    if str(row.get("scope")) != "reported":
        return []
    i_n, o_n = num("id_normalized"), num("ood_normalized")
    if not (np.isfinite(i_n) and np.isfinite(o_n)):
        return []
    bad = []
    if not np.isclose(num("gap"), i_n - o_n, atol=atol) or not np.isclose(num("ratio"), o_n / i_n, rtol=1e-7):
        bad.append(f"{where}: gap/ratio do not follow from id_normalized and ood_normalized")
    if not np.isclose(o_n, num("normalized"), rtol=1e-7, atol=atol):
        bad.append(f"{where}: ood_normalized {o_n} != normalized {num('normalized')}")
    return bad
