"""Property tests (hypothesis) for the EM path."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bayesmix.em import GaussianMixture
from bayesmix.exceptions import ConvergenceWarning

seeds = st.integers(0, 2**31 - 1)


def data(seed, n=120, d=2):
    r = np.random.default_rng(seed)
    k = r.integers(1, 4)
    centres = r.normal(scale=5, size=(k, d))
    return centres[r.integers(0, k, n)] + r.normal(size=(n, d)), r


@given(seeds, st.sampled_from(["full", "diag", "spherical", "tied"]))
def test_responsibilities_are_probabilities(seed, cov):
    X, r = data(seed)
    gm = GaussianMixture(3, covariance_type=cov, rng=seed).fit(X)
    probe = np.vstack([X, r.normal(scale=1e4, size=(5, 2))])
    p = gm.predict_proba(probe)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(gm.score_samples(probe)))


@given(seeds)
def test_row_order_does_not_matter(seed):
    X, r = data(seed)
    init = X[:3].copy()
    perm = r.permutation(len(X))
    # a fixed number of iterations: the invariance holds at every iterate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, init=init, tol=0.0, max_iter=60).fit(X)
        b = GaussianMixture(3, init=init, tol=0.0, max_iter=60).fit(X[perm])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(a.predict_proba(X)[perm], b.predict_proba(X[perm]), atol=1e-7)


@given(seeds, st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))
def test_shift_moves_means_only(seed, dx, dy):
    X, _ = data(seed)
    shift = np.array([dx, dy])
    init = X[:3].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, init=init, tol=0.0, max_iter=60).fit(X)
        b = GaussianMixture(3, init=init + shift, tol=0.0, max_iter=60).fit(X + shift)
    np.testing.assert_allclose(b.means_, a.means_ + shift, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.weights_, a.weights_, atol=1e-8)
