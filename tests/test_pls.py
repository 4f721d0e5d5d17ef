"""PLS under Brain-Score's protocol vs sklearn run by hand; the exact solver vs converged NIPALS;
banded ridge known answer."""

import numpy as np
import scipy.stats
import xarray as xr
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from neuroalign.data.assembly import make_assembly
from neuroalign.mapping import PLS, BandedRidgeCV, brainscore_pls_protocol


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


def _by_hand(X, Y, ids, cat, stratified, **pls_options):
    order = np.argsort(ids)
    X, Y, cat = X[order], Y[order], cat[order]
    split = (StratifiedShuffleSplit(10, train_size=0.9, random_state=1).split(X, cat) if stratified
             else ShuffleSplit(10, train_size=0.9, random_state=1).split(X))
    meds = []
    for tr, te in split:
        pred = PLSRegression(n_components=25, scale=False, **pls_options).fit(X[tr], Y[tr]).predict(X[te])
        meds.append(np.median([scipy.stats.pearsonr(pred[:, j], Y[te, j])[0] for j in range(Y.shape[1])]))
    return float(np.mean(meds))


def test_protocol_matches_sklearn_by_hand():
    feats, resp, X, Y, ids, cat = _data()
    for strat in (None, "object_name"):
        # solver="nipals" is scikit-learn's PLSRegression itself (Brain-Score's digits) ...
        ds = brainscore_pls_protocol(feats, resp, stratify_coord=strat, solver="nipals")
        expected = _by_hand(X, Y, ids, cat, strat is not None)
        assert abs(float(ds["score"]) - expected) < 1e-10
        assert ds["r"].shape == (10, 12) and 0.3 < expected < 1.0
        # ... the exact solver is PLSRegression run to convergence; at its default tol=1e-6 it stops short
        exact = float(brainscore_pls_protocol(feats, resp, stratify_coord=strat)["score"])
        converged = _by_hand(X, Y, ids, cat, strat is not None, max_iter=100_000, tol=1e-30)
        assert abs(exact - converged) < 1e-10
        assert abs(exact - expected) > 1e-6


def test_exact_pls_is_converged_nipals_where_the_default_stops_short():
    """Wide features with slowly decaying variance: NIPALS' power iteration converges at the rate
    (σ₂/σ₁)², and scikit-learn's default stop (tol=1e-6 on the weights' change, 500 iterations)
    leaves predictions visibly short of the converged fit; the exact solver is that fit."""
    rng = np.random.default_rng(0)
    n, p, q = 288, 512, 90
    X = rng.standard_normal((n, p)) * np.linspace(3, 0.1, p)
    Y = X[:, :5] @ rng.standard_normal((5, q)) + rng.standard_normal((n, q))
    Xt = rng.standard_normal((30, p))
    ours = PLS().fit(X, Y).predict(Xt)
    converged = PLSRegression(n_components=25, scale=False, max_iter=2000, tol=1e-30).fit(X, Y).predict(Xt)
    np.testing.assert_allclose(ours, converged, atol=1e-10)
    default = PLSRegression(n_components=25, scale=False).fit(X, Y).predict(Xt)
    assert np.abs(default - converged).max() > 2e-3  # the default fit predicts visibly otherwise
    np.testing.assert_array_equal(PLS(solver="nipals").fit(X, Y).predict(Xt), default)  # "nipals" is that fit


def test_exact_pls_edge_cases():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 6))
    # one target; more targets than features; rank-deficient X (3 distinct columns)
    for Y in (X @ rng.standard_normal(6) + rng.standard_normal(40),
              X @ rng.standard_normal((6, 50)) + rng.standard_normal((40, 50))):
        m = PLS().fit(X, Y)
        ref = PLSRegression(n_components=6, scale=False, max_iter=100_000, tol=1e-30).fit(X, Y)
        np.testing.assert_allclose(m.predict(X).reshape(ref.predict(X).shape), ref.predict(X), atol=1e-9)
    Xd = np.repeat(X[:, :3], 2, axis=1)
    Y = Xd @ rng.standard_normal((6, 4))
    m = PLS().fit(Xd, Y)  # runs out of rank after 3 components instead of dividing by zero
    np.testing.assert_allclose(m.predict(Xd), Y, atol=1e-8)
    assert np.all(np.isfinite(m.coef_))
    # a constant target: nothing to explain, the prediction is its mean
    np.testing.assert_allclose(PLS().fit(X, np.full((40, 2), 3.0)).predict(X), 3.0)


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
