"""PLS: scored like encoding (nested K-fold over all images), or Brain-Score's exact number."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.assembly import as_averaged, select_stimuli, stimulus_ids
from ..errors import DataError
from ..progress import steps
from ._build import NO_CEILING, NORMALIZATION, build_score, internal_consistency_of

SELECTION_SPLITS = 5  # the layer choice inside a training fold uses 5 of the protocol's 90/10 splits


def _stratify_coord(avg: xr.DataArray) -> str | None:
    """Brain-Score stratifies its splits by ``object_name`` where the data has that coord."""
    return "object_name" if "object_name" in avg.coords else None


def _what(strat) -> str:
    return ("Brain-Score PLS protocol (25 components, 10 × 90/10 ShuffleSplit random_state=1"
            + (f", stratified by {strat}" if strat else "") + "; Pearson r per neuroid)")


def score_pls(features, assembly, *, seed: int = 0, protocol: str = "neuroalign", n_splits: int = 5,
              ceiling_method: str = "reliability") -> xr.Dataset:
    """PLS (25 components, no scaling) from a layer to the averaged responses.

    ``protocol="neuroalign"`` (default): scored like encoding — outer ``n_splits``-fold
    cross-validation over all images, the layer chosen inside each training fold by
    Brain-Score's 90/10 protocol on that fold's images only; normalised r/√reliability.
    ``protocol="brainscore"``: Brain-Score's number exactly (10 × 90/10 ShuffleSplit with
    ``random_state=1``, stratified by ``object_name`` where present) — all images,
    normalised by its internal consistency (raw/ceiling) — for the best candidate layer
    (optimistic when there are several: Brain-Score commits a layer on other data).
    """
    if protocol not in PROTOCOLS:
        raise DataError(f"pls: protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}.")
    return PROTOCOLS[protocol](features, assembly, seed=seed, n_splits=n_splits, ceiling_method=ceiling_method)


def _pls_nested(features, assembly, *, seed, n_splits, ceiling_method) -> xr.Dataset:
    """Nested K-fold PLS (the ``neuroalign`` protocol): the same folds, neuroid set and
    interval as encoding (:func:`neuroalign.scorers.encoding.nested_score`)."""
    from ..mapping import PLS, brainscore_pls_protocol, cross_validated_encoding, make_splits
    from .encoding import nested_score

    avg = as_averaged(assembly)
    strat = _stratify_coord(avg)
    splits, record = make_splits(avg["stimulus_id"].values, n_splits=n_splits, seed=seed)
    layers = list(features)
    per_layer = {layer: cross_validated_encoding(features[layer], avg, (splits, record), PLS())
                 for layer in steps(layers, "PLS: layers")}
    inner = np.array([[float(brainscore_pls_protocol(features[layer], select_stimuli(avg, list(tr)), seed=1,
                                                     stratify_coord=strat, n_splits=SELECTION_SPLITS)["score"])
                       for tr, _ in splits] for layer in layers])  # (layer, split): training images only
    return nested_score(
        "pls", per_layer, inner, layers, assembly, splits, record, seed=seed, ceiling_method=ceiling_method,
        metric="Pearson r on held-out stimuli (outer K-fold over all images), PLS with 25 components",
        layer_selection=f"nested: per outer fold, the layer with the best Brain-Score PLS score ({SELECTION_SPLITS} × "
                        "90/10 splits) on that fold's training stimuli; the reported score never uses a fold's test "
                        "stimuli for the choice")


def _pls_brainscore(features, assembly, *, seed, n_splits, ceiling_method) -> xr.Dataset:
    """Brain-Score's PLS number, to its digits (NIPALS), for the best candidate layer."""
    from ..mapping import brainscore_pls_protocol

    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    strat = _stratify_coord(avg)
    full = [brainscore_pls_protocol(features[layer], avg, seed=1, stratify_coord=strat, solver="nipals")
            for layer in steps(layers, "PLS: layers")]
    layer_neuroid = np.stack([f["r"].mean("split").values for f in full])
    ic = internal_consistency_of(assembly, seed)
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
        {"neuroid_id": ("neuroid", avg["neuroid_id"].values), "layer": layers},
        **{"metric": _what(strat) + "; median over neuroids per split, mean over splits",
           "normalization": NORMALIZATION["pls:brainscore"] if ic is not None else NO_CEILING,
           "ceiling_method": "" if ic is None else ic.attrs["method"],
           "layer": layers[best],
           "layer_selection": "Brain-Score protocol: best candidate layer on all images (optimistic with "
                              "several candidates; pass one layer to reproduce a committed model)",
           "aggregate_raw": float(scores[best]), "aggregate_ceiling": bs_c, "aggregate_normalized": norm,
           "brainscore_normalized": norm, "n_excluded": 0, "excluded_reason": "", "protocol": "brainscore",
           "n_stimuli": int(len(ids)), "ci_low": float("nan"), "ci_high": float("nan")},
    )


PROTOCOLS = {"neuroalign": _pls_nested, "brainscore": _pls_brainscore}


def metric(features, data, bench, *, seed=0, protocol="neuroalign", **_):
    o = bench.options
    return score_pls(features, data, seed=seed, protocol=protocol, n_splits=o.get("n_splits", 5),
                     ceiling_method=o.get("ceiling", "reliability"))
