"""The leaderboard: a static site ranking every scored model, with a page per model.

``write_leaderboard(results, out_dir)`` writes ``leaderboard.html`` (ranked table: overall,
one column per region, each region's benchmarks expandable; sort, filter, compare),
``models/<model>.html``, ``results.html``/``results.csv`` (every number links to its row),
``leaderboard.csv`` and ``leaderboard.json``. No server, no CDN: the pages open from disk.
"""

from .site import render_main, render_model, write_leaderboard
from .table import leaderboard_data, leaderboard_table, load_model_info, missing_reason

__all__ = ["leaderboard_data", "leaderboard_table", "load_model_info", "missing_reason", "render_main",
           "render_model", "write_leaderboard"]
