"""OOD split generators and ID-vs-OOD evaluation: known answers, parity, real Cowley data."""

from __future__ import annotations

import colorsys
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image
from scipy.spatial.distance import cdist

from neuroalign.data.assembly import average_repetitions, make_assembly, select_stimuli, trials_array
from neuroalign.data.stimuli import StimulusSet
from neuroalign.errors import DataError, UnknownKeyError
from neuroalign.ood import (
    STATISTICS,
    evaluate_ood,
    image_statistics,
    load_pixels,
    min_cosine_distance,
    split_by_clusters,
    split_by_label,
    split_by_label_both_directions,
    split_by_statistic,
    split_by_statistic_both_directions,
)
from neuroalign.ood import image_stats
from neuroalign.ood.evaluate import _folds

COWLEY = Path(os.environ.get("NEUROALIGN_DATA", "/work/shared/datasets")) / "cowley2023_v4"


def cowley_images(session: str) -> StimulusSet:
    path = COWLEY / "images" / f"images_{session}.zip"
    if not path.exists():
        pytest.skip(f"real data {path} not present")
    return StimulusSet.from_zip(path)


def assert_disjoint_by_hash(split, stimuli: StimulusSet | pd.Series):
    h = stimuli.image_hashes() if isinstance(stimuli, StimulusSet) else stimuli
    assert not set(h.loc[split.train_ids]) & set(h.loc[split.test_ids])
    assert not set(split.train_ids) & set(split.test_ids)
    assert split.record["n_train"] == len(split.train_ids)
    assert split.record["n_test"] == len(split.test_ids)
    assert split.record["content_hash_checked"] is True
    json.dumps(split.record)  # JSON-able


def features_da(x: np.ndarray, ids, name="feat") -> xr.DataArray:
    return xr.DataArray(x, dims=("presentation", "feature"),
                        coords={"stimulus_id": ("presentation", list(ids))}, name=name)


# ---- image statistics --------------------------------------------------------------------
def solid(rgb, size=16):
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (1, size, size, 3)).copy()


def test_image_statistics_known_answers():
    grey = solid((100, 100, 100))
    assert image_stats.luminance(grey)[0] == pytest.approx(100.0, abs=1e-3)
    assert image_stats.contrast(grey)[0] == pytest.approx(0.0, abs=1e-7)
    assert image_stats.saturation(grey)[0] == 0.0
    assert np.isnan(image_stats.hue(grey)[0])
    assert np.isnan(image_stats.hsf_energy(grey)[0])

    half = np.zeros((1, 16, 16, 3), np.uint8)
    half[:, :8] = 255  # luma 0 or 255 on half the pixels each: std = 127.5
    assert image_stats.luminance(half)[0] == pytest.approx(127.5, abs=1e-3)
    assert image_stats.contrast(half)[0] == pytest.approx(0.5, abs=1e-6)

    for rgb, h in [((255, 0, 0), 0.0), ((0, 255, 0), 1 / 3), ((0, 0, 255), 2 / 3), ((255, 255, 0), 1 / 6)]:
        img = solid(rgb)
        assert image_stats.saturation(img)[0] == pytest.approx(1.0)
        assert image_stats.hue(img)[0] == pytest.approx(h, abs=1e-6)
    red_green = np.concatenate([solid((255, 0, 0)), solid((0, 255, 0))], axis=1)  # top red, bottom green
    assert image_stats.hue(red_green)[0] == pytest.approx(1 / 6, abs=1e-6)  # circular mean of 0 and 1/3
    # near-red hues on both sides of 0 average to red, not to 0.5 (which a linear mean would give)
    wrap = np.concatenate([solid((255, 0, 40)), solid((255, 40, 0))], axis=1)
    assert min(image_stats.hue(wrap)[0], 1 - image_stats.hue(wrap)[0]) < 1e-6

    x = np.arange(64)
    checker = ((x[:, None] + x[None, :]) % 2 * 255).astype(np.uint8)  # all power at (0.5, 0.5)
    low = (127 + 100 * np.sin(2 * np.pi * 2 * x / 64))[None, :].repeat(64, 0)  # 2/64 cycles/px
    high = (127 + 100 * np.sin(2 * np.pi * 19 * x / 64))[None, :].repeat(64, 0)  # 19/64 = 0.297
    stack = np.stack([np.repeat(a[..., None], 3, -1) for a in (checker, low, high)]).round().astype(np.uint8)
    hsf = image_stats.hsf_energy(stack, cutoff=0.25)
    assert hsf[0] == pytest.approx(1.0, abs=1e-9)
    assert hsf[1] < 1e-3
    assert hsf[2] > 0.999


