"""Every layer of a big network in bounded memory (issue 29 §1).

Untrained ``torchvision:vgg16``, every Conv2d and Linear layer (16), scored on every local
Cowley V4 session (encoding: cross-validated ridge) and on the 92 objects (the three
Kriegeskorte RSA benchmarks). Each layer keeps every unit (``flatten``) where that fits the
budget — its activations (n × p × 4 bytes) and its ridge fit (``ridge_memory_bytes``) — and
otherwise a sparse random projection ``srp:<dim>`` of the largest power of two that fits, at most
``--srp-dim``. The plan is made for the full image counts, also under ``--quick``.

Prints the plan, each benchmark's stage times, then one headline line:

    bench_scale: <model> <L> layers on <S> V4 sessions + 92 objects: wall W s, peak RSS R GB
    (goal <= 4 GB at --budget-gb B) | extract x% fit y% RSA z% (goal: no stage > 60 %)

Peak RSS is this process's ``ru_maxrss`` (model, features, fits; the decoding workers are
separate processes, their sampled peak is printed beside it). ``--check`` then rescores every
benchmark with no budget (every layer loaded in memory, the unbounded run) from the same
cached activations and prints the largest per-layer score difference (goal: 0, float rounding).

Usage: python bench/bench_scale.py [--quick] [--budget-gb 1.0] [--srp-dim 4096] [--check]
       [--model torchvision:vgg16] [--device cpu] [--cache-dir DIR] [--sessions N] [--images N]
``--quick``: two sessions, 96 images each, plus the 92 objects (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RSA = ["kriegeskorte2008.human_it.rsa", "kriegeskorte2008.monkey_it.rsa", "kriegeskorte2008.behaviour.rsa"]
STAGE_OF = {"encoding": "fit", "rsa": "RSA"}


class PeakRSS:
    """Samples the RSS of this process and of its children (decoding workers) every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.children_peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                kids = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except Exception:  # noqa: BLE001 - a worker that just ended
                continue
            self.children_peak = max(self.children_peak, kids)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def self_peak_bytes() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def conv_and_linear(model) -> list[str]:
    import torch

    return [n for n, m in model.module.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def plan(model, layers: list[str], n: int, t: int, budget: float, srp_max: int) -> dict[str, str]:
    """``flatten`` where activations and ridge fit both fit ``budget`` for ``n`` stimuli and ``t``
    targets, else the largest power-of-two ``srp:<dim>`` (<= srp_max) that does."""
    import torch

    from neuroalign.activations.hooks import capture
    from neuroalign.mapping import ridge_memory_bytes

    def fits(p: int) -> bool:
        return n * p * 4 <= budget and ridge_memory_bytes(n, p, t) <= budget

    with capture(model.module, layers) as got, torch.inference_mode():
        model.module(torch.zeros(1, 3, 224, 224))
    out = {}
    for layer in layers:
        p = int(np.prod(got[layer].shape[1:]))
        if fits(p):
            out[layer] = "flatten"
            continue
        dim = 1 << int(np.log2(srp_max))
        while dim > 16 and not fits(dim):
            dim //= 2
        out[layer] = f"srp:{dim}"
    return out


def sessions(limit: int | None) -> list[str]:
    from neuroalign.benchmarks import availability, benchmarks

    enc = [k for k, b in benchmarks().items() if k.startswith("cowley2023.") and k.endswith(".encoding")
           and availability(b) == "local"]
    return sorted(enc)[:limit] if limit else sorted(enc)


def subset(bench, n_images: int | None):
    """The benchmark's stimuli and data, on its first ``n_images`` stimuli (all with None)."""
    from neuroalign.data.assembly import select_stimuli

    stimuli, data = bench.stimuli(), bench.load()
    if n_images and bench.kind == "encoding" and n_images < len(stimuli):
        ids = list(stimuli.stimulus_ids[:n_images])
        stimuli, data = stimuli.subset(ids, identifier=f"{stimuli.identifier}-first{n_images}"), select_stimuli(data, ids)
    return stimuli, data


def score_all(model, names, red, args, budget, times: dict | None) -> dict[str, np.ndarray]:
    """Score every benchmark (extraction cached on disk); per-layer raw scores by benchmark."""
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.scorers import run_metric
    from neuroalign.scoring import model_features

    out = {}
    for name in names:
        bench = get_benchmark(name)
        stimuli, data = subset(bench, args.images)
        t0 = time.perf_counter()
        feats = model_features(model, stimuli, list(red), reduction=red, device=args.device,
                               cache_dir=args.cache_dir, budget_bytes=budget, progress=sys.stderr.isatty())
        t1 = time.perf_counter()
        ds = run_metric(bench.kind, feats, data, bench, seed=0, device=args.device, protocol="neuroalign",
                        stimuli=stimuli, budget_bytes=budget)
        t2 = time.perf_counter()
        del feats
        out[name] = np.asarray(ds["layer_raw"].values, dtype=float)
        if times is not None:
            times["extract"] += t1 - t0
            times[STAGE_OF[bench.kind]] += t2 - t1
            print(f"  {name:<34} {len(stimuli):5d} images  extract {t1 - t0:7.1f} s  "
                  f"{STAGE_OF[bench.kind]} {t2 - t1:6.1f} s  raw {float(ds.attrs['aggregate_raw']):+.4f}  "
                  f"RSS so far {PeakRSS.self_peak_bytes() / 1e9:.2f} GB", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="torchvision:vgg16")
    ap.add_argument("--budget-gb", type=float, default=1.0,
                    help="per-layer budget (activations, ridge fit) and cap on resident features")
    ap.add_argument("--srp-dim", type=int, default=4096, help="largest srp dimension for layers over the budget")
    ap.add_argument("--quick", action="store_true", help="2 sessions × 96 images + the 92 objects")
    ap.add_argument("--sessions", type=int, default=None, help="first N local V4 sessions (default all)")
    ap.add_argument("--images", type=int, default=None, help="first N images of each session (default all)")
    ap.add_argument("--check", action="store_true", help="rescore with no budget (all in memory) and compare")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-dir", default=None, help="activation cache (default: a temporary folder)")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.images = args.sessions or 2, args.images or 96
    budget = args.budget_gb * 1e9
    from neuroalign.benchmarks import get_benchmark
    from neuroalign.data.assembly import as_averaged
    from neuroalign.models import load_model

    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as rss:
        args.cache_dir = args.cache_dir or tmp
        wall0 = time.perf_counter()
        model = load_model(args.model)
        layers = conv_and_linear(model)
        enc = sessions(args.sessions)
        sizes = [as_averaged(get_benchmark(b).load()).shape for b in enc]  # full sizes: the plan of the full run
        n_max, t_max = max(s[0] for s in sizes), max(s[1] for s in sizes)
        red = plan(model, layers, n_max, t_max, budget, args.srp_dim)
        print(f"{args.model}: {len(layers)} layers; plan for {n_max} images × {t_max} neuroids under "
              f"{args.budget_gb:g} GB: " + ", ".join(f"{k}={v}" for k, v in red.items()), flush=True)
        times = {"extract": 0.0, "fit": 0.0, "RSA": 0.0}
        bounded = score_all(model, enc + RSA, red, args, budget, times)
        wall = time.perf_counter() - wall0
        peak = PeakRSS.self_peak_bytes()
        if args.check:
            unbounded = score_all(model, enc + RSA, red, args, None, None)
            diff = max(float(np.nanmax(np.abs(bounded[k] - unbounded[k]))) for k in bounded)
            print(f"check: largest per-layer |score(budget) - score(all in memory)| = {diff:.3g} (goal 0)")
    split = " ".join(f"{k} {100 * v / wall:.0f}%" for k, v in times.items())
    what = f"{len(enc)} V4 sessions" + (f" ({args.images} images each)" if args.images else "")
    print(f"bench_scale: {args.model} {len(layers)} layers on {what} + 92 objects: wall {wall:.0f} s, "
          f"peak RSS {peak / 1e9:.2f} GB (goal <= 4 GB at --budget-gb {args.budget_gb:g}; decoding workers "
          f"{rss.children_peak / 1e9:.2f} GB) | {split} (goal: no stage > 60 %)"
          + (" [--quick]" if args.quick else ""))


if __name__ == "__main__":
    os.environ.setdefault("NEUROALIGN_OFFLINE", "1")
    main()
