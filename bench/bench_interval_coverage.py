"""How often the two-factor bootstrap's 95 % interval covers a known population value.

Simulated datasets whose population value is known, each scored through the same code the
Scores use (:mod:`neuroalign.resampling`); printed: per kind and scale, the coverage over
``--datasets`` datasets and the mean interval width. Goal (issue 26): 0.93–0.97.

* encoding: neuroid j's prediction correlates ρ_j ~ U(0.2, 0.8) with its noise-free
  response over the stimulus population; responses are ``n_rep`` trials with noise, so
  every neuroid's reliability is ``rel = 1 / (1 + σ²/n_rep)``. Population values:
  raw = median(ρ)·√rel = 0.5·√rel, normalized = median(ρ) = 0.5. Stimuli and neuroids
  are drawn anew per dataset.
* RSA (Pearson on correlation-distance RDMs): stimuli have latent features; each subject's
  and the model's RDMs are of the latent plus their own noise. The population value (mean
  over subjects, infinite stimuli) is estimated once from one large simulation.
* PLS and OOD gap: a "world" of latent stimulus features, model features and a pool of 1000
  neuroids (signal = latent · b_k, trials with noise); the map (PLS, 25 components; ridge for
  OOD) is fitted once on separate training stimuli, so, as for a Score (which resamples its
  out-of-fold predictions without refitting), the interval is conditional on the fitted map.
  Population values from 10,000 fresh stimuli over the whole pool: raw = median r,
  normalised = median r / sqrt(median reliability); the OOD stimuli have a narrower latent
  range (sd 0.6), gap = ID normalised − OOD normalised. Each dataset draws fresh stimuli and
  neuroids from the pool.
* CKA (debiased, linear): model features = latent · A + noise, neuroids = latent · b_k +
  noise; the population value (infinite stimuli) is analytic per neuroid set,
  ``‖Σ_xy‖² / (‖Σ_xx‖ ‖Σ_yy‖)``, averaged over 4000 draws of the dataset's number of
  neuroids from the pool.

Each interval is computed with both variance combinations of Schütt et al. (2023) from the
same draws: the large-sample one and the small-sample one (``n/(n−1)`` terms) the Scores use;
for RSA also with the stimulus variance scaled by the share of distinct stimuli in a draw
(``+ copy share``, what RSA Scores use: pairs between copies are dropped).

    python bench/bench_interval_coverage.py --datasets 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr

from neuroalign import resampling as rs
from neuroalign.scorers import NORMALIZERS


def encoding_dataset(i, n_stim, n_neur, n_draws, n_rep=4, sigma=1.5):
    rng = np.random.default_rng(i)
    rho = rng.uniform(0.2, 0.8, n_neur)
    signal = rng.normal(size=(n_stim, n_neur))
    pred = rho * signal + np.sqrt(1 - rho**2) * rng.normal(size=signal.shape)
    trials = signal[:, None, :] + sigma * rng.normal(size=(n_stim, n_rep, n_neur))
    means = trials.mean(1)
    parts = (means, trials.var(1, ddof=1) / n_rep)
    rel = 1 / (1 + sigma**2 / n_rep)
    return _neural_result(pred, means, parts, f"coverage-encoding-{i}", n_draws, (0.5 * np.sqrt(rel), 0.5))


def _neural_result(pred, means, parts, key, n_draws, truth) -> dict:
    """Point, draws, population value and sizes on both scales of one neural dataset."""
    (n_stim, n_neur), inc = pred.shape, np.ones(pred.shape[1], bool)
    raw, ceil = rs.neural_draws(pred, means, parts, inc, None, None)
    C = rs.draw_counts(key, np.arange(n_stim).astype(str), n_draws)
    U = rs.draw_counts(key, np.arange(n_neur).astype(str), n_draws, what="neuroids")
    draws = rs.neural_factor_draws(pred, means, parts, inc, C, U, NORMALIZERS["encoding"])
    return {"raw": (raw[0], draws["raw"], truth[0], (n_stim, n_neur)),
            "normalized": (raw[0] / np.sqrt(ceil[0]), draws["normalized"], truth[1], (n_stim, n_neur))}


def _rsa_data(rng, n_stim, n_sub, d=12, subject_noise=1.0, model_noise=1.5):
    from neuroalign.data.assembly import make_assembly
    from neuroalign.similarity import compute_rdms

    ids = [f"s{k}" for k in range(n_stim)]
    latent = rng.normal(size=(n_stim, d))

    def rdms(xs):
        return xr.concat([compute_rdms(make_assembly(x, stimulus_id=ids), "correlation") for x in xs], "rdm")

    data = rdms([latent + subject_noise * rng.normal(size=latent.shape) for _ in range(n_sub)])
    model = rdms([latent + model_noise * rng.normal(size=latent.shape)])
    return ids, model, data


RSA_TRUTH = []


def rsa_truth(n_stim=600, n_sub=40) -> float:
    from neuroalign.similarity import bootstrap

    _, model, data = _rsa_data(np.random.default_rng(12345), n_stim, n_sub)
    RSA_TRUTH[:] = [float(bootstrap(model, data, method="pearson", n_samples=2, ceiling=False, device="cpu").point[0])]
    return RSA_TRUTH[0]


def rsa_dataset(i, n_stim, n_sub, n_draws, truth):
    from neuroalign.similarity import bootstrap

    ids, model, data = _rsa_data(np.random.default_rng(i), n_stim, n_sub)
    point = float(bootstrap(model, data, method="pearson", n_samples=2, ceiling=False, device="cpu").point[0])
    key = f"coverage-rsa-{i}"
    C = rs.draw_counts(key, ids, n_draws)
    U = rs.draw_counts(key, np.arange(n_sub).astype(str), n_draws, what="subjects")
    draws = rs.rsa_factor_draws(model, data, "pearson", C, U)["raw"]
    return {"raw": (point, {f: d[:, 0] for f, d in draws.items()}, truth, (n_stim, n_sub, rs.copy_share(C)))}


def _world(seed, q=40, d=10, pool=1000, sigma=1.0):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(d, q)) / np.sqrt(d), rng.normal(size=(d, pool)) * rng.uniform(0.3, 1.0, pool) / np.sqrt(d)
    return {"A": A, "B": B, "sigma": sigma, "d": d, "q": q}


def _sample(w, rng, n, neuroids, n_rep=4, scale=1.0):
    """Fresh stimuli (latent sd ``scale``): model features, trial responses of ``neuroids``."""
    z = scale * rng.normal(size=(n, w["d"]))
    X = z @ w["A"] + 0.5 * rng.normal(size=(n, w["q"]))
    signal = z @ w["B"][:, neuroids]
    trials = signal[:, None, :] + w["sigma"] * rng.normal(size=(n, n_rep, len(neuroids)))
    return X, trials


def _neural_truth(w, fit, scale, n_rep=4, n=10000):
    pool = np.arange(w["B"].shape[1])
    X, trials = _sample(w, np.random.default_rng(999), n, pool, n_rep, scale)
    from neuroalign.metrics import pearson_r

    r = pearson_r(trials.mean(1), fit.predict(X))
    ev = (scale**2) * (w["B"] ** 2).sum(0)
    rel = ev / (ev + w["sigma"] ** 2 / n_rep)
    return float(np.median(r)), float(np.median(r) / np.sqrt(np.median(rel)))


def _fitted(kind, w):
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import Ridge

    X, trials = _sample(w, np.random.default_rng(7), 300, np.arange(w["B"].shape[1]))
    est = PLSRegression(n_components=25, scale=False) if kind == "pls" else Ridge(alpha=10.0)
    return est.fit(X, trials.mean(1))


def _side(w, fit, rng, n, neuroids, scale=1.0):
    X, trials = _sample(w, rng, n, neuroids, scale=scale)
    means = trials.mean(1)
    return np.asarray(fit.predict(X), dtype=np.float64)[:, neuroids], means, (means, trials.var(1, ddof=1) / trials.shape[1])


def pls_datasets(n_data, n_stim, n_neur, n_draws):
    w = _world(1)
    fit = _fitted("pls", w)
    truth = _neural_truth(w, fit, 1.0)
    for i in range(n_data):
        rng = np.random.default_rng(10_000 + i)
        neuroids = rng.choice(w["B"].shape[1], n_neur, replace=False)
        yield _neural_result(*_side(w, fit, rng, n_stim, neuroids), f"coverage-pls-{i}", n_draws, truth)


def ood_datasets(n_data, n_stim, n_neur, n_draws, ood_scale=0.6):
    w = _world(2)
    fit = _fitted("ood", w)
    truth = _neural_truth(w, fit, 1.0)[1] - _neural_truth(w, fit, ood_scale)[1]
    norm = NORMALIZERS["ood"]
    for i in range(n_data):
        rng = np.random.default_rng(20_000 + i)
        neuroids = rng.choice(w["B"].shape[1], n_neur, replace=False)
        sides = {"id": _side(w, fit, rng, n_stim, neuroids), "ood": _side(w, fit, rng, n_stim, neuroids, ood_scale)}
        inc = np.ones(n_neur, bool)
        full = {s: rs.neural_draws(*sides[s], inc, None, None) for s in sides}
        key = f"coverage-ood-{i}"
        C = {s: rs.draw_counts(key, np.arange(n_stim).astype(str), n_draws, what=f"{s} stimuli") for s in sides}
        U = rs.draw_counts(key, np.arange(n_neur).astype(str), n_draws, what="neuroids")
        draws = rs.ood_factor_draws(sides, inc, C, U, norm)["extra"]["gap"]
        yield {"gap": (norm(*full["id"])[0] - norm(*full["ood"])[0], draws, truth, (2 * n_stim, n_neur))}


def cka_truth(w, n_neur, noise_x=0.5, n=4000) -> float:
    rng = np.random.default_rng(5)
    A, B, s = w["A"], w["B"], w["sigma"]
    Sxx = A.T @ A + noise_x**2 * np.eye(A.shape[1])
    vals = []
    for _ in range(n):
        b = B[:, rng.choice(B.shape[1], n_neur, replace=False)]
        Sxy, Syy = A.T @ b, b.T @ b + s**2 * np.eye(n_neur)
        vals.append(np.sum(Sxy**2) / np.sqrt(np.sum(Sxx**2) * np.sum(Syy**2)))
    return float(np.mean(vals))


def cka_datasets(n_data, n_stim, n_neur, n_draws):
    from neuroalign.scorers.cka import centred_gram
    from neuroalign.similarity import cka

    w = _world(3, q=20, d=5)
    truth = cka_truth(w, n_neur)
    for i in range(n_data):
        rng = np.random.default_rng(30_000 + i)
        neuroids = rng.choice(w["B"].shape[1], n_neur, replace=False)
        z = rng.normal(size=(n_stim, w["d"]))
        X = z @ w["A"] + 0.5 * rng.normal(size=(n_stim, w["q"]))
        Y = z @ w["B"][:, neuroids] + w["sigma"] * rng.normal(size=(n_stim, n_neur))
        key = f"coverage-cka-{i}"
        C = rs.draw_counts(key, np.arange(n_stim).astype(str), n_draws)
        U = rs.draw_counts(key, np.arange(n_neur).astype(str), n_draws, what="neuroids")
        draws = rs.cka_factor_draws(centred_gram(X).astype(np.float64), Y, C, U, debiased=True)["raw"]
        yield {"raw": (float(cka(X, Y, debiased=True, device="cpu")), draws, truth, (n_stim, n_neur))}


def coverage(results) -> dict:
    """Per scale: coverage and mean width with the large-sample and the small-sample combination."""
    out = {}
    for r in results:
        for scale, (point, draws, truth, n) in r.items():
            for form, size in (("large-sample", None), ("small-sample", n[:2])) + ((("+ copy share", n),)
                                                                                     if len(n) > 2 else ()):
                lo, hi = rs.interval(point, draws, n=size)
                out.setdefault((scale, form), []).append((lo <= truth <= hi, hi - lo))
    return {k: (float(np.mean([h for h, _ in v])), float(np.mean([w for _, w in v])), len(v)) for k, v in out.items()}


KINDS = {
    "encoding": lambda a: (encoding_dataset(i, a.stimuli, a.neuroids, a.draws) for i in range(a.datasets)),
    "pls": lambda a: pls_datasets(a.datasets, a.stimuli, a.neuroids, a.draws),
    "rsa": lambda a: (rsa_dataset(i, a.rsa_stimuli, a.subjects, a.draws, rsa_truth()) if i == 0 else
                      rsa_dataset(i, a.rsa_stimuli, a.subjects, a.draws, RSA_TRUTH[0]) for i in range(a.datasets)),
    "cka": lambda a: cka_datasets(a.datasets, a.cka_stimuli, a.cka_neuroids, a.draws),
    "ood gap": lambda a: ood_datasets(a.datasets, a.ood_stimuli, a.ood_neuroids, a.draws),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--draws", type=int, default=rs.N_RESAMPLES)
    ap.add_argument("--stimuli", type=int, default=100)
    ap.add_argument("--neuroids", type=int, default=50)
    ap.add_argument("--rsa-stimuli", type=int, default=30)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--cka-stimuli", type=int, default=60)
    ap.add_argument("--cka-neuroids", type=int, default=20)
    ap.add_argument("--ood-stimuli", type=int, default=80)
    ap.add_argument("--ood-neuroids", type=int, default=30)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--seconds", type=float, default=float("inf"), help="stop a kind after this long (fewer datasets)")
    args = ap.parse_args()
    print(f"up to {args.datasets} datasets per kind, {args.draws} draws; encoding and PLS {args.stimuli} stimuli x "
          f"{args.neuroids} neuroids; RSA {args.rsa_stimuli} stimuli x {args.subjects} subjects; CKA "
          f"{args.cka_stimuli} x {args.cka_neuroids}; OOD {args.ood_stimuli} + {args.ood_stimuli} stimuli x "
          f"{args.ood_neuroids}", flush=True)
    print(f"{'kind':9s} {'scale':11s} {'variance':13s} {'n':>4s} {'coverage':>8s} {'mean width':>10s} {'seconds':>8s}",
          flush=True)
    for kind in args.kinds:
        t, results = time.perf_counter(), []
        for r in KINDS[kind](args):
            results.append(r)
            if time.perf_counter() - t > args.seconds:
                break
        for (scale, form), (c, w, n) in coverage(results).items():
            flag = "" if 0.93 <= c <= 0.97 else "  (outside 0.93-0.97)"
            print(f"{kind:9s} {scale:11s} {form:13s} {n:4d} {c:8.3f} {w:10.4f} {time.perf_counter() - t:8.1f}{flag}",
                  flush=True)


if __name__ == "__main__":
    main()
