"""RDMs: parity with rsatoolbox's calc_rdm (float64, |diff| <= 1e-6) and labelled output."""

import numpy as np
import pytest
import xarray as xr
from rsatoolbox.data import Dataset
from rsatoolbox.data.noise import prec_from_unbalanced
from rsatoolbox.rdm import calc_rdm
from scipy.spatial.distance import pdist

from neuroalign.data.assembly import make_assembly
from neuroalign.data.rdms import upper_triangle
from neuroalign.errors import DataError
from neuroalign.similarity import compute_rdms


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(0)
    n, r, p = 14, 3, 9
    stim = np.repeat([f"s{i:02d}" for i in range(n)], r)
    rep = np.tile(np.arange(r), n)
    x = rng.normal(size=(n * r, p)) + np.repeat(rng.normal(size=(n, p)), r, 0)
    return x, stim, rep, Dataset(x, obs_descriptors={"stimulus": stim, "rep": rep})


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_plain_rdms_match_rsatoolbox(trials, method):
    x, stim, rep, ds = trials
    ref = calc_rdm(ds, method=method, descriptor="stimulus").get_vectors()[0]
    out = compute_rdms(x, method, stimulus_ids=stim)
    assert np.abs(upper_triangle(out)[0] - ref).max() <= 1e-6
    assert out.attrs["method"] == method and list(out["row"].values[:2]) == ["s00", "s01"]


@pytest.mark.parametrize("noise", [None, "diag", "full", "shrinkage_eye", "shrinkage_diag"])
def test_crossnobis_and_mahalanobis_match_rsatoolbox(trials, noise):
    x, stim, rep, ds = trials
    prec = None if noise is None else prec_from_unbalanced(ds, "stimulus", method=noise)
    ref = calc_rdm(ds, method="crossnobis", descriptor="stimulus", cv_descriptor="rep", noise=prec).get_vectors()[0]
    out = compute_rdms(x, "crossnobis", stimulus_ids=stim, repetition=rep, noise=noise)
    assert np.abs(upper_triangle(out)[0] - ref).max() <= 1e-6
    if noise is not None:
        ref = calc_rdm(ds, method="mahalanobis", descriptor="stimulus", noise=prec).get_vectors()[0]
        out = compute_rdms(x, "mahalanobis", stimulus_ids=stim, noise=noise)
        assert np.abs(upper_triangle(out)[0] - ref).max() <= 1e-6


def test_crossnobis_from_assembly_is_unbiased():
    # identical true patterns for all stimuli: crossnobis distances scatter around 0,
    # while the plain Euclidean distance of the noisy means is biased upwards
    rng = np.random.default_rng(1)
    n, r, p = 30, 4, 50
    stim = np.repeat([f"im{i}" for i in range(n)], r)
    asm = make_assembly(rng.normal(size=(n * r, p)), stimulus_id=stim)
    cn = upper_triangle(compute_rdms(asm, "crossnobis"))[0]
    eu = upper_triangle(compute_rdms(asm, "euclidean"))[0]
    assert abs(cn.mean()) < 0.02 and eu.mean() > 0.4  # E[eu] = 2 * var / r = 0.5


def test_cosine_and_mapping_input():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 5))
    ids = [f"x{i}" for i in range(10)]
    da = xr.DataArray(a, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    out = compute_rdms({"l1": da, "l2": da.isel(presentation=slice(None, None, -1))}, "cosine")
    assert out.sizes["rdm"] == 2 and list(out["name"].values) == ["l1", "l2"]
    np.testing.assert_allclose(upper_triangle(out)[0], pdist(a, "cosine"), atol=1e-12)
    np.testing.assert_allclose(upper_triangle(out)[1], upper_triangle(out)[0], atol=1e-12)  # joined by id


def test_crossnobis_needs_every_repetition():
    x = np.random.default_rng(3).normal(size=(5, 3))
    with pytest.raises(DataError, match="s2"):
        compute_rdms(x, "crossnobis", stimulus_ids=["s1", "s2", "s1", "s2", "s1"], repetition=[0, 0, 1, 2, 2])
