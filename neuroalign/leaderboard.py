"""The leaderboard: every scored model in one table, as CSV and a static sortable HTML page.

The page is one self-contained file (inline CSS and vanilla JS, no CDN, no build step)
so it can be opened from disk, served from any static host or attached to a report.
Each benchmark shows the ceiling-normalised and the raw score of the model's selected
layer; the model cell links to that model's figures (``make_all_figures`` writes them
under ``<figures>/models/<model>/``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .figures._common import load_results, slug
from .figures.make_all import MODELS_DIR


def _pick_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model × benchmark: the selected layer.

    When no row of a pair is flagged ``selected``, the pair's only row is used; with
    several unflagged layers the best ``normalized`` (else ``raw``) is taken and its
    layer marked ``(best on test)`` so the optimism is visible.
    """
    picked = []
    for (_, _), g in df.groupby(["model", "benchmark"], sort=False):
        sel = g[g["selected"]]
        if len(sel):
            picked.append(sel.iloc[[0]].assign(layer_note=""))
        elif len(g) == 1:
            picked.append(g.assign(layer_note=""))
        else:
            key = g["normalized"] if g["normalized"].notna().any() else g["raw"]
            picked.append(g.loc[[key.idxmax()]].assign(layer_note=" (best on test)"))
    return pd.concat(picked, ignore_index=True)


def leaderboard_table(results) -> pd.DataFrame:
    """Rank models by their mean ceiling-normalised score over the benchmarks they have.

    Columns: ``rank, model, mean_normalized, n_benchmarks`` then, per benchmark ``B`` in
    order of first appearance, ``B.normalized``, ``B.raw`` and ``B.layer``.
    """
    df = load_results(results, scope=None)
    if (df["scope"].astype(str) == "reported").any():  # the benchmark's unbiased score, one per pair
        df = df[df["scope"].astype(str) == "reported"].reset_index(drop=True)
    rows = _pick_rows(df)
    benches = list(pd.unique(df["benchmark"]))
    out = pd.DataFrame({"model": sorted(rows["model"].unique())}).set_index("model")
    for b in benches:
        sub = rows[rows["benchmark"] == b].set_index("model")
        out[f"{b}.normalized"] = sub["normalized"]
        out[f"{b}.raw"] = sub["raw"]
        out[f"{b}.layer"] = sub["layer"] + sub["layer_note"]
    norm = out[[f"{b}.normalized" for b in benches]]
    out.insert(0, "n_benchmarks", norm.notna().sum(1))
    out.insert(0, "mean_normalized", norm.mean(1, skipna=True))
    out = out.reset_index().sort_values(["mean_normalized", "model"], ascending=[False, True], na_position="last")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.text,th.text{text-align:left}
th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0}
th:hover{background:#e0e8f8}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
th .sub{display:block;font-weight:normal;font-size:11px;color:#555}
tr:nth-child(even) td{background:#fafafa}
td.empty{color:#aaa}
.note{color:#555;font-size:13px;max-width:60em}
"""

# Sort: numbers descending on the first click (rank ascending) and text ascending; a second click flips;
# empty cells always last; ties keep the previous order (Array.prototype.sort is stable).
_JS = """
(function(){
  var table=document.getElementById('leaderboard');
  var heads=table.tHead.rows[0].cells;
  function key(cell,num){var v=cell.getAttribute('data-value');
    if(v===null||v===''){return null;} return num?parseFloat(v):v.toLowerCase();}
  function sortBy(i){
    var th=heads[i], num=th.getAttribute('data-type')==='num';
    var cur=th.getAttribute('aria-sort');
    var dir=cur?(cur==='ascending'?'descending':'ascending'):th.getAttribute('data-first');
    var sign=dir==='ascending'?1:-1, body=table.tBodies[0];
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[i],num), y=key(b.cells[i],num);
      if(x===null&&y===null){return 0;} if(x===null){return 1;} if(y===null){return -1;}
      return x<y?-sign:(x>y?sign:0);});
    rows.forEach(function(r){body.appendChild(r);});
    for(var j=0;j<heads.length;j++){heads[j].removeAttribute('aria-sort');}
    th.setAttribute('aria-sort',dir);
  }
  for(var i=0;i<heads.length;i++){(function(i){
    heads[i].addEventListener('click',function(){sortBy(i);});
    heads[i].addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sortBy(i);}});
  })(i);}
})();
"""


def _fmt(v) -> tuple[str, str]:
    """(shown text, data-value) of a numeric cell."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return "–", ""
    if isinstance(v, (int, np.integer)):
        return str(v), str(v)
    return f"{v:.3f}", repr(float(v))


