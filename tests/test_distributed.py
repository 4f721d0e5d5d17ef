"""Distributed ridge: chunks over a dask cluster give the single-process numbers."""

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

from neuroalign.mapping import RidgeCV, fit_distributed


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 120))
    Y = X[:, :5] @ rng.standard_normal((5, 23)) + rng.standard_normal((80, 23)) * rng.uniform(0.1, 20, 23)
    return X, Y, rng.standard_normal((10, 120))


@pytest.mark.parametrize("cv", ["loo", 4])
def test_same_numbers_as_one_process(client, cv):
    X, Y, Xt = _data()
    ref = RidgeCV(cv=cv, dtype="float64").fit(X, Y)
    assert len(np.unique(ref.alpha_)) > 2
    for c, chunks in ((None, 3), (client, 5)):
        d = fit_distributed(RidgeCV(cv=cv, dtype="float64"), X, Y, client=c, n_chunks=chunks)
        np.testing.assert_array_equal(d.alpha_, ref.alpha_)
        np.testing.assert_allclose(d.predict(Xt), ref.predict(Xt), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(d.cv_scores_, ref.cv_scores_, rtol=1e-10)


def test_local_cluster_by_name():
    X, Y, Xt = _data()
    ref = RidgeCV(cv="gcv", dtype="float64").fit(X, Y)
    d = fit_distributed(RidgeCV(cv="gcv", dtype="float64"), X, Y, client="local")
    np.testing.assert_array_equal(d.alpha_, ref.alpha_)
    np.testing.assert_allclose(d.predict(Xt), ref.predict(Xt), rtol=1e-10, atol=1e-12)


def test_distributed_estimator_in_outer_cross_validation_matches_ridge():
    """cross_validated_encoding shares one Gram with whatever RidgeCV it is given."""
    import xarray as xr

    from neuroalign.data.assembly import make_assembly
    from neuroalign.mapping import DistributedRidgeCV, cross_validated_encoding, make_splits

    X, Y, _ = _data()
    ids = [f"s{i:03d}" for i in range(len(X))]
    feats = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    resp = make_assembly(Y, stimulus_id=ids)
    splits = make_splits(ids, n_splits=4, seed=0)
    ref = cross_validated_encoding(feats, resp, splits, RidgeCV(dtype="float64"))
    for shared in (True, False):
        est = DistributedRidgeCV(dtype="float64", n_chunks=3, alpha_per_target=shared)
        d = cross_validated_encoding(feats, resp, splits, est)
        if shared:
            np.testing.assert_array_equal(d["alpha"].values, ref["alpha"].values)
            np.testing.assert_allclose(d["r"].values, ref["r"].values, rtol=1e-10)
        else:
            one = cross_validated_encoding(feats, resp, splits, RidgeCV(dtype="float64", alpha_per_target=False))
            np.testing.assert_allclose(d["r"].values, one["r"].values, rtol=1e-10)
