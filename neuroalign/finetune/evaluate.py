"""After training: brain predictivity (fresh ridge, held-out images), task fidelity, summaries.

Predictivity is measured the way the rest of neuroalign measures it — a cross-validated
ridge from the layer's features to the responses, fitted on training images and scored
by Pearson r on held-out ones — so a fine-tuned model's number means the same as any
model's. The readout a ``readout_*`` loss trained is not used: a fresh ridge keeps the
comparison with the controls fair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..activations.hooks import capture
from ..atomic import read_netcdf
from ..errors import DataError, ModelError
from ..mapping import RidgeCV
from ..metrics import pearson_r

POOLS = ("flatten", "mean")
RIDGE_ALPHAS = tuple(np.logspace(-3, 5, 17).tolist())


def tap(module: torch.nn.Module, layer: str):
    """Record ``layer``'s output on every forward pass, gradients kept, in ``store[layer]``."""
    return capture(module, [layer], detach=False)


def pool_features(x: torch.Tensor, pool: str) -> torch.Tensor:
    """(batch, C, H, W, ...) -> (batch, features): ``flatten`` keeps space, ``mean`` averages it out."""
    if pool == "mean" and x.ndim > 2:
        return x.mean(dim=tuple(range(2, x.ndim)))
    if pool not in POOLS:
        raise ModelError(f"pool must be one of {POOLS}, got {pool!r}.")
    return x.reshape(x.shape[0], -1)


def forward_features(module, layer, images, *, pool, device, batch_size=64):
    """Features (numpy float64) of ``images`` at ``layer``, without gradients."""
    feats = []
    with torch.no_grad(), tap(module, layer) as store:
        for i in range(0, len(images), batch_size):
            module(images[i:i + batch_size].to(device))
            feats.append(pool_features(store[layer], pool).double().cpu())
    return torch.cat(feats).numpy()


def _scale(train: np.ndarray, test: np.ndarray):
    """Centre on the training mean and divide by the training RMS row norm, so the ridge
    alpha grid means the same for a 32-unit and a 30 000-unit layer."""
    mu = train.mean(0)
    s = np.sqrt(((train - mu) ** 2).sum(1).mean())
    s = s if s > 0 else 1.0
    return (train - mu) / s, (test - mu) / s


def ridge_predictivity(f_train, y_train, f_test, y_test, *, device="auto") -> np.ndarray:
    """Per-neuron Pearson r on held-out rows of a GCV ridge fitted on the training rows."""
    if f_train.shape[0] != y_train.shape[0] or f_test.shape[0] != y_test.shape[0]:
        raise DataError(f"ridge_predictivity: {f_train.shape[0]}/{f_test.shape[0]} feature rows vs "
                        f"{y_train.shape[0]}/{y_test.shape[0]} response rows.")
    a, b = _scale(np.asarray(f_train, np.float64), np.asarray(f_test, np.float64))
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, cv="gcv", dtype="float64", device=device).fit(a, y_train)
    return np.asarray(pearson_r(np.asarray(y_test, np.float64), ridge.predict(b)), dtype=np.float64)


def agreement(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images whose top-1 equals ``labels`` (true classes or the original top-1)."""
    return float((logits.argmax(1).cpu() == labels.cpu()).double().mean())


def aggregate(r: np.ndarray) -> float:
    """Median over neurons, ignoring undefined (NaN) correlations, as in the rest of neuroalign."""
    r = np.asarray(r, dtype=np.float64)
    return float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")


def _fmt(sigma: float) -> str:
    return f"{float(sigma):g}"


def summarize(score_paths) -> pd.DataFrame:
    """One row per fine-tuning run (condition) from its ``score.nc``.

    Columns: ``condition, heldout_predictivity, generalization_predictivity,
    task_fidelity, robustness_noise_<sigma>…, robustness_pgd``, then the starting
    values (``*_initial``) and the run's settings (``loss, lam, steps, seed, model,
    layer, path``). ``robustness_noise_0`` equals the clean task fidelity.
    """
    rows = []
    for p in [score_paths] if isinstance(score_paths, (str, Path)) else score_paths:
        p = Path(p)
        ds = read_netcdf(p, what="fine-tuning score", hint="run `neuroalign finetune` for it first")
        a = ds.attrs
        row = {"condition": a["condition"],
               "heldout_predictivity": a["heldout_predictivity"],
               "generalization_predictivity": a.get("generalization_predictivity", np.nan),
               "task_fidelity": a["task_fidelity"]}
        for sigma, v in zip(ds["noise_level"].values, ds["robustness"].values, strict=True):
            row[f"robustness_noise_{_fmt(sigma)}"] = float(v)
        row["robustness_pgd"] = a["robustness_pgd"]
        row["heldout_predictivity_initial"] = a["heldout_predictivity_initial"]
        row["generalization_predictivity_initial"] = a.get("generalization_predictivity_initial", np.nan)
        row["robustness_pgd_initial"] = a["robustness_pgd_initial"]
        for k in ("loss", "lam", "steps", "seed", "model", "layer"):
            row[k] = a.get(k)
        row["path"] = str(p)
        rows.append(row)
    if not rows:
        raise DataError("summarize: no score files given.")
    return pd.DataFrame(rows)


def figure_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Long format for :func:`neuroalign.figures.finetune_tradeoff`: one row per
    condition × noise level (``condition, noise_level, robustness,
    heldout_predictivity, task_fidelity, seed``)."""
    cols = [c for c in summary.columns if c.startswith("robustness_noise_")]
    long = summary.melt(id_vars=["condition", "heldout_predictivity", "task_fidelity", "seed"],
                        value_vars=cols, var_name="noise_level", value_name="robustness")
    long["noise_level"] = long["noise_level"].str.removeprefix("robustness_noise_").astype(float)
    return long[["condition", "noise_level", "robustness", "heldout_predictivity", "task_fidelity", "seed"]]
