"""The leaderboard page in a real headless Chromium: served locally, sorted by clicking headers.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (run ``.ci/install-chromium.sh``)
and the ``selenium`` client (the ``dev`` extra). Missing either is a failure, not a skip.
The screenshot lands in ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroalign.figures import make_all_figures
from neuroalign.leaderboard import leaderboard_table, write_leaderboard

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync")
INSTALL_HINT = "run .ci/install-chromium.sh (installs the Debian packages chromium and chromium-driver)"


def _results() -> pd.DataFrame:
    """Four models; their order differs by model name, by mean normalised score and by raw V4 score."""
    rows = []
    spec = {  # model: (V4 raw of the selected layer, V4 ceiling-normalised, IT rsa raw)
        "delta-net": (0.50, 0.55, 0.10),
        "alpha-net": (0.30, 0.35, 0.40),
        "charlie-net": (0.45, 0.80, 0.20),
        "bravo-net": (0.20, 0.25, None),
    }
    for model, (v4_raw, v4_norm, it_raw) in spec.items():
        for i, layer in enumerate(("l1", "l2")):
            sel = i == 1
            rows.append(dict(model=model, benchmark="V4", kind="encoding", region="V4", layer=layer, selected=sel,
                             raw=v4_raw if sel else v4_raw - 0.1, ceiling=0.7,
                             normalized=v4_norm if sel else v4_norm - 0.1))
            if it_raw is not None:
                rows.append(dict(model=model, benchmark="IT-rsa", kind="rsa", region="IT", layer=layer,
                                 selected=sel, raw=it_raw if sel else 0.0, ceiling=0.5, ceiling_low=0.4,
                                 ceiling_high=0.5, normalized=(it_raw if sel else 0.0) / 0.5))
    return pd.DataFrame(rows)


def test_leaderboard_table_numbers():
    t = leaderboard_table(_results())
    # mean normalised: charlie (0.80+0.40)/2=0.60, alpha (0.35+0.80)/2=0.575, delta (0.55+0.20)/2=0.375, bravo 0.25
    assert t["model"].tolist() == ["charlie-net", "alpha-net", "delta-net", "bravo-net"]
    np.testing.assert_allclose(t["mean_normalized"], [0.60, 0.575, 0.375, 0.25])
    assert t["n_benchmarks"].tolist() == [2, 2, 2, 1]
    np.testing.assert_allclose(t["V4.raw"], [0.45, 0.30, 0.50, 0.20])
    assert t["V4.layer"].tolist() == ["l2"] * 4
    assert np.isnan(t.loc[3, "IT-rsa.normalized"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    results = _results()
    make_all_figures(results, out / "figures")
    paths = write_leaderboard(results, out, figures_dir=out / "figures")
    return out, paths


@pytest.fixture(scope="module")
def server(site):
    out, _ = site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
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
    for flag in CHROME_FLAGS + ("--window-size=1400,900",):
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _models(drv) -> list[str]:
    return [r.get_attribute("data-model") for r in drv.find_elements("css selector", "#leaderboard tbody tr")]


def _header(drv, col: str):
    return drv.find_element("css selector", f'#leaderboard thead th[data-col="{col}"]')


def test_page_is_self_contained(site):
    _, paths = site
    page = paths["html"].read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page and "https://" not in page


def test_sorting_in_headless_chromium(site, server, browser):
    drv = browser
    drv.get(f"{server}/leaderboard.html")
    assert drv.title == "neuroalign leaderboard"
    assert _models(drv) == ["charlie-net", "alpha-net", "delta-net", "bravo-net"]  # by mean normalised

    _header(drv, "model").click()
    assert _models(drv) == ["alpha-net", "bravo-net", "charlie-net", "delta-net"]
    assert _header(drv, "model").get_attribute("aria-sort") == "ascending"
    _header(drv, "model").click()
    assert _models(drv) == ["delta-net", "charlie-net", "bravo-net", "alpha-net"]

    _header(drv, "V4.raw").click()  # numbers: highest first
    assert _models(drv) == ["delta-net", "charlie-net", "alpha-net", "bravo-net"]
    assert _header(drv, "model").get_attribute("aria-sort") is None
    _header(drv, "V4.raw").click()
    assert _models(drv) == ["bravo-net", "alpha-net", "charlie-net", "delta-net"]

    _header(drv, "IT-rsa.normalized").click()  # the model without an IT score stays last both ways
    assert _models(drv) == ["alpha-net", "charlie-net", "delta-net", "bravo-net"]
    _header(drv, "IT-rsa.normalized").click()
    assert _models(drv) == ["delta-net", "charlie-net", "alpha-net", "bravo-net"]

    # the raw and normalised numbers are on the page, and figure links resolve on the server
    cells = drv.find_elements("css selector", 'tr[data-model="charlie-net"] td')
    texts = [c.text for c in cells]
    assert "0.800" in texts and "0.450" in texts
    links = drv.find_elements("css selector", 'tr[data-model="charlie-net"] a')
    hrefs = sorted(a.get_attribute("href") for a in links)
    assert [h.rsplit("/", 1)[-1] for h in hrefs] == ["encoding_layers.png", "rsa_bars.png"]
    assert all("/figures/models/charlie-net/" in h for h in hrefs)
    import urllib.request

    with urllib.request.urlopen(hrefs[0]) as resp:
        assert resp.read(8) == b"\x89PNG\r\n\x1a\n"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    assert drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000


def test_rank_sorts_best_first(site, server, browser):
    browser.get(f"{server}/leaderboard.html")
    _header(browser, "V4.raw").click()
    _header(browser, "rank").click()
    assert _models(browser) == ["charlie-net", "alpha-net", "delta-net", "bravo-net"]
