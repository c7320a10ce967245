"""Summable records of one EM step: parameters, E-step statistics, hard-assignment statistics.

EM needs the data only through sums over objects.  One E-step at parameters
theta gives, per component k (object weights s_n, responsibilities r_nk, and
centres c_k -- the current means -- about which moments are taken),

    log_likelihood = sum_n s_n ln p(x_n | theta)
    counts_k       = sum_n s_n r_nk                  background_count = sum_n s_n r_n,bg
    first_k        = sum_n s_n r_nk (x_n - c_k)
    second_k       = sum_n s_n r_nk (x_n - c_k)(x_n - c_k)^T   (+ sum s r B_nk for XD)

so the statistics of a catalogue are the sums of the statistics of its blocks,
whatever the blocks are (rows in memory, Dask chunks, Parquet partitions).  The
initialisation from given means uses the same kind of sums for the hard
assignment of every object to its nearest mean
(:func:`assignment_statistics`).  :mod:`bayesmix.em.blocks` runs EM on such sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix.em.init import nearest_center

__all__ = [
    "AssignmentStatistics",
    "EStepStatistics",
    "Parameters",
    "assignment_statistics",
    "sum_statistics",
]


@dataclass(frozen=True)
class Parameters:
    """The parameters of a mixture at one EM iteration.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
        Mixing weights of the Gaussians (they sum to ``1 - background_weight``).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Full covariance matrices whatever the covariance type.
    background_weight : float, default 0
        Weight of the uniform background component (0 without one).
    """

    weights: NDArray[np.float64]
    means: NDArray[np.float64]
    covariances: NDArray[np.float64]
    background_weight: float = 0.0


@dataclass(frozen=True)
class EStepStatistics:
    """Sufficient statistics of one E-step (see the module notes), summable over blocks.

    Attributes
    ----------
    log_likelihood : float
        Weighted total log-likelihood ``sum_n s_n ln p(x_n)``.
    counts : ndarray of shape (n_components,)
        Weighted soft counts ``N_k``.
    background_count : float
        Weighted soft count of the background.
    first_moment : ndarray of shape (n_components, n_features)
        ``S1_k`` about the means of the parameters the E-step used.
    second_moment : ndarray of shape (n_components, n_features, n_features)
        ``S2_k`` about the same means (symmetric).
    """

    log_likelihood: float
    counts: NDArray[np.float64]
    background_count: float
    first_moment: NDArray[np.float64]
    second_moment: NDArray[np.float64]

    @classmethod
    def zeros(cls, n_components: int, n_features: int) -> EStepStatistics:
        """Return the statistics of no object."""
        K, D = n_components, n_features
        return cls(0.0, np.zeros(K), 0.0, np.zeros((K, D)), np.zeros((K, D, D)))

    def __add__(self, other: EStepStatistics) -> EStepStatistics:
        """Return the statistics of both sets of objects."""
        return EStepStatistics(
            self.log_likelihood + other.log_likelihood,
            self.counts + other.counts,
            self.background_count + other.background_count,
            self.first_moment + other.first_moment,
            self.second_moment + other.second_moment,
        )


@dataclass(frozen=True)
class AssignmentStatistics:
    """Sums over the objects assigned (hard) to each of given centres ``c_k``.

    Attributes
    ----------
    counts : ndarray of shape (n_components,)
        ``sum s_n`` over the objects of each centre.
    first_moment : ndarray of shape (n_components, n_features)
        ``sum s_n (x_n - c_k)``.
    second_moment : ndarray of shape (n_components, n_features, n_features)
        ``sum s_n (x_n - c_k)(x_n - c_k)^T``.
    """

    counts: NDArray[np.float64]
    first_moment: NDArray[np.float64]
    second_moment: NDArray[np.float64]

    def __add__(self, other: AssignmentStatistics) -> AssignmentStatistics:
        """Return the statistics of both sets of objects."""
        return AssignmentStatistics(
            self.counts + other.counts,
            self.first_moment + other.first_moment,
            self.second_moment + other.second_moment,
        )


def sum_statistics(parts: Iterable):
    """Sum statistics records (of blocks) in the order given; at least one is needed."""
    total = None
    for part in parts:
        total = part if total is None else total + part
    if total is None:
        raise ValueError("sum_statistics needs at least one record")
    return total


def assignment_statistics(
    X: ArrayLike,
    centers: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    fill: ArrayLike | None = None,
) -> AssignmentStatistics:
    """Statistics of the objects nearest (Euclidean) to each centre, about that centre.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features)
        Validated features; NaN only with ``fill``.
    centers : array-like of shape (n_components, n_features)
    sample_weight : array-like of shape (n_objects,), optional
        Object weights (default 1).
    labels : array-like of int of shape (n_objects,), optional
        A given assignment instead of the nearest centre.
    fill : array-like of shape (n_features,), optional
        Values that replace NaN features (the column means of the whole data
        set: mean imputation, used only to start EM).

    Returns
    -------
    AssignmentStatistics
    """
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    K, D = C.shape
    if fill is not None:
        missing = np.isnan(X)
        if missing.any():
            X = np.where(missing, np.asarray(fill, dtype=np.float64), X)
    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    lab = nearest_center(X, C)[1] if labels is None else np.asarray(labels, dtype=np.int64)
    counts = np.bincount(lab, weights=sw, minlength=K).astype(np.float64)
    diff = X - C[lab]
    first = np.empty((K, D))
    for j in range(D):
        first[:, j] = np.bincount(lab, weights=sw * diff[:, j], minlength=K)
    second = np.zeros((K, D, D))
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(K + 1))
    for k in range(K):
        rows = order[bounds[k] : bounds[k + 1]]
        if len(rows):
            d = diff[rows]
            second[k] = (sw[rows] * d.T) @ d
    return AssignmentStatistics(counts, first, second)
