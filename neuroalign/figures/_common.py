"""What every figure shares: reading the results table, colours, writing PNG + SVG + CSV."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from ..errors import DataError  # noqa: E402

#: The results table's columns (docs/architecture.md); RSA rows add ceiling_low/ceiling_high.
RESULTS_COLUMNS = (
    "model", "benchmark", "kind", "region", "scope", "layer", "selected", "raw", "ceiling", "normalized",
    "ci_low", "ci_high", "id_score", "ood_score", "gap", "ratio", "n_neuroids", "n_stimuli",
)
OPTIONAL_COLUMNS = ("ceiling_low", "ceiling_high", "id_normalized", "ood_normalized", "brainscore_normalized",
                    "n_excluded", "id_ci_low", "id_ci_high")
NUMERIC = ("raw", "ceiling", "normalized", "ci_low", "ci_high", "id_score", "ood_score", "gap", "ratio",
           "n_neuroids", "n_stimuli", "ceiling_low", "ceiling_high", "id_normalized", "ood_normalized",
           "brainscore_normalized", "n_excluded", "id_ci_low", "id_ci_high")
REQUIRED = ("model", "benchmark", "kind", "layer")


def _read_one(path: Path, *, other_csv_ok: bool = False) -> pd.DataFrame | None:
    """One results CSV; with ``other_csv_ok`` a CSV without the results columns gives None."""
    try:
        df = pd.read_csv(path, dtype={"model": str, "benchmark": str, "kind": str, "layer": str, "region": str,
                                       "benchmark_hash": str},
                         keep_default_na=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable results CSV ({exc}).") from exc
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing and other_csv_ok:
        return None
    if missing:
        raise DataError(f"{path}: results table lacks columns {missing}; expected {list(RESULTS_COLUMNS)}.")
    return df


def load_results(results, scope: str | None = "layer") -> pd.DataFrame:
    """The results table as a DataFrame, from a DataFrame, a CSV file or a folder of CSVs.

    ``scope``: keep only rows of that scope (``"layer"``: per-layer full-data numbers, for
    figures; ``"reported"``: each benchmark's unbiased score, for the leaderboard);
    rows without a scope are kept either way. ``None`` keeps every row.

    In a folder, every ``*.csv`` holding the results columns is read and stacked (other
    CSVs, such as ``scaling.csv``, are left alone). Missing optional columns are added
    empty, numbers become floats and ``selected`` a boolean.
    """
    if isinstance(results, pd.DataFrame):
        df = results.copy()
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise DataError(f"results table lacks columns {missing}; expected {list(RESULTS_COLUMNS)}.")
    else:
        path = Path(results)
        if path.is_dir():
            frames = [df for f in sorted(path.glob("*.csv")) if (df := _read_one(f, other_csv_ok=True)) is not None]
            if not frames:
                raise DataError(f"{path}: no results CSV (with columns {list(REQUIRED)}) in this folder; "
                                "run `neuroalign score` first.")
            df = pd.concat(frames, ignore_index=True)
        elif path.is_file():
            df = _read_one(path)
        else:
            raise DataError(f"results {path} does not exist; pass a results CSV or the folder holding it.")
    for c in RESULTS_COLUMNS + OPTIONAL_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["selected"] = df["selected"].map(_as_bool)
    if scope is not None:
        df = df[df["scope"].isna() | (df["scope"].astype(str) == scope)].reset_index(drop=True)
    for c in ("model", "benchmark", "kind", "layer"):
        df[c] = df[c].astype(str)
    return df


def _as_bool(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "y", "t")
    return bool(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else False


def rows_of_kind(df: pd.DataFrame, kind: str, what: str) -> pd.DataFrame:
    out = df[df["kind"].str.lower() == kind]
    if out.empty:
        raise DataError(f"{what}: the results table has no rows of kind {kind!r} "
                        f"(kinds present: {sorted(df['kind'].unique())}).")
    return out


def filter_models(df: pd.DataFrame, models, benchmarks=None) -> pd.DataFrame:
    """Rows of ``models`` (all if None; a missing model is an error) and of ``benchmarks`` (all if None)."""
    if models is not None:
        models = [models] if isinstance(models, str) else list(models)
        missing = sorted(set(models) - set(df["model"]))
        if missing:
            raise DataError(f"models {missing} are not in the results table (models: {sorted(df['model'].unique())}).")
        df = df[df["model"].isin(models)]
    return df if benchmarks is None else df[df["benchmark"].isin(list(benchmarks))]


def sort_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Benchmarks in first-seen order, then model, then layer index."""
    order = table["benchmark"].map({b: i for i, b in enumerate(pd.unique(table["benchmark"]))})
    return table.iloc[np.lexsort((table["layer_index"], table["model"], order))].reset_index(drop=True)


def ci_yerr(rows: pd.DataFrame):
    """Asymmetric error bars from ``ci_low``/``ci_high`` around ``raw`` (None unless all filled)."""
    if rows["ci_low"].notna().all() and rows["ci_high"].notna().all():
        return np.vstack([rows["raw"] - rows["ci_low"], rows["ci_high"] - rows["raw"]]).clip(min=0)
    return None


def layer_order(df: pd.DataFrame) -> pd.Series:
    """Index of each row's layer within its model: ``layer_index`` if given, else first appearance."""
    if "layer_index" in df.columns and df["layer_index"].notna().all():
        return df["layer_index"].astype(int)
    return df.groupby("model", sort=False)["layer"].transform(lambda s: pd.Series(pd.factorize(s)[0], index=s.index))


def model_colours(models) -> dict[str, tuple]:
    """One colour per model, the same in every figure (sorted names → tab10/tab20)."""
    import matplotlib as mpl

    names = sorted(set(models))
    cmap = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(names)}


