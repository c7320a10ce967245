"""k-means against scikit-learn; BIC/AIC selection."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmix.em import GaussianMixture, kmeans, kmeans_plusplus, select_n_components
from bayesmix.exceptions import DataError

sk_cluster = pytest.importorskip("sklearn.cluster")


def test_kmeans_matches_sklearn_from_same_centres(rng):
    X = np.concatenate([rng.normal(c, 0.7, (300, 2)) for c in ([0, 0], [4, 0], [0, 5])])
    init = X[[0, 300, 600]]
    ours = kmeans(X, 3, init=init, tol=0.0, max_iter=100)
    ref = sk_cluster.KMeans(3, init=init, n_init=1, tol=0.0, max_iter=100, algorithm="lloyd")
    ref.fit(X)
    np.testing.assert_allclose(ours.centers, ref.cluster_centers_, atol=1e-10)
    np.testing.assert_allclose(ours.inertia, ref.inertia_, rtol=1e-10)
    np.testing.assert_array_equal(ours.labels, ref.labels_)
    assert np.all(np.diff(ours.inertia_history) <= 1e-9)


def test_kmeans_plusplus_reproducible_and_spread(rng):
    X = np.concatenate([rng.normal(c, 0.1, (200, 2)) for c in ([0, 0], [10, 0], [0, 10])])
    a = kmeans_plusplus(X, 3, rng=5)
    b = kmeans_plusplus(X, 3, rng=5)
    np.testing.assert_array_equal(a, b)
    # one seed per well-separated blob
    assert len({tuple(np.round(c / 10)) for c in a}) == 3
    res = kmeans(X, 3, rng=1, n_init=2)
    assert res.converged and res.inertia < 0.05 * len(X)


def test_kmeans_errors():
    with pytest.raises(DataError, match=r"n_clusters.*\(4\).*\(3\)"):
        kmeans(np.zeros((3, 2)), 4)


def test_selection_picks_true_number(rng):
    X = np.concatenate([rng.normal(c, 1.0, (400, 2)) for c in ([0, 0], [6, 0], [0, 6])])
    sel = select_n_components(X, range(1, 6), rng=0, n_init=2)
    assert sel.best_n_components == 3
    for k, m in zip(sel.table["n_components"], sel.models, strict=True):
        np.testing.assert_allclose(sel.table["bic"][k - 1], m.bic(X), rtol=1e-10)
        np.testing.assert_allclose(sel.table["aic"][k - 1], m.aic(X), rtol=1e-10)
    assert isinstance(sel.best, GaussianMixture)
    assert sel.best is sel.models[2]
    aic = select_n_components(X, [2, 3, 4], criterion="aic", rng=0)
    assert aic.criterion == "aic" and aic.best_n_components in (3, 4)


def test_selection_bic_matches_sklearn_parameter_count(rng):
    skm = pytest.importorskip("sklearn.mixture")
    X = rng.normal(size=(200, 3))
    for cov in ["full", "diag", "spherical", "tied"]:
        ours = GaussianMixture(3, covariance_type=cov, rng=0).fit(X)
        ref = skm.GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
        assert ours.n_parameters() == ref._n_parameters()


def test_compare_candidates_is_the_selection(rng):
    """select_n_components is compare_candidates with in-memory fits (same seeds, table)."""
    from bayesmix._random import as_generator, derive_seed
    from bayesmix.em import compare_candidates

    X = np.concatenate([rng.normal(c, 1.0, (300, 2)) for c in ([0, 0], [5, 0])])
    seeds = []

    def fit(k, seed):
        seeds.append(seed)
        m = GaussianMixture(k, rng=seed, n_init=2).fit(X)
        return m, float(m.score_samples(X).sum()), len(X)

    got = compare_candidates(fit, [3, 1, 2], rng=7, criterion="aic")
    ref = select_n_components(X, [3, 1, 2], rng=7, criterion="aic", n_init=2)
    gen = as_generator(7)
    assert seeds == [derive_seed(gen) for _ in range(3)]
    for key, values in ref.table.items():
        np.testing.assert_array_equal(got.table[key], values)
    assert got.best_n_components == ref.best_n_components and got.criterion == "aic"
    with pytest.raises(DataError, match="candidates"):
        compare_candidates(fit, [], rng=0)


def test_public_choice_constants():
    from bayesmix.em import COVARIANCE_TYPES, CRITERIA, INITS, NAN_POLICIES
    from bayesmix.exceptions import SpecError

    X = np.random.default_rng(0).normal(size=(60, 2))
    for name in (COVARIANCE_TYPES, CRITERIA, INITS, NAN_POLICIES):
        assert list(name) == sorted(name)
    for cov in COVARIANCE_TYPES:
        for init in INITS:
            for policy in NAN_POLICIES:
                GaussianMixture(2, covariance_type=cov, init=init, nan_policy=policy, rng=0).fit(X)
    for criterion in CRITERIA:
        select_n_components(X, [1], criterion=criterion, rng=0)
    with pytest.raises(SpecError, match="'diag', 'full', 'spherical', 'tied'|diag.*full"):
        GaussianMixture(2, covariance_type="ful").fit(X)
