"""builders._start: a scaled sampler coordinate moves the chains' starts, not the posterior."""

import numpy as np
import pytest

from bayesmix.builders._start import UNBOUNDED, scaled_start


def _models(center, scale, dist="Normal", **params):
    import pymc as pm

    with pm.Model() as plain:
        getattr(pm, dist)("x", **params, initval=center)
    with pm.Model() as scaled:
        getattr(pm, dist)("x", **params, **scaled_start(dist, center, scale))
    return plain, scaled


def test_posterior_unchanged_and_starts_within_the_scale():
    from pymc.initial_point import make_initial_point_fn

    plain, scaled = _models(0.4, 0.01, mu=0.3, sigma=5.0)
    (v,) = scaled.value_vars
    assert v.name == "x_scaled_start__"
    # log density of x (Jacobian included) = plain's + ln(scale), a constant
    f_plain = plain.compile_logp(jacobian=True)
    f_scaled = scaled.compile_logp(jacobian=True)
    for x in (-3.0, 0.4, 0.41, 7.0):
        got = f_scaled({"x_scaled_start__": (x - 0.4) / 0.01})
        np.testing.assert_allclose(got, f_plain({"x": x}) + np.log(0.01), rtol=1e-12)
    # chains start within +-scale of the centre (PyMC jitters the sampler coordinate by +-1)
    starts = [
        make_initial_point_fn(model=scaled, jitter_rvs=set(scaled.free_RVs))(s)["x_scaled_start__"]
        for s in range(50)
    ]
    x0 = 0.4 + 0.01 * np.asarray(starts)
    assert np.all(np.abs(x0 - 0.4) <= 0.01) and np.ptp(x0) > 0.01
    plain_starts = [
        make_initial_point_fn(model=plain, jitter_rvs=set(plain.free_RVs))(s)["x"]
        for s in range(50)
    ]
    assert np.ptp(plain_starts) > 1.0  # PyMC's own jitter: +-1 in the variable's unit


def test_bounded_priors_keep_their_own_transform():
    assert "HalfNormal" not in UNBOUNDED and "Uniform" not in UNBOUNDED
    assert scaled_start("Uniform", 0.5, 0.01) == {"initval": 0.5}
    assert scaled_start("Normal", 0.5, None) == {"initval": 0.5}
    _, scaled = _models(0.5, 0.01, dist="Uniform", lower=0.0, upper=1.0)
    assert scaled.value_vars[0].name == "x_interval__"
    with pytest.raises(ValueError, match="scale > 0"):
        scaled_start("Normal", 0.0, 0.0)