def slug(name: str) -> str:
    """A file-name-safe form of a model or benchmark name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "unnamed"


#: Journal sizes: one column (85 mm) for a single panel, full width (180 mm) for several;
#: fonts of 6.5–8 pt at that size stay readable in print, PNGs at 300 dpi.
MM = 1 / 25.4
SINGLE_MM, FULL_MM, DPI = 85, 180, 300
STYLE = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 6.5,
         "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "lines.markersize": 4, "axes.linewidth": 0.6}


def journal_figure(n_panels: int, *, height_mm: float = 62, max_cols: int = 2) -> tuple[Figure, list]:
    """Panels in a grid of at most ``max_cols`` columns, 85 mm wide for one panel, else 180 mm."""
    import matplotlib as mpl

    cols = min(n_panels, max_cols)
    rows = -(-n_panels // cols)
    width = (SINGLE_MM if cols == 1 else FULL_MM) * MM
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width, height_mm * MM * rows + 0.5 * (rows > 1)), layout="constrained")
        FigureCanvasAgg(fig)  # a renderer, so the legend can be measured before saving
        axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def styled(fn):
    """Draw a figure function under :data:`STYLE` (fonts and lines sized for print)."""
    import functools

    import matplotlib as mpl

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def legend_below(fig: Figure, handles: dict, ncols: int = 3) -> None:
    """One figure legend under the panels (never over a band or a point); ``handles``: label → artist."""
    ncols = min(ncols, len(handles))
    while True:  # fewer columns until the legend fits the figure's width
        leg = fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=ncols,
                         frameon=False, columnspacing=1.0, handletextpad=0.4)
        if ncols == 1 or leg.get_window_extent(fig.canvas.get_renderer()).width <= 0.98 * fig.bbox.width:
            return
        leg.remove()
        ncols -= 1


def new_figure(n_panels: int, *, width: float = 4.2, height: float = 3.6) -> tuple[Figure, list]:
    fig = Figure(figsize=(width * n_panels, height), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, list(axes)


def save_figure(fig: Figure, table: pd.DataFrame, out_dir: str | os.PathLike, name: str,
                extra: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write ``name.png``, ``name.svg`` and ``name.csv`` (+ ``name_<key>.csv`` per extra table).

    Every file is written to a temporary name and renamed, so a failure leaves no
    half-written figure. Returns ``{"png", "svg", "csv", <extra keys>}`` → paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for ext, kw in (("png", {"dpi": DPI}), ("svg", {"metadata": {"Date": None}})):
        p = out / f"{name}.{ext}"
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=ext, **kw)
        paths[ext] = p
    tables = {"csv": table, **(extra or {})}
    for key, t in tables.items():
        p = out / (f"{name}.csv" if key == "csv" else f"{name}_{key}.csv")
        with atomic_path(p) as tmp:
            t.to_csv(tmp, index=False)
        paths[key] = p
    return paths


def read_table(table, required, what: str, hint: str) -> pd.DataFrame:
    """A DataFrame or CSV with the ``required`` columns; the error names the file and the columns."""
    df = table.copy() if isinstance(table, pd.DataFrame) else pd.read_csv(Path(table))
    missing = [c for c in required if c not in df.columns]
    if missing:
        where = "" if isinstance(table, pd.DataFrame) else f"{table}: "
        raise DataError(f"{where}{what} lacks columns {missing}; expected {list(required)} {hint}.")
    return df
