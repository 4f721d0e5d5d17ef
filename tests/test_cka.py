"""CKA: textbook formulas with explicit centring matrices, Brain-Score's definition, drift."""

import numpy as np
import pytest
import xarray as xr

from neuroalign.errors import DataError
from neuroalign.similarity import cka


def _textbook(X, Y, debiased):
    n = X.shape[0]
    K, L = X @ X.T, Y @ Y.T
    if not debiased:
        H = np.eye(n) - np.ones((n, n)) / n
        h = lambda A, B: np.trace(A @ H @ B @ H) / (n - 1) ** 2  # noqa: E731
    else:
        def h(A, B):
            A, B = A - np.diag(np.diag(A)), B - np.diag(np.diag(B))
            one = np.ones(n)
            return (np.trace(A @ B) + (one @ A @ one) * (one @ B @ one) / ((n - 1) * (n - 2))
                    - 2 / (n - 2) * one @ A @ B @ one) / (n * (n - 3))
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def _brainscore(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 40)) + 3.0
    Y = np.tanh(X @ rng.normal(size=(40, 25))) + rng.normal(size=(60, 25))
    return X, Y


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_equals_textbook(xy, debiased):
    X, Y = xy
    out = cka(X, Y, debiased=debiased)
    assert abs(out - _textbook(X, Y, debiased)) <= 1e-10
    assert out.variant == ("debiased_linear_cka" if debiased else "linear_cka") and out.n_stimuli == 60


def test_cka_equals_brainscore(xy):
    X, Y = xy
    assert abs(cka(X, Y) - _brainscore(X, Y)) <= 1e-10
    assert abs(cka(X, X @ np.linalg.qr(np.random.default_rng(1).normal(size=(40, 40)))[0]) - 1) < 1e-10


def test_biased_cka_drifts_with_n_debiased_does_not():
    # independent X, Y: the true CKA is 0. The biased estimate is large with few stimuli
    # and shrinks as stimuli are added; the debiased one stays near 0 at every n.
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(2000, 300)), rng.normal(size=(2000, 200))
    biased = [cka(X[:n], Y[:n]) for n in (50, 200, 2000)]
    deb = [cka(X[:n], Y[:n], debiased=True) for n in (50, 200, 2000)]
    assert biased[0] > 0.7 and biased[0] > biased[1] > biased[2]
    assert max(abs(d) for d in deb) < 0.05


def test_xarray_join_on_stimulus_id(xy):
    X, Y = xy
    ids = np.array([f"s{i}" for i in range(60)])
    perm = np.random.default_rng(3).permutation(60)
    dx = xr.DataArray(X, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    dy = xr.DataArray(Y[perm], dims=("presentation", "neuroid"), coords={"stimulus_id": ("presentation", ids[perm])})
    assert abs(cka(dx, dy, debiased=True) - _textbook(X, Y, True)) <= 1e-10
    with pytest.raises(DataError, match="s30"):
        cka(dx.isel(presentation=slice(0, 10)), dy.sel(presentation=dy.stimulus_id.isin(["s5", "s30"])))
