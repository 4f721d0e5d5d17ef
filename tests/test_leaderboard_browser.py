"""The leaderboard site in a real headless Chromium: ranks, sorting, filters, comparison, model pages.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (run ``.ci/install-chromium.sh``)
and the ``selenium`` client (the ``dev`` extra). Missing either is a failure, not a skip.
Screenshots land in ``test-artifacts/`` (git-ignored) for a person to look at.

The results table is synthetic with the current columns (``scope=reported`` rows, ``normalization``,
``brainscore_normalized``, ``n_excluded``, ...): ten brain benchmarks over four regions, two
synthetic checks, five models whose order differs by name, by overall score and by region.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fake_scores import fake_score, unit_noise, write_scores

from neuroalign.figures import make_all_figures
from neuroalign.leaderboard import leaderboard_data, leaderboard_table, write_leaderboard
from neuroalign.scoring import RESULT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars")
INSTALL_HINT = "run .ci/install-chromium.sh (installs the Debian packages chromium and chromium-driver)"
WIDTH = 1280

REGIONS = {  # region: its benchmarks (ten brain benchmarks)
    "V1": ["cadena2019.v1.encoding", "cadena2019.v1.pls"],
    "V4": ["cowley2023.210325.encoding", "cowley2023.210325.pls", "cowley2023.210325.rsa",
           "cowley2023.210322.ood.natural_to_synthetic"],
    "IT": ["kriegeskorte2008.human_it.rsa", "kriegeskorte2008.monkey_it.rsa", "majaj2015.it.pls"],
    "behaviour": ["kriegeskorte2008.behaviour.rsa"],
}
CHECKS = ["synthetic.encoding", "synthetic.ood.gratings_to_blobs"]
NC = "no ceiling"  # scored, raw only: the row carries normalization "none: averaged data"
SCORES = {  # model: region: normalised score per benchmark (None: not scored)
    "charlie-net": {"V1": [0.6, 0.4], "V4": [0.8, 0.6, 0.7, 0.5], "IT": [0.3, 0.5, 0.4], "behaviour": [0.45]},
    "alpha-net": {"V1": [0.3, 0.3], "V4": [0.9, 0.7, 0.8, 0.6], "IT": [0.5, 0.6, 0.4], "behaviour": [0.25]},
    "delta-net": {"V1": [None, None], "V4": [0.95, 0.85, 0.9, 0.7], "IT": [0.1, NC, 0.1], "behaviour": [None]},
    "bravo-net": {"V1": [0.2, 0.2], "V4": [0.2, 0.2, 0.2, 0.2], "IT": [0.3, 0.3, 0.3], "behaviour": [0.3]},
    "echo-net": {"V1": [None, None], "V4": [NC, None, None, None], "IT": [None] * 3, "behaviour": [None]},
}
# overall = mean over regions of region means: charlie (0.5+0.65+0.4+0.45)/4 = 0.5; alpha (0.3+0.75+0.5+0.25)/4
# = 0.45; bravo (0.2+0.2+0.3+0.3)/4 = 0.25; delta (6 of 10 normalised) and echo (0 of 10): not ranked, never by
# omission (issue 26: delta's own average, 0.475, would have put it second).
RANKED = ["charlie-net", "alpha-net", "bravo-net", "delta-net", "echo-net"]
OVERALL = [0.5, 0.45, 0.25, None, None]
HASH = "0123abcd0123abcd"  # every benchmark at v1 with this content hash (results rows and score files)
ENC = "cowley2023.210325.encoding"
# score files with shared draws point + s·z (tests/fake_scores.py): encoding and human-IT RSA; PLS without draws
DRAW_SD = {ENC: {"delta-net": 0.0, "alpha-net": 0.04, "charlie-net": 0.02, "bravo-net": 0.06},
           "kriegeskorte2008.human_it.rsa": {"alpha-net": 0.03, "charlie-net": 0.01, "bravo-net": 0.01,
                                             "delta-net": 0.01},
           "cowley2023.210325.pls": None}


def _row(**kw) -> dict:
    row = {c: np.nan for c in RESULT_COLUMNS}
    row.update(benchmark_version=1, benchmark_hash=HASH)
    row.update(kw)
    return row


def _results() -> pd.DataFrame:
    rows = []
    for model, by_region in SCORES.items():
        for region, benches in REGIONS.items():
            for bench, value in zip(benches, by_region[region], strict=True):
                if value is None:
                    continue
                kind = bench.rsplit(".", 1)[-1] if not bench.count(".ood.") else "ood"
                if bench == "cowley2023.210325.encoding":  # per-layer rows feed the layer-by-layer figure
                    for i, layer in enumerate(("block1", "block2", "block3")):
                        raw = 0.2 + 0.1 * i
                        rows.append(_row(model=model, benchmark=bench, kind=kind, region=region, scope="layer",
                                         layer=layer, selected=layer == "block2", raw=raw, ceiling=0.64,
                                         normalized=raw / 0.8, n_neuroids=60, n_stimuli=600))
                if value == NC:
                    rows.append(_row(model=model, benchmark=bench, kind=kind, region=region, scope="reported",
                                     layer="block2", selected=True, raw=0.31, normalization="none: averaged data",
                                     n_stimuli=92))
                    continue
                ceiling = 0.64
                rows.append(_row(model=model, benchmark=bench, kind=kind, region=region, scope="reported",
                                 layer="block2", selected=True, raw=value * 0.8, ceiling=ceiling, normalized=value,
                                 brainscore_normalized=value * 0.8 / ceiling, normalization="r/sqrt(ceiling)",
                                 ci_low=value - 0.05, ci_high=value + 0.05, n_neuroids=60, n_excluded=3,
                                 excluded_reason="ceiling < 0.1", n_stimuli=600, protocol="neuroalign"))
        for j, bench in enumerate(CHECKS):
            rows.append(_row(model=model, benchmark=bench, kind="encoding" if j == 0 else "ood", region="synthetic",
                             scope="reported", layer="block2", selected=True, raw=0.9, ceiling=0.81,
                             normalized=0.97 - 0.01 * j, normalization="r/sqrt(ceiling)"))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def test_ranking_aggregates_regions_then_overall():
    data = leaderboard_data(_results())
    assert data["regions"] == ["V1", "V4", "IT", "behaviour"]
    assert [b["id"] for b in data["benchmarks"] if b["check"]] == CHECKS
    models = data["models"]
    assert [m["model"] for m in models] == RANKED
    assert [m["rank"] for m in models] == [1, 2, 3, None, None]
    np.testing.assert_allclose([m["overall"] for m in models[:3]], OVERALL[:3])
    assert models[3]["overall"] is None and models[4]["overall"] is None
    charlie = models[0]
    np.testing.assert_allclose([charlie["regions"][r] for r in data["regions"]], [0.5, 0.65, 0.4, 0.45])
    # scored counts every brain benchmark with a row, normalised only those entering the means
    assert [(m["n_scored"], m["n_normalized"]) for m in models] == [(10, 10), (10, 10), (10, 10), (7, 6), (1, 0)]
    assert [(m["n_in_set"], m["n_set"]) for m in models] == [(10, 10), (10, 10), (10, 10), (6, 10), (0, 10)]
    assert all(m["n_brain"] == 10 for m in models)
    delta = models[3]
    assert delta["regions"]["V1"] is None and delta["regions"]["V4"] == pytest.approx(0.85)
    assert delta["regions"]["IT"] is None  # 2 of 3: not its own average
    assert delta["region_missing"]["IT"] == "2/3 normalised"
    assert delta["benchmarks"]["kriegeskorte2008.monkey_it.rsa"]["missing"] == "no ceiling: averaged data"


def test_checks_never_change_the_ranking():
    df = _results()
    base = leaderboard_data(df)
    df.loc[(df["region"] == "synthetic") & (df["model"] == "bravo-net"), "normalized"] = 50.0
    moved = leaderboard_data(df)
    assert [m["overall"] for m in moved["models"]] == [m["overall"] for m in base["models"]]
    assert moved["models"][2]["benchmarks"]["synthetic.encoding"]["normalized"] == 50.0


def test_every_number_names_its_results_row():
    df = _results()
    data = leaderboard_data(df)
    for m in data["models"]:
        for b, rec in m["benchmarks"].items():
            row = df.iloc[rec["results_row"] - 1]
            assert (row["model"], row["benchmark"], row["scope"]) == (m["model"], b, "reported")
            assert rec["normalized"] == (None if pd.isna(row["normalized"]) else row["normalized"])


def test_older_results_csv_still_renders(tmp_path):
    """A table from before scope/normalization/brainscore_normalized existed: the selected layer is used."""
    rows = []
    for model, (v4, it) in {"a-net": (0.5, 0.2), "b-net": (0.3, None)}.items():
        for layer, sel in (("l1", False), ("l2", True)):
            rows.append(dict(model=model, benchmark="V4", kind="encoding", region="V4", layer=layer, selected=sel,
                             raw=v4 - 0.1 * (not sel), ceiling=0.7, normalized=v4 - 0.1 * (not sel)))
        if it is not None:
            rows.append(dict(model=model, benchmark="IT-rsa", kind="rsa", region="IT", layer="l2", selected=True,
                             raw=it, ceiling=np.nan, normalized=np.nan))
    path = tmp_path / "old.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = leaderboard_table(path)
    assert t["model"].tolist() == ["a-net", "b-net"]
    np.testing.assert_allclose(t["overall"], [0.5, 0.3])  # a-net's IT has no ceiling: V4 alone
    assert t.loc[0, "IT-rsa.missing"] == "no ceiling" and t.loc[1, "IT-rsa.missing"] == "not scored"
    assert t["n_scored"].tolist() == [2, 1]
    paths = write_leaderboard(path, tmp_path / "site")
    assert paths["results"].read_bytes() == path.read_bytes()
    assert "no ceiling" in paths["html"].read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    results = _results()
    results.to_csv(out / "input.csv", index=False)
    make_all_figures(results, out / "figures", n_boot=10)
    subs = out / "submissions.yaml"
    subs.write_text(yaml.safe_dump({"models": {"alpha-net": {
        "spec": "plugin:/subs/alpha/model.py:build", "authors": ["Ada Lovelace", "Alan Turing"],
        "identity": "alpha-net:3f2a9c", "code_sha256": "ab" * 32, "layers": ["block1", "block2", "block3"],
        "description": "a small convnet"}}}))
    scores = []
    for seed, (bench, sds) in enumerate(DRAW_SD.items()):
        region = next(r for r, bs in REGIONS.items() if bench in bs)
        for model, by_region in SCORES.items():
            value = by_region[region][REGIONS[region].index(bench)]
            if value is not None and value != NC:
                scores.append(fake_score(model, bench, value, (sds or {}).get(model, 0.0), region=region,
                                         kind=bench.rsplit(".", 1)[-1], z=unit_noise(seed), draws=sds is not None,
                                         hash_=HASH))
    write_scores(out / "scores", scores)
    paths = write_leaderboard(out / "input.csv", out / "board", figures_dir=out / "figures", info=[subs],
                              scores=out / "scores")
    return out, paths


def test_site_files_and_json_export(site):
    _, paths = site
    for key in ("html", "csv", "json", "results", "results_html"):
        assert paths[key].is_file(), key
    page = paths["html"].read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    exported = json.loads(paths["json"].read_text())
    assert [m["model"] for m in exported["models"]] == RANKED
    wide = pd.read_csv(paths["csv"])
    assert wide["model"].tolist() == RANKED
    np.testing.assert_allclose(wide["overall"][:3], OVERALL[:3])
    assert wide.loc[3, "V1"] != wide.loc[3, "V1"]  # delta: no V1 score (NaN)
    assert wide.loc[3, "cadena2019.v1.encoding.missing"] == "not scored"
    assert set(paths["models"]) == set(RANKED)


@pytest.fixture(scope="module")
def server(site):
    _, paths = site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(paths["html"].parent.parent))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/board"
    httpd.shutdown()
    httpd.server_close()


def _find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the selenium client is missing: pip install -e '.[dev]' (or pip install selenium)")
    chrome = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if chrome is None or driver_path is None:
        pytest.fail(f"headless Chromium not found (chromium: {chrome}, chromedriver: {driver_path}); {INSTALL_HINT}")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in CHROME_FLAGS + (f"--window-size={WIDTH},900",):
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _css(drv, sel):
    return drv.find_elements("css selector", sel)


def _models(drv) -> list[str]:
    return [r.get_attribute("data-model") for r in _css(drv, "#leaderboard tbody tr") if r.is_displayed()]


def _header(drv, col: str):
    return drv.find_element("css selector", f'#leaderboard thead th[data-col="{col}"]')


def _cell(drv, model: str, attr: str, value: str):
    return drv.find_element("css selector", f'#leaderboard tr[data-model="{model}"] td[{attr}="{value}"]')


def test_ranks_and_sorting(server, browser):
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    assert drv.title == "neuroalign leaderboard"
    assert _models(drv) == RANKED
    ranks = [r.find_elements("css selector", "td")[0].text for r in _css(drv, "#leaderboard tbody tr")]
    assert ranks == ["1", "2", "3", "–", "–"]

    _header(drv, "model").click()
    assert _models(drv) == sorted(RANKED)
    assert _header(drv, "model").get_attribute("aria-sort") == "ascending"
    _header(drv, "model").click()
    assert _models(drv) == sorted(RANKED, reverse=True)

    _header(drv, "region:V4").click()  # highest first, the model without a V4 score last
    assert _models(drv) == ["delta-net", "alpha-net", "charlie-net", "bravo-net", "echo-net"]
    assert _header(drv, "model").get_attribute("aria-sort") is None
    _header(drv, "region:V4").click()
    assert _models(drv) == ["bravo-net", "charlie-net", "alpha-net", "delta-net", "echo-net"]

    _header(drv, "region:V1").click()
    assert _models(drv)[:3] == ["charlie-net", "alpha-net", "bravo-net"]
    assert set(_models(drv)[3:]) == {"delta-net", "echo-net"}
    _header(drv, "rank").click()
    assert _models(drv) == RANKED

    # region cells carry their numbers, and an empty cell says why
    assert _cell(drv, "charlie-net", "data-region", "V4").text.split("\n")[0] == "0.650"
    assert "not scored" in _cell(drv, "delta-net", "data-region", "V1").text
    assert "no ceiling: averaged data" in _cell(drv, "echo-net", "data-region", "V4").text
    bg = {_cell(drv, m, "data-region", "V4").value_of_css_property("background-color") for m in RANKED[:4]}
    assert len(bg) == 4  # four different scores, four colours of the one scale


def test_expand_region_and_follow_a_number_to_its_row(server, browser):
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    bench = "kriegeskorte2008.monkey_it.rsa"
    cell = _cell(drv, "alpha-net", "data-bench", bench)
    assert not cell.is_displayed()
    drv.find_element("css selector", 'button.expand[data-target="IT"]').click()
    assert cell.is_displayed() and cell.find_element("css selector", "a").text == "0.600"
    assert cell.find_element("css selector", ".ci").text == "raw 0.55–0.65"  # only a raw interval: labelled raw
    assert _header(drv, "region:IT").get_attribute("aria-sort") is None  # the button does not sort
    missing = _cell(drv, "delta-net", "data-bench", bench)
    assert "raw 0.310" in missing.text and "no ceiling: averaged data" in missing.text
    _header(drv, f"bench:{bench}").click()
    assert _models(drv)[:3] == ["alpha-net", "charlie-net", "bravo-net"]

    href = cell.find_element("css selector", "a").get_attribute("href")
    n = int(href.rsplit("#row-", 1)[1])
    row = pd.read_csv(urllib.request.urlopen(f"{server}/results.csv")).iloc[n - 1]
    assert (row["model"], row["benchmark"], row["scope"], row["normalized"]) == ("alpha-net", bench, "reported", 0.6)
    drv.get(href)
    target = drv.find_element("css selector", f"#results tr#row-{n}")
    assert "alpha-net" in target.text and bench in target.text
    assert target.find_elements("css selector", "td")[1].value_of_css_property("background-color") == \
        "rgba(255, 224, 138, 1)"  # the :target highlight


def test_filter_by_text_and_region(server, browser):
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    box = drv.find_element("id", "filter-text")
    box.send_keys("lovelace")  # an author from the submissions file
    assert _models(drv) == ["alpha-net"]
    assert drv.find_element("id", "shown").text == "1 of 5 models shown"
    box.clear()
    box.send_keys("DELTA")
    assert _models(drv) == ["delta-net"]
    for _ in range(5):
        box.send_keys("\b")
    assert _models(drv) == RANKED

    from selenium.webdriver.support.ui import Select

    Select(drv.find_element("id", "filter-region")).select_by_value("V1")
    assert _models(drv) == ["charlie-net", "alpha-net", "bravo-net"]  # only models with a V1 score
    assert _header(drv, "region:V1").is_displayed() and not _header(drv, "region:V4").is_displayed()
    assert _header(drv, "overall").is_displayed()
    Select(drv.find_element("id", "filter-region")).select_by_value("")
    assert _models(drv) == RANKED and _header(drv, "region:V4").is_displayed()


def test_compare_two_models(server, browser):
    from selenium.webdriver.support.ui import Select

    drv = browser
    drv.get(f"{server}/leaderboard.html")
    Select(drv.find_element("id", "compare-a")).select_by_visible_text("alpha-net")
    Select(drv.find_element("id", "compare-b")).select_by_visible_text("delta-net")

    def line(key):
        return [c.text for c in _css(drv, f'#compare tr[data-key="{key}"] td')]

    assert line("overall")[2:] == ["0.450", "–", "–"]  # delta is not ranked: no overall to subtract
    assert line("region:V4")[2:] == ["0.750", "0.850", "-0.100"]
    assert line("region:V1")[2] == "0.300" and line("region:V1")[3].startswith("–")
    it = line("bench:kriegeskorte2008.monkey_it.rsa")
    assert it[2] == "0.600" and "no ceiling: averaged data" in it[3]
    assert line("bench:synthetic.encoding")[0] == "synthetic.encoding (check)"
    link = drv.find_element("css selector", '#compare tr[data-key="bench:cowley2023.210325.pls"] td:nth-child(3) a')
    n = int(link.get_attribute("href").rsplit("#row-", 1)[1])
    row = pd.read_csv(urllib.request.urlopen(f"{server}/results.csv")).iloc[n - 1]
    assert (row["model"], row["benchmark"], row["normalized"]) == ("alpha-net", "cowley2023.210325.pls", 0.7)


def test_model_page(server, browser):
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    drv.find_element("link text", "alpha-net").click()
    assert drv.find_element("id", "model-name").text == "alpha-net"
    field = {d.get_attribute("data-field"): d.text for d in _css(drv, "dl.details dd")}
    assert field["spec"] == "plugin:/subs/alpha/model.py:build"
    assert field["identity"] == "alpha-net:3f2a9c"
    assert field["authors"] == "Ada Lovelace, Alan Turing"
    assert drv.find_element("id", "rank").text == "2 of 3"
    assert drv.find_element("id", "overall").text == "0.450"
    row = [c.text for c in _css(drv, '#benchmarks tr[data-bench="cowley2023.210325.pls"] td')]
    # benchmark, region, kind, raw, its interval (labelled raw), ceiling, normalised, Brain-Score normalised, layer
    assert row[:9] == ["cowley2023.210325.pls", "V4", "pls", "0.560", "raw [0.650, 0.750]", "0.640", "0.700",
                       "0.875", "block2"]
    assert row[10] == "3 (ceiling < 0.1)"
    assert [c.text for c in _css(drv, '#checks tr[data-bench="synthetic.encoding"] td')][6] == "0.970"
    imgs = _css(drv, "figure img")
    assert [i.get_attribute("alt").split(":")[0] for i in imgs] == ["Encoding, layer by layer"]
    assert drv.execute_script("return arguments[0].naturalWidth", imgs[0]) > 100  # the PNG loaded
    ARTIFACTS.mkdir(exist_ok=True)
    drv.set_window_size(WIDTH, 1400)
    assert drv.save_screenshot(str(ARTIFACTS / "leaderboard_model.png"))
    drv.set_window_size(WIDTH, 900)

    drv.get(f"{server}/models/delta-net.html")
    assert drv.find_element("id", "rank").text == "unranked: 6/10 ranked benchmarks normalised"
    assert "not recorded" in drv.find_element("css selector", 'dd[data-field="identity"]').text
    v1 = [c.text for c in _css(drv, '#benchmarks tr[data-bench="cadena2019.v1.pls"] td')]
    assert v1[3] == "not scored"


def test_table_fits_1280_pixels_with_ten_benchmarks(server, browser):
    drv = browser
    drv.set_window_size(WIDTH, 900)
    drv.get(f"{server}/leaderboard.html")
    inner = drv.execute_script("return window.innerWidth")
    right = drv.execute_script("return document.getElementById('leaderboard').getBoundingClientRect().right")
    scroll = drv.execute_script("return document.documentElement.scrollWidth")
    assert inner <= WIDTH and right <= inner and scroll <= inner, (inner, right, scroll)
    assert sum(len(v) for v in REGIONS.values()) == 10
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    assert drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000
    for button in _css(drv, "button.expand"):  # every region opened: all ten benchmark columns still fit
        button.click()
    assert sum(c.is_displayed() for c in _css(drv, "#leaderboard thead th.bench")) == 10
    right = drv.execute_script("return document.getElementById('leaderboard').getBoundingClientRect().right")
    assert drv.save_screenshot(str(ARTIFACTS / "leaderboard_expanded.png"))  # before the check: to see a failure
    assert right <= inner, right


def test_pages_read_well(server, browser):
    """Issue 28 §3: headers break only between words, a spec line per model, a methods page, model facts,
    readable thumbnails, empty-cell reasons not cut, intervals labelled raw, a compact results page."""
    drv = browser
    drv.set_window_size(WIDTH, 900)
    drv.get(f"{server}/leaderboard.html")
    for button in _css(drv, "button.expand"):
        button.click()
    broken = drv.execute_script("""
        var bad=[]; document.querySelectorAll('#leaderboard thead th.bench').forEach(function(th){
          var cs=getComputedStyle(th), room=th.clientWidth-parseFloat(cs.paddingLeft)-parseFloat(cs.paddingRight);
          th.textContent.split(/[._]|(?<=[A-Za-z])(?=[0-9])/).forEach(function(part){
            var s=document.createElement('span'); s.style.fontSize=cs.fontSize; s.style.fontFamily=cs.fontFamily;
            s.style.fontWeight=cs.fontWeight; s.style.whiteSpace='nowrap';
            s.textContent=part; th.appendChild(s);
            if(s.getBoundingClientRect().width>room+0.5){bad.push(th.textContent);} s.remove();});});
        return bad;""")
    assert broken == [], broken  # every word (between . _ and a name's number) fits its header: no break inside one
    specs = [td.find_element("css selector", ".spec").text for td in _css(drv, "#leaderboard td.model")]
    assert len(specs) == len(RANKED) and all(specs)
    cut = drv.execute_script("""
        var bad=[]; document.querySelectorAll('td.missing .why').forEach(function(w){
          if(w.offsetParent!==null && (w.scrollWidth>w.clientWidth+1 || w.scrollHeight>w.clientHeight+1)){
            bad.push(w.textContent);}}); return bad;""")
    assert cut == []
    drv.find_element("link text", "methods page").click()
    assert drv.find_element("css selector", ".methods h1").text.startswith("Methods")
    assert len(_css(drv, ".methods table")) >= 1 and "<script" not in drv.page_source.split("<body>")[1]

    drv.set_window_size(WIDTH, 1400)
    drv.get(f"{server}/models/alpha-net.html")
    field = {d.get_attribute("data-field"): d.text for d in _css(drv, "dl.details dd")}
    assert field["training"] == "as built by the plugin" and "plugin" in field["weights"]
    assert field["parameters"].startswith("not recorded")
    widths = [drv.execute_script("return arguments[0].getBoundingClientRect().width", i) for i in _css(drv, "figure img")]
    assert widths and min(widths) >= 600  # a thumbnail a reader can read without opening it
    assert all(c.text.startswith("raw [") or c.text == "–" for c in _css(drv, 'td[data-field="interval"]'))
    head = [th.text for th in _css(drv, "#benchmarks thead th")]
    assert head[head.index("raw") + 1].startswith("interval") and "of raw" in head[head.index("raw") + 1]
    page_right = drv.execute_script("return document.getElementById('benchmarks').getBoundingClientRect().right")
    assert page_right <= drv.execute_script("return window.innerWidth"), page_right  # no column cut off
    assert drv.save_screenshot(str(ARTIFACTS / "leaderboard_model_facts.png"))

    drv.set_window_size(WIDTH, 900)
    drv.get(f"{server}/results.html")
    table = drv.find_element("id", "results")
    rows = _css(drv, "#results tbody tr")
    heights = [drv.execute_script("return arguments[0].getBoundingClientRect().height", r) for r in rows[:20]]
    assert max(heights) < 40, max(heights)  # one line per row
    assert drv.execute_script("return arguments[0].getBoundingClientRect().width", table) <= WIDTH
    assert [th.text for th in _css(drv, "#results thead th")][1:4] == ["model", "benchmark", "scope"]
    rows[0].find_element("css selector", "summary").click()
    assert "normalization" in rows[0].find_element("css selector", "dl").text
    assert drv.save_screenshot(str(ARTIFACTS / "results_page.png"))


def test_tier_column_and_a_pairwise_page(server, browser):
    """Issue 26 §4: tier letters beside every benchmark score, a page per benchmark with the pairwise
    matrix (difference, interval, q), versions shown, kinds without draws named."""
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    drv.find_element("css selector", 'button.expand[data-target="V4"]').click()
    tiers = {m: _cell(drv, m, "data-bench", ENC).find_element("css selector", ".tier").text for m in RANKED[:4]}
    assert tiers == {"delta-net": "a", "alpha-net": "a", "charlie-net": "b", "bravo-net": "c"}
    assert _cell(drv, "charlie-net", "data-bench", ENC).find_element("css selector", ".ci").text == "0.76–0.84"
    assert _header(drv, f"bench:{ENC}").get_attribute("data-version") == "v1"
    row = drv.find_element("css selector", f'#decisions tr[data-bench="{ENC}"]')
    assert row.find_elements("css selector", "td")[1].text == "v1"  # the version beside its tiers
    assert "delta-net a, alpha-net a, charlie-net b, bravo-net c" in row.text
    rel = float(row.find_element("css selector", 'td[data-field="reliability"]').text)
    points, se2 = np.array([0.95, 0.9, 0.8, 0.2]), np.array([0.0, 0.04, 0.02, 0.06]) ** 2
    assert rel == pytest.approx(1 - se2.mean() / points.var(ddof=1), abs=0.005)
    agg = drv.find_element("css selector", '#decisions tr[data-bench="aggregate (overall)"]').text
    assert "no paired draws for" in agg and "cowley2023.210325.pls" in agg  # PLS scores carry no draws yet

    row.find_element("css selector", "a").click()
    assert drv.find_element("id", "bench-name").text == ENC
    assert drv.find_element("id", "version").text.startswith("version v1")
    assert drv.find_element("id", "scale").text == "ceiling-normalised"
    rows = _css(drv, "#tiers tbody tr")
    tier_col = [(r.get_attribute("data-model"), r.find_element("css selector", 'td[data-field="tier"]').text)
                for r in rows[:4]]
    assert rows[4].get_attribute("data-model") == "echo-net" and "no score file" in rows[4].text
    assert tier_col == [("delta-net", "a"), ("alpha-net", "a"), ("charlie-net", "b"), ("bravo-net", "c")]
    pair = drv.find_element("css selector", '#pairwise td[data-a="delta-net"][data-b="alpha-net"]')
    diff, ci, _q = pair.text.split("\n")
    assert diff == "+0.050" and ci == f"[{0.05 - 1.959964 * 0.04:.3f}, {0.05 + 1.959964 * 0.04:.3f}]"
    assert "sig" not in pair.get_attribute("class") and float(pair.get_attribute("data-q")) > 0.05
    back = drv.find_element("css selector", '#pairwise td[data-a="alpha-net"][data-b="delta-net"]').text
    assert back.split("\n")[0] == "-0.050"
    assert "sig" in drv.find_element("css selector", '#pairwise td[data-a="alpha-net"][data-b="charlie-net"]'
                                     ).get_attribute("class")
    assert len(_css(drv, "#pairwise td.pair")) == 12
    ARTIFACTS.mkdir(exist_ok=True)
    assert drv.save_screenshot(str(ARTIFACTS / "leaderboard_pairwise.png"))

    drv.get(f"{server}/benchmarks/cowley2023.210325.pls.html")
    assert all("no paired draws (pls" in r.text for r in _css(drv, "#tiers tbody tr"))
