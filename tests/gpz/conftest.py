"""Fixtures of the bayesmix.gpz tests."""

from __future__ import annotations

import pytest

from bayesmix.gpz import GPzAugment
from gpz._data import candels_selection


@pytest.fixture(scope="session")
def candels():
    X, sel = candels_selection(20261122)
    aug = GPzAugment(X, X[sel], n_components=8, rng=1)
    return X, sel, aug
