"""Every figure from one results folder: what `neuroalign figures RESULTS_DIR OUT_DIR` runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ._common import filter_models, load_results, slug
from .encoding_layers import encoding_layers
from .finetune import finetune_tradeoff
from .id_ood import id_vs_ood
from .model_compare import model_compare
from .rsa_bars import rsa_bars
from .scaling_law import scaling_allocation, scaling_law

log = logging.getLogger(__name__)
MODELS_DIR = "models"  # out_dir/models/<slug(model)>/<figure>.{png,svg,csv}
# figures of the results table: (name, function, does a table have rows for it?)
TABLE_FIGURES = (
    ("encoding_layers", encoding_layers, lambda t: bool((t["kind"].str.lower() == "encoding").any())),
    ("rsa_bars", rsa_bars, lambda t: bool((t["kind"].str.lower() == "rsa").any())),
    ("id_vs_ood", id_vs_ood, lambda t: bool((t["id_score"].notna() & t["ood_score"].notna()).any())),
)


def make_all_figures(results, out_dir, *, scaling=None, finetune=None, per_model: bool = True,
                     n_boot: int = 1000, seed: int = 0, scores=None) -> dict[str, dict[str, Path]]:
    """Build each figure whose inputs exist; return ``{figure name: {"png", "svg", "csv", ...}}``.

    ``results``: the results table (DataFrame, CSV or folder of CSVs). ``scaling`` and
    ``finetune``: their tables or CSVs; when ``results`` is a folder they default to its
    ``scaling.csv`` and ``finetune.csv`` if present. With ``per_model``, figures 1–3
    are also drawn for each model alone under ``out_dir/models/<model>/`` (keys
    ``"<model>/<figure>"``): the pages the leaderboard links to.
    """
    out_dir = Path(out_dir)
    if not isinstance(results, pd.DataFrame) and Path(results).is_dir():
        folder = Path(results)
        scaling = scaling if scaling is not None else _if_exists(folder / "scaling.csv")
        finetune = finetune if finetune is not None else _if_exists(folder / "finetune.csv")
    df = load_results(results)
    made: dict[str, dict[str, Path]] = {}
    for name, fn, has_rows in TABLE_FIGURES:
        if not has_rows(df):
            continue
        made[name] = fn(df, out_dir, name=name)
        if per_model:
            for model in sorted(df["model"].unique()):
                sub = filter_models(df, [model])
                if has_rows(sub):
                    made[f"{model}/{name}"] = fn(sub, out_dir / MODELS_DIR / slug(model), name=name)
    if scores is not None:  # the score NetCDFs' folder: the model comparison with tiers
        if not Path(scores).is_dir():
            raise DataError(f"scores folder {scores} does not exist; give the workflow's results/scores folder.")
        try:
            made["model_compare"] = model_compare(results, out_dir, scores=scores)
        except DataError as exc:
            log.info("model_compare not drawn: %s", exc)
    if scaling is not None:
        made["scaling_law"] = scaling_law(scaling, out_dir, n_boot=n_boot, seed=seed)
        alloc = scaling_allocation(scaling, out_dir)  # "how to spend a recording hour", when the runs wrote one
        if alloc is not None:
            made["scaling_allocation"] = alloc
    if finetune is not None:
        made["finetune"] = finetune_tradeoff(finetune, out_dir)
    skipped = {"encoding_layers", "rsa_bars", "model_compare", "id_vs_ood", "scaling_law", "finetune"} - set(made)
    if skipped:
        log.info("figures without data, not drawn: %s", ", ".join(sorted(skipped)))
    return made


def _if_exists(p: Path):
    return p if p.is_file() else None
