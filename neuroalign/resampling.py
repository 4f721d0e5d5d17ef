"""One resampling engine for every score: a two-factor bootstrap, paired by construction.

The factors are the stimuli and the units a score aggregates over (neuroids for the neural
kinds, subjects for RSA with several subject RDMs). Following Schütt et al. (2023, eLife
12:e82566, "Statistical inference on representational geometries") three sets of draws are
evaluated with the same random draws — both factors, stimuli only, units only — and their
variances combined as ``V = 2(V_stimuli + V_units) − V_both``, clipped to
``[max(V_stimuli, V_units), V_both]``: resampling both factors at once counts the
measurement noise twice, each factor alone misses the other's generalisation.

The draws are counts (how often each stimulus / unit is drawn), seeded from the benchmark's
identity, version and content hash and laid out in the sorted order of the ids, so every
model scored on one benchmark version sees the same draws: two Scores are differenced draw
by draw (:mod:`neuroalign.compare`) without refitting. The ceiling is recomputed on every
draw, so intervals exist on the normalised scale too. Intervals are ``point ± z·√V``, so
they always contain their point value. Formulas: docs/methods.md.
"""

from __future__ import annotations

import hashlib

import numpy as np
import xarray as xr
from scipy.stats import norm

N_RESAMPLES = 1000
FACTORS = ("both", "stimuli", "units")
CI_METHOD = ("95% two-factor bootstrap over stimuli and {units} ({n} shared draws seeded by the benchmark "
             "version), Schütt et al. 2023 variance combination; point ± 1.96·sd")


def resample_key(bench, content_hash: str) -> str:
    """The seed of a benchmark version's draws: identifier, version and content hash."""
    return f"{bench.identifier}@v{bench.version}:{content_hash}"