def test_image_statistics_parity_with_colorsys_pil_and_full_fft():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (3, 24, 31, 3), dtype=np.uint8)
    imgs[0, :6] = 77  # some grey pixels
    for img, s_mean, h_mean in zip(imgs, image_stats.saturation(imgs), image_stats.hue(imgs)):
        hsv = np.array([colorsys.rgb_to_hsv(*(p / 255.0)) for p in img.reshape(-1, 3)])
        assert s_mean == pytest.approx(hsv[:, 1].mean(), abs=1e-6)
        ang = 2 * np.pi * hsv[:, 0]
        ref = np.arctan2((hsv[:, 1] * np.sin(ang)).sum(), (hsv[:, 1] * np.cos(ang)).sum()) / (2 * np.pi) % 1
        assert h_mean == pytest.approx(ref, abs=1e-5)
        pil_l = np.asarray(Image.fromarray(img).convert("L"), dtype=float)  # PIL rounds Rec.601 luma
        assert np.abs(image_stats.luma(img[None])[0] - pil_l).max() <= 0.5 + 1e-3
    # hsf via the half spectrum equals the full 2-D FFT, odd and even widths
    for w in (31, 30):
        y = image_stats.luma(imgs[:, :, :w]).astype(np.float64)
        y -= y.mean(axis=(1, 2), keepdims=True)
        p = np.abs(np.fft.fft2(y)) ** 2
        f = np.hypot(np.fft.fftfreq(24)[:, None], np.fft.fftfreq(w)[None, :])
        ref = p[:, f > 0.2].sum(axis=1) / p.sum(axis=(1, 2))
        np.testing.assert_allclose(image_stats.hsf_energy(imgs[:, :, :w], 0.2), ref, rtol=1e-5)


@pytest.fixture(scope="module")
def cowley_190923():
    ss = cowley_images("190923")
    t0 = time.perf_counter()
    table = image_statistics(ss)
    print(f"image statistics for {len(ss)} images: {time.perf_counter() - t0:.2f} s")
    return ss, table, ss.image_hashes()


def test_image_statistics_table_on_cowley_matches_per_image_pil(cowley_190923):
    ss, table, _ = cowley_190923
    assert list(table.columns) == list(STATISTICS) and list(table.index) == ss.stimulus_ids
    for sid in ("image0001", "image0600", "image1200"):
        img = ss.load_image(sid)
        lum = np.asarray(img.convert("L"), dtype=float).mean()
        assert table.loc[sid, "luminance"] == pytest.approx(lum, abs=0.5)
        hsv = np.asarray(img.convert("HSV"), dtype=float) / 255.0  # PIL HSV: 8-bit saturation
        assert table.loc[sid, "saturation"] == pytest.approx(hsv[..., 1].mean(), abs=0.01)
    assert table[["luminance", "contrast", "saturation", "hsf_energy"]].notna().all().all()


