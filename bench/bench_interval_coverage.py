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
* PLS, CKA and OOD gap: not yet resampled by the engine (their Scores keep their own
  intervals); listed as such.

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
    inc = np.ones(n_neur, bool)
    raw, ceil = rs.neural_draws(pred, means, parts, inc, None, None)
    key = f"coverage-encoding-{i}"
    C = rs.draw_counts(key, np.arange(n_stim).astype(str), n_draws)
    U = rs.draw_counts(key, np.arange(n_neur).astype(str), n_draws, what="neuroids")
    draws = rs.neural_factor_draws(pred, means, parts, inc, C, U, NORMALIZERS["encoding"])
    rel = 1 / (1 + sigma**2 / n_rep)
    return {"raw": (raw[0], draws["raw"], 0.5 * np.sqrt(rel)),
            "normalized": (raw[0] / np.sqrt(ceil[0]), draws["normalized"], 0.5)}


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


def rsa_truth(n_stim=600, n_sub=40) -> float:
    from neuroalign.similarity import bootstrap

    _, model, data = _rsa_data(np.random.default_rng(12345), n_stim, n_sub)
    return float(bootstrap(model, data, method="pearson", n_samples=2, ceiling=False, device="cpu").point[0])


def rsa_dataset(i, n_stim, n_sub, n_draws, truth):
    from neuroalign.similarity import bootstrap

    ids, model, data = _rsa_data(np.random.default_rng(i), n_stim, n_sub)
    point = float(bootstrap(model, data, method="pearson", n_samples=2, ceiling=False, device="cpu").point[0])
    key = f"coverage-rsa-{i}"
    C = rs.draw_counts(key, ids, n_draws)
    U = rs.draw_counts(key, np.arange(n_sub).astype(str), n_draws, what="subjects")
    draws = rs.rsa_factor_draws(model, data, "pearson", C, U)["raw"]
    return {"raw": (point, {f: d[:, 0] for f, d in draws.items()}, truth)}


def coverage(results: list[dict]) -> dict:
    out = {}
    for scale in results[0]:
        hits, widths = [], []
        for r in results:
            point, draws, truth = r[scale]
            lo, hi = rs.interval(point, draws)
            hits.append(lo <= truth <= hi)
            widths.append(hi - lo)
        out[scale] = (float(np.mean(hits)), float(np.mean(widths)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--draws", type=int, default=rs.N_RESAMPLES)
    ap.add_argument("--stimuli", type=int, default=100)
    ap.add_argument("--neuroids", type=int, default=50)
    ap.add_argument("--rsa-stimuli", type=int, default=30)
    ap.add_argument("--subjects", type=int, default=8)
    args = ap.parse_args()
    rows = []
    t = time.perf_counter()
    enc = coverage([encoding_dataset(i, args.stimuli, args.neuroids, args.draws) for i in range(args.datasets)])
    rows += [("encoding", s, c, w, time.perf_counter() - t) for s, (c, w) in enc.items()]
    t = time.perf_counter()
    truth = rsa_truth()
    rsa = coverage([rsa_dataset(i, args.rsa_stimuli, args.subjects, args.draws, truth) for i in range(args.datasets)])
    rows += [("rsa", s, c, w, time.perf_counter() - t) for s, (c, w) in rsa.items()]
    print(f"{args.datasets} datasets per kind, {args.draws} draws; encoding {args.stimuli} stimuli x {args.neuroids} "
          f"neuroids; RSA {args.rsa_stimuli} stimuli x {args.subjects} subjects (population value {truth:.4f})")
    print(f"{'kind':10s} {'scale':11s} {'coverage':>8s} {'mean width':>10s} {'seconds':>8s}")
    for kind, scale, c, w, s in rows:
        flag = "" if 0.93 <= c <= 0.97 else "  (outside 0.93-0.97)"
        print(f"{kind:10s} {scale:11s} {c:8.3f} {w:10.4f} {s:8.1f}{flag}")
    for kind in ("pls", "cka", "ood gap"):
        print(f"{kind:10s} {'-':11s} {'n/a':>8s}  not yet resampled by the shared engine")


if __name__ == "__main__":
    main()