def _rng(key: str, what: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{key}|{what}".encode()).digest()[:8], "little"))


def _counts(rng: np.random.Generator, n_draws: int, n: int) -> np.ndarray:
    idx = rng.integers(n, size=(n_draws, n)) + n * np.arange(n_draws)[:, None]
    return np.bincount(idx.ravel(), minlength=n * n_draws).reshape(n_draws, n).astype(np.float64)


def draw_counts(key: str, ids, n_draws: int = N_RESAMPLES, what: str = "stimuli") -> np.ndarray:
    """Counts ``(n_draws, len(ids))`` in the order of ``ids``, drawn in their sorted order (so
    the same ids in another order get the same draws)."""
    ids = np.asarray(ids, dtype=str)
    order = np.argsort(ids, kind="stable")
    drawn = _counts(_rng(key, what), n_draws, len(ids))
    out = np.empty_like(drawn)
    out[:, order] = drawn
    return out


def factor_counts(C: np.ndarray, U: np.ndarray | None) -> dict:
    """``factor -> (stimulus counts or None, unit counts or None)``; one factor when there is one unit."""
    if U is None:
        return {"stimuli": (C, None)}
    return {"both": (C, U), "stimuli": (C, None), "units": (None, U)}


def combined_variance(draws: dict) -> float:
    """Schütt et al. (2023) combination of the both / stimuli / units bootstrap variances."""
    v = {f: float(np.nanvar(np.asarray(d, dtype=np.float64), ddof=1)) for f, d in draws.items()
         if np.isfinite(d).sum() > 1}
    if set(v) != set(draws):
        return float("nan")
    if "both" not in v:
        return v["stimuli"]
    combined = 2 * (v["stimuli"] + v["units"]) - v["both"]
    return float(min(max(combined, v["stimuli"], v["units"]), v["both"]))


def interval(point: float, draws: dict, level: float = 0.95) -> tuple[float, float]:
    """``point ± z·√V`` with the combined variance: it always contains ``point``."""
    sd = np.sqrt(combined_variance(draws))
    if not (np.isfinite(point) and np.isfinite(sd)):
        return float("nan"), float("nan")
    z = norm.ppf(0.5 + level / 2)
    return float(point - z * sd), float(point + z * sd)


# ---- neural kinds: weighted sums over stimuli, weighted medians over neuroids -----------------

def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise median of the multiset where ``values[b, j]`` occurs ``weights[b, j]`` times
    (NaN values count zero times; the mean of the two middle values for an even count)."""
    values, weights = np.broadcast_arrays(values, weights)
    w = np.where(np.isfinite(values), weights, 0.0)
    order = np.argsort(np.where(np.isfinite(values), values, np.inf), axis=1)
    v = np.take_along_axis(values, order, 1)
    cw = np.cumsum(np.take_along_axis(w, order, 1), axis=1)
    total = cw[:, -1]

    def at(k):
        i = np.minimum((cw <= k[:, None]).sum(1), v.shape[1] - 1)
        return v[np.arange(len(v)), i]

    out = 0.5 * (at(np.floor((total - 1) / 2)) + at(np.floor(total / 2)))
    return np.where(total > 0, out, np.nan)


def weighted_pearson(pred: np.ndarray, target: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Pearson r per column under stimulus weights ``W`` ``(B, n)``: ``(B, n_neuroid)``."""
    p = np.nan_to_num(pred - np.nanmean(pred, 0))
    y = np.nan_to_num(target - np.nanmean(target, 0))
    s = W.sum(1, keepdims=True)
    mp, my = W @ p / s, W @ y / s
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = W @ (p * y) / s - mp * my
        return cov / np.sqrt((W @ (p * p) / s - mp**2) * (W @ (y * y) / s - my**2))


def weighted_reliability(parts, W: np.ndarray) -> np.ndarray:
    """:func:`neuroalign.ceiling.averaged_reliability` under stimulus weights: ``(B, n_neuroid)``."""
    means, noise_of_mean = parts
    f, g = np.isfinite(means).astype(np.float64), np.isfinite(noise_of_mean).astype(np.float64)
    m = np.nan_to_num(means - np.nanmean(means, 0))
    s0 = W @ f
    with np.errstate(invalid="ignore", divide="ignore"):
        total = (W @ (m * m) - (W @ m) ** 2 / s0) / (s0 - 1)
        noise = (W @ np.nan_to_num(noise_of_mean)) / (W @ g)
        return 1.0 - noise / total


def neural_draws(pred, target, parts, included, C, U) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: median over the drawn included neuroids of the r over the drawn stimuli, and
    the median over the same neuroids of the ceiling on the same stimuli (NaN without ``parts``)."""
    W = np.ones((1, pred.shape[0])) if C is None else C
    V = (np.ones((1, pred.shape[1])) if U is None else U) * np.asarray(included, dtype=np.float64)
    raw = weighted_median(weighted_pearson(pred, target, W), V)
    if parts is None:
        return raw, np.full_like(raw, np.nan)
    return raw, weighted_median(weighted_reliability(parts, W), V)


def neural_factor_draws(pred, target, parts, included, C, U, normalizer) -> dict:
    """``{"raw": {factor: draws}, "normalized": {...}}`` of the neural statistic (see :func:`neural_draws`)."""
    n_draws = len(C)
    raw, normalized = {}, {}
    for factor, (c, u) in factor_counts(C, U).items():
        r, ceiling = neural_draws(pred, target, parts, included, c, u)
        with np.errstate(invalid="ignore", divide="ignore"):
            normalized[factor] = np.broadcast_to(normalizer(r, ceiling), (n_draws,))
        raw[factor] = np.broadcast_to(r, (n_draws,))
    return {"raw": raw, "normalized": normalized}


def _neural(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
    from .ceiling import reliability_parts
    from .data.assembly import as_averaged, is_averaged, select_stimuli, trials_array
    from .scorers import NORMALIZERS

    if "prediction" not in ds:
        return None
    pred = ds["prediction"].transpose("stimulus", "neuroid")
    ids = pred["stimulus_id"].values.astype(str)
    target = select_stimuli(as_averaged(data), ids).transpose("presentation", "neuroid").values
    parts = None if is_averaged(data) else reliability_parts(trials_array(data, ids)[0])
    C = draw_counts(key, ids, n_draws)
    U = draw_counts(key, ds["neuroid_id"].values, n_draws, what="neuroids")
    out = neural_factor_draws(pred.values.astype(np.float64), target, parts, ds["included"].values, C, U,
                              NORMALIZERS[ds.attrs["kind"]])
    return {**out, "units": "neuroids"}


# ---- RSA: the batched RSA bootstrap evaluated on the shared counts ---------------------------

def rsa_factor_draws(model_rdm: xr.DataArray, data_rdms: xr.DataArray, method: str, C, U) -> dict:
    """Per factor: mean over the drawn subjects of the model-vs-subject RDM similarity on the
    drawn stimuli, and that over the upper noise-ceiling bound on the same draw; one column
    per model RDM (``(n_draws, n_model)``: several models share one evaluation)."""
    from .similarity import bootstrap

    ceiling = data_rdms.sizes["rdm"] > 1
    raw, normalized = {}, {}
    for factor, counts in factor_counts(C, U).items():
        b = bootstrap(model_rdm, data_rdms, method=method, ceiling=ceiling, device="cpu", counts=counts)
        raw[factor] = b.samples
        normalized[factor] = b.samples / b.ceiling_samples[:, 1:] if ceiling else np.full(b.samples.shape, np.nan)
    return {"raw": raw, "normalized": normalized}


def _rsa(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
    from .scorers.rsa import neural_rdms

    if "model_rdm" not in ds:
        return None
    data_rdms = neural_rdms(data)
    model = ds["model_rdm"].rename(model_row="row", model_col="col").expand_dims("rdm")
    n_sub = data_rdms.sizes["rdm"]
    C = draw_counts(key, model["row"].values.astype(str), n_draws)
    U = draw_counts(key, np.arange(n_sub).astype(str), n_draws, what="subjects") if n_sub > 1 else None
    out = rsa_factor_draws(model, data_rdms, bench.options.get("method", "spearman"), C, U)
    out = {scale: {f: d[:, 0] for f, d in draws.items()} for scale, draws in out.items()}
    return {**out, "units": "subjects" if n_sub > 1 else "(one subject RDM: stimuli only)"}


#: How each kind's draws are made from what its Score keeps; a kind not listed keeps its own interval.
DRAWS = {"encoding": _neural, "rsa": _rsa}


def attach(ds: xr.Dataset, data, bench, key: str, n_draws: int = N_RESAMPLES) -> xr.Dataset:
    """Add the shared draws (``resample_raw``/``resample_normalized``, dims factor × resample) and
    replace the Score's intervals by the two-factor ones (``ci_*`` raw, ``normalized_ci_*``)."""
    make = DRAWS.get(ds.attrs.get("kind"))
    out = None if make is None else make(ds, data, bench, key, n_draws)
    if out is None:
        return ds
    factors = list(out["raw"])
    for name in ("raw", "normalized"):
        ds[f"resample_{name}"] = (("factor", "resample"), np.stack([out[name][f] for f in factors]))
    ds = ds.assign_coords(factor=factors)
    ci = interval(ds.attrs["aggregate_raw"], out["raw"])
    nci = interval(ds.attrs["aggregate_normalized"], out["normalized"])
    ds.attrs.update(ci_low=ci[0], ci_high=ci[1], normalized_ci_low=nci[0], normalized_ci_high=nci[1],
                    ci_method=CI_METHOD.format(units=out["units"], n=n_draws), resample_key=key,
                    n_resamples=int(n_draws))
    return ds


def draws_of(ds: xr.Dataset, scale: str) -> dict:
    """A Score's draws on ``scale`` (``raw`` or ``normalized``) as ``factor -> array``."""
    da = ds[f"resample_{scale}"]
    return {str(f): da.sel(factor=f).values for f in da["factor"].values}
