import numpy as np
import pytest
from scipy import integrate

from bayesmix.components.plummer import Plummer
from bayesmix.testing import assert_backends_agree


def _brute(y, c, a):
    r2 = ((y - c) ** 2).sum(-1)
    return np.log(1.0 / (np.pi * a**2) * (1 + r2 / a**2) ** -2)


def test_plummer_matches_formula(rng):
    y = rng.normal(0, 1, (50, 2))
    got = Plummer().logp(y, {"center": np.array([[0.1, -0.2]]), "radius": np.array([0.7])})
    np.testing.assert_allclose(got, _brute(y, np.array([0.1, -0.2]), 0.7), rtol=1e-12)


@pytest.mark.parametrize("rmax", [None, 1.5])
def test_plummer_normalised(rmax):
    a = 0.4
    comp = Plummer(max_radius=rmax)

    def radial(r):
        y = np.array([[r, 0.0]])
        return (
            2
            * np.pi
            * r
            * np.exp(comp.logp(y, {"center": np.zeros((1, 2)), "radius": np.array([a])})[0])
        )

    val, _ = integrate.quad(radial, 0, np.inf if rmax is None else rmax, epsabs=0, epsrel=1e-12)
    np.testing.assert_allclose(val, 1.0, rtol=1e-10)


def test_plummer_half_number_radius_is_a():
    a = 0.6
    comp = Plummer()
    val, _ = integrate.quad(
        lambda r: (
            2
            * np.pi
            * r
            * np.exp(
                comp.logp(
                    np.array([[0.0, r]]), {"center": np.zeros((1, 2)), "radius": np.array([a])}
                )[0]
            )
        ),
        0,
        a,
    )
    np.testing.assert_allclose(val, 0.5, rtol=1e-10)


def test_plummer_backends_agree_and_truncation(rng):
    y = np.r_[rng.normal(0, 1, (20, 2)), [[3.0, 3.0]]]
    out = assert_backends_agree(
        Plummer(max_radius=2.5), y, {"center": np.array([[0.0, 0.1]]), "radius": np.array([0.5])}
    )
    assert np.isneginf(out[-1])
    assert np.isfinite(
        Plummer().logp(
            np.array([[1e4, 0.0]]), {"center": np.zeros((1, 2)), "radius": np.array([0.5])}
        )
    ).all()