# ---- split generators on real data --------------------------------------------------------
def test_statistic_splits_on_cowley_190923_are_disjoint_and_sized_as_recorded(cowley_190923):
    ss, table, hashes = cowley_190923
    for stat in STATISTICS:
        for gap in (0.0, 0.2):
            lo_hi, hi_lo = split_by_statistic_both_directions(ss, stat, 0.5, gap, values=table[stat],
                                                                hashes=hashes)
            for split in (lo_hi, hi_lo):
                assert_disjoint_by_hash(split, hashes)
                rec = split.record
                assert rec["n_train"] + rec["n_test"] + rec["n_in_gap"] + rec["n_undefined"] == len(ss)
                assert rec["n_undefined"] == int(table[stat].isna().sum())
            low = table[stat].loc[lo_hi.train_ids]
            high = table[stat].loc[lo_hi.test_ids]
            assert low.max() <= lo_hi.record["thresholds"]["low_max"] < high.min()
            assert set(hi_lo.train_ids) == set(lo_hi.test_ids) and set(hi_lo.test_ids) == set(lo_hi.train_ids)
            n_def = int(table[stat].notna().sum())
            assert abs(lo_hi.n_train - n_def * (0.5 - gap / 2)) <= 2
            assert abs(lo_hi.n_test - n_def * (0.5 - gap / 2)) <= 2
    # computing inside the generator gives the same split as passing the precomputed column
    direct = split_by_statistic(ss, "contrast", 0.3, "high_to_low")
    again = split_by_statistic(ss, "contrast", 0.3, "high_to_low", values=table["contrast"])
    assert direct.train_ids == again.train_ids and direct.n_test == round(0.3 * len(ss))


def test_cluster_split_on_cowley_190923_pixels(cowley_190923):
    ss, _, hashes = cowley_190923
    split = split_by_clusters(ss, n_clusters=6, n_held_out=2, seed=3, pixel_size=8, n_threads=1)
    assert_disjoint_by_hash(split, hashes)
    held = split.record["parameters"]["held_out_clusters"]
    labels = split.values
    assert set(split.test_ids) == set(labels.index[labels.isin(held)])
    sizes = np.array(split.record["cluster_sizes"])
    assert sizes.sum() == len(ss) and split.n_test == sizes[held].sum()
    again = split_by_clusters(ss, n_clusters=6, n_held_out=2, seed=3, pixel_size=8, n_threads=1)
    assert again.test_ids == split.test_ids


def test_cluster_split_recovers_known_blobs():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 5)) * 20
    truth = np.repeat(np.arange(3), 40)
    x = centres[truth] + rng.standard_normal((120, 5))
    ids = [f"s{i}" for i in range(120)]
    split = split_by_clusters(features_da(x, ids, "layer9"), n_clusters=3, held_out_clusters=[1],
                              hashes=pd.Series(ids, index=ids), n_threads=1)
    test_truth = set(truth[[ids.index(s) for s in split.test_ids]])
    assert len(test_truth) == 1 and split.n_test == 40 and split.n_train == 80
    assert split.record["parameters"]["space"] == "layer9"


def test_label_split_on_cowley_210322_natural_vs_synthetic():
    ss = cowley_images("210322")
    family = ["natural" if int(s[-4:]) <= 600 else "synthetic" for s in ss.stimulus_ids]
    md = pd.DataFrame({"family": family}, index=ss.stimulus_ids)
    nat_syn, syn_nat = split_by_label_both_directions(md, "family", "natural", "synthetic", hashes=ss)
    assert nat_syn.train_ids == [f"image{i:04d}" for i in range(1, 601)]
    assert nat_syn.test_ids == [f"image{i:04d}" for i in range(601, 1201)]
    assert syn_nat.train_ids == nat_syn.test_ids and syn_nat.test_ids == nat_syn.train_ids
    for split in (nat_syn, syn_nat):
        assert_disjoint_by_hash(split, ss)
        assert (split.n_train, split.n_test) == (600, 600)
    assert nat_syn.record["direction"] == "natural->synthetic"


