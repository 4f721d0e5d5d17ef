"""RSA evaluation at scale: neuroalign vs rsatoolbox.

1000 conditions, 8 subjects, 100 stimulus-bootstrap samples with the noise ceiling in
every sample, Pearson and Spearman. rsatoolbox costs seconds per sample at this size, so
it runs ``--rsa-samples`` samples (default 5) and its time is extrapolated to 100 (said
in the printout). Point estimates (full data, no resampling) are printed side by side.
The 1-minute load average is printed with each timing: on a shared machine the wall
times of both libraries stretch with it (neuroalign's CPU seconds are printed too).

    PYTHONPATH=. .venv/bin/python bench/bench_rsa.py [--device cpu] [--rsa-samples 5]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def make_data(n=1000, k=8, seed=0):
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(n, 1)
    truth = rng.normal(size=(n, 40))

    def rdm(x):
        x = x - x.mean(1, keepdims=True)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return (1 - x @ x.T)[iu]

    data = np.stack([rdm(truth + 1.5 * rng.normal(size=truth.shape)) for _ in range(k)])
    model = rdm(truth[:, :30] + 1.0 * rng.normal(size=(n, 30)))[None]
    return model, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--rsa-samples", type=int, default=5, help=">= 2 (rsatoolbox fails with N=1)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", default="pearson,spearman")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    args.rsa_samples = max(2, args.rsa_samples)

    import torch
    from rsatoolbox.inference import boot_noise_ceiling, eval_bootstrap_pattern, eval_fixed
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    from neuroalign.similarity import bootstrap

    if args.threads:
        torch.set_num_threads(args.threads)

    model, data = make_data(args.n, args.subjects)
    print(f"{args.n} conditions, {args.subjects} subjects, {args.samples} stimulus-bootstrap samples "
          f"with the noise ceiling per sample; torch threads={torch.get_num_threads()}")
    rsa_name = {"pearson": "corr", "spearman": "spearman"}
    for method in args.methods.split(","):
        bootstrap(model[:, :4950], data[:, :4950], method, n_samples=2, device=args.device)  # warm-up
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        load_na = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        res = bootstrap(model, data, method, n_samples=args.samples, seed=0, device=args.device)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t_na, c_na = time.perf_counter() - t0, time.process_time() - c0

        m_rsa, d_rsa = [ModelFixed("model", RDMs(model))], RDMs(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_rsa = os.getloadavg()[0]
            t0 = time.perf_counter()
            eval_bootstrap_pattern(m_rsa, d_rsa, method=rsa_name[method], N=args.rsa_samples)
            t_rsa_k = time.perf_counter() - t0
            point_rsa = float(eval_fixed(m_rsa, d_rsa, method=rsa_name[method]).evaluations.mean())
            nc_rsa = boot_noise_ceiling(d_rsa, method=rsa_name[method])
        t_rsa = t_rsa_k / args.rsa_samples * args.samples
        print(f"\n== {method} ==")
        print(f"neuroalign ({res.info['device']}, batch {res.info['batch']}): {t_na:8.2f} s for {args.samples} samples "
              f"({c_na:.1f} CPU s; load average {load_na:.2f})")
        print(f"rsatoolbox  (cpu): {t_rsa_k:8.2f} s for {args.rsa_samples} samples -> {t_rsa:8.1f} s "
              f"extrapolated to {args.samples} (load average {load_rsa:.2f})")
        print(f"speed-up: {t_rsa / t_na:6.1f}x")
        print(f"point estimate   neuroalign {res.point[0]:.10f}  rsatoolbox {point_rsa:.10f}  "
              f"|diff| {abs(res.point[0] - point_rsa):.1e}")
        print(f"noise ceiling    neuroalign ({res.ceiling[0]:.10f}, {res.ceiling[1]:.10f})  rsatoolbox "
              f"({nc_rsa[0]:.10f}, {nc_rsa[1]:.10f})  |diff| "
              f"{max(abs(res.ceiling[0] - nc_rsa[0]), abs(res.ceiling[1] - nc_rsa[1])):.1e}")
        lo, hi = res.ci(0.95)[:, 0]
        print(f"neuroalign 95% CI of the model evaluation: [{lo:.4f}, {hi:.4f}]; ceiling-sample means "
              f"{np.nanmean(res.ceiling_samples, 0).round(4).tolist()}")


if __name__ == "__main__":
    main()
