"""Ridge benchmark, case A: neuroalign RidgeCV (GCV, exact LOO, K-fold) vs himalaya and scikit-learn.

Case A: 2000 training + 500 held-out stimuli, 4096 features, 10 000 targets, 20 alphas,
5 folds; random features with a planted rank-20 linear signal plus noise of varying
SNR, written once and loaded by each method's own subprocess so its peak resident
memory (``ru_maxrss``) is its own; we print wall time of the fit + predict (library
imported and estimator built before the clock), peak RSS, that peak minus the RSS just
before the fit (imports + data), and the median held-out Pearson r. A second part scores one
layer three ways, same features and neuroids, each with the score it reaches: Brain-Score's PLS
protocol as Brain-Score runs it (10 × 90/10 splits, 25 components, scikit-learn's NIPALS), the same
protocol with our exact PLS solver, and our ridge protocol (5-fold outer CV, GCV ridge).

The GCV line also prints its FLOP floor: the time, measured in the same run on the same arrays,
of the dense products and the eigendecomposition its algorithm cannot avoid (float64 Gram
``X Xᵀ`` and its ``eigh``; float32 ``Uᵀ Y`` and the prediction through the basis,
``((X_test X_cᵀ) U) W``: with at least as many targets as stimuli the fit keeps basis
coefficients and never forms the ``p × t`` weights), and our time over it (goal <= 1.15).

    python bench/bench_ridge.py            # case A (several minutes on a laptop CPU)
    python bench/bench_ridge.py --small    # a quick shape check
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ALPHAS = np.logspace(-2, 6, 20)
METHODS = ["gcv_floor", "neuroalign_gcv", "neuroalign_loo", "neuroalign_kfold", "himalaya_kernel_ridge_cv",
           "himalaya_ridge_cv", "sklearn_ridge_cv"]


def make_case(n_train, n_test, p, t, seed=0):
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = rng.standard_normal((n, p), dtype=np.float32)
    P = rng.standard_normal((p, 20), dtype=np.float32) / np.sqrt(p)
    B = rng.standard_normal((20, t), dtype=np.float32)
    signal = (X @ P) @ B
    snr = rng.uniform(0.1, 2.0, t).astype(np.float32)
    Y = signal * snr + rng.standard_normal((n, t), dtype=np.float32) * signal.std(0)
    Y = Y.astype(np.float32)  # numpy 2 promotes through the float64 scalar above
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def rss_mb() -> float:
    """Peak resident memory of this process so far (high-water mark)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def current_rss_mb() -> float:
    """Resident memory now (imports and data loaded), the base the fit adds to."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def median_r(Y, P):
    from neuroalign.metrics import pearson_r

    return float(np.nanmedian(pearson_r(Y, P)))


def case_files(size, folder):
    """Write case A once; every method's process loads the same arrays (its peak RSS then
    starts from the data, not from the generator's temporaries)."""
    names = ("Xtr", "Ytr", "Xte", "Yte")
    paths = {k: os.path.join(folder, f"{k}.npy") for k in names}
    for k, arr in zip(names, make_case(*size)):
        np.save(paths[k], arr)
    return paths


def load_case(folder):
    return tuple(np.load(os.path.join(folder, f"{k}.npy")) for k in ("Xtr", "Ytr", "Xte", "Yte"))


def make_estimator(name, torch):
    """The estimator and a predict function, built (and its library imported) before the clock starts."""
    if name.startswith("neuroalign"):
        from neuroalign.mapping import RidgeCV

        cv = {"neuroalign_gcv": "gcv", "neuroalign_loo": "loo", "neuroalign_kfold": 5}[name]
        return RidgeCV(alphas=ALPHAS, cv=cv), np.asarray
    if name.startswith("himalaya"):
        from himalaya.backend import set_backend
        from himalaya.kernel_ridge import KernelRidgeCV
        from himalaya.ridge import RidgeCV as HRidgeCV

        backend = set_backend("torch_cuda" if torch.cuda.is_available() else "torch", on_error="warn")
        if name == "himalaya_kernel_ridge_cv":
            return KernelRidgeCV(alphas=ALPHAS, cv=5, fit_intercept=True, warn=False), backend.to_numpy
        return HRidgeCV(alphas=ALPHAS, cv=5, fit_intercept=True), backend.to_numpy
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    return SkRidgeCV(alphas=ALPHAS, alpha_per_target=True), np.asarray


