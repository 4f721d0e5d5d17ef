"""RidgeCV's fast paths give the numbers of the plain ones: low-rank K-fold filters,
one Gram shared by outer splits, BLAS-friendly target batches."""

import numpy as np
import pytest
import torch
import xarray as xr
from himalaya.kernel_ridge import KernelRidgeCV
from sklearn.model_selection import KFold

from neuroalign.data.assembly import make_assembly
from neuroalign.errors import DataError
from neuroalign.mapping import RidgeCV, cross_validated_encoding, make_plan, make_splits, stimulus_gram
from neuroalign.mapping.ridge import _batch_size, _filter_factors

ALPHAS = np.logspace(-2, 6, 30)
NOISE = np.array([0.1, 0.5, 1, 2, 3, 5, 10, 30])


def _wellconditioned(n=240, p=700, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 40, p))
    W = rng.standard_normal((p, len(NOISE))) * 0.05
    Y = X @ W + rng.standard_normal((n + 40, len(NOISE))) * NOISE + 2.0
    return X[:n], Y[:n], X[n:], Y[n:]


def test_filter_factors_reconstruct_the_filters_within_tolerance():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 900))
    lam = torch.as_tensor(np.linalg.eigvalsh(X @ X.T)[1:])  # a Marchenko-Pastur spectrum
    alphas = torch.as_tensor(ALPHAS)
    C, D = _filter_factors(lam, alphas, 1e-6)
    assert C.shape[1] < 0.75 * len(ALPHAS)  # low rank: fewer products than alphas
    g = 1.0 / (lam[None, :] + alphas[:, None])
    row_scale = (alphas + lam.min())[:, None]
    assert ((C @ D - g).abs() * row_scale).max() <= 1e-6
    # a spectrum over ten decades overlapping the whole grid is not low rank: no factors
    wide = torch.logspace(-4, 6, 500, dtype=torch.float64)
    assert _filter_factors(wide, torch.as_tensor(np.logspace(-4, 6, 12)), 1e-6) is None


def test_kfold_with_lowrank_filters_matches_the_plain_path_and_himalaya(monkeypatch):
    X, Y, Xt, _ = _wellconditioned()
    fits = {}
    for dtype in ("float32", "float64"):
        plan = make_plan(X, alphas=ALPHAS, cv=KFold(5), dtype=dtype)
        tol = 1e-6 if dtype == "float32" else 1e-13
        ranks = [_filter_factors(f.lam, plan.alphas, tol) for f in plan.folds]
        assert all(r is not None and r[0].shape[1] < 0.75 * len(ALPHAS) for r in ranks)  # fast path runs
        fits[dtype] = RidgeCV(alphas=ALPHAS, cv=KFold(5), dtype=dtype).fit(X, Y)
    with monkeypatch.context() as m:  # the same fits, one product per alpha
        m.setattr("neuroalign.mapping.ridge._filter_factors", lambda *a: None)
        plain = {d: RidgeCV(alphas=ALPHAS, cv=KFold(5), dtype=d).fit(X, Y) for d in ("float32", "float64")}
    for dtype, tol in (("float32", 1e-5), ("float64", 1e-11)):
        a, b = fits[dtype].cv_scores_, plain[dtype].cv_scores_
        assert np.abs(a - b).max() / np.abs(b).max() < tol
        np.testing.assert_allclose(fits[dtype].alpha_, plain["float64"].alpha_, rtol=1e-6)  # same grid point
    hi = KernelRidgeCV(alphas=ALPHAS, cv=KFold(5), fit_intercept=True, warn=False).fit(X, Y)
    np.testing.assert_allclose(fits["float32"].alpha_, np.asarray(hi.best_alphas_), rtol=1e-6)
    assert len(np.unique(fits["float32"].alpha_)) > 3
    p32, phi = fits["float32"].predict(Xt), np.asarray(hi.predict(Xt))
    assert np.abs(p32 - phi).max() / np.abs(phi).max() < 1e-4


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
def test_shared_gram_gives_the_same_scores_as_separate_fits(dtype, tol):
    X, Y, _, _ = _wellconditioned(n=200, p=300, seed=2)
    ids = [f"s{i:04d}" for i in range(len(X))]
    feats = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    resp = make_assembly(Y, stimulus_id=ids)
    splits, _ = make_splits(ids, n_splits=4, seed=0)
    est = RidgeCV(alphas=ALPHAS, cv="gcv", dtype=dtype)
    shared = cross_validated_encoding(feats, resp, splits, est)
    index = {s: i for i, s in enumerate(ids)}
    for k, (train, test) in enumerate(splits):
        tr, te = [index[s] for s in train], [index[s] for s in test]
        alone = RidgeCV(alphas=ALPHAS, cv="gcv", dtype=dtype).fit(X[tr], Y[tr])
        np.testing.assert_array_equal(shared["alpha"].values[k], alone.alpha_)
        pred = alone.predict(X[te])
        from neuroalign.metrics import pearson_r
        np.testing.assert_allclose(shared["r"].values[k], pearson_r(Y[te], pred), atol=tol)


def test_gram_of_the_wrong_size_is_refused():
    X, Y, _, _ = _wellconditioned(n=50, p=80)
    G = stimulus_gram(X[:40])
    with pytest.raises(DataError, match=r"gram must be \(50, 50\) for 50 samples; got \(40, 40\)"):
        RidgeCV().fit(X, Y, gram=G)
    np.testing.assert_allclose(RidgeCV().fit(X, Y, gram=stimulus_gram(X)).coef_, RidgeCV().fit(X, Y).coef_)


