"""The leaderboard as a static site: ``leaderboard.html`` (ranked table, filters, comparison),
``models/<model>.html`` (one page per model), ``results.html`` + ``results.csv`` (every row a
number links to), ``leaderboard.csv`` and ``leaderboard.json``. Inline CSS and JS only."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..figures._common import slug
from ..figures.make_all import MODELS_DIR
from .assets import CSS, MAIN_JS, SORT_JS
from .decisions import NO_DRAWS
from .pairwise_page import AGGREGATE, interval_text, page_name, render_pairwise
from .report_front import front_page_rst
from .table import NOT_SCORED, leaderboard_data, leaderboard_table, load_model_info, read_results, relpath

#: One colour scale for every normalised cell: 0 (light) to 1 (dark), colour-blind safe (YlGnBu).
STOPS = ((0.0, (255, 255, 217)), (0.25, (199, 233, 180)), (0.5, (127, 205, 187)), (0.75, (44, 127, 184)),
         (1.0, (37, 52, 148)))
GRADIENT = ",".join("#%02x%02x%02x" % c for _, c in STOPS)
INFO_ORDER = ("spec", "training", "weights", "parameters", "identity", "authors", "description", "code_sha256",
              "folder_sha256", "layers", "preprocessing", "bibtex")
FIGURE_CAPTIONS = {
    "encoding_layers": "Encoding, layer by layer: held-out Pearson r (median over neuroids) at each layer's "
                       "relative depth, with its 95% interval over outer folds; the dashed line is the noise "
                       "ceiling (√reliability), the ring the layer the reported score chose.",
    "id_vs_ood": "In- against out-of-distribution predictivity, one dot per layer, on one scale (named on the "
                 "axes), with its 95% intervals over folds on each side; dots under the dashed identity line lose "
                 "predictivity out of distribution.",
    "rsa_bars": "RSA: each layer's RDM correlation with the brain (Spearman ρ) with its 95% bootstrap interval "
                "over stimuli; the grey band is the noise ceiling (lower to upper bound).",
}
#: Results-table columns shown first on results.html; the others open per row.
BENCH_DIR = "benchmarks"  # out_dir/benchmarks/<benchmark>.html: tiers and the pairwise matrix
KEY_COLUMNS = ("model", "benchmark", "scope", "layer", "selected", "raw", "ceiling", "normalized", "ci_low", "ci_high")
e = html.escape


def colour(v) -> tuple[str, str]:
    """(background, text colour) of a normalised score on the one scale (clipped to [0, 1])."""
    t = min(max(float(v), 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(STOPS, STOPS[1:], strict=False):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            rgb = tuple(round(a + f * (b - a)) for a, b in zip(c0, c1, strict=True))
            break
    return "#%02x%02x%02x" % rgb, ("#ffffff" if t > 0.62 else "#111111")


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _num_cell(v, *, href: str | None, title: str, cls: str = "", attrs: str = "", why: str = "",
              raw=None, extra: str = "") -> str:
    if v is None:
        raw_txt = f'<span class="raw">raw {raw:.3f}</span>' if raw is not None else ""
        return (f'<td class="missing {cls}" data-value="" title="{e(why)}" {attrs}>{raw_txt or "–"}'
                f'{extra if raw_txt else ""}<span class="why">{e(why)}</span></td>')  # a raw-scale tier stays
    bg, fg = colour(v)
    inner = f'<a href="{e(href)}" title="{e(title)}">{v:.3f}</a>' if href else f"{v:.3f}"
    return (f'<td class="num {cls}" data-value="{v!r}" style="background:{bg};color:{fg}" '
            f'title="{e(title)}" {attrs}>{inner}{extra}</td>')


def _extra(tier, ci, *, raw: bool = False, why: str = "no interval") -> str:
    """A cell's tier letters and 95% interval (two decimals; ``raw`` when it bounds the raw score)."""
    t = f'<span class="tier" data-tier="{e(tier)}" title="tier: models sharing a letter are not significantly '\
        f'different">{e(tier)}</span>' if tier else ""
    text = (f"{'raw ' if raw else ''}{ci[0]:.2f}–{ci[1]:.2f}" if ci and None not in ci else why)
    return f'{t}<span class="ci" title="95% interval{" of the raw score" if raw else ""}">{e(text)}</span>'


