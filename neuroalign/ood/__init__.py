"""Out-of-distribution predictivity: split generators and ID-vs-OOD scoring."""

from .evaluate import default_estimator, evaluate_ood, min_cosine_distance
from .image_stats import STATISTICS, image_statistics, load_pixels
from .splits import (
    OODSplit,
    split_by_clusters,
    split_by_label,
    split_by_label_both_directions,
    split_by_statistic,
    split_by_statistic_both_directions,
)

__all__ = [
    "OODSplit",
    "STATISTICS",
    "default_estimator",
    "evaluate_ood",
    "image_statistics",
    "load_pixels",
    "min_cosine_distance",
    "split_by_clusters",
    "split_by_label",
    "split_by_label_both_directions",
    "split_by_statistic",
    "split_by_statistic_both_directions",
]