def test_identical_images_in_190925_never_split_across_sides():
    ss = cowley_images("190925")
    h = ss.image_hashes().to_numpy()
    assert (h[:300] == h[900:]).all()  # columns 1-300 and 901-1200: identical bytes
    assert len(set(h[:900])) == 900  # and nothing else repeats
    md = pd.DataFrame({"half": ["A"] * 600 + ["B"] * 600}, index=ss.stimulus_ids)
    ids = np.array(ss.stimulus_ids)
    dropped = split_by_label(md, "half", "A", "B", hashes=ss)  # images 1-300 == 901-1200 conflict
    assert dropped.train_ids == ids[300:600].tolist() and dropped.test_ids == ids[600:900].tolist()
    assert dropped.record["n_conflicting_images"] == 300
    assert dropped.record["affected_ids"] == sorted(ids[:300].tolist() + ids[900:].tolist())
    to_train = split_by_label(md, "half", "A", "B", hashes=ss, duplicates="train")
    assert (to_train.n_train, to_train.n_test) == (900, 300)
    to_test = split_by_label(md, "half", "A", "B", hashes=ss, duplicates="test")
    assert (to_test.n_train, to_test.n_test) == (300, 900)
    for split in (dropped, to_train, to_test):
        assert_disjoint_by_hash(split, ss)

    # features that put the copies far apart: the cluster split must still keep them together
    x = np.zeros((1200, 2))
    x[:, 0] = np.where(np.arange(1200) < 600, -10.0, 10.0)
    x[:, 1] = np.random.default_rng(0).standard_normal(1200) * 0.1
    feats = features_da(x, ids)
    cl = split_by_clusters(feats, n_clusters=2, held_out_clusters=[0], hashes=ss, n_threads=1)
    assert_disjoint_by_hash(cl, ss)
    assert cl.record["n_conflicting_images"] == 300 and cl.n_train == 300 and cl.n_test == 300

    # pixel clusters and statistics see identical pixels: copies stay together without drops
    for split in (split_by_clusters(ss, 5, n_held_out=2, pixel_size=8, n_threads=1),
                  split_by_statistic(ss, "luminance", 0.5, "high_to_low")):
        assert_disjoint_by_hash(split, ss)
        assert split.record["n_conflicting_images"] == 0
        side = {s: 0 for s in split.train_ids} | {s: 1 for s in split.test_ids}
        for a, b in zip(ids[:300], ids[900:]):
            assert side.get(a) == side.get(b)


def test_split_errors_name_the_problem():
    md = pd.DataFrame({"family": ["a", "b", "a"]}, index=["x", "y", "z"])
    hashes = pd.Series(["1", "2", "3"], index=md.index)
    with pytest.raises(DataError, match="no column 'kind'"):
        split_by_label(md, "kind", "a", "b", hashes=hashes)
    with pytest.raises(DataError, match="on both sides"):
        split_by_label(md, "family", ["a", "b"], "b", hashes=hashes)
    with pytest.raises(DataError, match="no stimulus has"):
        split_by_label(md, "family", "a", "c", hashes=hashes)
    with pytest.warns(UserWarning, match="no image hashes"):
        s = split_by_label(md, "family", "a", "b")
    assert s.record["content_hash_checked"] is False
    ss = StimulusSet.from_arrays(np.zeros((2, 4, 4, 3), np.uint8), ["p", "q"], "tiny")
    with pytest.raises(UnknownKeyError, match="luminance"):
        split_by_statistic(ss, "luminence")
    with pytest.raises(DataError, match="empty"):  # identical images: the drop empties both sides
        split_by_label(pd.DataFrame({"f": ["a", "b"]}, index=["p", "q"]), "f", "a", "b", hashes=ss)


# ---- ID vs OOD evaluation ----------------------------------------------------------------
def two_families(seed=0, n=240, d=16, n_neuroids=24, reps=4, noise=1.0):
    """Latent generator space; family B is shifted and rotated; neurons read it out linearly."""
    rng = np.random.default_rng(seed)
    z_a = rng.standard_normal((n, d))
    rot = np.linalg.qr(rng.standard_normal((d, d)))[0]
    z_b = rng.standard_normal((n, d)) @ rot + 1.0
    z = np.vstack([z_a, z_b])
    ids = [f"s{i:04d}" for i in range(2 * n)]
    w = rng.standard_normal((d, n_neuroids)) / np.sqrt(d)
    signal = z @ w
    trials = np.repeat(signal, reps, axis=0) + noise * rng.standard_normal((2 * n * reps, n_neuroids))
    responses = make_assembly(trials, stimulus_id=np.repeat(ids, reps), region="IT")
    md = pd.DataFrame({"family": ["A"] * n + ["B"] * n}, index=ids)
    split = split_by_label(md, "family", "A", "B", hashes=pd.Series(ids, index=ids))
    # a model that matches the generator only on family A: a different nonlinear transform on B
    other = np.linalg.qr(rng.standard_normal((d, d)))[0]
    train_only = np.vstack([z_a, np.tanh(z_b @ other)])
    return dict(z=z, ids=ids, responses=responses, split=split, train_only=train_only, signal=signal,
                noise=noise, reps=reps, n=n)


