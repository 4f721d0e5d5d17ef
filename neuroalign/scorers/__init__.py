"""The metric registry: one module per benchmark kind behind one interface.

A metric is a callable ``metric(features, data, bench, *, seed, device, protocol, stimuli,
budget_bytes, dask, dask_workers) -> Score`` (it takes what it needs and ignores the
rest); every Score it returns comes from :func:`._build.build_score`. A plugin adds a
kind with :func:`register_metric`, then registers benchmarks of that kind.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import unknown
from . import cka, encoding, ood, pls, rsa
from ._build import LAYER_VARS, MIN_CEILING, NORMALIZATION, NORMALIZERS, SCORE_FIELDS, build_score

METRICS: dict[str, Callable] = {"encoding": encoding.metric, "pls": pls.metric, "rsa": rsa.metric,
                                "cka": cka.metric, "ood": ood.metric}


def register_metric(kind: str, metric: Callable) -> None:
    """Add (or replace) the metric of a benchmark kind."""
    from .. import benchmarks

    METRICS[kind] = metric
    if kind not in benchmarks.KINDS:
        benchmarks.KINDS = (*benchmarks.KINDS, kind)


def get_metric(kind: str) -> Callable:
    if kind not in METRICS:
        raise unknown("metric kind", kind, METRICS, hint="Register it with neuroalign.scorers.register_metric.")
    return METRICS[kind]


__all__ = ["LAYER_VARS", "METRICS", "MIN_CEILING", "NORMALIZATION", "NORMALIZERS", "SCORE_FIELDS", "build_score",
           "get_metric", "register_metric"]
