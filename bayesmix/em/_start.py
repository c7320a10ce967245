"""Starting parameters of an EM restart (k-means++, k-means, random, or given).

Every start that assigns objects to centres (given means, k-means++ seeds,
k-means, random objects) turns the assignment's sums
(:func:`bayesmix.em.statistics.assignment_statistics`) into weights, means and
covariances with :func:`parameters_from_assignment`.  Given means are assigned
over the *whole* data set through the ``assignment`` callable, so a fit over
blocks (Dask) starts exactly where the in-memory fit starts; the seeding
methods run on the initialisation sample (all rows in memory).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from bayesmix._validate import check_matrix
from bayesmix.em._covariance import regularise, to_full
from bayesmix.em.init import kmeans, kmeans_plusplus
from bayesmix.em.scaling import FeatureScaling
from bayesmix.em.statistics import AssignmentStatistics, Parameters, assignment_statistics
from bayesmix.exceptions import DataError, SpecError

__all__ = ["EPS10", "initial_parameters", "parameters_from_assignment"]

#: added to soft counts so that an empty component never divides by zero
EPS10 = 10 * np.finfo(np.float64).eps
_INIT_KEYS = {"weights", "means", "covariances", "background_weight"}


def parameters_from_assignment(
    stats: AssignmentStatistics, centers: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weights, means and (unregularised) full covariances of a hard assignment.

    A component with no object gets the mean and covariance of the whole data
    set (e.g. duplicate seeds), recovered exactly from the other components' sums.
    """
    counts = stats.counts
    nk = counts + EPS10
    d = stats.first_moment / nk[:, None]
    means = centers + d
    full = stats.second_moment / nk[:, None, None] - np.einsum("ka,kb->kab", d, d)
    empty = counts <= EPS10
    if empty.any():
        total = counts.sum()
        mean_all = (counts @ centers + stats.first_moment.sum(axis=0)) / total
        e = centers - mean_all  # c_k - m: sum s (x - m)(x - m)^T from sums about c_k
        cross = np.einsum("ka,kb->kab", stats.first_moment, e)
        cov_all = (
            stats.second_moment.sum(axis=0)
            + np.einsum("k,ka,kb->ab", counts, e, e)
            + (cross + np.swapaxes(cross, 1, 2)).sum(axis=0)
        ) / total
        means[empty] = mean_all
        full[empty] = cov_all
    return nk / nk.sum(), means, full


def _parameters_from_resp(X, sw, resp):
    """Weights, means and full covariances from soft responsibilities."""
    K = resp.shape[1]
    D = X.shape[1]
    wr = resp * sw[:, None]
    nk = wr.sum(axis=0) + EPS10
    means = (wr.T @ X) / nk[:, None]
    full = np.empty((K, D, D))
    for k in range(K):
        diff = X - means[k]
        full[k] = (wr[:, k] * diff.T) @ diff / nk[k]
    return nk / nk.sum(), means, full


def _core(X, sw, K):
    """Return the 90% of objects nearest the median in IQR-scaled units (if at least K)."""
    med = np.median(X, axis=0)
    iqr = np.subtract(*np.percentile(X, [75, 25], axis=0))
    iqr = np.where(iqr > 0, iqr, 1.0)
    dist = np.sum(((X - med) / iqr) ** 2, axis=1)
    core = dist <= np.percentile(dist, 90)
    return (X[core], sw[core]) if core.sum() >= K else (X, sw)


def _start(model, weights, means, full, bg: float) -> Parameters:
    """Return a start: weights scaled to ``1 - bg``, covariances of the model's type."""
    full = regularise(full, weights, model.covariance_type, model.reg_covar)
    return Parameters(weights * (1.0 - bg), means, full, bg)


def _given_means(model, value, name: str, D: int) -> NDArray[np.float64]:
    means = check_matrix(value, name=name, n_features=D)
    K = model.n_components
    if means.shape[0] != K:
        what = "'init'" if name == "init" else name
        hint = " (one mean per component)" if name == "init" else ""
        raise DataError(f"{what} must have {K} rows{hint}; got {means.shape[0]}", argument="init")
    return means


