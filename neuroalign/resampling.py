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
             "version), Schütt et al. 2023 small-sample variance combination; point ± 1.96·sd")


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


def combined_variance(draws: dict, n: tuple | None = None) -> float:
    """Schütt et al. (2023) combination of the both / stimuli / units bootstrap variances.

    ``n = (n_stimuli, n_units[, share])``: their small-sample form (each single-factor variance
    scaled by ``k/(k-1)``, the interaction term by the product), clipped to
    ``[max(scaled single-factor variances), V_both]``; without ``n`` the large-sample form
    ``2(V_s + V_u) − V_both`` clipped to ``[max(V_s, V_u), V_both]``. ``share``: the part of the
    stimulus variance a draw's statistic truly has (RSA drops the pairs between copies of a
    stimulus, so a draw rests on its distinct stimuli only): ``V_s`` is scaled by it and
    ``V_both`` loses the rest of ``V_s``."""
    v = {f: float(np.nanvar(np.asarray(d, dtype=np.float64), ddof=1)) for f, d in draws.items()
         if np.isfinite(d).sum() > 1}
    if set(v) != set(draws):
        return float("nan")
    share = n[2] if n is not None and len(n) > 2 else 1.0
    stim = share * v["stimuli"]
    if "both" not in v:
        return stim
    both = v["both"] - (1 - share) * v["stimuli"]
    a, b = (1.0, 1.0) if n is None else (k / (k - 1) if k > 1 else 1.0 for k in n[:2])
    s, u = a * stim, b * v["units"]
    combined = s + u - a * b * (both - stim - v["units"]) if n is not None else 2 * (stim + v["units"]) - both
    return float(min(max(combined, s, u), both))


def copy_share(C: np.ndarray) -> float:
    """The mean share of distinct stimuli in the draws (≈ 1 − 1/e)."""
    return float(np.mean((C > 0).sum(1) / C.shape[1]))


def interval(point: float, draws: dict, level: float = 0.95, n: tuple | None = None) -> tuple[float, float]:
    """``point ± z·√V`` with the combined variance (``n``: see :func:`combined_variance`): it
    always contains ``point``."""
    sd = np.sqrt(combined_variance(draws, n))
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


def neural_inputs(pred: xr.DataArray, data) -> tuple:
    """``(ids, prediction, target, reliability parts or None)`` for out-of-fold predictions
    (stimulus × neuroid) of ``data``'s stimuli: what :func:`neural_draws` resamples."""
    from .ceiling import reliability_parts
    from .data.assembly import as_averaged, is_averaged, select_stimuli, trials_array

    dim = pred.dims[0]
    pred = pred.transpose(dim, "neuroid")
    ids = pred["stimulus_id"].values.astype(str) if "stimulus_id" in pred.coords else pred[dim].values.astype(str)
    target = select_stimuli(as_averaged(data), ids).transpose("presentation", "neuroid").values
    parts = None if is_averaged(data) else reliability_parts(trials_array(data, ids)[0])
    return ids, pred.values.astype(np.float64), target, parts


