"""Extreme deconvolution against astroML, plain EM and known truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from bayesmix.em import GaussianMixture, XDGaussianMixture, _kernels, load
from bayesmix.em._generic import generic_stats, group_patterns
from bayesmix.exceptions import ConvergenceWarning, DataError


def noisy_correlated(rng, n=4000):
    V = np.array([[1.0, 0.8], [0.8, 1.0]])
    truth = rng.multivariate_normal([1.0, -1.0], V, size=n)
    err = rng.uniform(0.3, 1.5, size=(n, 2))
    rho = rng.uniform(-0.5, 0.5, size=n)
    S = np.empty((n, 2, 2))
    S[:, 0, 0] = err[:, 0] ** 2
    S[:, 1, 1] = err[:, 1] ** 2
    S[:, 0, 1] = S[:, 1, 0] = rho * err[:, 0] * err[:, 1]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(S), rng.normal(size=(n, 2)))
    return truth + noise, S, V


def test_zero_errors_equal_plain_em(rng):
    X = np.concatenate([rng.normal(-2, 1, (300, 2)), rng.normal(2, 0.5, (300, 2))])
    a = GaussianMixture(2, rng=4, tol=1e-6).fit(X)
    b = XDGaussianMixture(2, rng=4, tol=1e-6).fit(X, X_err=np.zeros_like(X))
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.means_, a.means_, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, atol=1e-10)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-10)


def test_recovers_underlying_covariance(rng):
    X, S, V = noisy_correlated(rng)
    xd = XDGaussianMixture(1, tol=1e-9).fit(X, X_cov=S)
    plain = GaussianMixture(1).fit(X)
    # sampling error of a covariance entry from n=4000 noisy points is ~0.04; allow 4 sigma
    np.testing.assert_allclose(xd.covariances_[0], V, atol=0.16)
    np.testing.assert_allclose(xd.means_[0], [1.0, -1.0], atol=0.1)
    # plain EM on the same data fits the noise-broadened covariance instead
    assert np.abs(plain.covariances_[0] - V).max() > 0.5


def test_score_samples_brute_force(rng):
    X, S, _ = noisy_correlated(rng, n=300)
    # two components for one Gaussian: EM creeps along a ridge for ~50,000 iterations and
    # honestly reports that it has not converged; scoring is what is tested here
    with pytest.warns(ConvergenceWarning, match="estimated gain still to come"):
        xd = XDGaussianMixture(2, rng=0).fit(X, X_cov=S)
    ll = np.array(
        [
            logsumexp(
                [
                    np.log(w) + multivariate_normal(m, c + S[i]).logpdf(X[i])
                    for w, m, c in zip(xd.weights_, xd.means_, xd.covariances_, strict=True)
                ]
            )
            for i in range(len(X))
        ]
    )
    # different factorisations (ours Cholesky, scipy eigh): ~1e-12 relative
    np.testing.assert_allclose(xd.score_samples(X, X_cov=S), ll, rtol=1e-10)
    h = np.array(xd.log_likelihood_history_)
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))


def test_kernel_matches_numpy_reference(rng):
    X, S, _ = noisy_correlated(rng, n=5000)
    K = 3
    mu = rng.normal(size=(K, 2))
    A = rng.normal(size=(K, 2, 2))
    V = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(2)
    log_w = np.log([0.2, 0.3, 0.5])
    c = mu + 0.1
    sw = rng.uniform(0.5, 2, size=len(X))
    ref = generic_stats(X, S, sw, group_patterns(np.ones_like(X, bool)), mu, V, log_w, -5.0, c)
    out = _kernels.xd_stats(X, S, sw, mu, V, log_w, -5.0, c)
    S2 = out[4].sum(axis=0)
    S2[:, 1, 0] = S2[:, 0, 1]
    np.testing.assert_allclose(out[0].sum(), ref[0], rtol=1e-12)
    np.testing.assert_allclose(out[1].sum(axis=0), ref[1], rtol=1e-11)
    np.testing.assert_allclose(out[2].sum(), ref[2], rtol=1e-11)
    np.testing.assert_allclose(out[3].sum(axis=0), ref[3], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(S2, ref[4], rtol=1e-11)
    # plain-EM kernel = XD with zero errors
    P = np.stack([np.linalg.inv(np.linalg.cholesky(v)).T for v in V])
    ldp = np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)
    g = _kernels.gmm_stats(X, sw, mu, P, ldp, log_w, -5.0, c)
    ref0 = generic_stats(X, None, sw, group_patterns(np.ones_like(X, bool)), mu, V, log_w, -5.0, c)
    np.testing.assert_allclose(g[0].sum(), ref0[0], rtol=1e-12)
    np.testing.assert_allclose(g[1].sum(axis=0), ref0[1], rtol=1e-11)


def test_astroml_agreement(rng):
    # same start, same number of EM steps: astroML's XDGMM and ours follow the same iterates
    astroml = pytest.importorskip("astroML.density_estimation")
    X, S, _ = noisy_correlated(rng, n=1500)
    X = np.vstack([X, X[:300] + 4.0])
    S = np.concatenate([S, S[:300]])
    start = {
        "weights": [0.5, 0.5],
        "means": [[0.0, -1.0], [4.0, 3.0]],
        "covariances": [np.eye(2), np.eye(2)],
    }
    ref = astroml.XDGMM(2, max_iter=1, tol=0.0)
    ref.alpha = np.array(start["weights"])
    ref.mu = np.array(start["means"])
    ref.V = np.array(start["covariances"], dtype=float)
    for _ in range(30):
        ref._EMstep(X, S)
    with pytest.warns(ConvergenceWarning):
        ours = XDGaussianMixture(2, init=start, tol=0.0, max_iter=30, reg_covar=0.0)
        ours.fit(X, X_cov=S)
    np.testing.assert_allclose(ours.weights_, ref.alpha, rtol=1e-9)
    np.testing.assert_allclose(ours.means_, ref.mu, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.covariances_, ref.V, rtol=1e-9)
    np.testing.assert_allclose(ours.score(X, X_cov=S), ref.logL(X, S) / len(X), rtol=1e-10)


def test_missing_and_errors_together(rng):
    X, S, V = noisy_correlated(rng, n=3000)
    X[rng.random(len(X)) < 0.2, 0] = np.nan
    xd = XDGaussianMixture(1, nan_policy="marginalize", tol=1e-8).fit(X, X_cov=S)
    np.testing.assert_allclose(xd.covariances_[0], V, atol=0.2)
    assert np.all(np.isfinite(xd.score_samples(X, X_cov=S)))


def test_save_load(tmp_path, rng):
    X, S, _ = noisy_correlated(rng, n=500)
    xd = XDGaussianMixture(2, rng=0).fit(X, X_cov=S)
    xd.save(tmp_path / "xd.npz")
    back = load(tmp_path / "xd.npz")
    assert type(back) is XDGaussianMixture
    np.testing.assert_array_equal(back.predict_proba(X, X_cov=S), xd.predict_proba(X, X_cov=S))


def test_bad_error_inputs(rng):
    X, S, _ = noisy_correlated(rng, n=40)
    S_bad = S.copy()
    S_bad[7, 0, 1] = S_bad[7, 1, 0] = 10.0
    with pytest.raises(DataError, match=r"'X_cov'.*positive.*row 7"):
        XDGaussianMixture(1).fit(X, X_cov=S_bad)
    err = np.ones_like(X)
    err[3, 1] = -0.1
    with pytest.raises(DataError, match=r"'X_err'.*non-negative.*row 3"):
        XDGaussianMixture(1).fit(X, X_err=err)
    with pytest.raises(DataError, match=r"'X_err' must have shape"):
        XDGaussianMixture(1).fit(X, X_err=np.ones((40, 3)))


@pytest.mark.parametrize("threads", [1, 3])
def test_threaded_kernels_are_deterministic(rng, monkeypatch, threads):
    # enough rows for the threaded path; any number of threads gives identical bits
    n = _kernels.CHUNK * (_kernels.PARALLEL_MIN_CHUNKS + 3) + 17
    X = rng.normal(size=(n, 2))
    S = np.zeros((n, 2, 2))
    S[:, [0, 1], [0, 1]] = rng.uniform(0.1, 0.5, size=(n, 2)) ** 2
    xd_ref = XDGaussianMixture(2, init=X[:2], tol=0.0, max_iter=3)
    gm_ref = GaussianMixture(2, init=X[:2], tol=0.0, max_iter=3)
    monkeypatch.setattr(_kernels, "n_threads", lambda: 1)
    with pytest.warns(ConvergenceWarning):
        xd_ref.fit(X, X_cov=S)
    with pytest.warns(ConvergenceWarning):
        gm_ref.fit(X)
    p_ref = gm_ref.predict_proba(X)
    monkeypatch.setattr(_kernels, "n_threads", lambda: threads)
    xd = XDGaussianMixture(2, init=X[:2], tol=0.0, max_iter=3)
    gm = GaussianMixture(2, init=X[:2], tol=0.0, max_iter=3)
    with pytest.warns(ConvergenceWarning):
        xd.fit(X, X_cov=S)
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    np.testing.assert_array_equal(xd.covariances_, xd_ref.covariances_)
    np.testing.assert_array_equal(gm.covariances_, gm_ref.covariances_)
    np.testing.assert_array_equal(gm.predict_proba(X), p_ref)
    np.testing.assert_array_equal(xd.score_samples(X, X_cov=S), xd_ref.score_samples(X, X_cov=S))
