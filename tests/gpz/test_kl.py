"""KL scores of a (weighted) training sample against a population (bayesmix.gpz.kl)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy

from bayesmix.exceptions import DataError
from bayesmix.gpz import (
    GPzAugment,
    kl_score,
    kl_score_mixture,
)


def test_candels_multivariate_kl(candels):
    X, sel, aug = candels
    raw, model_w, se_raw, se_w = kl_score_mixture(
        aug, X, X[sel], n_samples=20_000, rng=3, max_weight=1e6, return_stderr=True
    )
    assert raw > 10 * se_raw > 0  # the biased sample misses part of the population
    # unclipped model weights turn the training mixture into the population mixture
    assert abs(model_w) < 5 * se_w + 1e-3
    w = aug.calc_weights(X[sel], max_weight=20)
    _, refit_w = kl_score_mixture(aug, X, X[sel], w, n_samples=20_000, rng=3)
    assert refit_w < raw


def test_kl_score_matches_gpz_pype_without_empty_bins_and_is_finite_with_them():
    rng = np.random.default_rng(0)
    pop = rng.normal(size=(20000, 2))
    train = rng.normal(0.3, 0.8, size=(3000, 2))
    # gpz_pype: scipy.stats.entropy(train density hist, pop density hist), summed
    ref = 0.0
    for j in range(2):
        h_p, bins = np.histogram(
            pop[:, j], density=True, bins=10, range=np.percentile(pop[:, j], [0.1, 99.9])
        )
        h_t, _ = np.histogram(train[:, j], density=True, bins=bins)
        ref += entropy(h_t, h_p)
    raw, weighted = kl_score(pop, train, nbins=10, pseudocount=1e-12)
    assert np.isnan(weighted)
    np.testing.assert_allclose(raw, ref, rtol=1e-9)  # the pseudocount moves it by ~1e-12
    # a population with a gap where the training sample lives: plain KL is infinite
    pop_gap = np.concatenate([rng.uniform(0, 1, 500), rng.uniform(2, 3, 500)])[:, None]
    train_in_gap = rng.uniform(1.2, 1.8, 100)[:, None]
    raw, weighted = kl_score(pop_gap, train_in_gap, np.ones(100), nbins=30)
    assert np.isfinite(raw) and np.isfinite(weighted) and raw > 1
    assert weighted == pytest.approx(raw)  # equal weights change nothing
    with pytest.raises(DataError, match="X_train.*2 feature"):
        kl_score(pop, train[:, :1])
    with pytest.raises(DataError, match="weights.*length 3000"):
        kl_score(pop, train, np.ones(5))


def test_kl_score_mixture_matches_closed_form_for_single_gaussians():
    rng = np.random.default_rng(1)
    pop = rng.normal(0.0, 1.0, size=(20000, 1))
    train = rng.normal(0.5, 0.7, size=(20000, 1))
    aug = GPzAugment(pop, train, n_components=1, scale=False)
    m1, s1 = aug.gmm_pop.means_[0, 0], math.sqrt(aug.gmm_pop.full_covariances()[0, 0, 0])
    m2, s2 = aug.gmm_train.means_[0, 0], math.sqrt(aug.gmm_train.full_covariances()[0, 0, 0])
    exact = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    raw, _, se, _ = kl_score_mixture(aug, n_samples=50_000, rng=2, return_stderr=True)
    assert abs(raw - exact) < 4 * se
    raw_data, _ = kl_score_mixture(aug, pop, n_samples=None)
    assert abs(raw_data - exact) < 0.02
