"""Cowley V4: efficientnet-lite0 fine-tuned toward 210322's neurons with the CKA loss,
against its three controls (shuffled responses, pixel targets, λ = 0).

Trains on 210322's natural images (``family == "natural"``), a seeded 80 % of them;
reports held-out predictivity on the other 20 % (same neurons, fresh ridge), on session
190923 (other animal, other neurons, other images: fresh ridge on its own split), task
fidelity (top-1 agreement with the original model on held-out images; the task term is
distillation to the original logits on the training images) and the robustness curve
(Gaussian pixel noise of increasing σ) and L∞ PGD robust accuracy (random start, 20 steps,
ε = 1, 2, 4 /255 in pixel units; over the held-out images the fine-tuned model still
classifies as the original did). The leak check refuses the run if any evaluation image
(held-out 210322 or 190923) has the content of a training image.

    python bench/finetune_cowley.py              # the full configuration (meant for a GPU)
    python bench/finetune_cowley.py --reduced    # CPU, a few minutes: fewer images, 96 px input, few steps

Prints one table row per condition and writes ``<out>/summary.csv`` plus each run's
``<out>/<condition>/score.nc``.
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NEUROALIGN_DATA", str(ROOT.parent / "shared" / "datasets"))
os.environ.setdefault("NEUROALIGN_OFFLINE", "1")

from neuroalign.finetune.data import CONDITIONS  # noqa: E402  (after the path and data setup above)


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


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reduced", action="store_true", help="CPU-sized: 120+120 images, 96 px input, 16 steps")
    ap.add_argument("--layer", default="_blocks.6")
    ap.add_argument("--loss", default="cka")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--probability", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None, help="default 1e-4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--out", default=None, help="output folder (default: results/finetune_cowley[_reduced])")
    args = ap.parse_args(argv)
    # 210322 and 190923 have no single-trial file; their repeat-averaged responses are what we train on
    warnings.filterwarnings("ignore", message="single trials unavailable")

    import torch

    from neuroalign.finetune import run_finetune, summarize
    from neuroalign.models import load_model

    if args.reduced:
        torch.set_num_threads(min(4, os.cpu_count() or 1))
        n_train_set, n_other, size, noise = 120, 120, 96, (0.0, 0.1, 0.2, 0.4)
        steps, warmup, bs, max_eval = args.steps or 16, args.warmup or 0, args.batch_size or 12, 12
    else:
        n_train_set, n_other, size, noise = None, None, None, (0.0, 0.05, 0.1, 0.2, 0.4)
        steps, warmup, bs, max_eval = args.steps or 600, args.warmup or 50, args.batch_size or 32, 120
    lr = args.lr or 1e-4
    out = Path(args.out or ROOT / "results" / ("finetune_cowley_reduced" if args.reduced else "finetune_cowley"))

    model = load_model("efficientnet-lite0")
    if size is not None:  # a smaller input: the reduced run's only change to the model
        model.preprocessing = dataclasses.replace(model.preprocessing, input_size=size, resize=size + size // 7)
    neural = subset("cowley:210322:natural", n_train_set, args.seed)
    other = subset("cowley:190923", n_other, args.seed)
    print(f"efficientnet-lite0 layer {args.layer}, input {model.preprocessing.input_size}px; train neurons "
          f"{neural[0].sizes['neuroid']} on {neural[0].sizes['presentation']} images; 190923: "
          f"{other[0].sizes['neuroid']} neurons, {other[0].sizes['presentation']} images; {steps} steps, "
          f"batch {bs}, lr {lr}, λ {args.lam}, warm-up {warmup}, p {args.probability}", flush=True)
    times = {}
    for cond in args.conditions.split(","):
        t0 = time.perf_counter()
        run_finetune(model, layer=args.layer, neural=neural, loss=args.loss, lam=args.lam, steps=steps,
                     warmup=warmup, probability=args.probability, condition=cond, task_data="neural",
                     batch_size=bs, lr=lr, seed=args.seed, device=args.device, out_dir=out / cond,
                     eval_neural=other, progress=not args.reduced, max_eval=max_eval, noise_levels=noise,
                     checkpoint_every=max(steps // 4, 1))
        times[cond] = time.perf_counter() - t0
        print(f"  {cond}: {times[cond]:.0f} s", flush=True)
    df = summarize([out / c / "score.nc" for c in args.conditions.split(",")])
    df["seconds"] = df["condition"].map(times)
    df.to_csv(out / "summary.csv", index=False)
    pgd = [c for c in df.columns if c.startswith("robustness_pgd_eps") and not c.endswith("_initial")]
    cols = ["condition", "heldout_predictivity", "generalization_predictivity", "task_fidelity",
            *[c for c in df.columns if c.startswith("robustness_noise_") and c != "robustness_noise_0"],
            *pgd, "pgd_n_clean_correct", "seconds"]
    start = ", ".join(f"{c.removeprefix('robustness_pgd_')} {df[c + '_initial'].iloc[0]:.3f}" for c in pgd)
    print(f"\nstart (original model): held-out {df['heldout_predictivity_initial'].iloc[0]:.3f}, "
          f"190923 {df['generalization_predictivity_initial'].iloc[0]:.3f}, PGD robust accuracy {start}")
    print(df[cols].to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else df[cols].to_string(index=False))
    return df


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
