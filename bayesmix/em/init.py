"""k-means with k-means++ seeding: EM initialisation, also usable on its own."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._random import as_generator
from bayesmix._validate import check_choice, check_int, check_matrix, check_sample_weight
from bayesmix.exceptions import ConvergenceWarning, DataError

__all__ = ["KMeansResult", "kmeans", "kmeans_plusplus", "nearest_center"]

_BLOCK = 65536


@dataclass(frozen=True)
class KMeansResult:
    """Result of :func:`kmeans`.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_objects,), index of the nearest centre.
    inertia : float, weighted sum of squared distances to the nearest centre.
    inertia_history : list of float, inertia after each Lloyd iteration (best run).
    n_iter : int, Lloyd iterations of the best run.
    converged : bool, whether the centre shift fell below the tolerance.
    """

    centers: NDArray[np.float64]
    labels: NDArray[np.int64]
    inertia: float
    inertia_history: list[float]
    n_iter: int
    converged: bool


def nearest_center(X, C, x_sq=None):
    """Squared distance of each row of X to its nearest row of C, and the argmin.

    Works in blocks of rows (bounded memory); ``x_sq`` may hold the rows' squared norms.
    """
    n = X.shape[0]
    c_sq = np.einsum("ij,ij->i", C, C)
    best = np.empty(n)
    arg = np.empty(n, dtype=np.int64)
    for s in range(0, n, _BLOCK):
        xb = X[s : s + _BLOCK]
        xs = np.einsum("ij,ij->i", xb, xb) if x_sq is None else x_sq[s : s + _BLOCK]
        d = xs[:, None] - 2.0 * (xb @ C.T) + c_sq[None, :]
        a = np.argmin(d, axis=1)
        arg[s : s + _BLOCK] = a
        best[s : s + _BLOCK] = np.maximum(d[np.arange(len(a)), a], 0.0)
    return best, arg


def kmeans_plusplus(
    X: ArrayLike,
    n_clusters: int,
    *,
    sample_weight: ArrayLike | None = None,
    n_local_trials: int | None = None,
    rng: int | np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Choose initial centres by greedy k-means++ seeding (Arthur & Vassilvitskii 2007).

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features)
    n_clusters : int
    sample_weight : array-like of shape (n_objects,), optional
        Non-negative weights; the seeding probability is proportional to
        weight times squared distance.
    n_local_trials : int, optional
        Candidates tried per centre; default ``2 + int(ln n_clusters)`` as in
        scikit-learn.
    rng : int, Generator or None
        Seed.

    Returns
    -------
    ndarray of shape (n_clusters, n_features)
    """
    X = check_matrix(X, name="X")
    n = X.shape[0]
    n_clusters = check_int(n_clusters, name="n_clusters", minimum=1)
    if n_clusters > n:
        raise DataError(
            f"'n_clusters' ({n_clusters}) must not exceed the number of objects ({n})",
            argument="n_clusters",
        )
    w = check_sample_weight(sample_weight, n=n)
    w = np.ones(n) if w is None else w
    gen = as_generator(rng)
    trials = 2 + int(np.log(n_clusters)) if n_local_trials is None else int(n_local_trials)
    x_sq = np.einsum("ij,ij->i", X, X)
    centers = np.empty((n_clusters, X.shape[1]))
    p = w / w.sum()
    first = gen.choice(n, p=p)
    centers[0] = X[first]
    closest, _ = nearest_center(X, centers[:1], x_sq)
    pot = float(np.sum(w * closest))
    for c in range(1, n_clusters):
        if pot <= 0.0:
            # all remaining mass sits on existing centres: pick uniformly among weighted rows
            cand = gen.choice(n, size=trials, p=p)
        else:
            u = gen.random(trials) * pot
            cand = np.searchsorted(np.cumsum(w * closest), u)
            cand = np.minimum(cand, n - 1)
        best_pot, best_idx, best_closest = np.inf, cand[0], closest
        for idx in cand:
            d = x_sq - 2.0 * (X @ X[idx]) + x_sq[idx]
            new_closest = np.minimum(closest, np.maximum(d, 0.0))
            new_pot = float(np.sum(w * new_closest))
            if new_pot < best_pot:
                best_pot, best_idx, best_closest = new_pot, idx, new_closest
        centers[c] = X[best_idx]
        closest, pot = best_closest, best_pot
    return centers