def _figure_links(model: str, html_dir: Path, figures_dir: Path | None) -> list[tuple[str, str]]:
    if figures_dir is None:
        return []
    folder = figures_dir / MODELS_DIR / slug(model)
    links = []
    for png in sorted(folder.glob("*.png")):
        links.append((png.stem.replace("_", " "), os.path.relpath(png, html_dir).replace(os.sep, "/")))
    return links


def render_html(table: pd.DataFrame, *, title: str = "neuroalign leaderboard", html_dir: Path | None = None,
                figures_dir: Path | None = None, note: str = "") -> str:
    """The page for a :func:`leaderboard_table` (links resolved relative to ``html_dir``)."""
    html_dir = Path(html_dir) if html_dir is not None else Path(".")
    benches = [c[: -len(".normalized")] for c in table.columns if c.endswith(".normalized")]
    cols: list[tuple[str, str, str, str]] = [  # (column, header, sub-header, type)
        ("rank", "rank", "", "num"), ("model", "model", "", "text"),
        ("mean_normalized", "mean", "ceiling-normalised", "num"), ("n_benchmarks", "benchmarks", "scored", "num"),
    ]
    for b in benches:
        cols += [(f"{b}.normalized", b, "normalised", "num"), (f"{b}.raw", b, "raw", "num"),
                 (f"{b}.layer", b, "layer", "text")]
    cols.append(("figures", "figures", "", "text"))
    head = "".join(
        f'<th scope="col" tabindex="0" data-type="{t}" data-col="{html.escape(c)}" class="{t}" '
        f'data-first="{"ascending" if t == "text" or c == "rank" else "descending"}">'
        f'{html.escape(h)}{f"<span class=sub>{html.escape(s)}</span>" if s else ""}</th>'
        for c, h, s, t in cols)
    body = []
    for _, r in table.iterrows():
        cells = []
        for c, _, _, t in cols:
            if c == "figures":
                links = _figure_links(r["model"], html_dir, figures_dir)
                txt = " · ".join(f'<a href="{html.escape(h)}">{html.escape(lbl)}</a>' for lbl, h in links) or "–"
                cells.append(f'<td class="text" data-value="{len(links)}">{txt}</td>')
            elif t == "text":
                v = r[c]
                s = "" if pd.isna(v) else str(v)
                cells.append(f'<td class="text{" empty" if not s else ""}" data-value="{html.escape(s)}">'
                             f'{html.escape(s) or "–"}</td>')
            else:
                shown, val = _fmt(r[c])
                cells.append(f'<td class="{"empty" if not val else "num"}" data-value="{val}">{shown}</td>')
        body.append(f'<tr data-model="{html.escape(str(r["model"]))}">{"".join(cells)}</tr>')
    explain = ("Normalised: raw score divided by the benchmark's noise ceiling (the table's "
               "<code>normalized</code> column); raw: the metric itself (held-out Pearson r for "
               "encoding, RDM correlation for RSA). Each benchmark shows the model's selected layer. "
               "The mean is over the benchmarks a model was scored on. Click a column header to sort.")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=note>{explain} {html.escape(note)}</p>"
        f'<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f"<script>{_JS}</script>"
        "</body></html>\n"
    )


def write_leaderboard(results, out_dir, *, figures_dir=None, title: str = "neuroalign leaderboard",
                      name: str = "leaderboard") -> dict[str, Path]:
    """Write ``name.csv`` and ``name.html`` into ``out_dir`` (atomically); return their paths.

    ``figures_dir``: where :func:`neuroalign.figures.make_all_figures` wrote (its
    ``models/<model>/`` figures are linked from each row); ``None`` for no links.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = leaderboard_table(results)
    paths = {"csv": out / f"{name}.csv", "html": out / f"{name}.html"}
    with atomic_path(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False)
    page = render_html(table, title=title, html_dir=out.resolve(),
                       figures_dir=None if figures_dir is None else Path(figures_dir).resolve())
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return paths
