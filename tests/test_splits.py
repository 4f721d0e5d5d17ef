"""Outer splits on stimulus ids: coverage, stratification, groups never straddling, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from neuroalign.errors import DataError
from neuroalign.mapping import make_splits, splits_from_record


def _meta(n=60):
    ids = [f"s{i:03d}" for i in range(n)]
    return pd.DataFrame({"stimulus_id": ids, "category": np.repeat(["a", "b", "c"], n // 3),
                         "sha256": [f"h{i // 3}" for i in range(n)]})


def test_kfold_partitions_and_record_roundtrip():
    df = _meta()
    splits, rec = make_splits(df, kind="kfold", n_splits=5, seed=3)
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests) == sorted(df.stimulus_id) and len(tests) == 60
    for tr, te in splits:
        assert not set(tr) & set(te) and len(tr) + len(te) == 60
    rec = json.loads(json.dumps(rec))
    assert rec["kind"] == "kfold" and rec["seed"] == 3 and rec["n_splits"] == 5
    back = splits_from_record(rec, df.stimulus_id)
    for (a, b), (c, d) in zip(splits, back):
        assert set(a) == set(c) and set(b) == set(d)
    other, _ = make_splits(df, kind="kfold", n_splits=5, seed=4)
    assert any(set(a[1]) != set(b[1]) for a, b in zip(splits, other))


def test_stratified_balances_column():
    splits, rec = make_splits(_meta(), kind="stratified", n_splits=4, column="category")
    cat = _meta().set_index("stimulus_id")["category"]
    for _, te in splits:
        assert cat[te].value_counts().tolist() == [5, 5, 5]
    assert rec["column"] == "category"


def test_group_keeps_repeated_images_together():
    df = _meta()
    splits, _ = make_splits(df, kind="group", n_splits=5, column="sha256", seed=1)
    h = df.set_index("stimulus_id")["sha256"]
    for tr, te in splits:
        assert not set(h[tr]) & set(h[te])
    assert sorted(np.concatenate([te for _, te in splits])) == sorted(df.stimulus_id)


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="3 stimuli for 5 folds"):
        make_splits(["a", "b", "c"], n_splits=5)
    with pytest.raises(DataError, match="needs a metadata column"):
        make_splits(_meta(), kind="group", column="nope")
    with pytest.raises(DataError, match="unknown kind"):
        make_splits(_meta(), kind="loo")


# --- outer cross-validated encoding (joins on stimulus_id) -------------------------

import xarray as xr  # noqa: E402

from neuroalign.data.assembly import make_assembly  # noqa: E402
from neuroalign.mapping import RidgeCV, cross_validated_encoding  # noqa: E402


def _encoding_data(n=150, p=40, t=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X[:, :4] @ rng.standard_normal((4, t)) + rng.standard_normal((n, t)) * 0.3
    ids = np.array([f"s{i:03d}" for i in range(n)])
    resp = make_assembly(Y, stimulus_id=ids)
    perm = rng.permutation(n)
    feats = xr.DataArray(X[perm], dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids[perm])})
    return feats, resp, X, Y, ids


def test_cross_validated_encoding_joins_on_ids():
    feats, resp, X, Y, ids = _encoding_data()
    splits = make_splits(ids, n_splits=5, seed=0)
    ds = cross_validated_encoding(feats, resp, splits, RidgeCV(dtype="float64"))
    assert ds["r"].shape == (5, 6) and float(ds["r"].median()) > 0.9
    assert np.isfinite(ds["prediction"]).all() and (ds["alpha"] > 0).all()
    assert json.loads(ds.attrs["splits"])["kind"] == "kfold"
    # the same fit by hand, by position after sorting features to the responses' order
    tr, te = splits[0][0]
    itr, ite = np.searchsorted(ids, tr), np.searchsorted(ids, te)
    m = RidgeCV(dtype="float64").fit(X[itr], Y[itr])
    np.testing.assert_allclose(ds["prediction"].values[ite], m.predict(X[ite]), rtol=1e-8)
    # shuffled features against responses: no predictivity
    shuffled = feats.assign_coords(stimulus_id=("presentation", np.random.default_rng(1).permutation(feats["stimulus_id"].values)))
    null = cross_validated_encoding(shuffled, resp, splits, RidgeCV(dtype="float64"))
    assert abs(float(null["r"].mean())) < 0.1


def test_encoding_refuses_nan_and_flags_constant():
    feats, resp, *_ = _encoding_data()
    splits = make_splits(resp["stimulus_id"].values, n_splits=3)
    bad = resp.copy()
    bad.values[[3, 7], 2] = np.nan
    with pytest.raises(DataError, match=r"2 NaN/inf value\(s\) in 1 neuroid\(s\) \['n0002'\]"):
        cross_validated_encoding(feats, bad, splits)
    const = resp.copy()
    const.values[:, 4] = 2.5
    ds = cross_validated_encoding(feats, const, splits)
    assert ds["constant"].values.tolist() == [False] * 4 + [True, False]
    assert np.isnan(ds["r"].values[:, 4]).all() and np.isfinite(ds["r"].values[:, :4]).all()
