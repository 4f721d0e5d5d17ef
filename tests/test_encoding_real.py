"""Real data: layer-by-layer ridge predictivity on Cowley 210325 (V4), with ceilings, for the
pretrained efficientnet-lite0 and an untrained torchvision network (seeded initialisation)."""

import numpy as np
import pytest

from neuroalign.scorers import MIN_CEILING
from neuroalign.scoring import score

CEILING_210325 = 0.7640  # measured: variance-components reliability, median over the 50 neuroids


@pytest.fixture(scope="module")
def scores(data_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("activations")
    return {spec: score(spec, "cowley2023.210325.encoding", cache_dir=cache, device="cpu")
            for spec in ("efficientnet-lite0", "torchvision:squeezenet1_1")}


def test_every_layer_is_scored_with_the_reliability_of_the_averages(scores):
    for ds in scores.values():
        a = ds.attrs
        assert a["normalization"].startswith("raw / sqrt(ceiling)")
        # variance-components reliability of the 6-10-trial averages (Brain-Score's split-half gives 0.7595)
        assert a["aggregate_ceiling"] == pytest.approx(CEILING_210325, abs=0.005)
        assert ds.sizes["neuroid"] == 50 and np.isfinite(ds["layer_raw"].values).all()
        c = ds["ceiling"].values
        ok = ds["included"].values
        assert (ok == (c >= MIN_CEILING)).all() and a["n_excluded"] == int((~ok).sum())
        np.testing.assert_allclose(ds["normalized"].values[ok], ds["raw"].values[ok] / np.sqrt(c[ok]), rtol=1e-12)
        assert a["aggregate_raw"] == pytest.approx(float(np.median(ds["raw"].values[ok])), rel=1e-12)
        assert a["aggregate_ceiling"] == pytest.approx(float(np.median(c[ok])), rel=1e-12)
        assert a["aggregate_normalized"] == pytest.approx(a["aggregate_raw"] / np.sqrt(a["aggregate_ceiling"]))
        per_layer = np.nanmedian(ds["layer_raw_per_neuroid"].values[:, ok], axis=1) / np.sqrt(a["aggregate_ceiling"])
        np.testing.assert_allclose(ds["layer_normalized"].values, per_layer, rtol=1e-12)
        assert set(ds["chosen_layer_per_split"].values) <= set(ds["layer"].values)


def test_pretrained_network_beats_untrained_and_deep_layers_beat_the_first(scores):
    lite = scores["efficientnet-lite0"]
    untrained = scores["torchvision:squeezenet1_1"]
    # measured: lite0 reports r 0.479 (normalised 0.555) from _blocks.12; squeezenet 0.402 (0.460)
    assert lite.attrs["aggregate_raw"] == pytest.approx(0.479, abs=0.02)
    assert lite.attrs["aggregate_normalized"] == pytest.approx(0.555, abs=0.025)
    assert untrained.attrs["aggregate_raw"] == pytest.approx(0.402, abs=0.02)
    assert lite.attrs["aggregate_raw"] > untrained.attrs["aggregate_raw"] + 0.04
    raw = lite["layer_raw"].values
    assert raw[0] < 0.25 and raw.max() > raw[0] + 0.25  # the stem is far from V4; mid-depth blocks are best
    assert lite.attrs["layer"] in ("_blocks.9", "_blocks.12", "_blocks.15")
