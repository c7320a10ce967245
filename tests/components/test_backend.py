"""bayesmix.components._backend: the numpy table's logsumexp against scipy's."""

from __future__ import annotations

import timeit

import numpy as np
import pytest
from scipy.special import logsumexp

from bayesmix.components._backend import get_backend


@pytest.mark.parametrize("axis", [0, 1, -1, -2, None])
def test_numpy_logsumexp_equals_scipy(axis):
    b = get_backend("numpy")
    r = np.random.default_rng(0)
    x = r.normal(0, 300, (40, 7, 3))
    x[3] = -np.inf  # a slab of -inf
    x[5, 2, :] = -np.inf  # an all -inf row along the last axis
    x[6, :, 1] = -np.inf
    x[7, 1, 1] = -1e308
    got = b.logsumexp(x, axis=axis)
    ref = logsumexp(x, axis=axis)
    assert np.shape(got) == np.shape(ref)
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
    assert np.array_equal(np.isneginf(got), np.isneginf(ref))


def test_numpy_logsumexp_special_values():
    b = get_backend("numpy")
    x = np.array([[np.inf, 0.0], [np.nan, 0.0], [-np.inf, -np.inf], [1000.0, 1000.0]])
    np.testing.assert_array_equal(b.logsumexp(x, axis=1), logsumexp(x, axis=1))


def test_numpy_logsumexp_is_faster_than_scipy():
    """The reason it exists: the likelihood calls it on small arrays many times."""
    b = get_backend("numpy")
    x = np.random.default_rng(1).normal(size=(200, 3))
    ours = min(timeit.repeat(lambda: b.logsumexp(x, axis=-1), number=200, repeat=5))
    theirs = min(timeit.repeat(lambda: logsumexp(x, axis=-1), number=200, repeat=5))
    assert ours < theirs