def _from_dict(model, init: dict, D: int, bg: float, assignment, scaling) -> Parameters:
    """Start from ``init=dict(means=..., [weights=...], [covariances=...], ...)``.

    The given values are in data units; the start is in ``scaling``'s internal units.
    """
    K = model.n_components
    unknown = set(init) - _INIT_KEYS
    if unknown:
        raise SpecError(f"'init' has unknown key(s) {sorted(unknown)}", key="init")
    if "means" not in init:
        raise SpecError("'init' as a dict needs at least 'means'", key="init.means")
    means = scaling.point(_given_means(model, init["means"], "init['means']", D))
    cov_type = model.covariance_type
    if "weights" in init and "covariances" in init:
        weights = np.asarray(init["weights"], dtype=float)
        full = scaling.covariances(to_full(init["covariances"], cov_type, K, D))
    else:
        w0, _, full0 = parameters_from_assignment(assignment(means), means)
        weights = np.asarray(init.get("weights", w0), dtype=float)
        if "covariances" in init:
            full = scaling.covariances(to_full(init["covariances"], cov_type, K, D))
        else:
            full = regularise(full0, w0, cov_type, model.reg_covar)
    if weights.shape != (K,) or np.any(weights < 0) or not np.isfinite(weights).all():
        raise DataError(f"init['weights'] must be {K} non-negative numbers", argument="init")
    bg = float(init.get("background_weight", bg))
    weights = weights / weights.sum() * (1.0 - bg)
    return Parameters(weights, means.copy(), full, bg)


def initial_parameters(
    model,
    X: NDArray[np.float64],
    sw: NDArray[np.float64],
    gen: np.random.Generator,
    assignment: Callable[[NDArray[np.float64]], AssignmentStatistics],
    scaling: FeatureScaling | None = None,
) -> Parameters:
    """Return the starting parameters of one restart of ``model`` (a BaseMixture).

    ``X``, ``sw``: the initialisation sample (validated; NaN where missing) and
    its weights; ``assignment(centers)``: the assignment statistics of the whole
    data set for given means.  ``X``, ``assignment`` and the result are in the
    internal units of ``scaling`` (default: none); given means and covariances
    (``init``) are in data units and converted.
    """
    scaling = FeatureScaling.identity(X.shape[1]) if scaling is None else scaling
    K = model.n_components
    n, D = X.shape
    missing = np.isnan(X)
    Xc = np.where(missing, np.nanmean(X, axis=0), X) if missing.any() else X
    init = model.init
    bg = 0.05 if model.background else 0.0
    if isinstance(init, dict):
        return _from_dict(model, init, D, bg, assignment, scaling)
    if not isinstance(init, str):
        means = scaling.point(_given_means(model, init, "init", D))
        weights, _, full = parameters_from_assignment(assignment(means), means)
        return _start(model, weights, means.copy(), full, bg)
    if model.background:
        # Seed the Gaussians on the "core" of the data only: k-means++ favours far points,
        # and a Gaussian seeded on an isolated outlier collapses onto it before the
        # background can claim it.  EM itself then uses every object.
        Xc, sw = _core(Xc, sw, K)
        n = Xc.shape[0]
    labels = None
    if init == "kmeans":
        result = kmeans(Xc, K, n_init=1, sample_weight=sw, rng=gen)
        centers, labels = result.centers, result.labels
    elif init == "kmeans++":
        centers = kmeans_plusplus(Xc, K, sample_weight=sw, rng=gen)
    elif init == "random_from_data":
        centers = Xc[gen.choice(n, size=K, replace=False)]
    else:  # random responsibilities, as in scikit-learn
        resp = gen.uniform(size=(n, K))
        resp /= resp.sum(axis=1, keepdims=True)
        weights, means, full = _parameters_from_resp(Xc, sw, resp)
        return _start(model, weights, means, full, bg)
    stats = assignment_statistics(Xc, centers, sample_weight=sw, labels=labels)
    weights, means, full = parameters_from_assignment(stats, centers)
    return _start(model, weights, means, full, bg)