def run_method(name, folder):
    import torch

    Xtr, Ytr, Xte, Yte = load_case(folder)
    w = torch.randn(64, 64)  # warm up torch's linear algebra once, for every method alike
    torch.linalg.eigh(w @ w.T)
    model, to_numpy = make_estimator(name, torch)
    base = current_rss_mb()
    t0 = time.perf_counter()
    pred = to_numpy(model.fit(Xtr, Ytr).predict(Xte))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    return {"method": name, "time_s": elapsed, "peak_rss_mb": rss_mb(), "added_rss_mb": rss_mb() - base,
            "median_r": median_r(Yte, np.asarray(pred, dtype=np.float64))}


def run_floor(folder):
    """The GCV fit's unavoidable dense work on case A's arrays, each timed after a warm-up."""
    import torch

    Xtr, Ytr, Xte, _ = (torch.from_numpy(a) for a in load_case(folder))
    Xd = Xtr.double()
    r, t = Xtr.shape[0], Ytr.shape[1]
    U = torch.linalg.qr(torch.randn(Xtr.shape[0], r))[0]
    W = torch.randn(r, t)
    steps = {"gram (f64)": lambda: Xd @ Xd.T, "eigh (f64)": lambda: torch.linalg.eigh(Xd @ Xd.T),
             "U^T Y": lambda: U.T @ Ytr, "predict": lambda: ((Xte @ Xtr.T) @ U) @ W}
    times = {}
    for name, fn in steps.items():
        fn()
        t0 = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t0
    times["eigh (f64)"] -= times["gram (f64)"]  # the eigh step includes its Gram
    return {"method": "gcv_floor", "time_s": sum(times.values()), "steps": times, "peak_rss_mb": rss_mb(),
            "added_rss_mb": 0.0, "median_r": float("nan")}


