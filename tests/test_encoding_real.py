"""Real data: layer-by-layer ridge predictivity on Cowley 210325 (V4), with ceilings, for the
pretrained efficientnet-lite0 and an untrained torchvision network (seeded initialisation)."""

import numpy as np
import pytest

from neuroalign.scoring import MIN_CEILING, score


@pytest.fixture(scope="module")
def scores(data_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("activations")
    return {spec: score(spec, "cowley2023.210325.encoding", cache_dir=cache, device="cpu")
            for spec in ("efficientnet-lite0", "torchvision:squeezenet1_1")}


def test_every_layer_is_scored_with_the_split_half_ceiling(scores):
    for ds in scores.values():
        assert ds.attrs["normalization"] == "r/sqrt(ceiling)"
        assert ds.attrs["aggregate_ceiling"] == pytest.approx(0.7595, abs=0.005)  # split-half, Spearman-Brown
        assert ds.sizes["neuroid"] == 50 and np.isfinite(ds["layer_raw"].values).all()
        c = ds["ceiling"].values
        ok = c >= MIN_CEILING
        np.testing.assert_allclose(ds["normalized"].values[ok], ds["raw"].values[ok] / np.sqrt(c[ok]), rtol=1e-12)
        per_layer = np.nanmedian(ds["layer_raw_per_neuroid"].values[:, ok] / np.sqrt(c[ok]), axis=1)
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
