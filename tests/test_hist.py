"""bayesmix._hist: the binning shared by the weighted histograms and the KL score."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmix._hist import bin_edges, weighted_histograms
from bayesmix.exceptions import DataError, SpecError


def test_histograms_equal_numpy_densities(rng):
    pop = rng.normal(size=(5_000, 2))
    train = rng.normal(0.5, 0.8, size=(700, 2))
    w = rng.uniform(0.1, 3.0, 700)
    hists = weighted_histograms(pop, train, w, bins=25, min_pct=1, max_pct=99)
    assert len(hists) == 2
    for j, h in enumerate(hists):
        lo, hi = np.percentile(pop[:, j], [1, 99])
        np.testing.assert_allclose(h.edges, np.linspace(lo, hi, 26), rtol=1e-12)
        # density over the bins only (objects outside the range are ignored), unit area
        for got, x, ww in ((h.population, pop[:, j], None), (h.weighted, train[:, j], w)):
            counts, _ = np.histogram(x, bins=h.edges, weights=ww)
            np.testing.assert_allclose(got, counts / counts.sum() / np.diff(h.edges), rtol=1e-12)
            assert np.sum(got * np.diff(h.edges)) == pytest.approx(1.0)


def test_constant_feature_and_errors():
    np.testing.assert_allclose(
        bin_edges(np.full(10, 2.0), 2, min_pct=0, max_pct=100), [1.5, 2, 2.5]
    )
    with pytest.raises(DataError, match="X_train.*2 feature"):
        weighted_histograms(np.zeros((5, 2)), np.zeros((5, 1)))
    with pytest.raises(SpecError, match="min_pct"):
        weighted_histograms(np.zeros((5, 1)), np.zeros((5, 1)), min_pct=50, max_pct=10)
