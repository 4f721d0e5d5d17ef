"""A page per benchmark (and one for the aggregate): which differences between models are real.

Each page names the benchmark's version, its ranking reliability and the scale its tiers are
on, lists the models best first with their 95 % interval and tier letters, and holds the
pairwise matrix: for the row model A and column model B, ``A − B`` with its paired 95 %
interval and the Benjamini–Hochberg q over the benchmark's pairs (q < 0.05 shaded).
"""

from __future__ import annotations

import html

from ..figures._common import slug

e = html.escape
AGGREGATE = "aggregate"
SCALE_WORDS = {"normalized": "ceiling-normalised", "raw": "raw (no ceiling for every model)"}
RELIABILITY = ("1 − mean(se²) / Var(scores) over the models with paired draws "
               "(1: the order is real; ≤ 0: it is noise)")


def page_name(bench: str) -> str:
    return f"{slug(bench)}.html"


def interval_text(lo, hi, *, raw: bool = False, digits: int = 3) -> str:
    """``[lo, hi]``, prefixed ``raw`` when the interval is of the raw score beside a normalised one."""
    if lo is None or hi is None:
        return "no interval"
    return f"{'raw ' if raw else ''}[{lo:.{digits}f}, {hi:.{digits}f}]"


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _models_table(dec: dict) -> str:
    rows = []
    for i, r in enumerate(dec["models"], 1):
        if r["tier"] is None:
            rows.append(f'<tr data-model="{e(r["model"])}"><td>–</td><td class="text">{e(r["model"])}</td>'
                        f'<td class="missing" colspan="3">{e(r["why"])}</td></tr>')
            continue
        rows.append(f'<tr data-model="{e(r["model"])}"><td>{i}</td><td class="text">{e(r["model"])}</td>'
                    f'<td class="num">{_fmt(r["score"])}</td><td class="num nowrap">'
                    f'{interval_text(r["ci_low"], r["ci_high"])}</td>'
                    f'<td class="text tier" data-field="tier">{e(r["tier"])}</td></tr>')
    return ('<table id="tiers"><thead><tr><th>order</th><th class="text">model</th><th>score</th>'
            '<th>95% interval</th><th class="text">tier</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _matrix(dec: dict) -> str:
    order = [r["model"] for r in dec["models"] if r["tier"] is not None]
    if len(order) < 2:
        return "<p class=note>Fewer than two models with paired draws: nothing to compare.</p>"
    pairs = {(p["model_a"], p["model_b"]): p for p in dec["pairs"]}
    head = '<th class="text">A \\ B</th>' + "".join(f'<th class="text">{e(m)}</th>' for m in order)
    rows = []
    for a in order:
        cells = []
        for b in order:
            p, sign = (pairs.get((a, b)), 1) if (a, b) in pairs else (pairs.get((b, a)), -1)
            if a == b or p is None:
                cells.append('<td class="missing">–</td>')
                continue
            d, lo, hi = sign * p["diff"], *sorted((sign * p["ci_low"], sign * p["ci_high"]))
            sig = p["q_value"] < 0.05
            cells.append(f'<td class="num pair{" sig" if sig else ""}" data-a="{e(a)}" data-b="{e(b)}" '
                         f'data-q="{p["q_value"]!r}"><span class="diff">{d:+.3f}</span>'
                         f'<span class="ci">[{lo:.3f}, {hi:.3f}]</span><span class="q">q = {p["q_value"]:.3g}</span></td>')
        rows.append(f'<tr><th class="text" scope="row">{e(a)}</th>{"".join(cells)}</tr>')
    return f'<table id="pairwise"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_pairwise(bench: dict | None, dec: dict, *, title: str) -> str:
    """The body of one benchmark's page (``bench`` None: the aggregate's)."""
    if bench is None:
        name = "aggregate (the ranked overall score)"
        facts = (f"The weighted mean of ceiling-normalised scores over the ranked set ({len(dec.get('benchmarks', []))} "
                 "benchmark(s): " + ", ".join(map(e, dec.get("benchmarks", []))) + "), each model's per-benchmark "
                 "shared draws weighted and summed draw by draw. Only models normalised on every benchmark of the "
                 "set are ranked and compared.")
        if dec.get("missing_draws"):
            facts += f" Not compared: {', '.join(map(e, dec['missing_draws']))} have no paired draws."
    else:
        name = bench["id"]
        version = "not recorded" if bench.get("version") is None else f"v{bench['version']}"
        facts = (f'<span id="version">version {e(version)}</span>'
                 + (f' (content hash <code>{e(str(bench["hash"]))}</code>)' if bench.get("hash") else "")
                 + f"; kind {e(bench['kind'])}; region {e(bench['region'])}.")
    rel = "–" if dec.get("reliability") is None else f"{dec['reliability']:.3f}"
    scale = SCALE_WORDS.get(dec.get("scale"), "–")
    return (f'<p><a href="../leaderboard.html">&larr; {e(title)}</a> · <a href="../methods.html">methods</a></p>'
            f'<h1 id="bench-name">{e(name)}</h1><p class=note>{facts}</p>'
            f'<p>Ranking reliability: <strong id="reliability">{rel}</strong> <span class=note>({RELIABILITY})</span>. '
            f'Scores, intervals and differences on the <strong id="scale">{e(scale)}</strong> scale.</p>'
            "<h2>Tiers</h2><p class=note>Models sharing a letter are not significantly different (paired two-factor "
            "bootstrap, Benjamini–Hochberg q &lt; 0.05 over this page's pairs).</p>" + _models_table(dec)
            + "<h2>Pairwise differences</h2><p class=note>Row A minus column B, its paired 95% interval and q; "
              "shaded: q &lt; 0.05.</p>" + _matrix(dec))
