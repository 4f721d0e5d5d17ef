"""Cowley V4: efficientnet-lite0 fine-tuned toward 210322's neurons with the CKA loss, against
its controls (shuffled responses, pixel targets; the original model is the λ = 0 point).

Trains on 210322's natural images (``family == "natural"``, 600), a seeded 80 % of them
(split seed 0 for every run); reports held-out predictivity on the other 120 (same neurons,
fresh ridge), on session 190923 (other animal, other neurons, other images: fresh ridge on
its own split), task fidelity (top-1 agreement with the original model on the 120 held-out
images; the task term is distillation to the original logits on the training images), and
robustness at a Gaussian noise σ and a PGD ε (20 steps, random start) each calibrated so the
original model sits near 50 % (printed). λ is the neural term's share of the update
(gradient-norm calibration, docs/methods.md). Neural − each control: a paired bootstrap over
the held-out images (:mod:`neuroalign.finetune.compare`, a local engine), at matched λ and at
matched task fidelity, with the smallest detectable effect (80 % power).

    python bench/finetune_cowley.py --reduced   # CPU smoke size: 64 px, 16 steps, λ 0.1, 1 seed
    python bench/finetune_cowley.py --cpu       # CPU-sized experiment: 64 px, 200 steps, λ 0.05/0.2/0.5, 3 seeds
                                                # (8 min on 2 idle cores)
    python bench/finetune_cowley.py             # the full configuration (GPU; see finetune_cowley_gpu.sh)

Writes ``<out>/sweep.csv``, ``<out>/comparison.csv``, the Pareto figure and each run's
``<out>/<condition>/lam<λ>/seed<s>/score.nc``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NEUROALIGN_DATA", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("NEUROALIGN_OFFLINE", "1")

# mode -> input px, steps, batch, λ values, conditions, seeds (all modes: every natural image, 120 held out)
MODES = {
    "reduced": dict(size=64, steps=16, batch_size=12, lams=(0.1,), conditions=("neural", "shuffled", "pixel"), seeds=(0,)),
    "cpu": dict(size=64, steps=200, batch_size=16, lams=(0.05, 0.2, 0.5), conditions=("neural", "shuffled"),
                seeds=(0, 1, 2)),
    "full": dict(size=None, steps=600, batch_size=32, lams=(0.02, 0.05, 0.1, 0.2, 0.5),
                 conditions=("neural", "shuffled", "pixel"), seeds=(0, 1, 2)),
}


def subset(spec: str, n: int | None, seed: int):
    """``spec``'s (assembly, stimuli), keeping a seeded ``n`` of its stimuli (all if None)."""
    from neuroalign.data.assembly import select_stimuli
    from neuroalign.finetune import resolve_neural

    asm, stim = resolve_neural(spec)
    if n is not None and n < asm.sizes["presentation"]:
        ids = asm["stimulus_id"].values
        keep = np.sort(np.random.default_rng([seed, 11]).choice(len(ids), n, replace=False))
        asm = select_stimuli(asm, ids[keep].tolist())
    asm.attrs["identifier"] = f"{asm.attrs.get('identifier', spec)}[{spec}, n={asm.sizes['presentation']}]"
    return asm, stim


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reduced", action="store_true", help="CPU smoke size (see MODES)")
    ap.add_argument("--cpu", action="store_true", help="the CPU-sized experiment (see MODES)")
    ap.add_argument("--layer", default="_blocks.6")
    ap.add_argument("--loss", default="cka")
    ap.add_argument("--lams", default=None, help="comma-separated λ (shares of the update)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seeds", default=None, help="comma-separated training seeds")
    ap.add_argument("--conditions", default=None)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n-other", type=int, default=120, help="190923 images for the generalisation ridge")
    ap.add_argument("--out", default=None, help="output folder (default: results/finetune_cowley_<mode>)")
    args = ap.parse_args(argv)
    mode = "reduced" if args.reduced else "cpu" if args.cpu else "full"
    m = dict(MODES[mode])
    m["steps"] = args.steps or m["steps"]
    for key, conv in (("lams", float), ("seeds", int), ("conditions", str)):
        if getattr(args, key):
            m[key] = tuple(conv(v) for v in getattr(args, key).split(","))
    # 210322 and 190923 have no single-trial file; their repeat-averaged responses are what we train on
    warnings.filterwarnings("ignore", message="single trials unavailable")

    import torch

    from neuroalign.figures import finetune_pareto
    from neuroalign.finetune.sweep import run_sweep
    from neuroalign.models import load_model

    if mode != "full" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = Path(args.out or ROOT / "results" / f"finetune_cowley_{mode}")
    model = load_model("efficientnet-lite0")
    if m["size"] is not None:  # a smaller input: the CPU modes' only change to the model
        model.preprocessing = dataclasses.replace(model.preprocessing, input_size=m["size"],
                                                  resize=m["size"] + m["size"] // 7)
    neural = subset("cowley:210322:natural", None, 0)
    other = subset("cowley:190923", args.n_other, 0)
    print(f"[{mode}] efficientnet-lite0 layer {args.layer}, input {model.preprocessing.input_size}px; "
          f"{neural[0].sizes['neuroid']} neurons, {neural[0].sizes['presentation']} images (120 held out); 190923: "
          f"{other[0].sizes['neuroid']} neurons, {other[0].sizes['presentation']} images; {m['steps']} steps, batch "
          f"{m['batch_size']}, lr {args.lr}, λ {m['lams']} (gradnorm), conditions {m['conditions']}, seeds {m['seeds']}",
          flush=True)
    t0 = time.perf_counter()
    res = run_sweep(model, out_dir=out, lams=m["lams"], conditions=m["conditions"], seeds=m["seeds"],
                    device=args.device, progress=mode == "full", log=lambda s: print(s, flush=True),
                    layer=args.layer, neural=neural, eval_neural=other, loss=args.loss, steps=m["steps"],
                    batch_size=m["batch_size"], lr=args.lr, task_data="neural", max_eval=120,
                    noise_levels="auto", pgd_eps="auto", checkpoint_every=max(m["steps"] // 4, 1))
    seconds = time.perf_counter() - t0
    finetune_pareto(res["summary"], out)
    print(f"\nwall time {seconds:.0f} s (the machine's load at the time counts: see `uptime`)")
    print(_table(res["summary"]))
    comp = res["comparison"]
    print(_table(comp[comp["quantity"].str.startswith("predictivity")]))
    print(_table(comp[~comp["quantity"].str.startswith("predictivity")]))
    return res | {"seconds": seconds}


def _table(df) -> str:
    try:
        return df.to_markdown(index=False, floatfmt=".3f")
    except ImportError:
        return df.to_string(index=False, float_format="%.3f")


if __name__ == "__main__":
    main()
