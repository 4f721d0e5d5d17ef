"""Issue 28 §3: the Snakemake report's front page and figure captions render (through docutils and
Jinja, as ``snakemake --report`` renders them) and say what ran, on which data, and the ranking with
intervals labelled raw."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from docutils.core import publish_parts

from neuroalign.figures.make_all import TABLE_FIGURES
from neuroalign.leaderboard import write_leaderboard
from neuroalign.scoring import RESULT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def _results() -> pd.DataFrame:
    rows = []
    for model, spec_norm in (("efficientnet-lite0", 0.6), ("torchvision:alexnet", 0.3)):
        for bench, region in (("cowley2023.210325.encoding", "V4"), ("kriegeskorte2008.human_it.rsa", "IT"),
                              ("synthetic.encoding", "synthetic")):
            r = {c: np.nan for c in RESULT_COLUMNS}
            r.update(model=model, benchmark=bench, kind=bench.rsplit(".", 1)[1], region=region, scope="reported",
                     layer="l3", selected=True, raw=spec_norm * 0.8, ceiling=0.64, normalized=spec_norm,
                     ci_low=spec_norm * 0.8 - 0.05, ci_high=spec_norm * 0.8 + 0.05, normalization="raw / sqrt(ceiling)",
                     model_parameters=4_652_008 if model.startswith("eff") else 61_100_840)
            rows.append(r)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def test_front_page_says_what_ran_and_ranks_with_labelled_intervals(tmp_path):
    _results().to_csv(tmp_path / "results.csv", index=False)
    paths = write_leaderboard(tmp_path / "results.csv", tmp_path / "site")
    rst = (paths["html"].parent / "report.rst").read_text()
    page = publish_parts(jinja2.Environment().from_string(rst).render(snakemake=None), writer_name="html",
                         settings_overrides={"halt_level": 2})["html_body"]  # a warning would stop here
    assert "neuroalign report" in page and "2 model(s) scored on 2 brain benchmark(s)" in page
    ranking = page[page.index("Ranking (normalised"):page.index("Models</")]
    assert ranking.index("efficientnet-lite0") < ranking.index("torchvision:alexnet")
    assert "0.600" in ranking and "95% interval of raw" in page and "[0.430, 0.530]" in page
    assert "trained (ImageNet)" in page and "random initialisation" in page and "4,652,008" in page
    assert (paths["html"].parent / "methods.html").is_file()


def test_front_page_says_why_a_cell_is_empty_once(tmp_path):
    """A benchmark without a ceiling leaves its normalised cells empty: each cell points to a note
    below the table, which gives the reason once, not in every row."""
    res = _results()
    rsa = res["benchmark"] == "kriegeskorte2008.human_it.rsa"
    res.loc[rsa, ["ceiling", "normalized"]] = np.nan
    res.loc[rsa, "normalization"] = "none: a single data RDM has no ceiling"
    res.to_csv(tmp_path / "results.csv", index=False)
    paths = write_leaderboard(tmp_path / "results.csv", tmp_path / "site")
    rst = (paths["html"].parent / "report.rst").read_text()
    page = publish_parts(jinja2.Environment().from_string(rst).render(snakemake=None), writer_name="html",
                         settings_overrides={"halt_level": 2})["html_body"]
    table = page[page.index("Scores per benchmark"):page.index("Empty normalised cells")]
    assert table.count("– [1]") == 2 and "a single data RDM" not in table
    assert page.count("[1] no ceiling: a single data RDM has no ceiling") == 1


def test_every_figure_has_a_caption():
    template = jinja2.Environment().from_string((ROOT / "pipelines/report/figures.rst").read_text())

    class W:
        def __init__(self, name):
            self.wildcards = type("wc", (), {"name": name})

    for name in [n for n, _, _ in TABLE_FIGURES] + ["scaling_law", "finetune"]:
        text = template.render(snakemake=W(name)).strip()
        assert text.startswith("**") and "see docs/methods.md" not in text, name
        publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2})
    rules = "".join((ROOT / "pipelines/rules" / f).read_text() for f in ("figures.smk", "leaderboard.smk"))
    assert rules.count('caption="../report/') == 2


def test_workflow_parses_with_the_front_page(tmp_path):
    """The report directive takes the generated front page once the leaderboard wrote it."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"results: {tmp_path / 'res'}\nmodels: {{ref: {{spec: reference}}}}\nbenchmarks: [synthetic.encoding]\n")
    (tmp_path / "res/leaderboard").mkdir(parents=True)
    (tmp_path / "res/leaderboard/report.rst").write_text("neuroalign report\n=================\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg), "-q"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