def _bench_extra(rec) -> str:
    """A benchmark cell's tier and interval: of the normalised score, else of raw (labelled raw)."""
    if rec.get("normalized_ci_low") is not None and rec.get("normalized_ci_high") is not None:
        return _extra(rec.get("tier"), (rec["normalized_ci_low"], rec["normalized_ci_high"]))
    return _extra(rec.get("tier"), (rec.get("ci_low"), rec.get("ci_high")), raw=True)


def _row_href(rec, prefix: str = "") -> str:
    return f"{prefix}results.html#row-{rec['results_row']}"


def _bench_title(b: str, rec) -> str:
    parts = [f"{b}: results.csv row {rec['results_row']}", f"raw {_fmt(rec['raw'])}",
             f"ceiling {_fmt(rec['ceiling'])}", f"layer {rec['layer']}"]
    if rec.get("normalization"):
        parts.append(f"normalisation: {rec['normalization']}")
    return "; ".join(parts)


def _search_text(m: dict) -> str:
    info = m["info"]
    bits = [m["model"], str(info.get("spec", "")), str(info.get("authors", "")), str(info.get("description", ""))]
    return " ".join(bits).lower()


def _bench_label(b: str) -> str:
    """A benchmark id that may wrap only before a dot, after an underscore or between a name and its
    number (``kriegeskorte`` | ``2008``), never inside a word."""
    def part(p: str) -> str:
        return re.sub(r"(?<=[A-Za-z])(?=\d)", "<wbr>", e(p))
    return "<wbr>.".join("_<wbr>".join(part(q) for q in p.split("_")) for p in b.split("."))


def _head(col, label, *, typ="num", first=None, cls="", attrs="", sub="") -> str:
    first = first or ("ascending" if typ == "text" else "descending")
    return (f'<th scope="col" tabindex="0" data-col="{e(col)}" data-type="{typ}" data-first="{first}" '
            f'class="{typ} {cls}" {attrs}>{label}{f"<span class=sub>{sub}</span>" if sub else ""}</th>')


