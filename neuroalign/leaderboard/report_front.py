"""``report.rst``: the front page of the workflow's Snakemake report (``snakemake --report``).

Why: the stock report opens on a file list. This page says what ran (models, with their
weights), on which data (benchmarks, regions, stimuli) and the ranking, every interval labelled
with its scale. Written by ``neuroalign leaderboard`` beside the site; ``pipelines/rules/report.smk``
uses it as the report's description once it exists.
"""

from __future__ import annotations


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ") or "–"


def _list_table(title: str, header: list[str], rows: list[list], widths: list[int] | None = None) -> str:
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *rows]:
        lines.append("   * - " + _cell(row[0]))
        lines += [f"     - {_cell(c)}" for c in row[1:]]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def front_page_rst(data: dict) -> str:
    """The RST of the report's front page from the leaderboard data (:func:`leaderboard_data`)."""
    from ..models.facts import weights_facts

    brain = [b for b in data["benchmarks"] if not b["check"]]
    checks = [b for b in data["benchmarks"] if b["check"]]
    models = data["models"]
    out = ["neuroalign report", "=================", "",
           f"**What ran.** {len(models)} model(s) scored on {len(brain)} brain benchmark(s) "
           f"in {len(data['regions'])} region(s) ({', '.join(data['regions'])})"
           + (f", plus {len(checks)} check benchmark(s) with known answers (not ranked)." if checks else "."), "",
           "**Ranking.** " + data["ranking"] + ". Scores are ceiling-normalised; each interval column names its "
           "scale (raw or normalised). Definitions: docs/methods.md, shipped as "
           "``leaderboard/methods.html``.", ""]
    rank_rows = [[m["rank"] or "–", m["model"], _fmt(m["overall"]), f"{m['n_scored']} / {m['n_brain']}"]
                 + [_fmt(m["regions"][r]) for r in data["regions"]] for m in models]
    out.append(_list_table("Ranking (normalised scores, mean over regions)",
                           ["rank", "model", "overall", "benchmarks scored", *data["regions"]], rank_rows))
    model_rows = []
    for m in models:
        spec = m["info"].get("spec", m["model"])
        facts = weights_facts(spec)
        model_rows.append([m["model"], f"``{spec}``", facts.get("training", "–"), facts.get("weights", "–"),
                           m["info"].get("parameters", "–")])
    out.append(_list_table("Models", ["model", "spec", "training", "weights", "parameters"], model_rows))
    score_rows, notes = [], {}  # why a normalised cell is empty: once per reason, below the table
    for b in brain + checks:
        for m in models:
            rec = m["benchmarks"].get(b["id"])
            if rec is None:
                continue
            ci = ("–" if rec["ci_low"] is None or rec["ci_high"] is None
                  else f"[{rec['ci_low']:.3f}, {rec['ci_high']:.3f}]")
            nci = ("–" if rec.get("normalized_ci_low") is None or rec.get("normalized_ci_high") is None
                   else f"[{rec['normalized_ci_low']:.3f}, {rec['normalized_ci_high']:.3f}]")
            score_rows.append([b["id"] + (" (check)" if b["check"] else ""), b["region"], m["model"], _fmt(rec["raw"]),
                               ci, _fmt(rec["normalized"]) if rec["normalized"] is not None else
                               f"– [{notes.setdefault(rec['missing'], len(notes) + 1)}]",
                               nci, rec.get("tier") or "–", rec["layer"]])
    out.append(_list_table("Scores per benchmark (the data: benchmark, region); tier: models sharing a letter are "
                           "not significantly different (leaderboard/benchmarks/ pages)",
                           ["benchmark", "region", "model", "raw", "95% interval of raw", "normalised",
                            "95% interval of normalised", "tier", "layer"], score_rows))
    if notes:
        out.append("Empty normalised cells: " + "; ".join(f"[{n}] {_cell(why)}" for why, n in notes.items()) + ".\n")
    out.append("The figures below (category *Figures*) each carry a caption saying what they show and how to read "
               "them; the full results table is under *Scores*, the leaderboard site under *Leaderboard*.\n")
    return "\n".join(out)