def test_target_batches_are_multiples_of_64():
    X, _, _, _ = _wellconditioned(n=100, p=150)
    plan = make_plan(X, alphas=np.logspace(-2, 6, 20))
    per_target = 100 * 20 * 4 * 3
    assert _batch_size(plan, 5000, None, 1066 * per_target) == 1024
    assert _batch_size(plan, 900, None, 1066 * per_target) == 900  # all targets in one batch
    assert _batch_size(plan, 5000, 1066, 0) == 1066  # an explicit size is kept


def test_weights_through_xtu_or_directly_are_the_same():
    """Past p targets X_cᵀU is formed once; below, X_cᵀ(U w) per batch: same weights."""
    X, Y, Xt, _ = _wellconditioned(n=60, p=84)  # 84 features >= 60 samples: dual form
    many = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, np.hstack([Y] * 11))  # 88 targets > 84 features
    few = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, Y)  # 8 targets
    assert many.solver_ == few.solver_ == "dual"
    np.testing.assert_allclose(many.coef_[:8], few.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(many.predict(Xt)[:, :8], few.predict(Xt), rtol=1e-9)


@pytest.mark.parametrize("fit_intercept, feature_scale", [(True, None), (True, "rms"), (False, "rms")])
def test_basis_form_predicts_and_weighs_like_the_primal_weights(fit_intercept, feature_scale):
    """At least as many targets as stimuli (dual): the fit keeps basis coefficients, predicts
    through ``X X_cᵀ U`` and forms ``coef_`` only when read; both equal the primal weights' path."""
    from neuroalign.mapping.ridge import solve_targets

    X, Y, Xt, _ = _wellconditioned(n=60, p=84)
    X, Xt = 3.0 * X, 3.0 * Xt  # a feature scale far from 1
    Ym = np.hstack([Y] * 9)  # 72 targets >= 60 stimuli
    est = RidgeCV(alphas=ALPHAS, dtype="float64", fit_intercept=fit_intercept, feature_scale=feature_scale)
    with pytest.raises(AttributeError, match="not fitted"):
        est.coef_
    est.fit(X, Ym)
    assert est._basis is not None and est.__dict__["_coef"] is None  # no primal weights formed yet
    s = est.feature_scale_
    plan = make_plan(X / s, alphas=ALPHAS, fit_intercept=fit_intercept, dtype="float64")
    primal = solve_targets(plan, Ym, weights="primal")
    expected = Xt @ (primal["coef"] / s).T + primal["intercept"]
    np.testing.assert_allclose(est.predict(Xt), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(est.intercept_, primal["intercept"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(est.coef_, primal["coef"] / s, rtol=1e-9, atol=1e-12)
    est.coef_ = np.zeros_like(est.coef_)  # weights set by hand are what predict uses
    np.testing.assert_allclose(est.predict(Xt), np.broadcast_to(est.intercept_, expected.shape))
    with pytest.raises(DataError, match="weights must be"):
        solve_targets(plan, Ym, weights="dual")


def test_banded_ridge_sums_band_grams_like_its_own_decomposition(monkeypatch):
    """Dual form: a scaling's Gram Σ γ_b² X_b X_bᵀ from per-band Grams = the Gram of the scaled X."""
    from neuroalign.mapping import BandedRidgeCV

    rng = np.random.default_rng(5)
    Xa, Xb = rng.standard_normal((50, 40)), rng.standard_normal((50, 60))  # 50 stimuli < 100 features
    Y = Xa @ rng.standard_normal((40, 6)) * 0.2 + rng.standard_normal((50, 6))
    X = np.hstack([Xa, Xb])
    shared = BandedRidgeCV(bands=[40, 60], dtype="float64").fit(X, Y)
    monkeypatch.setattr("neuroalign.mapping.banded._uses_dual", lambda *a: False)  # no Gram handed over
    alone = BandedRidgeCV(bands=[40, 60], dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(shared.band_scales_, alone.band_scales_)
    np.testing.assert_array_equal(shared.alpha_, alone.alpha_)
    np.testing.assert_allclose(shared.coef_, alone.coef_, rtol=1e-8, atol=1e-12)
    assert shared.band_scales_[:, 0].min() > 0  # the signal band is never switched off


def test_kfold_folded_operator_gives_the_per_batch_product():
    """With many targets each fold's ``op Uᵀ`` is formed once (one GEMM per batch instead of
    two); its validation errors are the two-GEMM path's up to float rounding."""
    from neuroalign.mapping.ridge import _fold_operators, _kfold_scores

    X, Y, _, _ = _wellconditioned(n=120, p=300)
    plan = make_plan(X, alphas=ALPHAS, cv=5, dtype="float64", device="cpu")
    Yb = torch.as_tensor(Y, dtype=torch.float64)
    two, one = _fold_operators(plan, 1), _fold_operators(plan, 10 ** 6)
    assert all(ops[0] is not None for ops in two) and all(ops[0] is None for ops in one)
    a, b = _kfold_scores(two, Yb, True, len(ALPHAS)), _kfold_scores(one, Yb, True, len(ALPHAS))
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10)
    assert torch.equal(a.argmax(0), b.argmax(0))
