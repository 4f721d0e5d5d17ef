"""Paper figures, one function per figure; each writes PNG, SVG and the CSV of its plotted values.

All read the results table (docs/architecture.md) or, for the scaling law and
fine-tuning, their own tables; :func:`make_all_figures` builds every figure whose data
exist, plus one folder of per-model figures that the leaderboard links to.
"""

from ._common import load_results, slug
from .encoding_layers import encoding_layers
from .finetune import finetune_pareto, finetune_tradeoff, load_finetune
from .id_ood import id_vs_ood
from .make_all import make_all_figures
from .model_compare import comparison_table, model_compare
from .rsa_bars import rsa_bars
from .scaling_law import load_points, scaling_allocation, scaling_law

__all__ = [
    "comparison_table", "encoding_layers", "finetune_pareto", "finetune_tradeoff", "id_vs_ood", "load_finetune", "load_points",
    "load_results", "make_all_figures", "model_compare", "rsa_bars", "scaling_allocation", "scaling_law", "slug",
]
