"""Linear CKA between a layer and averaged responses, the layer chosen over random halves."""

from __future__ import annotations


import numpy as np
import pandas as pd
import xarray as xr

from ..progress import steps
from ..data.assembly import as_averaged, select_stimuli, stimulus_ids
from ._build import (NORMALIZATION, build_score)

N_HALVES = 20


def score_cka(features, assembly, *, debiased: bool = True, seed: int = 0, n_halves: int | None = None,
              device="auto") -> xr.Dataset:
    """CKA per layer between features and averaged responses; layer chosen on random halves."""
    from ..selection import half_sample_interval, random_halves
    from ..similarity import cka

    avg = as_averaged(assembly)
    ids = stimulus_ids(avg)
    layers = list(features)
    Y = np.asarray(avg.values, dtype=np.float64)

    def value(layer, subset):
        idx = pd.Index(ids).get_indexer(subset)
        return float(cka(select_stimuli(features[layer], subset).values, Y[idx], debiased=debiased, device=device))

    full = [value(layer, ids) for layer in steps(layers, "CKA: layers")]
    halves = random_halves(ids, n_halves or N_HALVES, seed)
    chosen, half_raw, layer_half = [], [], []  # layer_half: every layer on each report half (its interval)
    for sel, rep in halves:
        c = int(np.nanargmax([value(layer, sel) for layer in layers]))
        layer_half.append([value(layer, rep) for layer in layers])
        chosen.append(layers[c])
        half_raw.append(layer_half[-1][c])
    ci = half_sample_interval(half_raw)
    layer_ci = np.array([half_sample_interval(v) for v in np.array(layer_half).T])
    modal = pd.Series(chosen).mode().iloc[0]
    return build_score(
        {"layer_raw": ("layer", full), "raw_per_half": ("half", np.array(half_raw)),
         "layer_ci_low": ("layer", layer_ci[:, 0]), "layer_ci_high": ("layer", layer_ci[:, 1]),
         "chosen_layer_per_half": ("half", np.array(chosen)),
         "model_gram": (("stimulus", "stimulus_col"), centred_gram(select_stimuli(features[modal], ids).values))},
        {"layer": layers, "stimulus_id": ("stimulus", ids)},
        **{"metric": f"{'debiased' if debiased else 'biased'} linear CKA (Gram form)",
               "cka_variant": "debiased (unbiased HSIC)" if debiased else "biased (drifts with the number of stimuli)",
               "normalization": NORMALIZATION["cka"], "layer": modal,
               "layer_selection": f"repeated random halves ({len(halves)}): the layer is chosen on one half of the "
                                  "stimuli and scored on the other; the modal choice is named",
               "aggregate_raw": float(np.mean(half_raw)), "aggregate_ceiling": float("nan"),
               "aggregate_normalized": float("nan"), "brainscore_normalized": float("nan"),
               "n_excluded": 0, "excluded_reason": "", "protocol": "neuroalign",
               "ci_low": ci[0], "ci_high": ci[1], "ci_method": "mean ± t(n-1) sd over random halves",
               "n_stimuli": int(len(ids))},
    )


def centred_gram(x: np.ndarray) -> np.ndarray:
    """The linear Gram of the stimulus-centred features (float32, stimulus × stimulus): all that
    linear CKA needs of a model, kept on the Score for the shared resamples."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(0)
    return (x @ x.T).astype(np.float32)


def metric(features, data, bench, *, seed=0, device="auto"):
    o = bench.options
    return score_cka(features, data, debiased=o.get("debiased", True), seed=seed, n_halves=o.get("n_halves"),
                     device=device)
