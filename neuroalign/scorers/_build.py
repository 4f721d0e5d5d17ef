"""The one Score builder, the ceilings and the named normalisation strategies every metric uses.

A Score is an ``xarray.Dataset``; :func:`build_score` is the only place one is made, so
every Score carries every declared field (``SCORE_FIELDS``, NaN or empty where a field
does not apply) and every per-layer variable (``LAYER_VARS``), and the results table
reads them without probing. Formulas: docs/methods.md.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..data.assembly import is_averaged
from ..errors import DataError

MIN_CEILING = 0.1  # neurons below this reliability are reported, not normalised
NAN = float("nan")

#: Every Score attribute a metric may set, with its value when it does not apply.
SCORE_FIELDS = {
    "metric": "", "normalization": "", "ceiling_method": "", "layer": "", "layer_selection": "",
    "aggregate_raw": NAN, "aggregate_ceiling": NAN, "aggregate_normalized": NAN, "brainscore_normalized": NAN,
    "n_excluded": 0, "excluded_reason": "", "n_included": -1, "min_ceiling": MIN_CEILING,
    "ci_low": NAN, "ci_high": NAN, "ci_method": "", "protocol": "neuroalign", "n_stimuli": -1,
    "ceiling_low": NAN, "ceiling_high": NAN, "normalized_ci_low": NAN, "normalized_ci_high": NAN,
    "n_undefined": 0,  # issue 27: a model's undefined r counted as 0
}  # ... then each metric kind's own fields (MetricKind.score_fields), added when it registers
#: Every per-layer variable (dim ``layer``) of a Score; the results table's layer rows read these.
LAYER_VARS = ["layer_raw", "layer_ceiling", "layer_normalized", "layer_brainscore_normalized", "layer_ci_low",
              "layer_ci_high", "layer_ceiling_low", "layer_ceiling_high"]  # ... then each kind's layer_vars
#: Further Score attributes a kind may set (provenance, not result columns): MetricKind.info_fields.
INFO_FIELDS: set = set()


def build_score(data_vars: dict, coords: dict, **fields) -> xr.Dataset:
    """A Score with every declared field: unknown fields are a programming error, missing
    ones take their not-applicable value, missing layer variables are NaN (``layer_ceiling``
    defaults to the aggregate ceiling, the same neuroid set)."""
    extra = sorted(set(fields) - set(SCORE_FIELDS) - INFO_FIELDS)
    if extra:
        raise TypeError(f"build_score: undeclared Score fields {extra}")
    attrs = {**SCORE_FIELDS, **fields}
    attrs = {k: (float(v) if isinstance(v, (np.floating, float)) else int(v) if isinstance(v, np.integer) else v)
             for k, v in attrs.items()}
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    n_layer = ds.sizes["layer"]
    for var in LAYER_VARS:
        if var not in ds:
            fill = attrs["aggregate_ceiling"] if var == "layer_ceiling" else NAN
            ds[var] = ("layer", np.full(n_layer, fill, dtype=np.float64))
    return ds


# ---- ceilings and the one normalisation convention per kind ----------------------------

#: How each kind's ``normalized`` is defined (``kind`` or ``kind:protocol``; also in each Score's attrs
#: and docs/methods.md), and its strategy (None: not normalised): both filled from the MetricKind records.
NORMALIZATION: dict = {}
NORMALIZERS: dict = {}
NO_CEILING = "none: the responses are repeat-averaged, so no ceiling can be estimated"


def sqrt_reliability(raw, ceiling):
    """For a correlation against a reliability (an r² ceiling): ``raw / sqrt(ceiling)``."""
    return raw / np.sqrt(ceiling)


def ratio(raw, ceiling):
    """For a ceiling on the score's own scale (RSA's upper bound, Brain-Score's convention): ``raw / ceiling``."""
    return raw / ceiling


CEILING_METHODS = ("reliability", "internal_consistency")


def ceiling_of(assembly: xr.DataArray, stimulus_ids=None, method: str = "reliability") -> xr.DataArray | None:
    """The default ceiling: reliability of exactly the averaged responses a model is scored
    against (variance components, each image's own trials); None for averaged data.
    ``method="internal_consistency"``: Brain-Score's split-half ceiling instead."""
    from ..ceiling import averaged_reliability

    if is_averaged(assembly):
        return None
    if method == "internal_consistency":
        return internal_consistency_of(assembly, 0, stimulus_ids)
    if method != "reliability":
        raise DataError(f"ceiling method {method!r} is not one of {CEILING_METHODS}.")
    return averaged_reliability(assembly, stimulus_ids=stimulus_ids, min_ceiling=MIN_CEILING)