def test_generator_keeps_its_score_ood_while_train_family_model_drops():
    fam = two_families()
    gen = evaluate_ood(features_da(fam["z"], fam["ids"], "generator"), fam["responses"], fam["split"], seed=0)
    bad = evaluate_ood(features_da(fam["train_only"], fam["ids"]), fam["responses"], fam["split"], seed=0)
    assert gen.attrs["id_score"] > 0.7
    assert gen.attrs["ratio"] >= 0.9
    assert bad.attrs["id_score"] == pytest.approx(gen.attrs["id_score"], abs=1e-9)  # same on family A
    assert bad.attrs["ratio"] < 0.6 and bad.attrs["gap"] > 0.5
    for ds in (gen, bad):
        assert ds.attrs["gap"] == pytest.approx(ds.attrs["id_score"] - ds.attrs["ood_score"])
        np.testing.assert_allclose(ds["gap"], ds["id_r"] - ds["ood_r"])
        np.testing.assert_allclose(ds["id_r"], ds["id_r_folds"].mean("fold"))
        assert ds.attrs["id_score"] == pytest.approx(float(np.median(ds["id_r"])))
        assert (ds.attrs["n_id"], ds.attrs["n_ood"], ds.attrs["n_neuroids"]) == (fam["n"], fam["n"], 24)
        assert ds.sizes["fold"] == 5
    assert gen.attrs["distance_space"] == "model features (generator)"
    # the sklearn fallback estimator gives the same verdict
    from sklearn.linear_model import RidgeCV

    sk = evaluate_ood(features_da(fam["z"], fam["ids"]), fam["responses"], fam["split"],
                      estimator=RidgeCV(alphas=np.logspace(-3, 6, 19), alpha_per_target=True), seed=0)
    assert sk.attrs["ratio"] >= 0.9
    assert float(np.abs(sk["id_r"] - gen["id_r"]).max()) < 0.02
    assert "alpha" in sk and sk["alpha"].shape == (5, 24)


def test_ceilings_of_both_sets_come_from_the_callable_on_single_trials():
    fam = two_families(seed=1, noise=1.5)

    def split_half(trials):  # Spearman-Brown corrected split-half reliability per neuroid
        arr, _ = trials_array(trials)
        h1, h2 = arr[:, 0::2].mean(1), arr[:, 1::2].mean(1)
        r = np.array([np.corrcoef(h1[:, j], h2[:, j])[0, 1] for j in range(arr.shape[2])])
        return 2 * r / (1 + r)

    ds = evaluate_ood(features_da(fam["z"], fam["ids"]), fam["responses"], fam["split"], ceiling=split_half)
    split = fam["split"]
    np.testing.assert_allclose(ds["id_ceiling"], split_half(select_stimuli(fam["responses"], split.train_ids)))
    np.testing.assert_allclose(ds["ood_ceiling"], split_half(select_stimuli(fam["responses"], split.test_ids)))
    # known truth: reliability of a 4-trial mean = var(signal) / (var(signal) + noise^2 / 4)
    n = fam["n"]
    for part, var in (("id_ceiling", fam["signal"][:n].var(0)), ("ood_ceiling", fam["signal"][n:].var(0))):
        truth = var / (var + fam["noise"] ** 2 / fam["reps"])
        assert float(np.median(np.abs(ds[part].values - truth))) < 0.05
    mean = average_repetitions(fam["responses"])
    shuffled = mean.isel(presentation=np.random.default_rng(0).permutation(mean.sizes["presentation"]))
    averaged = evaluate_ood(features_da(fam["z"], fam["ids"]), shuffled, split, ceiling=split_half)
    assert "id_ceiling" not in averaged and "no repetitions" in averaged.attrs["ceiling"]
    np.testing.assert_allclose(averaged["id_r"], ds["id_r"], atol=1e-9)  # joined by id, not position