def kmeans(
    X: ArrayLike,
    n_clusters: int,
    *,
    init: str | ArrayLike = "kmeans++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    sample_weight: ArrayLike | None = None,
    rng: int | np.random.Generator | None = None,
) -> KMeansResult:
    """Lloyd's k-means with k-means++ (or random, or given) initial centres.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features)
    n_clusters : int
        Number of clusters, 1 <= n_clusters <= n_objects.
    init : {"kmeans++", "random"} or array-like of shape (n_clusters, n_features)
        ``"random"`` picks distinct objects uniformly.
    n_init : int
        Restarts; the run with the lowest inertia is kept.
    max_iter : int
        Maximum Lloyd iterations per run.
    tol : float
        Convergence when the squared centre shift, summed over centres, is below
        ``tol`` times the mean per-feature variance of ``X`` (scikit-learn's rule).
    sample_weight : array-like of shape (n_objects,), optional
    rng : int, Generator or None
        Seed for the initialisation.

    Returns
    -------
    KMeansResult

    Warns
    -----
    ConvergenceWarning
        When the best run stopped at ``max_iter``.
    """
    X = check_matrix(X, name="X")
    n, d = X.shape
    n_clusters = check_int(n_clusters, name="n_clusters", minimum=1)
    if n_clusters > n:
        raise DataError(
            f"'n_clusters' ({n_clusters}) must not exceed the number of objects ({n})",
            argument="n_clusters",
        )
    n_init = check_int(n_init, name="n_init", minimum=1)
    max_iter = check_int(max_iter, name="max_iter", minimum=1)
    w = check_sample_weight(sample_weight, n=n)
    w = np.ones(n) if w is None else w
    gen = as_generator(rng)
    given = None
    if not isinstance(init, str):
        given = check_matrix(init, name="init", n_features=d)
        if given.shape[0] != n_clusters:
            raise DataError(
                f"'init' must have {n_clusters} rows (one per cluster); got {given.shape[0]}",
                argument="init",
            )
        n_init = 1
    else:
        check_choice(init, name="init", choices={"kmeans++", "random"})
    var_mean = float(np.mean(np.var(X, axis=0)))
    abs_tol = tol * var_mean
    x_sq = np.einsum("ij,ij->i", X, X)
    best: KMeansResult | None = None
    for _ in range(n_init):
        if given is not None:
            centers = given.copy()
        elif init == "kmeans++":
            centers = kmeans_plusplus(X, n_clusters, sample_weight=w, rng=gen)
        else:
            centers = X[gen.choice(n, size=n_clusters, replace=False)].copy()
        history: list[float] = []
        converged = False
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007 (it is read after the loop)
            closest, labels = nearest_center(X, centers, x_sq)
            history.append(float(np.sum(w * closest)))
            counts = np.bincount(labels, weights=w, minlength=n_clusters)
            sums = np.zeros_like(centers)
            for j in range(d):
                sums[:, j] = np.bincount(labels, weights=w * X[:, j], minlength=n_clusters)
            new = centers.copy()
            nz = counts > 0
            new[nz] = sums[nz] / counts[nz, None]
            if (~nz).any():
                # empty clusters move to the objects farthest from their centres
                far = np.argsort(-w * closest, kind="stable")[: int((~nz).sum())]
                new[~nz] = X[far]
            shift = float(np.sum((new - centers) ** 2))
            centers = new
            if shift <= abs_tol:
                converged = True
                break
        closest, labels = nearest_center(X, centers, x_sq)
        inertia = float(np.sum(w * closest))
        if best is None or inertia < best.inertia:
            best = KMeansResult(centers, labels, inertia, history, it, converged)
    assert best is not None  # n_init >= 1
    if not best.converged:
        warnings.warn(
            f"k-means did not converge in max_iter={max_iter} iterations; raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return best
