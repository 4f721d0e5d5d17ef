"""A λ sweep: every condition × λ × training seed on one shared preparation, then the Pareto table.

Why: a single λ cannot say whether neural targets beat shuffled ones, because λ trades
task fidelity for alignment at a different rate in each condition. Sweeping λ draws each
condition's curve of held-out predictivity against task fidelity; conditions are compared
at matched fidelity (:mod:`.compare`). All runs share one split (``split_seed``), one
original-model evaluation and one calibration of the robustness levels.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..atomic import atomic_path
from .compare import compare, load_runs, sweep_summary
from .train import SCORE, FinetuneConfig, _config_hash, prepare, run_finetune

LAM_SWEEP = (0.02, 0.05, 0.1, 0.2, 0.5)  # shares of the update (balance "gradnorm"); small: see docs/methods.md
SWEEP_CONDITIONS = ("neural", "shuffled", "pixel")


def run_path(out_dir, condition: str, lam: float, seed: int) -> Path:
    return Path(out_dir) / condition / f"lam{lam:g}" / f"seed{seed}"


def _finished(path: Path, chash: str) -> bool:
    if not (path / SCORE).exists():
        return False
    with xr.open_dataset(path / SCORE, engine="h5netcdf") as ds:
        return ds.attrs.get("config_hash") == chash


def run_sweep(model_spec, *, out_dir, lams=LAM_SWEEP, conditions=SWEEP_CONDITIONS, seeds=(0, 1, 2), device="auto",
              progress: bool = True, n_boot: int = 1000, log=print, **settings) -> dict:
    """Run (or resume) the sweep under ``out_dir``; write ``sweep.csv`` (per condition × λ) and
    ``comparison.csv`` (neural − each control, paired bootstrap); return ``{"summary", "comparison",
    "paths", "levels"}``. ``settings``: :class:`FinetuneConfig` fields (``split_seed`` defaults to 0)."""
    from ..models import load_model

    loaded = load_model(model_spec)
    settings.setdefault("split_seed", 0)
    prepared, paths = None, []
    for cond in conditions:
        for lam in lams:
            for seed in seeds:
                cfg = FinetuneConfig(**settings | dict(condition=cond, lam=float(lam), seed=int(seed)))
                path = run_path(out_dir, cond, lam, seed)
                if prepared is None and not _finished(path, _config_hash(cfg.describe(loaded))):
                    prepared = prepare(loaded, cfg, device)
                    log(_levels_line(prepared))
                run_finetune(loaded, out_dir=path, device=device, progress=progress, prepared=prepared,
                             **settings | dict(condition=cond, lam=float(lam), seed=int(seed)))
                paths.append(path / SCORE)
                log(f"  {cond} λ={lam:g} seed {seed}: done")
    runs = load_runs(paths)
    summary = sweep_summary(runs)
    comparison = compare(runs, "neural", [c for c in conditions if c != "neural"], n_boot=n_boot)
    for name, table in (("sweep.csv", summary), ("comparison.csv", comparison)):
        with atomic_path(Path(out_dir) / name) as tmp:
            table.to_csv(tmp, index=False)
    return {"summary": summary, "comparison": comparison, "paths": paths,
            "levels": prepared.levels if prepared is not None else {}}


def _levels_line(prep) -> str:
    parts = [f"noise σ = {prep.levels['noise'][0]:.3g} (original agreement {prep.levels['noise'][1]:.3f})"
             if "noise" in prep.levels else f"noise σ = {list(prep.noise_levels)}",
             f"PGD ε = {prep.levels['pgd'][0] * 255:.3g}/255 (original robust accuracy {prep.levels['pgd'][1]:.3f})"
             if "pgd" in prep.levels else f"PGD ε = {[e * 255 for e in prep.pgd_eps]}/255"]
    return f"robustness levels ({len(prep.task.eval_images)} evaluation images): " + "; ".join(parts)
