"""Metric kinds: one :class:`MetricKind` record per benchmark kind, registered once.

A record holds the kind's scorer, its normaliser (and what it means), the Score fields,
per-layer variables and result columns it adds, and its identity checks. Everything that
used to copy the list of kinds reads these records instead: the benchmark kinds, the Score
fields (:data:`SCORE_FIELDS`, :data:`LAYER_VARS`), the results table's columns, the identity
checks of ``neuroalign results``, the CLI's choices and the benchmark-file schema's ``kind``.

A scorer is ``scorer(features, data, bench, *, <keywords it uses>) -> Score``; the keywords
on offer are those of :data:`CONTEXT` and it is given only the ones its signature names.
Every Score it returns comes from :func:`._build.build_score`. A plugin adds a kind with
:func:`register_metric` (entry-point group ``neuroalign.metrics``), then benchmarks of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import resampling
from ..errors import unknown
from ..registry import METRIC_KINDS
from . import cka, encoding, ood, pls, rsa
from ._build import (INFO_FIELDS, LAYER_VARS, MIN_CEILING, NORMALIZATION, NORMALIZERS, SCORE_FIELDS, build_score,
                     ratio, sqrt_reliability)

#: The keywords ``score()`` offers every scorer (each takes those its signature names).
CONTEXT = ("seed", "device", "protocol", "stimuli", "budget_bytes", "dask", "dask_workers")
#: The results table's value columns every kind has: the reported row reads ``aggregate_<c>`` or ``<c>``,
#: a layer row ``layer_<c>``.
VALUE_COLUMNS = ("raw", "ceiling", "normalized", "brainscore_normalized", "ci_low", "ci_high", "ceiling_low",
                 "ceiling_high")
#: Reported-row columns every kind has, added after the first table (so they follow the counts):
#: each is the Score field of that name.
LATE_COLUMNS = ("normalized_ci_low", "normalized_ci_high", "n_undefined")


@dataclass(frozen=True)
class MetricKind:
    """One benchmark kind. ``normalizer(raw, ceiling) -> normalized`` (None: not normalised);
    ``protocols``: other conventions by protocol name, ``{protocol: (normalizer, normalization)}``;
    ``score_fields``: Score attributes beyond :data:`SCORE_FIELDS` with their not-applicable value;
    ``columns``: result columns beyond :data:`VALUE_COLUMNS` (from the Score field of that name and
    ``layer_<column>``), ``late_columns`` likewise but placed after :data:`LATE_COLUMNS` (columns a
    kind gained later: the earlier ones keep their positions); ``checks``: ``check(row, num, where, atol) -> [messages]`` on result rows;
    ``standalone``: a benchmark of it is defined by its data alone (``import-data``, Brain-Score
    export), with ``export_options`` as its options; ``draws``: ``draws(score, data, bench, key, n_draws) ->
    dict | None``, the kind's shared two-factor resamples (:func:`neuroalign.resampling.attach`; None: the
    kind keeps its scorer's own interval)."""

    name: str
    scorer: Callable
    normalizer: Callable | None
    normalization: str
    protocols: dict = field(default_factory=dict)
    score_fields: dict = field(default_factory=dict)
    layer_vars: tuple = ()
    info_fields: tuple = ()
    columns: tuple = ()
    late_columns: tuple = ()
    checks: tuple = ()
    standalone: bool = True
    export_options: dict = field(default_factory=dict)
    draws: Callable | None = None


def register_metric(kind: str | MetricKind, scorer: Callable | None = None, *, normalizer: Callable | None = None,
                    normalization: str = "none: no ceiling", **record) -> MetricKind:
    """Register a kind from its record, or from its name, scorer and normaliser (the other
    record fields as keywords); replaces a kind of the same name."""
    rec = kind if isinstance(kind, MetricKind) else MetricKind(kind, scorer, normalizer, normalization, **record)
    METRIC_KINDS[rec.name] = rec
    NORMALIZERS[rec.name], NORMALIZATION[rec.name] = rec.normalizer, rec.normalization
    for protocol, (norm, text) in rec.protocols.items():
        NORMALIZERS[f"{rec.name}:{protocol}"], NORMALIZATION[f"{rec.name}:{protocol}"] = norm, text
    SCORE_FIELDS.update({k: v for k, v in rec.score_fields.items() if k not in SCORE_FIELDS})
    LAYER_VARS.extend(v for v in rec.layer_vars if v not in LAYER_VARS)
    INFO_FIELDS.update(rec.info_fields)
    return rec


def kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order (built-ins first)."""
    from ..registry import ensure_loaded

    ensure_loaded()
    return tuple(METRIC_KINDS)


def standalone_kinds() -> tuple[str, ...]:
    """Kinds a benchmark of which needs only its data (``import-data``, the Brain-Score export)."""
    return tuple(k for k in kinds() if METRIC_KINDS[k].standalone)


def get_kind(kind: str) -> MetricKind:
    if kind not in kinds():
        raise unknown("metric kind", kind, METRIC_KINDS, hint="Register it with neuroalign.scorers.register_metric.")
    return METRIC_KINDS[kind]


def get_metric(kind: str) -> Callable:
    return get_kind(kind).scorer


def run_metric(kind: str, features, data, bench, **context):
    """The kind's scorer on ``features`` and ``data``, given the :data:`CONTEXT` keywords it names."""
    scorer = get_metric(kind)
    params = inspect.signature(scorer).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        context = {k: v for k, v in context.items() if k in params}
    return scorer(features, data, bench, **context)


def protocols() -> tuple[str, ...]:
    """``neuroalign`` (every kind's own convention), then each protocol a record names (``brainscore``)."""
    return ("neuroalign", *dict.fromkeys(p for k in kinds() for p in METRIC_KINDS[k].protocols))


def kind_columns(late: bool = False) -> list[str]:
    """Every kind's own result columns (``late``: its ``late_columns``), in registration order."""
    return list(dict.fromkeys(c for k in kinds() for c in getattr(METRIC_KINDS[k], "late_columns" if late
                                                                  else "columns")))


def result_columns() -> list[str]:
    """The results table's columns: identity, the common values, each kind's own, the counts and
    provenance, the common later values, each kind's later ones, then the model's size."""
    return ["model", "model_identity", "benchmark", "kind", "region", "scope", "layer", "selected",
            *VALUE_COLUMNS[:4], "normalization", *VALUE_COLUMNS[4:], *kind_columns(),
            "n_neuroids", "n_excluded", "excluded_reason", "n_stimuli", "protocol", "benchmark_version",
            "benchmark_hash", *LATE_COLUMNS, *kind_columns(late=True), "model_parameters"]


_SQRT = "raw / sqrt(ceiling); raw = "
for _record in (
    MetricKind("encoding", encoding.metric, sqrt_reliability,
               _SQRT + "median over the included neuroids of held-out Pearson r, ceiling = median over the same "
               "neuroids of the reliability of the averaged responses", info_fields=("splits",),
               draws=resampling.neural_score_draws),
    MetricKind("pls", pls.metric, sqrt_reliability,
               _SQRT + "median over the included neuroids of held-out Pearson r (PLS, nested K-fold over all images, "
               "as encoding), ceiling = median reliability over the same neuroids",
               protocols={"brainscore": (ratio, "raw / ceiling (Brain-Score's convention); raw = Brain-Score's PLS "
                                                "score on all images, ceiling = internal consistency (split-half, "
                                                "Spearman-Brown; median over neuroids per split, mean over splits)")},
               export_options={"protocol": "brainscore"}, draws=resampling.neural_score_draws),
    MetricKind("rsa", rsa.metric, ratio, "raw / ceiling; ceiling = the upper bound of the RSA noise ceiling on the "
               "same stimuli", info_fields=("n_subjects", "n_bootstrap", "full_data_ceiling_low",
                                            "full_data_ceiling_high"), draws=resampling.rsa_score_draws),
    MetricKind("cka", cka.metric, None, "none: CKA has no noise ceiling", info_fields=("cka_variant",),
               draws=resampling.cka_score_draws),
    MetricKind("ood", ood.metric, sqrt_reliability,
               "raw / sqrt(ceiling) on each side (ceiling on exactly that side's tested images, same neuroids); "
               "gap = id_normalized - ood_normalized, ratio = ood_normalized / id_normalized",
               score_fields=dict.fromkeys(ood.FIELDS, float("nan")),
               layer_vars=tuple(f"layer_{c}" for c in (*ood.COLUMNS, *ood.ID_CI_COLUMNS)), columns=ood.COLUMNS,
               late_columns=ood.LATE_COLUMNS + ood.ID_CI_COLUMNS,
               info_fields=("split", "train_test_distance", "n_id_tested", "n_ood_tested"),
               checks=(ood.identities,), standalone=False, draws=resampling.ood_score_draws),
):
    register_metric(_record)

__all__ = ["CONTEXT", "LAYER_VARS", "MIN_CEILING", "NORMALIZATION", "NORMALIZERS", "SCORE_FIELDS", "VALUE_COLUMNS",
           "LATE_COLUMNS", "MetricKind", "build_score", "get_kind", "get_metric", "kind_columns", "kinds", "protocols", "register_metric",
           "result_columns", "run_metric", "standalone_kinds"]
