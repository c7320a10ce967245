"""Vectorisable exp/log against the C library (math / numpy)."""

from __future__ import annotations

import numba
import numpy as np

from bayesmix.components._vmath import vexp, vlog


@numba.njit(error_model="numpy")
def _exp_all(x, out):
    for i in range(x.size):
        out[i] = vexp(x[i])


@numba.njit(error_model="numpy")
def _log_all(x, out):
    for i in range(x.size):
        out[i] = vlog(x[i])


def test_exp_within_two_ulp_over_the_double_range():
    gen = np.random.default_rng(0)
    x = np.concatenate(
        [
            gen.uniform(-745, 709, 200_000),
            gen.uniform(-1, 1, 200_000),
            gen.uniform(-40, 0, 200_000),
            np.arange(-745, 710, dtype=float),
        ]
    )
    out = np.empty_like(x)
    _exp_all(x, out)
    ref = np.exp(x)
    normal = ref > 2.3e-308
    np.testing.assert_allclose(out[normal], ref[normal], rtol=4.5e-16, atol=0)
    # subnormal results: within one subnormal step
    np.testing.assert_allclose(out[~normal], ref[~normal], rtol=0, atol=5e-324)


def test_exp_special_values():
    x = np.array([0.0, -0.0, -745.3, -1e300, -np.inf, 709.79, 1e300, np.inf, np.nan])
    out = np.empty_like(x)
    _exp_all(x, out)
    np.testing.assert_array_equal(out[:7], [1.0, 1.0, 0.0, 0.0, 0.0, np.inf, np.inf])
    assert out[7] == np.inf and np.isnan(out[8])


def test_log_within_one_ulp_over_the_double_range():
    gen = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.exp(gen.uniform(-744, 709, 200_000)),
            gen.uniform(0.5, 2, 200_000),
            1 + gen.uniform(-1e-6, 1e-6, 50_000),
            np.array([1e-310, 5e-324]),
        ]
    )
    out = np.empty_like(x)
    _log_all(x, out)
    ref = np.log(x)
    np.testing.assert_allclose(out, ref, rtol=2.3e-16, atol=1.2e-16)


def test_log_special_values():
    x = np.array([1.0, 0.0, -0.0, np.inf, -1.0, np.nan, -np.inf])
    out = np.empty_like(x)
    _log_all(x, out)
    assert out[0] == 0.0 and out[1] == -np.inf and out[2] == -np.inf and out[3] == np.inf
    assert np.isnan(out[4:]).all()
