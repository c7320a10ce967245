"""Histograms of a population, a training sample and the weighted training sample.

The computing half of :func:`bayesmix.plot.gpz.plot_weighted_histograms`: per
feature, equal bins spanning the population's [min_pct, max_pct] percentiles
(the binning of :func:`bayesmix.gpz.kl_score`), densities normalised to unit
area over the bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_int, check_matrix, check_sample_weight
from bayesmix.exceptions import DataError, SpecError

__all__ = ["FeatureHistograms", "bin_edges", "feature_counts", "weighted_histograms"]


@dataclass(frozen=True)
class FeatureHistograms:
    """Histograms of one feature.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
    population, training, weighted : ndarray of shape (n_bins,)
        Densities (unit area over the bins); ``weighted`` is None without weights.
    """

    edges: NDArray[np.float64]
    population: NDArray[np.float64]
    training: NDArray[np.float64]
    weighted: NDArray[np.float64] | None


def _density(counts, edges) -> NDArray[np.float64]:
    total = counts.sum() * np.diff(edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), 0.0)


def weighted_histograms(
    X_pop: ArrayLike,
    X_train: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    bins: int = 30,
    min_pct: float = 0.1,
    max_pct: float = 99.9,
) -> list[FeatureHistograms]:
    """Per-feature histograms of population, training sample and weighted training sample.

    Parameters
    ----------
    X_pop : array-like of shape (n_pop, n_features)
    X_train : array-like of shape (n_train, n_features)
    weights : array-like of shape (n_train,), optional
        Non-negative training weights (e.g. from :func:`bayesmix.gpz.gpz_weights_table`).
    bins : int, default 30
    min_pct, max_pct : float, default 0.1 and 99.9
        Population percentiles bounding the bins; objects outside are ignored.

    Returns
    -------
    list of FeatureHistograms
        One per feature.
    """
    counts = feature_counts(X_pop, X_train, weights, bins, min_pct, max_pct, bins_name="bins")
    return [
        FeatureHistograms(
            edges=edges,
            population=_density(cp, edges),
            training=_density(ct, edges),
            weighted=None if cw is None else _density(cw, edges),
        )
        for edges, cp, ct, cw in counts
    ]


def feature_counts(X_pop, X_train, weights, bins, min_pct, max_pct, *, bins_name: str) -> list:
    """Return, per feature, (edges, population, training and weighted counts or None).

    The binning of :func:`weighted_histograms` and :func:`bayesmix.gpz.kl_score`,
    their arguments checked (``bins`` named ``bins_name`` in errors): ``bins``
    equal bins over the population's [min_pct, max_pct] percentiles
    (:func:`bin_edges`); objects outside are not counted.
    """
    Xp, Xt, w = _check_pop_train(X_pop, X_train, weights, min_pct=min_pct, max_pct=max_pct)
    bins = check_int(bins, name=bins_name, minimum=1)
    out = []
    for j in range(Xp.shape[1]):
        edges = bin_edges(Xp[:, j], bins, min_pct=min_pct, max_pct=max_pct)
        cp, _ = np.histogram(Xp[:, j], bins=edges)
        ct, _ = np.histogram(Xt[:, j], bins=edges)
        cw = None if w is None else np.histogram(Xt[:, j], bins=edges, weights=w)[0]
        out.append((edges, cp, ct, cw))
    return out


def bin_edges(x: NDArray[np.float64], bins: int, *, min_pct: float, max_pct: float):
    """Return ``bins + 1`` equal-width edges spanning the [min_pct, max_pct] percentiles of x.

    A zero-width range (constant x) is widened to +-0.5, as numpy does.
    """
    lo, hi = np.percentile(x, [min_pct, max_pct])
    return np.histogram_bin_edges(x, bins=bins, range=(lo, hi))


def _check_pop_train(X_pop, X_train, weights, *, min_pct: float, max_pct: float):
    """Validate a population / training pair, training weights and a percentile range.

    Returns (X_pop, X_train, weights or None) as float arrays.
    """
    Xp = check_matrix(X_pop, name="X_pop")
    Xt = check_matrix(X_train, name="X_train")
    if Xt.shape[1] != Xp.shape[1]:
        raise DataError(
            f"'X_train' must have {Xp.shape[1]} feature column(s), like X_pop; got {Xt.shape[1]}",
            argument="X_train",
        )
    w = check_sample_weight(weights, n=Xt.shape[0], name="weights")
    if not (0.0 <= min_pct < max_pct <= 100.0):
        raise SpecError(
            f"need 0 <= min_pct < max_pct <= 100; got min_pct={min_pct!r}, max_pct={max_pct!r}",
            key="min_pct",
        )
    return Xp, Xt, w
