"""The real shared datasets load with the shapes their README states (checked against the bytes)."""

import numpy as np
import pytest

from neuroalign.data.assembly import average_repetitions
from neuroalign.datasets.cowley import load_cowley, sessions
from neuroalign.data.rdms import upper_triangle

SHAPES = {"210325": (50, 640), "210322": (59, 1200), "190925": (36, 1200), "190923": (33, 1200)}


def test_all_upstream_sessions_registered():
    s = sessions()
    assert len(s) == 50 and {"190923", "211103", "201016"} <= set(s)


@pytest.mark.parametrize("session", sorted(SHAPES))
def test_cowley_session_shapes(session, data_root):
    da, stim = load_cowley(session)
    n_neur, n_img = SHAPES[session]
    assert da.sizes["neuroid"] == n_neur
    assert da.column.max() == n_img and len(np.unique(da.column)) == n_img
    assert (da.region == "V4").all()
    ids_in_stim = set(stim.stimulus_ids)
    assert set(da.stimulus_id.values) == ids_in_stim


def test_210325_raw_matches_averaged_file(data_root):
    da, _ = load_cowley("210325")
    assert da.attrs["responses_kind"] == "raw"
    assert np.isfinite(da.values).all()  # NaN padding dropped, not kept
    avg = average_repetitions(da)
    ref = np.load(data_root / "cowley2023_v4/responses_repeat_averaged/responses_210325.npy")
    np.testing.assert_allclose(avg.values, ref.T, rtol=0, atol=1e-12)
    assert 6 <= avg.n_repetitions.min() and avg.n_repetitions.max() <= 10
    assert da.sizes["presentation"] == int(avg.n_repetitions.sum())


def test_190925_repeated_images_share_ids(data_root):
    da, stim = load_cowley("190925")
    assert len(stim) == 900
    first = da.stimulus_id.values[da.column.values <= 300]
    last = da.stimulus_id.values[da.column.values > 900]
    np.testing.assert_array_equal(first, last)
    assert (da.repetition.values[da.column.values > 900] == 1).all()
    # and the repeated columns are genuinely byte-identical JPEGs, different from the middle ones
    h = stim.image_hashes()
    assert h.is_unique


def test_210322_families(data_root):
    da, stim = load_cowley("210322")
    fam = da.family.values
    assert (fam[da.column.values <= 600] == "natural").all() and (fam[da.column.values > 600] == "synthetic").all()
    assert stim.metadata["family"].value_counts().to_dict() == {"natural": 600, "synthetic": 600}


def test_kriegeskorte_images_categories_and_rdms(k92):
    rdms, stim = k92
    assert len(stim) == 92
    md = stim.metadata
    assert md["animal"].sum() == 48 and md["face"].sum() == 24 and md["human"].sum() == 24
    assert md.loc[md["animal"] == 1, "category"].str.contains("human|nonhuman").all()
    assert np.asarray(stim.load_image("k92-00")).shape == (175, 175, 3)
    assert rdms["human_it_subjects"].sizes["rdm"] == 8 and rdms["behaviour"].sizes["rdm"] == 16
    assert rdms["monkey_it"].sizes == {"rdm": 1, "row": 92, "col": 92}
    m, h = upper_triangle(rdms["monkey_it"])[0], upper_triangle(rdms["human_it"])[0]
    from scipy.stats import spearmanr
    assert abs(spearmanr(m, h).statistic - 0.44) < 0.01
    sq = rdms["human_it_subjects"].values
    np.testing.assert_allclose(sq, sq.transpose(0, 2, 1))
