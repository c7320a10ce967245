import numpy as np
from scipy import integrate, stats

from bayesmix.components.beta import Beta
from bayesmix.testing import assert_backends_agree


def test_beta_matches_scipy(rng):
    y = rng.uniform(-1.0, 9.0, 200)
    params = {"alpha": 1.7, "beta": 6.2, "lower": -1.5, "upper": 10.0}
    got = Beta().logp(y, params)
    expected = stats.beta(1.7, 6.2, loc=-1.5, scale=11.5).logpdf(y)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_beta_normalised():
    params = {"alpha": 2.3, "beta": 4.1, "lower": -0.5, "upper": 3.0}
    val, _ = integrate.quad(
        lambda y: np.exp(Beta().logp(np.array([y]), params)[0]), -0.5, 3.0, epsabs=0, epsrel=1e-12
    )
    np.testing.assert_allclose(val, 1.0, rtol=1e-10)


def test_beta_outside_is_minus_inf_and_batched(rng):
    y = np.array([-2.0, 0.5, 20.0])
    alpha = rng.uniform(1, 3, (4, 1))
    got = Beta().logp(y, {"alpha": alpha, "beta": 2.0, "lower": -1.0, "upper": 10.0})
    assert got.shape == (4, 3)
    assert np.isneginf(got[:, [0, 2]]).all() and np.isfinite(got[:, 1]).all()
    np.testing.assert_allclose(
        got[2, 1], stats.beta(alpha[2, 0], 2.0, loc=-1, scale=11).logpdf(0.5), rtol=1e-10
    )


def test_beta_backends_agree(rng):
    y = np.r_[rng.uniform(0, 5, 20), -3.0, 50.0]
    out = assert_backends_agree(
        Beta(),
        y,
        {
            "alpha": np.array(1.5),
            "beta": np.array(3.0),
            "lower": np.array(-1.0),
            "upper": np.array(8.0),
        },
    )
    assert np.isneginf(out[-2:]).all()


def test_beta_gradient_finite_at_edges():
    import pytensor
    import pytensor.tensor as pt

    a = pt.dscalar("a")
    y = np.array([-3.0, 0.0, 1.0, 7.9999])
    lp = Beta().logp(y, {"alpha": a, "beta": 2.0, "lower": -1.0, "upper": 8.0}, backend="pytensor")
    inside = pt.switch(pt.isinf(lp), 0.0, lp).sum()
    g = pytensor.function([a], pytensor.grad(inside, a))(1.5)
    assert np.isfinite(g)