def neural_score_draws(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
    from .scorers import NORMALIZERS

    if "prediction" not in ds:
        return None
    ids, pred, target, parts = neural_inputs(ds["prediction"], data)
    C = draw_counts(key, ids, n_draws)
    U = draw_counts(key, ds["neuroid_id"].values, n_draws, what="neuroids")
    out = neural_factor_draws(pred, target, parts, ds["included"].values, C, U, NORMALIZERS[ds.attrs["kind"]])
    return {**out, "units": "neuroids", "n": (len(ids), int(ds.sizes["neuroid"]))}


def ood_factor_draws(sides: dict, included, C: dict, U, normalizer) -> dict:
    """OOD: per factor, the OOD side's raw and normalised draws and the gap ``id − ood`` (on the
    normalised scale with a ceiling, raw r without), each side's r and ceiling on its own drawn
    tested stimuli, both sides on the same drawn neuroids. ``sides``/``C``: ``{"id": …, "ood": …}``
    of ``(pred, target, parts)`` and stimulus counts."""
    raw, normalized, gap = {}, {}, {}
    for factor, (use_c, u) in factor_counts(True, U).items():
        per = {}
        for side, (pred, target, parts) in sides.items():
            r, ceiling = neural_draws(pred, target, parts, included, C[side] if use_c else None, u)
            with np.errstate(invalid="ignore", divide="ignore"):
                per[side] = (r, normalizer(r, ceiling) if parts is not None else r)
        shape = (len(U),)
        raw[factor] = np.broadcast_to(per["ood"][0], shape)
        normalized[factor] = np.broadcast_to(per["ood"][1] if sides["ood"][2] is not None else np.nan, shape)
        gap[factor] = np.broadcast_to(per["id"][1] - per["ood"][1], shape)
    return {"raw": raw, "normalized": normalized, "extra": {"gap": gap}}


def ood_score_draws(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
    from .scorers import NORMALIZERS

    if "id_prediction" not in ds:
        return None
    sides, C = {}, {}
    for side in ("id", "ood"):
        ids, *sides[side] = neural_inputs(ds[f"{side}_prediction"], data)
        C[side] = draw_counts(key, ids, n_draws, what=f"{side} stimuli")
    U = draw_counts(key, ds["neuroid_id"].values, n_draws, what="neuroids")
    out = ood_factor_draws(sides, ds["included"].values, C, U, NORMALIZERS["ood"])
    n_stim = sum(len(c[0]) for c in C.values())
    return {**out, "units": "neuroids", "n": (n_stim, int(ds.sizes["neuroid"]))}


# ---- CKA: the model's centred Gram against the responses, under stimulus and neuroid counts ----

def _cka_terms(Kt_w, Lt_w, w, t1, m) -> float:
    """Unbiased HSIC (Song et al. 2012) up to its ``1/(m(m−3))`` factor, from the zero-diagonal
    Grams' weighted sums: ``t1`` = Σ w_i w_j K̃_ij L̃_ij, ``K̃w``, ``L̃w``."""
    return t1 + (w @ Kt_w) * (w @ Lt_w) / ((m - 1) * (m - 2)) - 2 / (m - 2) * np.sum(w * Kt_w * Lt_w)


def _cka_cross(K: np.ndarray, Y: np.ndarray, W: np.ndarray, U: np.ndarray, debiased: bool) -> np.ndarray:
    """Σ_ij w_i w_j K'_ij L_ij per draw, ``L = Y diag(u) Y^T`` and ``K'`` = ``K`` without its
    diagonal (debiased) or ``K`` against the responses centred on the drawn stimuli (biased; a
    Gram centred on any weights gives the same sum then): ``Σ_k u_k z_kᵀ K' z_k`` with
    ``z_k = w ∘ y_k``, one matrix product per block of draws with ``K``'s factor."""
    Kf = K - np.diag(np.diag(K)) if debiased else K
    B, (n, p) = max(len(W), len(U)), Y.shape
    if debiased and len(U) == 1:  # neuroids fixed: one n × n matrix, a quadratic form per draw
        return np.broadcast_to((((W @ (Kf * ((Y * U[0]) @ Y.T))) * W).sum(1)), (B,)).copy()
    evals, vecs = np.linalg.eigh(K)  # K = F Fᵀ with F of K's rank: n·rank·p per draw instead of n²·p
    keep = evals > max(evals.max(), 0.0) * 1e-10
    F = vecs[:, keep] * np.sqrt(evals[keep])
    dK = np.diag(K) if debiased else np.zeros(n)
    step = max(1, 2**21 // (n * p)) if len(W) > 1 else 1
    out = np.empty(len(W))
    for s in range(0, len(W), step):
        w = W[s:s + step]
        yc = Y if debiased else Y - (w @ Y)[:, None, :] / w.sum(1)[:, None, None]
        Z = w[:, :, None] * yc  # (b, n, p)
        A = (F.T @ Z.transpose(1, 0, 2).reshape(n, -1)).reshape(-1, len(w), p)
        a = np.einsum("rbp,rbp->bp", A, A) - np.einsum("n,bnp->bp", dK, Z * Z)  # per draw and neuroid
        if len(W) == 1:  # stimuli fixed: the same per-neuroid sums on every draw
            return (U * a).sum(1) * np.ones(B)
        out[s:s + len(w)] = ((U[s:s + len(w)] if len(U) > 1 else U) * a).sum(1)
    return out


def weighted_cka(K: np.ndarray, Y: np.ndarray, W: np.ndarray, U: np.ndarray, debiased: bool) -> np.ndarray:
    """Linear CKA per draw between the model's Gram ``K`` (n × n, centred) and the responses
    ``Y`` (n × p) when stimulus i counts ``W[b, i]`` times and neuroid k ``U[b, k]`` times
    (``(1, ·)`` rows broadcast): the biased estimator equals CKA on the repeated data; the
    debiased one leaves out pairs of copies of one stimulus as it leaves out the diagonal."""
    Y = Y - Y.mean(0)
    Kt = K - np.diag(np.diag(K))
    Kt2 = Kt * Kt if debiased else None
    cross = _cka_cross(K, Y, W, U, debiased)
    out, at = np.empty(len(cross)), None
    for b in range(len(out)):
        if at != min(b, len(W) - 1):  # what depends on the stimulus draw only (once when it is fixed)
            at = min(b, len(W) - 1)
            w = W[at]
            m = w.sum()
            ybar = (w @ Y) / m
            G = Y.T @ (w[:, None] * Y) - (0.0 if debiased else m * np.outer(ybar, ybar))
            if debiased:
                Kt_w = Kt @ w
                kk = _cka_terms(Kt_w, Kt_w, w, w @ Kt2 @ w, m)
            else:
                k = K @ w / m
                Kc = K - k[:, None] - k[None, :] + (w @ k) / m  # centred with the drawn stimuli's weights
                kk = w @ (Kc * Kc) @ w
        u = U[min(b, len(U) - 1)]
        kl, ll = cross[b], u @ (G * G) @ u
        if debiased:
            d = (Y * Y) @ u
            Lt_w = Y @ (u * (Y.T @ w)) - d * w
            kl = _cka_terms(Kt_w, Lt_w, w, kl, m)
            ll = _cka_terms(Lt_w, Lt_w, w, ll - np.sum(w * w * d * d), m)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b] = kl / np.sqrt(kk * ll) if kk * ll > 0 else np.nan
    return out


def cka_factor_draws(K, Y, C, U, debiased: bool) -> dict:
    """``{"raw": {factor: draws}, "normalized": NaN}``: CKA has no ceiling."""
    ones = lambda n: np.ones((1, n))  # noqa: E731
    raw = {f: np.broadcast_to(weighted_cka(K, Y, ones(len(K)) if c is None else c, ones(Y.shape[1]) if u is None else u,
                                           debiased), (len(C),))
           for f, (c, u) in factor_counts(C, U).items()}
    return {"raw": raw, "normalized": {f: np.full(len(C), np.nan) for f in raw}}


def cka_score_draws(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
    from .data.assembly import as_averaged, select_stimuli

    if "model_gram" not in ds:
        return None
    ids = ds["stimulus_id"].values.astype(str)
    Y = select_stimuli(as_averaged(data), ids).transpose("presentation", "neuroid")
    C = draw_counts(key, ids, n_draws)
    U = draw_counts(key, Y["neuroid_id"].values, n_draws, what="neuroids")
    out = cka_factor_draws(ds["model_gram"].values.astype(np.float64), Y.values.astype(np.float64), C, U,
                           str(ds.attrs.get("cka_variant", "")).startswith("debiased"))
    return {**out, "units": "neuroids", "n": (len(ids), Y.shape[1])}


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


def rsa_score_draws(ds: xr.Dataset, data, bench, key: str, n_draws: int) -> dict | None:
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
    return {**out, "units": "subjects" if n_sub > 1 else "(one subject RDM: stimuli only)",
            "n": (len(C[0]), n_sub, copy_share(C))}


def attach(ds: xr.Dataset, data, bench, key: str, n_draws: int | None = None) -> xr.Dataset:
    """Add the shared draws (``resample_raw``/``resample_normalized``, dims factor × resample) and
    replace the Score's intervals by the two-factor ones (``ci_*`` raw, ``normalized_ci_*``, and
    ``<name>_ci_*`` for a kind's further statistics such as the OOD gap). The draws come from the
    kind's record (:attr:`neuroalign.scorers.MetricKind.draws`); a kind without them, or a Score
    without the inputs they need, keeps its own interval."""
    from .registry import METRIC_KINDS

    n_draws = N_RESAMPLES if n_draws is None else n_draws
    make = getattr(METRIC_KINDS.get(ds.attrs.get("kind")), "draws", None)
    out = None if make is None else make(ds, data, bench, key, n_draws)
    if out is None:
        return ds
    factors = list(out["raw"])
    stats = {"raw": out["raw"], "normalized": out["normalized"], **out.get("extra", {})}
    for name, draws in stats.items():
        ds[f"resample_{name}"] = (("factor", "resample"), np.stack([draws[f] for f in factors]))
    ds = ds.assign_coords(factor=factors)
    n = (int(out["n"][0]), int(out["n"][1]), *out["n"][2:])
    points = {"ci": "aggregate_raw", "normalized_ci": "aggregate_normalized",
              **{f"{name}_ci": name for name in out.get("extra", {})}}
    for (prefix, point), name in zip(points.items(), stats):
        ds.attrs[f"{prefix}_low"], ds.attrs[f"{prefix}_high"] = interval(ds.attrs[point], stats[name], n=n)
    ds.attrs.update(ci_method=CI_METHOD.format(units=out["units"], n=n_draws), resample_key=key,
                    n_resamples=int(n_draws), resample_units=out["units"], resample_n_stimuli=n[0],
                    resample_n_units=n[1], resample_stimulus_share=float(n[2]) if len(n) > 2 else 1.0)
    return ds


def draws_of(ds: xr.Dataset, scale: str) -> dict:
    """A Score's draws on ``scale`` (``raw`` or ``normalized``) as ``factor -> array``."""
    da = ds[f"resample_{scale}"]
    return {str(f): da.sel(factor=f).values for f in da["factor"].values}


def sizes_of(ds: xr.Dataset) -> tuple | None:
    """``(n_stimuli, n_units, stimulus share)`` a Score's draws were made over (the ``n`` of
    :func:`combined_variance`), None for a Score written before they were recorded."""
    a = ds.attrs
    if "resample_n_units" not in a:
        return None
    return int(a["resample_n_stimuli"]), int(a["resample_n_units"]), float(a.get("resample_stimulus_share", 1.0))