def run_protocols(small):
    """One layer, Brain-Score PLS protocol vs our ridge protocol, same features and neurons."""
    import xarray as xr

    from neuroalign.data.assembly import make_assembly
    from neuroalign.mapping import RidgeCV, brainscore_pls_protocol, cross_validated_encoding, make_splits

    n, p, t = (300, 512, 20) if small else (1000, 4096, 200)
    Xtr, Ytr, _, _ = make_case(n, 0, p, t, seed=1)
    ids = [f"s{i:05d}" for i in range(n)]
    feats = xr.DataArray(Xtr, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    resp = make_assembly(Ytr, stimulus_id=ids)
    out = {"shape": [n, p, t]}
    for solver in ("nipals", "exact"):
        t0 = time.perf_counter()
        pls = brainscore_pls_protocol(feats, resp, solver=solver)
        out[f"pls_{solver}_time_s"], out[f"pls_{solver}_score"] = time.perf_counter() - t0, float(pls["score"])
    t0 = time.perf_counter()
    ridge = cross_validated_encoding(feats, resp, make_splits(ids, n_splits=5, seed=0), RidgeCV(alphas=ALPHAS))
    out["ridge_time_s"] = time.perf_counter() - t0
    out["ridge_median_r"] = float(np.nanmedian(ridge["r"].mean("split")))
    return out


def print_protocols(pr: dict) -> None:
    """Three lines, same layer and neuroids: each protocol's time, score, and speed-up over Brain-Score's."""
    base = pr["pls_nipals_time_s"]
    print(f"one layer {pr['shape']} (stimuli, features, neuroids), same neuroids on every line:")
    for label, key, what in (
            ("Brain-Score PLS protocol, as Brain-Score runs it (sklearn NIPALS)", "pls_nipals", "score"),
            ("Brain-Score PLS protocol, our exact PLS solver", "pls_exact", "score"),
            ("our ridge protocol (5-fold outer CV, GCV ridge)", "ridge", "median r")):
        val = pr[f"{key}_score"] if key != "ridge" else pr["ridge_median_r"]
        print(f"  {label:<66} {pr[f'{key}_time_s']:8.2f} s  {what} {val:.4f}  "
              f"{base / pr[f'{key}_time_s']:6.1f}x vs Brain-Score's")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="quick run: 400+100 stimuli, 512 features, 500 targets")
    ap.add_argument("--only", default=None, help="comma-separated subset of methods")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--case-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    size = (400, 100, 512, 500) if args.small else (2000, 500, 4096, 10_000)
    if args.child == "protocols":
        print(json.dumps(run_protocols(args.small)))
        return
    if args.child:
        run = run_floor if args.child == "gcv_floor" else lambda folder: run_method(args.child, folder)
        print(json.dumps(run(args.case_dir)))
        return
    import torch

    print(f"case {'small' if args.small else 'A'}: train {size[0]}, test {size[1]}, features {size[2]}, "
          f"targets {size[3]}, {len(ALPHAS)} alphas, 5 folds; torch {torch.__version__}, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}, {torch.get_num_threads()} threads")
    results = {}
    methods = [m for m in (args.only.split(",") if args.only else METHODS) if m != "protocols"]
    case_dir = tempfile.mkdtemp(prefix="bench_ridge_")
    atexit.register(shutil.rmtree, case_dir, True)
    if methods:
        case_files(size, case_dir)
    for name in methods:
        cmd = [sys.executable, __file__, "--child", name, "--case-dir", case_dir]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=os.environ)
        except subprocess.TimeoutExpired:
            print(f"{name:26s} timed out after {args.timeout:.0f} s")
            continue
        if out.returncode != 0:
            print(f"{name:26s} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results[name] = res
        print(f"{name:26s} time {res['time_s']:8.2f} s   peak RSS {res['peak_rss_mb']:8.0f} MB "
              f"(+{res['added_rss_mb']:6.0f} MB over data)   held-out median r {res['median_r']:.4f}", flush=True)
    floor, gcv = results.get("gcv_floor"), results.get("neuroalign_gcv")
    if floor and gcv:
        steps = ", ".join(f"{k} {v:.2f}" for k, v in floor["steps"].items())
        print(f"  GCV FLOP floor {floor['time_s']:.2f} s ({steps}); neuroalign_gcv / floor = "
              f"{gcv['time_s'] / floor['time_s']:.2f} (goal <= 1.15)")
    ref = results.get("himalaya_kernel_ridge_cv")
    if ref:
        for name in ("neuroalign_gcv", "neuroalign_loo", "neuroalign_kfold"):
            if name in results:
                r = results[name]
                print(f"  {name}: {ref['time_s'] / r['time_s']:.2f}x faster than himalaya KernelRidgeCV, "
                      f"median r diff {r['median_r'] - ref['median_r']:+.4f}, "
                      f"peak RSS ratio {r['peak_rss_mb'] / ref['peak_rss_mb']:.2f} "
                      f"(added over data {r['added_rss_mb']:.0f} vs {ref['added_rss_mb']:.0f} MB)")
    if not args.only or "protocols" in args.only:
        cmd = [sys.executable, __file__, "--child", "protocols"] + (["--small"] if args.small else [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=os.environ)
        if out.returncode == 0:
            print_protocols(json.loads(out.stdout.strip().splitlines()[-1]))
        else:
            print("protocols failed:", out.stderr.strip().splitlines()[-1:])


if __name__ == "__main__":
    main()
