import numpy as np
from scipy import stats
from scipy.special import logsumexp

from bayesmix.components.gmm import GaussianMixtureDensity
from bayesmix.testing import assert_backends_agree


def _params(rng, K, D):
    w = rng.dirichlet(np.ones(K))
    mu = rng.normal(0, 5, (K, D))
    A = rng.normal(size=(K, D, D))
    cov = A @ A.transpose(0, 2, 1) + np.eye(D)
    return w, mu, cov


def _err_cov(rng, n, D):
    B = rng.normal(0, 0.3, (n, D, D))
    return B @ B.transpose(0, 2, 1) + 0.01 * np.eye(D)


def _brute(y, w, mu, cov, ecov):
    out = np.empty(len(y))
    for n in range(len(y)):
        out[n] = logsumexp(
            [
                np.log(w[k]) + stats.multivariate_normal(mu[k], cov[k] + ecov[n]).logpdf(y[n])
                for k in range(len(w))
            ]
        )
    return out


def test_gmm_2d_matches_scipy(rng):
    w, mu, cov = _params(rng, 3, 2)
    y = rng.normal(0, 6, (40, 2))
    ecov = _err_cov(rng, 40, 2)
    got = GaussianMixtureDensity(2, 3).logp(
        y, {"weights": w, "means": mu, "covs": cov, "error_cov": ecov}
    )
    np.testing.assert_allclose(got, _brute(y, w, mu, cov, ecov), rtol=1e-10, atol=1e-10)


def test_gmm_1d_and_3d_match_scipy(rng):
    for D in (1, 3):
        w, mu, cov = _params(rng, 2, D)
        y = rng.normal(0, 6, (30, D))
        ecov = _err_cov(rng, 30, D)
        got = GaussianMixtureDensity(D, 2).logp(
            y, {"weights": w, "means": mu, "covs": cov, "error_cov": ecov}
        )
        np.testing.assert_allclose(got, _brute(y, w, mu, cov, ecov), rtol=1e-10, atol=1e-10)


def test_gmm_batched_over_draws(rng):
    w, mu, cov = _params(rng, 2, 2)
    y = rng.normal(0, 3, (10, 2))
    mus = np.stack([mu, mu + 1.0])  # (2 draws, K, D)
    got = GaussianMixtureDensity(2, 2).logp(
        y, {"weights": np.stack([w, w]), "means": mus, "covs": np.stack([cov, cov])}
    )
    assert got.shape == (2, 10)
    np.testing.assert_allclose(
        got[1], _brute(y, w, mu + 1.0, cov, np.zeros((10, 2, 2))), rtol=1e-10
    )


def test_gmm_far_object_finite_and_backends_agree(rng):
    w, mu, cov = _params(rng, 3, 2)
    y = np.r_[rng.normal(0, 5, (15, 2)), [[1e4, -1e4]]]
    ecov = _err_cov(rng, 16, 2)
    out = assert_backends_agree(
        GaussianMixtureDensity(2, 3),
        y,
        {"weights": w, "means": mu, "covs": cov, "error_cov": ecov},
        rtol=1e-10,
        atol=1e-8,
    )
    assert np.isfinite(out).all()