def internal_consistency_of(assembly: xr.DataArray, seed: int = 0, stimulus_ids=None) -> xr.DataArray | None:
    """Brain-Score's ceiling (split-half over repetition indices, Spearman-Brown), for
    ``brainscore_normalized`` only."""
    from ..ceiling import split_half_reliability

    if is_averaged(assembly):
        return None
    return split_half_reliability(assembly, seed=seed, stimulus_ids=stimulus_ids, min_ceiling=MIN_CEILING)


def included_neuroids(raw: np.ndarray, ceiling: np.ndarray | None,
                      constant: np.ndarray | None = None) -> tuple[np.ndarray, int, str]:
    """The neuroids a normalised score is computed over, how many are left out, and why.

    The set comes from the data alone (a ceiling below ``MIN_CEILING`` or undefined, or a
    ``constant`` response), so it is the same for every model; ``raw`` is not consulted
    (a model's undefined r counts as 0: :func:`undefined_as_zero`)."""
    n = len(next(a for a in (constant, ceiling, raw) if a is not None))
    reliable = np.ones(n, dtype=bool) if ceiling is None else (np.asarray(ceiling) >= MIN_CEILING)
    varies = np.ones(n, dtype=bool) if constant is None else ~np.asarray(constant, dtype=bool)
    ok = reliable & varies
    reasons = []
    if (~reliable).sum():
        reasons.append(f"{int((~reliable).sum())} with ceiling < {MIN_CEILING} (or undefined)")
    if (reliable & ~varies).sum():
        reasons.append(f"{int((reliable & ~varies).sum())} with a constant response")
    return ok, int((~ok).sum()), "; ".join(reasons)


def undefined_as_zero(raw: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, int]:
    """``raw`` with a model's undefined r (constant prediction) set to 0 on the included
    neuroids, and how many were: a model cannot drop the neuroids it fails on."""
    raw = np.asarray(raw, dtype=np.float64)
    undefined = ok & ~np.isfinite(raw)  # broadcasts over leading (layer, split) axes
    return np.where(undefined, 0.0, raw), int(undefined.sum())


def masked_median(values: np.ndarray, mask: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)[mask]
    return float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")


def neural_summary(kind: str, raw: np.ndarray, ceiling: xr.DataArray | None, ic: xr.DataArray | None,
                    layer_neuroid: np.ndarray | None = None, constant: np.ndarray | None = None) -> dict:
    """Score attrs and per-layer values of one convention: ``raw``, ``ceiling`` and
    ``normalized`` over one neuroid set (``normalized = raw / sqrt(ceiling)``), the excluded
    count and reason, and Brain-Score's ``median raw / median internal consistency``.
    The set is the data's (:func:`included_neuroids`); undefined r counts as 0 (``raw``
    in the result, ``n_undefined`` in attrs)."""
    c = None if ceiling is None else np.asarray(ceiling.values, dtype=np.float64)
    ok, n_excl, why = included_neuroids(raw, c, constant)
    raw, n_undef = undefined_as_zero(raw, ok)
    agg_raw = masked_median(raw, ok)
    agg_c = float("nan") if c is None else masked_median(c, ok)
    norm = (lambda r: NORMALIZERS[kind](r, agg_c)) if c is not None and agg_c > 0 else (lambda r: float("nan"))
    bs_c = float("nan") if ic is None else float(ic.attrs["aggregate_brainscore"])
    out = {
        "attrs": {
            "aggregate_raw": agg_raw, "aggregate_ceiling": agg_c, "aggregate_normalized": float(norm(agg_raw)),
            "brainscore_normalized": float(np.nanmedian(raw)) / bs_c if ic is not None else float("nan"),
            "normalization": NORMALIZATION[kind] if c is not None else NO_CEILING,
            "ceiling_method": "" if ceiling is None else ceiling.attrs.get("method", ""),
            "n_excluded": n_excl, "excluded_reason": why, "n_included": int(ok.sum()),
            "min_ceiling": MIN_CEILING, "n_undefined": n_undef,
        },
        "included": ok,
        "raw": raw,
    }
    if layer_neuroid is not None:
        layer_neuroid = np.array([undefined_as_zero(row, ok)[0] for row in layer_neuroid])
        layer_raw = np.array([masked_median(row, ok) for row in layer_neuroid])
        out["layer_raw"] = layer_raw
        out["layer_normalized"] = np.array([norm(v) for v in layer_raw], dtype=np.float64)
        out["layer_brainscore_normalized"] = (np.nanmedian(layer_neuroid, axis=1) / bs_c if ic is not None
                                              else np.full(len(layer_raw), np.nan))
    return out


def ceiling_vars(raw: np.ndarray, ceiling, ok) -> dict:
    """Per-neuroid Score variables shared by the neural kinds."""
    cvals = np.full(raw.shape, np.nan) if ceiling is None else np.asarray(ceiling.values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(ok & (cvals > 0), raw / np.sqrt(cvals), np.nan)
    return {"ceiling": ("neuroid", cvals), "normalized": ("neuroid", per), "included": ("neuroid", ok)}