def test_train_test_distance_parity_with_scipy_and_known_nearest():
    rng = np.random.default_rng(2)
    train = rng.standard_normal((50, 7))
    test = rng.standard_normal((30, 7))
    dist, arg = min_cosine_distance(test, train)
    ref = cdist(test, train, metric="cosine")
    np.testing.assert_allclose(dist, ref.min(1), atol=1e-12)
    np.testing.assert_array_equal(arg, ref.argmin(1))
    copies, arg = min_cosine_distance(3.0 * train[[4, 9]], train)  # scaled copies: distance 0
    np.testing.assert_allclose(copies, 0.0, atol=1e-12)
    assert arg.tolist() == [4, 9]

    fam = two_families(seed=3, n=120)
    space = features_da(rng.standard_normal((240, 5)), fam["ids"], "pixels")
    ds = evaluate_ood(features_da(fam["z"], fam["ids"]), fam["responses"], fam["split"],
                      distance_features=space, n_id_folds=3)
    n = fam["n"]
    ref = cdist(space.values[n:], space.values[:n], metric="cosine")
    assert ds.attrs["train_test_distance"] == pytest.approx(ref.min(1).mean(), abs=1e-10)
    assert ds.attrs["distance_space"] == "pixels"
    assert ds["nearest_id_stimulus_id"].values.tolist() == [fam["ids"][i] for i in ref.argmin(1)]


def test_id_folds_keep_identical_images_together_and_missing_ids_are_named():
    ids = [f"s{i}" for i in range(40)]
    hashes = pd.Series([f"h{i // 2}" for i in range(40)], index=ids)  # pairs of copies
    md = pd.DataFrame({"f": ["a"] * 30 + ["b"] * 10}, index=ids)
    split = split_by_label(md, "f", "a", "b", hashes=hashes)
    for _, te in _folds(split, split.train_ids, 5, seed=0):
        held = {split.train_ids[i] for i in te}
        for s in held:
            partner = f"s{int(s[1:]) ^ 1}"
            assert partner in held
    fam = two_families(n=60)
    feats = features_da(fam["z"][1:], fam["ids"][1:])
    with pytest.raises(DataError, match="s0000"):
        evaluate_ood(feats, fam["responses"], fam["split"])


def test_evaluate_ood_on_cowley_210322_pixels_natural_to_synthetic():
    ss = cowley_images("210322")
    path = COWLEY / "responses_repeat_averaged" / "responses_210322.npy"
    y = np.load(path)  # (59 neurons, 1200 images); column i is image{i+1:04d}
    ids = [f"image{i + 1:04d}" for i in range(y.shape[1])]
    responses = make_assembly(y.T, stimulus_id=ids, region="V4")
    md = pd.DataFrame({"family": ["natural"] * 600 + ["synthetic"] * 600}, index=ids)
    split = split_by_label(md, "family", "natural", "synthetic", hashes=ss)
    px = load_pixels(ss, size=8).reshape(len(ss), -1) / 255.0
    order = np.random.default_rng(0).permutation(len(ss))  # features in another order: joined by id
    feats = features_da(px[order], np.array(ss.stimulus_ids)[order], "pixels8")
    ds = evaluate_ood(feats, responses, split, n_id_folds=3)
    assert (ds.attrs["n_id"], ds.attrs["n_ood"], ds.attrs["n_neuroids"]) == (600, 600, 59)
    ref = cdist(px[600:], px[:600], metric="cosine").min(1).mean()
    assert ds.attrs["train_test_distance"] == pytest.approx(ref, abs=1e-6)
    assert np.isfinite(ds["id_r"]).all() and np.isfinite(ds["ood_r"]).all()
    assert json.loads(ds.attrs["split_record"])["n_test"] == 600
    print({k: ds.attrs[k] for k in ("id_score", "ood_score", "gap", "ratio", "train_test_distance")})
