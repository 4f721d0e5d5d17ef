"""Extraction throughput and memory. Prints, from one run:

0. the headline, last of the timing lines: extraction / the fastest bare loop a user could write
   (per repetition the faster of the two bare loops below; today the channels_last one), goal <= 1.10;
1. extraction / bare forward loop (goal <= 1.10): the extraction decodes the images from
   disk, preprocesses, hooks and reduces four layers and streams them to Zarr (content hash,
   cache key, atomic rename included); the bare loop runs the same module at the same batch
   size on tensors decoded beforehand, nothing else, in PyTorch's default NCHW layout (what a
   user writes); a second line compares with the bare loop in channels_last, the layout
   extraction runs convolutional networks in, which isolates extraction's own overhead;
2. extraction / naive user loop (goal <= 1.02): the loop a user would write: per batch, open
   each image with PIL and apply the model's transform, forward with the same four hooks and
   reductions, ``np.save`` each layer's batch. It pays decoding on the critical path, as every
   loop must; a line says what decoding + preprocessing alone costs on one core;
3. peak RSS of a whole extraction at N and 4N stimuli, each in a fresh subprocess (goal: within
   10 %, i.e. memory does not grow with the number of stimuli).

Each timing is repeated ``--reps`` times, interleaved (bare, extraction, naive, in rotating
order, so background load hits all alike), after a warm-up; the ratios are the median of the
per-repetition ratios, with their range. Run it alone on an idle machine.

Usage: python bench/bench_extraction.py [--model torchvision:resnet18] [--n 512] [--reps 5]
       [--rss-n 128] [--device cpu] [--workers auto|N] [--batch-size 32] [--amp]
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


def _workers(value: str):
    return None if value == "auto" else int(value)


def _stimuli(images: Path, n: int, identifier: str):
    from neuroalign.data.stimuli import StimulusSet

    return StimulusSet.from_folder(images).subset([f"img{i:05d}" for i in range(n)], identifier=identifier)


def child(args) -> None:
    """One extraction in this (fresh) process; prints peak RSS as JSON."""
    import resource

    from neuroalign.activations import extract
    from neuroalign.models import load_model

    st = _stimuli(args.images, args.n, f"bench{args.n}")
    model = load_model(args.model)
    t = time.perf_counter()
    extract(model, st, list(LAYERS), reduction=LAYERS, batch_size=args.batch_size, device=args.device,
            cache_dir=args.cache, progress=False, num_workers=_workers(args.workers), amp=args.amp)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": args.n, "peak_rss_mb": peak_kb / 1024, "seconds": time.perf_counter() - t}))


def timing(args, tmp: Path) -> dict:
    import torch
    from PIL import Image

    from neuroalign.activations import extract
    from neuroalign.activations.loader import BatchTransform
    from neuroalign.device import resolve_device
    from neuroalign.models import load_model

    import copy

    from neuroalign.allocator import keep_large_allocations

    keep_large_allocations()  # as every `neuroalign` command does; process-wide, so all loops below share it
    dev = resolve_device(args.device)
    model = load_model(args.model)
    tf = model.preprocessing.transform()
    paths = [args.images / f"img{i:05d}.jpg" for i in range(args.n)]
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    # the user's loops get their own NCHW copy (extraction turns its model channels_last in place)
    module = copy.deepcopy(model.module).to(dev).eval()
    module_cl = copy.deepcopy(model.module).to(dev).eval().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    use_amp = args.amp and dev.type != "cpu"
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def amp():
        return torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp)

    def bare(n: int, cl: bool = False) -> float:
        mod, inputs = (module_cl, x_cl) if cl else (module, x)
        t = time.perf_counter()
        with torch.inference_mode(), amp():
            for batch in inputs[:n].split(args.batch_size):
                mod(batch.to(dev))
        sync()
        return time.perf_counter() - t

    def full(n: int, cache: Path) -> float:
        t = time.perf_counter()
        st = _stimuli(args.images, n, f"bench{n}")  # a fresh set: its content hash is paid too
        extract(model, st, list(LAYERS), reduction=LAYERS, batch_size=args.batch_size, device=args.device,
                cache_dir=cache, progress=False, num_workers=_workers(args.workers), amp=args.amp)
        return time.perf_counter() - t

    def naive(n: int, out: Path) -> float:
        out.mkdir(parents=True)
        got = {}
        mods = dict(module.named_modules())
        handles = [mods[name].register_forward_hook(lambda _m, _i, o, name=name: got.__setitem__(name, o))
                   for name in LAYERS]
        t = time.perf_counter()
        try:
            with torch.inference_mode(), amp():
                for k in range(0, n, args.batch_size):
                    batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[k:k + args.batch_size]])
                    module(batch.to(dev))
                    for name, kind in LAYERS.items():
                        o = got[name].mean(dim=(2, 3)) if kind == "avgpool" else got[name].flatten(1)
                        np.save(out / f"{name}-{k:06d}.npy", o.float().cpu().numpy())
        finally:
            for h in handles:
                h.remove()
        return time.perf_counter() - t

    warm = min(args.n, 2 * args.batch_size)  # allocator, imports, lazy init, worker start-up code
    bare(warm), bare(warm, cl=True), full(warm, tmp / "warm"), naive(warm, tmp / "warm-naive")
    runs = {"bare": [], "bare_cl": [], "extraction": [], "naive": []}
    for rep in range(args.reps):
        order = ["bare", "bare_cl", "extraction", "naive"]
        order = order[rep % 4:] + order[:rep % 4]
        for what in order:
            if what == "bare":
                runs[what].append(bare(args.n))
            elif what == "bare_cl":
                runs[what].append(bare(args.n, cl=True))
            elif what == "extraction":
                runs[what].append(full(args.n, tmp / f"cache{rep}"))
            else:
                runs[what].append(naive(args.n, tmp / f"naive{rep}"))
    # decoding + preprocessing alone, on one core (what the forward pass must share its cores with)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    st = _stimuli(args.images, args.n, "decode")
    batch = BatchTransform(tf)
    t = time.process_time()
    for k in range(0, args.n, args.batch_size):
        batch([st.load_image(s) for s in st.stimulus_ids[k:k + args.batch_size]])
    runs["decode_cpu"] = time.process_time() - t
    torch.set_num_threads(threads)
    return runs


def _summary(name: str, num: list[float], den: list[float], goal: float) -> str:
    r = np.asarray(num) / np.asarray(den)
    return (f"extraction / {name} = {np.median(r):.3f}  (median of {len(r)} repetitions; range "
            f"{r.min():.3f}-{r.max():.3f}; goal <= {goal:.2f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="torchvision:resnet18")
    p.add_argument("--n", type=int, default=512, help="images timed (at least 512 for a stable ratio)")
    p.add_argument("--rss-n", type=int, default=128, help="N for the memory comparison (also run at 4N)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", default="auto", help="decoding processes: auto (extract's default) or a number")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--amp", action="store_true")
    p.add_argument("--skip-rss", action="store_true", help="timings only")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        make_images(images, max(args.n, 0 if args.skip_rss else 4 * args.rss_n))
        args.images = images
        runs = timing(args, tmp)
        from neuroalign.activations.loader import auto_workers
        from neuroalign.device import resolve_device

        workers = (auto_workers(resolve_device(args.device).type, -(-args.n // args.batch_size))
                   if args.workers == "auto" else int(args.workers))
        print(f"model {args.model}, device {args.device}, batch {args.batch_size}, {args.n} images, "
              f"{args.reps} repetitions, decoding workers {args.workers} ({workers}), layers {LAYERS}")
        for what in ("bare", "bare_cl", "naive", "extraction"):
            t = np.asarray(runs[what])
            print(f"  {what + ':':<11} median {np.median(t):7.2f} s ({args.n / np.median(t):6.1f} img/s), "
                  f"range {t.min():.2f}-{t.max():.2f} s")
        print(f"  decoding + preprocessing alone: {runs['decode_cpu']:.2f} s of CPU on one core "
              f"({runs['decode_cpu'] / np.median(runs['bare']):.1%} of the bare loop's wall time)")
        print(_summary("bare forward loop", runs["extraction"], runs["bare"], 1.10))
        print(_summary("bare loop, channels_last (extraction's layout)", runs["extraction"], runs["bare_cl"], 1.10))
        print(_summary("naive user loop  ", runs["extraction"], runs["naive"], 1.02))
        # the headline: against the fastest bare loop a user could write, per repetition
        fastest = np.minimum(runs["bare"], runs["bare_cl"])
        which = "channels_last" if np.median(runs["bare_cl"]) <= np.median(runs["bare"]) else "NCHW"
        print("bench_extraction: " + _summary(f"fastest bare loop ({which} by median)", runs["extraction"], fastest,
                                              1.10) + f" [{args.model}, {args.device}, {args.n} images]")
        if args.skip_rss:
            return
        rss = {}
        for n in (args.rss_n, 4 * args.rss_n):
            cmd = [sys.executable, __file__, "--child", "--model", args.model, "--n", str(n), "--images", str(images),
                   "--cache", str(tmp / f"rss{n}"), "--batch-size", str(args.batch_size), "--device",
                   args.device, "--workers", str(args.workers)] + (["--amp"] if args.amp else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            rss[n] = json.loads(out)
        a, b = rss[args.rss_n]["peak_rss_mb"], rss[4 * args.rss_n]["peak_rss_mb"]
        print(f"peak RSS 4N / N = {b / a:.3f}  ({a:.0f} MB at N={args.rss_n}, {b:.0f} MB at N={4 * args.rss_n}; "
              f"goal <= 1.10)")


if __name__ == "__main__":
    main()
