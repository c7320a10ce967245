import numpy as np
import pytest
from scipy import stats

from bayesmix.components import Gaussian, MultivariateGaussian
from bayesmix.testing import assert_backends_agree


def test_gaussian_1d_matches_scipy(rng):
    y = rng.normal(0, 3, 50)
    err = rng.uniform(0.1, 2, 50)
    params = {"mean": 0.7, "sigma": 1.3, "error_var": err**2}
    got = Gaussian().logp(y, params)
    expected = stats.norm(0.7, np.sqrt(1.3**2 + err**2)).logpdf(y)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_gaussian_1d_batched_draws(rng):
    y = rng.normal(size=7)
    mean = rng.normal(size=(5, 1))
    sigma = rng.uniform(0.5, 2, size=(5, 1))
    got = Gaussian().logp(y, {"mean": mean, "sigma": sigma})
    assert got.shape == (5, 7)
    np.testing.assert_allclose(got[3], stats.norm(mean[3, 0], sigma[3, 0]).logpdf(y), rtol=1e-10)


def test_gaussian_1d_far_tail_finite():
    # 1000 sigma away: finite and exactly the quadratic value
    got = Gaussian().logp(np.array([1000.0]), {"mean": 0.0, "sigma": 1.0})
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, -0.5 * np.log(2 * np.pi) - 5e5, rtol=1e-14)


def test_gaussian_1d_backends_agree(rng):
    y = np.r_[rng.normal(0, 3, 20), 1e4]
    assert_backends_agree(
        Gaussian(),
        y,
        {"mean": np.array(0.3), "sigma": np.array(0.8), "error_var": rng.uniform(0.1, 1, 21)},
    )


def _random_spd(rng, n, d):
    A = rng.normal(size=(n, d, d))
    return A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6, 7])
def test_multivariate_matches_scipy(rng, d):
    n = 15
    X = rng.normal(size=(n, d)) * 3
    mean = rng.normal(size=d)
    V = _random_spd(rng, 1, d)[0]
    C = _random_spd(rng, n, d)
    got = MultivariateGaussian(d).logp(X, {"mean": mean[None, :], "cov": V[None], "error_cov": C})
    expected = np.array([stats.multivariate_normal(mean, V + C[i]).logpdf(X[i]) for i in range(n)])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_multivariate_no_errors_batched(rng, d):
    X = rng.normal(size=(9, d))
    mean = rng.normal(size=(4, 1, d))  # (draws, 1, D)
    V = _random_spd(rng, 4, d)[:, None]  # (draws, 1, D, D)
    got = MultivariateGaussian(d).logp(X, {"mean": mean, "cov": V})
    assert got.shape == (4, 9)
    expected = stats.multivariate_normal(mean[2, 0], V[2, 0]).logpdf(X)
    np.testing.assert_allclose(got[2], np.atleast_1d(expected), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_multivariate_backends_agree(rng, d):
    n = 12
    X = np.r_[rng.normal(size=(n - 1, d)), np.full((1, d), 1e3)]  # last one far away
    assert_backends_agree(
        MultivariateGaussian(d),
        X,
        {
            "mean": rng.normal(size=(1, d)),
            "cov": _random_spd(rng, 1, d),
            "error_cov": _random_spd(rng, n, d),
        },
    )


def test_multivariate_far_tail_finite():
    X = np.array([[1000.0, -1000.0]])
    got = MultivariateGaussian(2).logp(X, {"mean": np.zeros((1, 2)), "cov": np.eye(2)[None]})
    np.testing.assert_allclose(got, -np.log(2 * np.pi) - 1e6, rtol=1e-14)
