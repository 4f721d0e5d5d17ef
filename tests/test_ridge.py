"""RidgeCV: parity with scikit-learn (LOO) and himalaya (K-fold), known answers, batching."""

import numpy as np
import pytest
from himalaya.kernel_ridge import KernelRidgeCV
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.model_selection import KFold

from neuroalign.errors import DataError
from neuroalign.mapping import RidgeCV

ALPHAS = np.logspace(-3, 4, 15)
NOISE = np.array([0.1, 1, 3, 10, 30, 100, 0.5, 2])


def _data(n, p, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    W = rng.standard_normal((p, len(NOISE))) * 0.1
    Y = X @ W + rng.standard_normal((n, len(NOISE))) * NOISE + 5.0
    Xt = rng.standard_normal((40, p)) + offset
    return X, Y, Xt


def _rel(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max()


@pytest.mark.parametrize("n,p,solver", [(60, 150, "dual"), (150, 40, "primal")])
def test_loo_matches_sklearn(n, p, solver):
    X, Y, Xt = _data(n, p)
    sk = SkRidgeCV(alphas=ALPHAS, alpha_per_target=True, store_cv_results=True).fit(X, Y)
    me = RidgeCV(alphas=ALPHAS, cv="loo", dtype="float64").fit(X, Y)
    assert me.solver_ == solver
    assert len(np.unique(sk.alpha_)) > 2  # the grid really is exercised per target
    np.testing.assert_array_equal(me.alpha_, sk.alpha_)
    assert _rel(me.predict(Xt), sk.predict(Xt)) < 1e-4
    assert _rel(me.intercept_, sk.intercept_) < 1e-4
    # LOO mean squared errors per alpha and target, not just the winner
    assert _rel(me.cv_scores_, -sk.cv_results_.mean(0).T) < 1e-4


def test_loo_predictions_match_sklearn_scoring_mode():
    """sklearn stores the LOO predictions themselves when a scorer is given."""
    X, Y, Xt = _data(50, 80, seed=3)
    sk = SkRidgeCV(alphas=ALPHAS, alpha_per_target=True, scoring="neg_mean_squared_error").fit(X, Y)
    me = RidgeCV(alphas=ALPHAS, cv="loo", dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(me.alpha_, sk.alpha_)
    assert _rel(me.predict(Xt), sk.predict(Xt)) < 1e-4


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("n,p", [(60, 150), (150, 40)])
def test_kfold_matches_himalaya(n, p, fit_intercept):
    offset = 3.0 if fit_intercept else 0.0
    X, Y, Xt = _data(n, p, seed=1, offset=offset)
    if not fit_intercept:
        Y = Y - 5.0
    hi = KernelRidgeCV(alphas=ALPHAS, cv=KFold(5), fit_intercept=fit_intercept, warn=False).fit(X, Y)
    me = RidgeCV(alphas=ALPHAS, cv=KFold(5), fit_intercept=fit_intercept, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(me.alpha_, np.asarray(hi.best_alphas_), rtol=1e-6)
    assert len(np.unique(me.alpha_)) > 2
    assert _rel(me.predict(Xt), np.asarray(hi.predict(Xt))) < 1e-4
    # himalaya's cv_scores_ is the mean validation score of the chosen alpha
    assert _rel(me.best_score_, np.asarray(hi.cv_scores_)) < 1e-4


def test_int_cv_is_unshuffled_kfold():
    X, Y, Xt = _data(80, 30, seed=2)
    a = RidgeCV(alphas=ALPHAS, cv=4, dtype="float64").fit(X, Y)
    b = RidgeCV(alphas=ALPHAS, cv=KFold(4), dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt))


def test_known_answer_recovers_weights_and_alpha_ordering():
    rng = np.random.default_rng(4)
    n, p = 400, 20
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, 2))
    Y = X @ W + 7.0 + rng.standard_normal((n, 2)) * np.array([0.01, 30.0])
    for cv in ("gcv", "loo", 5):
        m = RidgeCV(cv=cv, dtype="float64").fit(X, Y)
        np.testing.assert_allclose(m.coef_[0], W[:, 0], atol=2e-3)
        assert abs(m.intercept_[0] - 7.0) < 2e-3
        assert m.alpha_[1] > 100 * m.alpha_[0]  # the noisy target is shrunk much harder


def test_intercept_not_faked_by_small_alpha():
    """Offsets in X and Y change nothing but the intercept: the constant direction is not signal."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 300))
    Y = rng.standard_normal((100, 3)) + X[:, :3] * 0.3
    Xt = rng.standard_normal((20, 300))
    for cv in ("gcv", "loo", 5):
        a = RidgeCV(cv=cv, dtype="float64").fit(X, Y)
        b = RidgeCV(cv=cv, dtype="float64").fit(X + 50.0, Y + 1000.0)
        np.testing.assert_array_equal(a.alpha_, b.alpha_)
        np.testing.assert_allclose(b.predict(Xt + 50.0) - 1000.0, a.predict(Xt), atol=1e-8)
        # without an intercept the offset masquerades as signal and the fit is worse
        c = RidgeCV(cv=cv, dtype="float64", fit_intercept=False).fit(X + 50.0, Y + 1000.0)
        assert not np.allclose(c.alpha_, a.alpha_)


def test_gcv_close_to_loo_and_float32_close_to_float64():
    X, Y, Xt = _data(300, 500, seed=6)
    g = RidgeCV(alphas=ALPHAS, cv="gcv", dtype="float64").fit(X, Y)
    lo = RidgeCV(alphas=ALPHAS, cv="loo", dtype="float64").fit(X, Y)
    assert np.all(np.abs(np.log10(g.alpha_) - np.log10(lo.alpha_)) <= 0.51)  # at most one grid step
    f32 = RidgeCV(alphas=ALPHAS, cv="loo", dtype="float32").fit(X, Y)
    assert _rel(f32.predict(Xt), lo.predict(Xt)) < 1e-2


def test_target_batches_give_identical_results():
    X, Y, Xt = _data(70, 90, seed=7)
    for cv in ("loo", "gcv", 3):
        a = RidgeCV(alphas=ALPHAS, cv=cv, dtype="float64").fit(X, Y)
        b = RidgeCV(alphas=ALPHAS, cv=cv, dtype="float64", target_batch_size=3).fit(X, Y)
        np.testing.assert_array_equal(a.alpha_, b.alpha_)
        np.testing.assert_allclose(a.predict(Xt), b.predict(Xt), rtol=1e-10, atol=1e-10)


def test_shared_alpha_and_1d_target():
    X, Y, Xt = _data(60, 20, seed=8)
    sk = SkRidgeCV(alphas=ALPHAS).fit(X, Y)
    me = RidgeCV(alphas=ALPHAS, cv="loo", alpha_per_target=False, dtype="float64").fit(X, Y)
    assert np.all(me.alpha_ == sk.alpha_)
    assert _rel(me.predict(Xt), sk.predict(Xt)) < 1e-4
    one = RidgeCV(alphas=ALPHAS, cv="loo", dtype="float64").fit(X, Y[:, 1])
    assert one.predict(Xt).shape == (40,)
    assert _rel(one.predict(Xt), SkRidgeCV(alphas=ALPHAS).fit(X, Y[:, 1]).predict(Xt)) < 1e-4


def test_score_is_mean_r2():
    X, Y, Xt = _data(100, 10, seed=9)
    m = RidgeCV(dtype="float64").fit(X, Y)
    from sklearn.metrics import r2_score
    assert m.score(X, Y) == pytest.approx(r2_score(Y, m.predict(X)), rel=1e-9)


def test_errors_are_actionable():
    X, Y, _ = _data(30, 10)
    Y[3, 2] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        RidgeCV().fit(X, Y)
    with pytest.raises(DataError, match="cv must be"):
        RidgeCV(cv="bogus").fit(X, np.nan_to_num(Y))
    with pytest.raises(DataError, match="alphas must be > 0"):
        RidgeCV(alphas=[0.0, 1.0]).fit(X, np.nan_to_num(Y))
