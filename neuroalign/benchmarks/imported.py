"""What ``import-data`` writes and says: the explicit ``options:`` block of ``benchmark.yaml``
and the closing summary (why: a researcher should see the defaults they are scored under,
and what their recording holds, before spending time on ``score``). Keys: docs/benchmark-files.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

#: Per kind: (key, default, comment). ``None``: shown commented out (the scorer's own default applies).
OPTIONS = {
    "encoding": [("n_splits", 5, "outer K-fold splits of the stimuli (ridge fit on K-1, scored on 1)"),
                 ("ceiling", "reliability", "reliability (of the averaged responses) | internal_consistency")],
    "pls": [("protocol", "neuroalign", "neuroalign (leak-free layer choice) | brainscore (Brain-Score's number)"),
            ("ceiling", "reliability", "reliability | internal_consistency"),
            ("n_halves", None, "random halves for the layer choice (default 5)")],
    "rsa": [("method", "spearman", "RDM comparison: spearman | pearson | kendall (tau-a) | cosine"),
            ("n_halves", None, "random stimulus halves for the score and its interval (default 50)")],
    "cka": [("debiased", True, "true: the unbiased HSIC estimator (Song et al. 2012); false: the plain one"),
            ("n_halves", None, "random stimulus halves for the score and its interval (default 20)")],
}
#: What ``score`` does with each kind, for the summary.
PLAN = {
    "encoding": "fit a ridge from each layer to the stimulus-averaged responses ({n_splits}-fold over stimuli), "
                "choose the layer nested in the folds, report the median held-out r and r / sqrt(ceiling)",
    "pls": "fit PLS (25 components) from each layer on random halves of the stimuli, report the median held-out r "
           "and r / sqrt(ceiling)",
    "rsa": "compare each layer's correlation-distance RDM with the data RDM ({method}), report it and "
           "score / noise-ceiling upper bound",
    "cka": "compute CKA between each layer and the responses (no ceiling)",
}


def options_block(kind: str, given: dict | None = None) -> str:
    """The ``options:`` YAML block with every key of ``kind`` written out and commented."""
    given = dict(given or {})
    lines = ["options:  # every key: docs/benchmark-files.md"]
    for key, default, comment in OPTIONS[kind]:
        value = given.pop(key, default)
        text = yaml.safe_dump({key: value}, default_flow_style=True).strip()[1:-1] if value is not None else None
        lines.append(f"  {text}  # {comment}" if text else f"  # {key}: {comment}")
    lines += [f"  {yaml.safe_dump({k: v}, default_flow_style=True).strip()[1:-1]}" for k, v in given.items()]
    return "\n".join(lines) + "\n"


def summary(assembly, kind: str, options: dict, ceiling_method: str = "reliability") -> str:
    """Stimuli, neuroids, repeats per stimulus, the ceiling's median and range, and what ``score`` will do."""
    from ..scorers._build import MIN_CEILING, ceiling_of

    counts = pd.Series(assembly["stimulus_id"].values.astype(str)).value_counts()
    lines = [f"  stimuli {len(counts)}, neuroids {assembly.sizes['neuroid']}, presentations "
             f"{assembly.sizes['presentation']}",
             f"  repeats per stimulus: min {counts.min()}, median {float(np.median(counts)):g}, max {counts.max()}"]
    ceiling = ceiling_of(assembly, method=ceiling_method) if kind in ("encoding", "pls") else None
    if ceiling is not None:
        c = np.asarray(ceiling.values, dtype=float)
        ok = np.isfinite(c)
        lines.append(f"  ceiling ({ceiling_method}): median {np.nanmedian(c):.3f}, range {np.nanmin(c):.3f} to "
                     f"{np.nanmax(c):.3f}; {int((c[ok] >= MIN_CEILING).sum())} of {c.size} neuroids at or above "
                     f"{MIN_CEILING} are normalised")
    elif kind in ("encoding", "pls"):
        lines.append("  ceiling: none (one response per stimulus): score reports raw r only")
    plan = PLAN[kind].format(**{**{k: d for k, d, _ in OPTIONS[kind]}, **options})
    lines.append(f"  score will: {plan}")
    return "\n".join(lines)
