"""PLS under Brain-Score's protocol vs sklearn run by hand; banded ridge known answer."""

import numpy as np
import scipy.stats
import xarray as xr
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from neuroalign.data.assembly import make_assembly
from neuroalign.mapping import BandedRidgeCV, brainscore_pls_protocol


def _data(seed=0, n=120, p=60, t=12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X[:, :10] @ rng.standard_normal((10, t)) + rng.standard_normal((n, t)) * 2
    ids = [f"img{i:04d}" for i in rng.permutation(n)]  # not sorted: the protocol must sort
    cat = np.array(["a", "b", "c", "d"])[np.arange(n) % 4]
    resp = make_assembly(Y, stimulus_id=ids, presentation_coords={"object_name": cat})
    feats = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    # features in another order: the join must be by id
    perm = rng.permutation(n)
    return feats.isel(presentation=perm), resp, X, Y, np.asarray(ids), cat


def _by_hand(X, Y, ids, cat, stratified):
    order = np.argsort(ids)
    X, Y, cat = X[order], Y[order], cat[order]
    split = (StratifiedShuffleSplit(10, train_size=0.9, random_state=1).split(X, cat) if stratified
             else ShuffleSplit(10, train_size=0.9, random_state=1).split(X))
    meds = []
    for tr, te in split:
        pred = PLSRegression(n_components=25, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        meds.append(np.median([scipy.stats.pearsonr(pred[:, j], Y[te, j])[0] for j in range(Y.shape[1])]))
    return float(np.mean(meds))


def test_protocol_matches_sklearn_by_hand():
    feats, resp, X, Y, ids, cat = _data()
    for strat in (None, "object_name"):
        ds = brainscore_pls_protocol(feats, resp, stratify_coord=strat)
        expected = _by_hand(X, Y, ids, cat, strat is not None)
        assert abs(float(ds["score"]) - expected) < 1e-10
        assert ds["r"].shape == (10, 12) and 0.3 < expected < 1.0


def test_banded_ridge_finds_the_signal_band():
    rng = np.random.default_rng(2)
    n = 300
    Xa, Xb = rng.standard_normal((n, 15)), rng.standard_normal((n, 40))
    Y = Xa @ rng.standard_normal((15, 6)) + rng.standard_normal((n, 6)) * 0.5
    m = BandedRidgeCV(bands=[15, 40], dtype="float64").fit(np.hstack([Xa, Xb]), Y)
    assert np.all(m.band_scales_[:, 0] == 1.0)
    assert np.all(m.band_scales_[:, 1] <= 0.1)  # the noise band is switched off or shrunk
    w = np.abs(m.coef_)
    assert w[:, 15:].sum() < 0.05 * w[:, :15].sum()
    Xt = rng.standard_normal((100, 55))
    assert m.score(Xt, Xt[:, :15] @ np.linalg.lstsq(Xa, Y - Y.mean(0), rcond=None)[0]) > 0.9