def _main_table(data: dict) -> str:
    regions = data["regions"]
    brain = [b for b in data["benchmarks"] if not b["check"]]
    heads = [_head("rank", "rank", first="ascending"), _head("model", "model", typ="text"),
             _head("overall", "overall", sub="mean of regions"),
             _head("n_scored", "n&#8201;/&#8201;N", sub="normalised")]
    for r in regions:
        bs = [b for b in brain if b["region"] == r]
        button = (f'<button type="button" class="expand" aria-expanded="false" data-target="{e(r)}" '
                  f'data-n="{len(bs)}" title="show the {len(bs)} benchmark(s) of {e(r)}">&#9656; {len(bs)}</button>')
        heads.append(_head(f"region:{r}", e(r) + button, cls="region", attrs=f'data-region="{e(r)}"',
                           sub="mean"))
        for b in bs:
            heads.append(_head(f"bench:{b['id']}", _bench_label(b["id"]), cls="bench collapsed",
                               attrs=f'data-region-of="{e(r)}" data-version="{e(_version_text(b))}" '
                                     f'title="{e(b["id"])} {e(_version_text(b))}"'))
    body = []
    for m in data["models"]:
        page = f"{MODELS_DIR}/{data['pages'][m['model']]}"
        spec = m["info"].get("spec")
        spec_html = f'<span class="spec">{e(str(spec or "spec not recorded"))}</span>'
        cells = [f'<td class="num" data-value="{m["rank"] if m["rank"] is not None else ""}">'
                 f'{m["rank"] if m["rank"] is not None else "–"}</td>',
                 f'<td class="text model" data-value="{e(m["model"])}"><a href="{e(page)}">{e(m["model"])}</a>'
                 f"{spec_html}</td>"]
        cells.append(_num_cell(m["overall"], href=page, title=f"{m['model']}: mean over regions",
                               why=f"unranked: {m['n_in_set']}/{m['n_set']} normalised",
                               extra=_extra(m.get("tier"), m.get("overall_ci"), why=_agg_why(data))))
        cells.append(f'<td class="num" data-value="{m["n_in_set"]}" title="{m["n_in_set"]} of the {m["n_set"]} ranked '
                     f'benchmarks normalised ({m["n_scored"]} of {m["n_brain"]} brain benchmarks scored); only models '
                     f'with all of them are ranked">{m["n_in_set"]}&#8201;/&#8201;{m["n_set"]}</td>')
        for r in regions:
            bs = [b for b in brain if b["region"] == r]
            recs = {b["id"]: m["benchmarks"][b["id"]] for b in bs if b["id"] in m["benchmarks"]}
            used = [f"{b} ({rec['normalized']:.3f})" for b, rec in recs.items() if rec["normalized"] is not None]
            why = "; ".join(sorted({rec["missing"] for rec in recs.values() if rec["missing"]})) if recs else NOT_SCORED
            why = m.get("region_missing", {}).get(r, "") + ("; " if why and m.get("region_missing", {}).get(r) else "") + why
            cells.append(_num_cell(m["regions"][r], href=f"{page}#region-{r}", cls="region",
                                   attrs=f'data-region="{e(r)}"', why=why,
                                   extra=_extra(None, (m.get("region_ci") or {}).get(r), why="no paired draws"),
                                   title=f"{r}: mean of {len(used)} benchmark(s): " + ", ".join(used)))
            for b in bs:
                rec = m["benchmarks"].get(b["id"])
                attrs = f'data-region-of="{e(r)}" data-bench="{e(b["id"])}"'
                if rec is None:
                    cells.append(_num_cell(None, href=None, title="", cls="bench collapsed", attrs=attrs,
                                           why=NOT_SCORED))
                else:
                    cells.append(_num_cell(rec["normalized"], href=_row_href(rec), title=_bench_title(b["id"], rec),
                                           cls="bench collapsed", attrs=attrs, why=rec["missing"] or "",
                                           raw=rec["raw"], extra=_bench_extra(rec)))
        body.append(f'<tr data-model="{e(m["model"])}" data-search="{e(_search_text(m))}">{"".join(cells)}</tr>')
    return (f'<table id="leaderboard"><thead><tr>{"".join(heads)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _version_text(b: dict) -> str:
    return "" if b.get("version") is None else f"v{b['version']}"


def _agg_why(data: dict) -> str:
    agg = (data.get("decisions") or {}).get("aggregate") or {}
    return "no paired draws" if agg.get("missing_draws") or "decisions" not in data else "no interval"


def _decisions_table(data: dict) -> str:
    """Per benchmark (and the aggregate): version, reliability, the tiers, a link to its pairwise page."""
    from .pairwise_page import AGGREGATE, page_name

    dec = data.get("decisions")
    if not dec:
        return ("<h2>Which differences are real</h2><p class=note>No score files were given (<code>--scores</code>): "
                "no tiers or pairwise comparisons.</p>")
    rows = []
    items = [(None, dec["aggregate"])] + [(b, dec["benchmarks"][b["id"]]) for b in data["benchmarks"]]
    for b, d in items:
        name = "aggregate (overall)" if b is None else b["id"]
        href = f"{BENCH_DIR}/{page_name(AGGREGATE if b is None else b['id'])}"
        tiers = f"not compared: {NO_DRAWS} for {', '.join(map(e, d['missing_draws']))}" if d.get("missing_draws") else \
            ", ".join(f"{e(r['model'])} <strong>{e(r['tier'])}</strong>" if r["tier"] else
                          f"{e(r['model'])} ({e(r['why'])})" for r in d["models"])
        rel = "–" if d.get("reliability") is None else f"{d['reliability']:.2f}"
        rows.append(f'<tr data-bench="{e(name)}"><td class="text"><a href="{e(href)}">{_bench_label(name)}</a></td>'
                    f'<td class="text">{"–" if b is None else e(_version_text(b) or "–")}</td>'
                    f'<td class="num" data-field="reliability">{rel}</td><td class="text small">{tiers or "–"}</td></tr>')
    return ("<h2>Which differences are real</h2><p class=note>Tiers: models sharing a letter are not significantly "
            "different (paired two-factor bootstrap with the benchmark's shared draws, Benjamini–Hochberg over its "
            "pairs). Reliability: 1 − mean(se²)/Var(scores). Open a benchmark for its pairwise differences.</p>"
            '<table id="decisions"><thead><tr><th class="text">benchmark (pairwise page)</th><th class="text">version'
            '</th><th>ranking reliability</th><th class="text">tiers (best first)</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _checks_table(data: dict) -> str:
    checks = [b for b in data["benchmarks"] if b["check"]]
    if not checks:
        return ""
    heads = ['<th class="text">model</th>'] + [f'<th class="bench" data-col="check:{e(b["id"])}">'
                                               f'{_bench_label(b["id"])}<span class=sub>normalised</span></th>'
                                               for b in checks]
    body = []
    for m in data["models"]:
        cells = [f'<td class="text">{e(m["model"])}</td>']
        for b in checks:
            rec = m["benchmarks"].get(b["id"])
            if rec is None:
                cells.append(_num_cell(None, href=None, title="", why=NOT_SCORED))
            else:
                cells.append(_num_cell(rec["normalized"], href=_row_href(rec), title=_bench_title(b["id"], rec),
                                       why=rec["missing"] or "", raw=rec["raw"]))
        body.append(f'<tr data-model="{e(m["model"])}">{"".join(cells)}</tr>')
    return ("<h2>Checks (known answers, not ranked)</h2><p class=note>Synthetic benchmarks whose generator and "
            "ceiling are known: a model that scores the generator's layer near 1 shows the method works. They "
            "test the pipeline, not brain-likeness, and never enter the ranking.</p>"
            f'<table id="checks"><thead><tr>{"".join(heads)}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _page(title: str, body: str, script: str = "") -> str:
    css = CSS.replace("__GRADIENT__", GRADIENT)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{css}</style></head><body>{body}"
            f"{f'<script>{script}</script>' if script else ''}</body></html>\n")


def _json_script(data: dict) -> str:
    text = json.dumps(data, allow_nan=False, default=str).replace("</", "<\\/")
    return f'<script id="leaderboard-data" type="application/json">{text}</script>'


def render_main(data: dict, *, title: str = "neuroalign leaderboard") -> str:
    regions = data["regions"]
    options = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in regions)
    models = [m["model"] for m in data["models"]]
    opts_a = "".join(f'<option{" selected" if i == 0 else ""}>{e(m)}</option>' for i, m in enumerate(models))
    opts_b = "".join(f'<option{" selected" if i == min(1, len(models) - 1) else ""}>{e(m)}</option>'
                     for i, m in enumerate(models))
    body = (
        f"<h1>{e(title)}</h1>"
        "<p class=note>Each brain benchmark's score is the model's ceiling-normalised score on it (the "
        "<code>normalized</code> column of results.csv; its convention per kind is on the "
        '<a href="methods.html">methods page</a>). '
        "A region's score is the mean over its benchmarks, the overall score the mean over regions; models are ranked on it. "
        "Click a region's &#9656; to see its benchmarks, a header to sort, a number to see the results.csv row it "
        "comes from, a model to see its page. An empty cell says why it is empty.</p>"
        '<p class=note>Downloads: <a href="leaderboard.csv">leaderboard.csv</a> · '
        '<a href="leaderboard.json">leaderboard.json</a> · <a href="results.csv">results.csv</a> '
        '(<a href="results.html">as a page</a>)</p>'
        '<div class="controls"><label>Filter <input id="filter-text" type="search" '
        'placeholder="model, spec or author"></label>'
        f'<label>Region <select id="filter-region"><option value="">all regions</option>{options}</select></label>'
        '<span id="shown"></span>'
        '<span class="legend">0 <span class="bar"></span> 1 normalised (one scale for every cell)</span></div>'
        + _main_table(data)
        + _decisions_table(data)
        + '<h2>Compare two models</h2><div class="controls">'
        f'<label>A <select id="compare-a">{opts_a}</select></label>'
        f'<label>B <select id="compare-b">{opts_b}</select></label></div>'
        '<table id="compare"><thead><tr><th class="text">benchmark</th><th class="text">region</th>'
        '<th>A: <span id="compare-name-a"></span></th><th>B: <span id="compare-name-b"></span></th>'
        "<th>A − B</th></tr></thead><tbody></tbody></table>"
        + _checks_table(data)
        + _json_script(data)
    )
    return _page(title, body, SORT_JS + MAIN_JS)


def _figures(model: str, page_dir: Path, figures_dir: Path | None) -> list[tuple[str, str]]:
    if figures_dir is None:
        return []
    folder = figures_dir / MODELS_DIR / slug(model)
    return [(FIGURE_CAPTIONS.get(p.stem, p.stem.replace("_", " ")), relpath(p, page_dir))
            for p in sorted(folder.glob("*.png"))]


def _info_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(e(str(x)) for x in v)
    if isinstance(v, dict):
        return "<br>".join(f"<code>{e(str(k))}</code>: {e(json.dumps(x) if not isinstance(x, str) else x)}"
                           for k, x in v.items())
    return e(str(v))


def _bench_rows(m: dict, benches: list[dict]) -> str:
    rows = []
    for b in benches:
        rec = m["benchmarks"].get(b["id"])
        if rec is None:
            rows.append(f'<tr data-bench="{e(b["id"])}"><td class="text">{_bench_label(b["id"])}</td><td class="text">'
                        f'{e(b["region"])}</td><td class="text">{e(b["kind"])}</td>'
                        f'<td class="missing" colspan="9">{NOT_SCORED}</td></tr>')
            continue
        href = "../" + _row_href(rec)

        def n(v, _href=href):
            return "<td class='missing'>–</td>" if v is None else f'<td class="num"><a href="{_href}">{v:.3f}</a></td>'

        interval = ("–" if rec["ci_low"] is None or rec["ci_high"] is None  # raw scale: never beside normalised
                    else f'<a href="{href}">raw [{rec["ci_low"]:.3f}, {rec["ci_high"]:.3f}]</a>')
        norm = (_num_cell(rec["normalized"], href=href, title=_bench_title(b["id"], rec), why=rec["missing"] or "")
                .replace("<td ", '<td data-field="normalized" ', 1))
        excl = "" if rec["n_excluded"] is None else f"{int(rec['n_excluded'])}"
        if rec.get("excluded_reason"):
            excl += f" ({e(rec['excluded_reason'])})"
        rows.append(
            f'<tr data-bench="{e(b["id"])}" data-row="{rec["results_row"]}"><td class="text">{_bench_label(b["id"])}</td>'
            f'<td class="text">{e(b["region"])}</td><td class="text">{e(b["kind"])}</td>'
            f'{n(rec["raw"])}<td class="num nowrap" data-field="interval">{interval}</td>{n(rec["ceiling"])}{norm}'
            f'{n(rec["brainscore_normalized"])}<td class="text">{e(str(rec["layer"]))}</td>'
            f'<td class="text small">{e(rec.get("normalization") or "–")}</td><td class="text">{excl or "–"}</td>'
            f'<td class="num"><a href="{href}">row {rec["results_row"]}</a></td>'
            f'<td class="num nowrap" data-field="normalized_interval">'
            f'{interval_text(rec.get("normalized_ci_low"), rec.get("normalized_ci_high"))}</td>'
            f'<td class="text" data-field="tier">{e(rec.get("tier") or "–")}</td></tr>')
    head = ("<thead><tr><th class=text>benchmark</th><th class=text>region</th><th class=text>kind</th><th>raw</th>"
            "<th>interval<span class=sub>95%, of raw</span></th><th>ceiling</th><th>normalised</th>"
            "<th>Brain-Score normalised<span class=sub>median raw / median "
            "ceiling</span></th><th class=text>chosen layer</th><th class=text>normalisation</th>"
            "<th class=text>neuroids excluded</th><th>results.csv</th><th>interval<span class=sub>95%, of "
            "normalised</span></th><th class=text>tier</th></tr></thead>")
    return head + "<tbody>" + "".join(rows) + "</tbody>"


def render_model(m: dict, data: dict, *, page_dir: Path, figures_dir: Path | None,
                 title: str = "neuroalign leaderboard") -> str:
    from ..models.facts import weights_facts

    info = dict(m["info"])
    info.setdefault("spec", m["model"])
    for k, v in weights_facts(info["spec"]).items():
        info.setdefault(k, v)
    info.setdefault("parameters", "not recorded (scored before neuroalign counted them)")
    dl = []
    for k in INFO_ORDER:
        if k in info:
            dl.append(f'<dt>{e(k.replace("_", " "))}</dt><dd data-field="{e(k)}">{_info_value(info[k])}</dd>')
        elif k == "identity":
            dl.append('<dt>identity</dt><dd data-field="identity">not recorded: the results table has no '
                      "<code>model_identity</code> and no submissions file names this model</dd>")
    for k, v in info.items():
        if k not in INFO_ORDER:
            dl.append(f'<dt>{e(k.replace("_", " "))}</dt><dd data-field="{e(k)}">{_info_value(v)}</dd>')
    rank = (f"unranked: {m['n_in_set']}/{m['n_set']} ranked benchmarks normalised" if m["rank"] is None else
            f"{m['rank']} of {sum(x['rank'] is not None for x in data['models'])}")
    regions = "".join(
        f'<li id="region-{e(r)}">{e(r)}: <strong data-region="{e(r)}">{_fmt(m["regions"][r])}</strong></li>'
        for r in data["regions"])
    brain = [b for b in data["benchmarks"] if not b["check"]]
    checks = [b for b in data["benchmarks"] if b["check"]]
    figs = "".join(f'<figure><a href="{e(h)}"><img src="{e(h)}" alt="{e(c)}"></a><figcaption>{e(c)}</figcaption>'
                   "</figure>" for c, h in _figures(m["model"], page_dir, figures_dir))
    body = (
        f'<p><a href="../leaderboard.html">&larr; {e(title)}</a> · <a href="../methods.html">methods</a></p>'
        f'<h1 id="model-name">{e(m["model"])}</h1>'
        f'<dl class="details">{"".join(dl)}</dl>'
        f'<p>Rank <strong id="rank">{rank}</strong>; overall <strong id="overall">{_fmt(m["overall"])}</strong> '
        f'(mean over regions); {m["n_scored"]} of {m["n_brain"]} brain benchmarks scored.</p>'
        f"<ul>{regions}</ul>"
        f'<h2>Benchmarks</h2><table id="benchmarks">{_bench_rows(m, brain)}</table>'
        + (f'<h2>Checks (known answers, not ranked)</h2><table id="checks">{_bench_rows(m, checks)}</table>'
           if checks else "")
        + "<h2>Figures</h2>" + (figs or "<p class=note>No figures for this model (run <code>neuroalign figures</code> "
                                        "and pass <code>--figures-dir</code>).</p>")
    )
    return _page(f"{m['model']} · {title}", body)


def _cell_text(v) -> str:
    if isinstance(v, float) and not pd.isna(v):
        return f"{v:.4g}"
    return "" if pd.isna(v) else e(str(v))


def render_results(df: pd.DataFrame) -> str:
    """Key columns first; each row's other columns open from its last cell (so rows stay one line high)."""
    key = [c for c in KEY_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in key and c != "results_row"]
    head = ("<th>row</th>" + "".join(f'<th class="text">{e(c)}</th>' for c in key)
            + f'<th class="text">other columns ({len(rest)})</th>')
    rows = []
    for rec in df[["results_row", *key, *rest]].to_dict("records"):
        n = rec["results_row"]
        tds = "".join(f'<td class="text">{_cell_text(rec[c])}</td>' for c in key)
        more = "".join(f"<dt>{e(c)}</dt><dd>{_cell_text(rec[c])}</dd>" for c in rest if _cell_text(rec[c]))
        rows.append(f'<tr id="row-{n}"><td>{n}</td>{tds}<td class="text more"><details><summary>more</summary>'
                    f"<dl>{more}</dl></details></td></tr>")
    body = ('<p><a href="leaderboard.html">&larr; leaderboard</a> · <a href="methods.html">methods</a></p>'
            "<h1>results.csv</h1>"
            "<p class=note>Row n is the n-th data row of results.csv beside this page (line n + 1). Intervals "
            "(ci_low, ci_high) bound raw. Open <em>more</em> for a row's other columns.</p>"
            f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _page("results.csv", body)


def render_methods(title: str) -> str:
    """docs/methods.md as a page of the site (or a pointer when the docs are not installed)."""
    from .methods_page import methods_html

    body = methods_html() or ("<p class=note>docs/methods.md is not installed beside this neuroalign; read it in the "
                              "source repository.</p>")
    return _page(f"methods · {title}", f'<p><a href="leaderboard.html">&larr; {e(title)}</a></p>'
                                       f'<div class="methods">{body}</div>')


def write_leaderboard(results, out_dir, *, figures_dir=None, info=None, title: str = "neuroalign leaderboard",
                      name: str = "leaderboard", scores=None) -> dict[str, Path]:
    """Write the site into ``out_dir``; return the paths (``html``, ``csv``, ``json``, ``results``,
    ``results_html``, ``models``: {model: page}).

    ``figures_dir``: where :func:`neuroalign.figures.make_all_figures` wrote (model pages show its
    ``models/<model>/`` figures). ``info``: YAML files of model details (the submissions file, a
    config's ``models``) or a ready ``{model: {...}}`` dict. ``scores``: the score NetCDFs' folder
    (the workflow's ``results/scores``): tiers, intervals of the means and a pairwise page per
    benchmark under ``benchmarks/``. Everything is computed before the
    first file is written, and each file is written atomically.
    """
    out = Path(out_dir).resolve()
    model_info = info if isinstance(info, dict) else load_model_info(info)
    df = read_results(results)
    data = leaderboard_data(df.drop(columns="results_row"), model_info, scores=scores)
    pages, used = {}, set()
    for m in data["models"]:
        s, k = slug(m["model"]), 1
        while s.lower() in used:
            k += 1
            s = f"{slug(m['model'])}-{k}"
        used.add(s.lower())
        pages[m["model"]] = f"{s}.html"
    data["pages"] = pages
    figs = None if figures_dir is None else Path(figures_dir).resolve()
    files: dict[Path, str | bytes] = {
        out / f"{name}.html": render_main(data, title=title),
        out / f"{name}.json": json.dumps(data, indent=1, allow_nan=False, default=str),
        out / "results.html": render_results(df),
        out / "methods.html": render_methods(title),
        out / "report.rst": front_page_rst(data),  # the Snakemake report's front page
    }
    bench_pages = {}
    if "decisions" in data:
        bench_pages = {b["id"]: out / BENCH_DIR / page_name(b["id"]) for b in data["benchmarks"]}
        bench_pages[AGGREGATE] = out / BENCH_DIR / page_name(AGGREGATE)
        for b in data["benchmarks"]:
            files[bench_pages[b["id"]]] = _page(f"{b['id']} · {title}", render_pairwise(
                b, data["decisions"]["benchmarks"][b["id"]], title=title))
        files[bench_pages[AGGREGATE]] = _page(f"aggregate · {title}", render_pairwise(
            None, data["decisions"]["aggregate"], title=title))
    for m in data["models"]:
        files[out / MODELS_DIR / pages[m["model"]]] = render_model(m, data, page_dir=out / MODELS_DIR,
                                                                  figures_dir=figs, title=title)
    table = leaderboard_table(None, data=data)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODELS_DIR).mkdir(exist_ok=True)
    if bench_pages:
        (out / BENCH_DIR).mkdir(exist_ok=True)
    with atomic_path(out / f"{name}.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "results.csv") as tmp:
        if isinstance(results, (str, Path)) and Path(results).is_file():
            shutil.copyfile(results, tmp)
        else:
            df.drop(columns="results_row").to_csv(tmp, index=False)
    for path, text in files.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return {"html": out / f"{name}.html", "csv": out / f"{name}.csv", "json": out / f"{name}.json",
            "results": out / "results.csv", "results_html": out / "results.html",
            "models": {m: out / MODELS_DIR / p for m, p in pages.items()}, "benchmarks": bench_pages}
