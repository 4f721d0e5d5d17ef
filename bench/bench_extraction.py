"""Extraction overhead and memory: prints, in one run,

1. extraction time / bare forward-loop time at the same batch size (goal <= 1.10): the
   extraction decodes images from disk, hooks layers, reduces, and streams to Zarr; the
   bare loop runs the same module on pre-decoded tensors, nothing else;
2. peak RSS of a full extraction at N and 4N stimuli, each in a fresh subprocess
   (goal: equal within 10 %, i.e. memory does not grow with the number of stimuli).

Usage: python bench/bench_extraction.py [--model torchvision:resnet18] [--n 128] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYERS = {"layer1": "avgpool", "layer3": "flatten", "layer4": "flatten", "fc": "flatten"}


def make_images(folder: Path, n: int, size: int = 224) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = np.roll(base, i * 7, axis=(0, 1)) // 2 + rng.integers(0, 128, (size, size, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"img{i:05d}.jpg", quality=90)


def child(args) -> None:
    """One extraction in this (fresh) process; prints peak RSS as JSON."""
    import resource

    from neuroalign.activations import extract
    from neuroalign.data.stimuli import StimulusSet
    from neuroalign.models import load_model

    st = StimulusSet.from_folder(args.images).subset(
        [f"img{i:05d}" for i in range(args.n)], identifier=f"bench{args.n}")
    model = load_model(args.model)
    t = time.perf_counter()
    extract(model, st, list(LAYERS), reduction=LAYERS, batch_size=args.batch_size, device=args.device,
            cache_dir=args.cache, progress=False, num_workers=args.workers, amp=args.amp)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": args.n, "peak_rss_mb": peak_kb / 1024, "seconds": time.perf_counter() - t}))


def timing(args) -> tuple[float, float, float]:
    import torch

    from neuroalign.activations import extract
    from neuroalign.data.stimuli import StimulusSet
    from neuroalign.device import resolve_device
    from neuroalign.models import load_model

    dev = resolve_device(args.device)
    st = StimulusSet.from_folder(args.images).subset([f"img{i:05d}" for i in range(args.n)], identifier="t")
    model = load_model(args.model)
    tf = model.preprocessing.transform()
    x = torch.stack([tf(st.load_image(s)) for s in st.stimulus_ids])
    module = model.module.to(dev)
    amp = torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=args.amp and dev.type != "cpu")

    def bare() -> float:
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        t = time.perf_counter()
        with torch.inference_mode(), amp:
            for batch in x.split(args.batch_size):
                module(batch.to(dev))
        sync()
        return time.perf_counter() - t

    def full(cache) -> float:
        t = time.perf_counter()
        extract(model, st, list(LAYERS), reduction=LAYERS, batch_size=args.batch_size, device=args.device,
                cache_dir=cache, progress=False, num_workers=args.workers, amp=args.amp)
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as d:
        bare(), full(Path(d) / "warm")  # warm-up (allocator, imports, lazy init)
        bare_t, full_t = [], []
        for rep in range(args.reps):  # interleaved, so background load hits both alike
            bare_t.append(bare())
            full_t.append(full(Path(d) / f"r{rep}"))
    return float(np.median(bare_t)), float(np.median(full_t)), len(st) / float(np.median(full_t))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="torchvision:resnet18")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--rss-n", type=int, default=64, help="N for the memory comparison (also run at 4N)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--amp", action="store_true")
    p.add_argument("--child", action="store_true")
    p.add_argument("--images", type=Path)
    p.add_argument("--cache", type=Path)
    args = p.parse_args()
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        make_images(images, max(args.n, 4 * args.rss_n))
        args.images = images
        bare_t, full_t, ips = timing(args)
        print(f"model {args.model}, device {args.device}, batch {args.batch_size}, {args.n} images, "
              f"layers {LAYERS}")
        print(f"bare forward loop: {bare_t:.2f} s ({args.n / bare_t:.1f} img/s)")
        print(f"extraction:        {full_t:.2f} s ({ips:.1f} img/s)")
        print(f"ratio extraction / bare forward = {full_t / bare_t:.3f}  (goal <= 1.10)")
        rss = {}
        for n in (args.rss_n, 4 * args.rss_n):
            cmd = [sys.executable, __file__, "--child", "--model", args.model, "--n", str(n), "--images", str(images),
                   "--cache", str(Path(tmp) / f"rss{n}"), "--batch-size", str(args.batch_size), "--device",
                   args.device, "--workers", str(args.workers)] + (["--amp"] if args.amp else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            rss[n] = json.loads(out)
            store_mb = n * sum({"layer1": 64, "layer3": 256 * 14 * 14, "layer4": 512 * 7 * 7, "fc": 1000}.values()) * 4 / 1e6
            print(f"peak RSS at N={n}: {rss[n]['peak_rss_mb']:.0f} MB ({rss[n]['seconds']:.1f} s; "
                  f"activations written: {store_mb:.0f} MB)")
        a, b = rss[args.rss_n]["peak_rss_mb"], rss[4 * args.rss_n]["peak_rss_mb"]
        print(f"peak RSS 4N / N = {b / a:.3f}  (goal within 10 %: <= 1.10)")


if __name__ == "__main__":
    main()
