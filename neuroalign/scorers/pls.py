"""PLS under Brain-Score's protocol: its exact number, or the leak-free layer choice over random halves."""

from __future__ import annotations


import numpy as np
import pandas as pd
import xarray as xr

from ..progress import steps
from ..data.assembly import as_averaged, select_stimuli, stimulus_ids
from ..errors import DataError
from ._build import (NO_CEILING, NORMALIZATION, build_score, ceiling_of, ceiling_vars, internal_consistency_of,
                     masked_median, neural_summary)

N_HALVES = 5  # random halves for the leak-free layer choice
SELECTION_SPLITS = 5  # the choice on a half uses 5 of the protocol's 10 splits (the report uses all 10)


def _stratify_coord(avg: xr.DataArray) -> str | None:
    """Brain-Score stratifies its splits by ``object_name`` where the data has that coord."""
    return "object_name" if "object_name" in avg.coords else None


def score_pls(features, assembly, *, seed: int = 0, protocol: str = "neuroalign",
              n_halves: int | None = None, ceiling_method: str = "reliability") -> xr.Dataset:
    """PLS under Brain-Score's protocol (25 components, 10 × 90/10 ShuffleSplit with
    ``random_state=1``, stratified by ``object_name`` where present).

    ``protocol="neuroalign"`` (default): the layer is chosen on one random half of the
    images and scored on the other, over ``n_halves`` halves; normalised r/√reliability.
    ``protocol="brainscore"``: Brain-Score's number exactly — all images, normalised by
    its internal consistency (raw/ceiling) — for the best candidate layer (optimistic when
    there are several: Brain-Score commits a layer on other data).
    """
    from ..mapping import brainscore_pls_protocol
    from ..selection import half_sample_interval, random_halves

    if protocol not in ("neuroalign", "brainscore"):
        raise DataError(f"pls: protocol must be 'neuroalign' or 'brainscore', got {protocol!r}.")
    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    strat = _stratify_coord(avg)

    solver = "nipals" if protocol == "brainscore" else "exact"  # Brain-Score's digits vs the converged fit

    def run(layer, sub=None, n_splits=10):
        data = avg if sub is None else select_stimuli(avg, sub)
        return brainscore_pls_protocol(features[layer], data, seed=1, stratify_coord=strat, n_splits=n_splits,
                                       solver=solver)

    full = [run(layer) for layer in steps(layers, "PLS: layers")]
    layer_neuroid = np.stack([f["r"].mean("split").values for f in full])
    ic = internal_consistency_of(assembly, seed)
    coords = {"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers}
    what = ("Brain-Score PLS protocol (25 components, 10 × 90/10 ShuffleSplit random_state=1"
              + (f", stratified by {strat}" if strat else "") + "; Pearson r per neuroid)")
    if protocol == "brainscore":
        scores = np.array([float(f["score"]) for f in full])
        best = int(np.nanargmax(scores))
        bs_c = float(ic.attrs["aggregate_brainscore"]) if ic is not None else float("nan")
        layer_norm = scores / bs_c  # NaN without a ceiling
        norm = float(layer_norm[best])
        return build_score(
            {"raw": ("neuroid", layer_neuroid[best]), "raw_per_split": (("split", "neuroid"), full[best]["r"].values),
             "ceiling": ("neuroid", ic.values if ic is not None else np.full(layer_neuroid.shape[1], np.nan)),
             "layer_raw": ("layer", scores),
             "layer_normalized": ("layer", layer_norm),  # Brain-Score's convention is this protocol's one
             "layer_brainscore_normalized": ("layer", layer_norm)},
            coords,
            **{"metric": what + "; median over neuroids per split, mean over splits",
                   "normalization": NORMALIZATION["pls:brainscore"] if ic is not None else NO_CEILING,
                   "ceiling_method": "" if ic is None else ic.attrs["method"],
                   "layer": layers[best],
                   "layer_selection": "Brain-Score protocol: best candidate layer on all images (optimistic with "
                                      "several candidates; pass one layer to reproduce a committed model)",
                   "aggregate_raw": float(scores[best]), "aggregate_ceiling": bs_c, "aggregate_normalized": norm,
                   "brainscore_normalized": norm, "n_excluded": 0, "excluded_reason": "", "protocol": "brainscore",
                   "n_stimuli": int(len(ids)), "ci_low": float("nan"), "ci_high": float("nan")},
        )
    halves = random_halves(ids, n_halves or N_HALVES, seed)
    per_half, chosen = [], []
    for sel, rep in halves:
        on_sel = [float(run(layer, sel, SELECTION_SPLITS)["score"]) for layer in layers]
        c = int(np.nanargmax(on_sel))
        chosen.append(layers[c])
        per_half.append(run(layers[c], rep)["r"].mean("split").values)
    per_half = np.stack(per_half)  # (half, neuroid)
    raw = np.nanmean(per_half, axis=0)
    ceiling = ceiling_of(assembly, method=ceiling_method)
    summary = neural_summary("pls", raw, ceiling, ic, layer_neuroid=layer_neuroid)
    ok = summary["included"]
    half_raw = np.array([masked_median(row, ok) for row in per_half])
    attrs = summary["attrs"]
    attrs["aggregate_raw"] = float(np.mean(half_raw))  # mean over halves of the per-half median
    c_agg = attrs["aggregate_ceiling"]
    attrs["aggregate_normalized"] = attrs["aggregate_raw"] / np.sqrt(c_agg) if c_agg > 0 else float("nan")
    ci = half_sample_interval(half_raw)
    return build_score(
        {"raw": ("neuroid", raw), "raw_per_half": (("half", "neuroid"), per_half),
         **ceiling_vars(raw, ceiling, ok),
         "layer_raw": ("layer", summary["layer_raw"]), "layer_normalized": ("layer", summary["layer_normalized"]),
         "layer_brainscore_normalized": ("layer", summary["layer_brainscore_normalized"]),
         "chosen_layer_per_half": ("half", np.array(chosen))},
        coords,
        **{"metric": what + "; median over the included neuroids, mean over random halves", **attrs,
               "layer": pd.Series(chosen).mode().iloc[0],
               "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half and "
                                  "scored on the other; the modal choice is named",
               "ci_low": ci[0], "ci_high": ci[1],
               "ci_method": "mean ± t(n-1) sd over random halves (delete-half jackknife)",
               "protocol": "neuroalign", "n_stimuli": int(len(ids))},
    )


def metric(features, data, bench, *, seed=0, protocol="neuroalign", **_):
    o = bench.options
    return score_pls(features, data, seed=seed, protocol=protocol, n_halves=o.get("n_halves"),
                     ceiling_method=o.get("ceiling", "reliability"))
