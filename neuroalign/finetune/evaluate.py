"""After training: brain predictivity (fresh ridge, held-out images), task fidelity, summaries.

Predictivity is measured the way the rest of neuroalign measures it — the package's one
ridge (:func:`neuroalign.mapping.default_ridge`: its alpha grid, GCV per neuron, features
scaled by the training rows only) from the layer's features to the responses, fitted on
training images and scored by Pearson r on held-out ones — so a fine-tuned model's number
means the same as any model's. The readout a ``readout_*`` loss trained is not used: a
fresh ridge keeps the comparison with the controls fair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..activations.hooks import capture
from ..atomic import read_netcdf
from ..errors import DataError, ModelError
from ..mapping import default_ridge
from ..metrics import pearson_r

POOLS = ("flatten", "mean")


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


def ridge_prediction(f_train, y_train, f_test, y_test, *, device="auto") -> tuple[np.ndarray, np.ndarray]:
    """(per-neuron Pearson r, predictions) on held-out rows of the package's ridge fitted on the
    training rows (float64; the feature scale comes from the training rows only)."""
    if f_train.shape[0] != y_train.shape[0] or f_test.shape[0] != y_test.shape[0]:
        raise DataError(f"ridge_predictivity: {f_train.shape[0]}/{f_test.shape[0]} feature rows vs "
                        f"{y_train.shape[0]}/{y_test.shape[0]} response rows.")
    ridge = default_ridge(device=device, dtype="float64").fit(np.asarray(f_train, np.float64), y_train)
    pred = np.asarray(ridge.predict(np.asarray(f_test, np.float64)), dtype=np.float64)
    return np.asarray(pearson_r(np.asarray(y_test, np.float64), pred), dtype=np.float64), pred


def agreement(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images whose top-1 equals ``labels`` (true classes or the original top-1)."""
    return float((logits.argmax(1).cpu() == labels.cpu()).double().mean())


def aggregate(r: np.ndarray) -> float:
    """Median over neurons, ignoring undefined (NaN) correlations, as in the rest of neuroalign."""
    r = np.asarray(r, dtype=np.float64)
    return float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")


def _fmt(sigma: float) -> str:
    return f"{float(sigma):g}"


def pgd_column(eps: float) -> str:
    """``robustness_pgd_eps<k>``: robust accuracy at ε = k/255."""
    return f"robustness_pgd_eps{round(float(eps) * 255, 6):g}"


def summarize(score_paths) -> pd.DataFrame:
    """One row per fine-tuning run (condition) from its ``score.nc``.

    Columns: ``condition, heldout_predictivity, generalization_predictivity,
    task_fidelity, robustness_noise_<sigma>…, robustness_pgd_eps<k>…`` (PGD robust
    accuracy at ε = k/255 over the clean-correct images, beside the clean
    ``task_fidelity``), ``pgd_n_clean_correct``, then the starting values (``*_initial``)
    and the run's settings (``loss, lam, steps, seed, model, layer, pgd_steps, path``).
    ``robustness_noise_0`` equals the clean task fidelity.
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
        if "pgd_eps" not in ds.dims:
            raise DataError(f"{p} was written before PGD robustness was measured over eps in {{1, 2, 4}}/255 "
                            "on clean-correct images; rerun `neuroalign finetune` for it (delete the file first).")
        for eps, v in zip(ds["pgd_eps"].values, ds["robustness_pgd"].values, strict=True):
            row[pgd_column(eps)] = float(v)
        row["pgd_n_clean_correct"] = a["pgd_n_clean_correct"]
        row["heldout_predictivity_initial"] = a["heldout_predictivity_initial"]
        row["generalization_predictivity_initial"] = a.get("generalization_predictivity_initial", np.nan)
        for eps, v in zip(ds["pgd_eps"].values, ds["robustness_pgd_initial"].values, strict=True):
            row[pgd_column(eps) + "_initial"] = float(v)
        for k in ("loss", "lam", "steps", "seed", "model", "layer", "pgd_steps"):
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
