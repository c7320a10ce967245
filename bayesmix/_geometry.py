"""Geometry of Gaussian components: confidence ellipses (numpy + scipy only).

The plotting layer (:mod:`bayesmix.plot`) only draws what is computed here, so
the numbers can be tested without matplotlib.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix.exceptions import DataError

__all__ = ["covariance_ellipse", "ellipse_radius", "marginal_2d"]


def ellipse_radius(level: float) -> float:
    """Return the Mahalanobis radius enclosing probability ``level`` of a 2-D Gaussian.

    Parameters
    ----------
    level : float
        Enclosed probability, strictly between 0 and 1 (e.g. 0.68, 0.95).

    Returns
    -------
    float
        ``r = sqrt(chi2.ppf(level, df=2))``; for 2 degrees of freedom this is
        ``sqrt(-2 ln(1 - level))``.

    Raises
    ------
    DataError
        If ``level`` is not a number in (0, 1).
    """
    try:
        lev = float(level)
    except (TypeError, ValueError):
        raise DataError(
            f"'level' must be a number in (0, 1); got {level!r}", argument="level"
        ) from None
    if not 0.0 < lev < 1.0:
        raise DataError(
            f"'level' must lie strictly between 0 and 1; got {level!r}", argument="level"
        )
    from scipy import stats  # on first use: scipy.stats costs ~0.7 s to import

    return float(np.sqrt(stats.chi2.ppf(lev, df=2)))


def marginal_2d(
    mean: ArrayLike, cov: ArrayLike, dims: tuple[int, int] = (0, 1)
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the 2-D marginal (mean, covariance) of a Gaussian over features ``dims``.

    Parameters
    ----------
    mean : array-like of shape (n_features,)
    cov : array-like of shape (n_features, n_features)
    dims : tuple of two ints
        Feature indices to keep (the marginal of a Gaussian is the sub-vector
        and sub-matrix).

    Returns
    -------
    mean2 : ndarray of shape (2,)
    cov2 : ndarray of shape (2, 2)
    """
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    c = np.asarray(cov, dtype=np.float64)
    d = m.shape[0]
    if c.shape != (d, d):
        raise DataError(
            f"'cov' must have shape ({d}, {d}) to match 'mean'; got {c.shape}", argument="cov"
        )
    dims = tuple(int(i) for i in dims)
    if len(dims) != 2 or len(set(dims)) != 2 or not all(0 <= i < d for i in dims):
        raise DataError(
            f"'dims' must be two different feature indices in [0, {d - 1}]; got {dims}",
            argument="dims",
        )
    idx = np.array(dims)
    return m[idx].copy(), c[np.ix_(idx, idx)].copy()


def covariance_ellipse(
    mean: ArrayLike, cov: ArrayLike, level: float = 0.68, n_points: int = 100
) -> NDArray[np.float64]:
    """Return points on the ellipse of a 2-D Gaussian enclosing probability ``level``.

    Parameters
    ----------
    mean : array-like of shape (2,)
        Centre of the Gaussian.
    cov : array-like of shape (2, 2)
        Covariance matrix; must be symmetric positive definite.
    level : float, default 0.68
        Probability mass enclosed by the ellipse, in (0, 1).  Note that the
        2-D "1 sigma" ellipse (Mahalanobis radius 1) encloses only 0.393.
    n_points : int, default 100
        Number of distinct points on the ellipse (at least 4).

    Returns
    -------
    ndarray of shape (n_points + 1, 2)
        A closed polygon: the last point repeats the first.

    Raises
    ------
    DataError
        If shapes are wrong, ``cov`` is not symmetric positive definite,
        ``level`` is outside (0, 1) or ``n_points`` < 4.

    Notes
    -----
    With ``r**2 = chi2.ppf(level, 2)`` and ``cov = L L^T`` (Cholesky), the
    points are ``mean + r L [cos t, sin t]^T`` for ``t`` evenly spaced in
    [0, 2 pi).  Every point has squared Mahalanobis distance
    ``(x - mean)^T cov^{-1} (x - mean) = r**2``, and the region inside holds
    probability ``level`` because the squared Mahalanobis distance of a 2-D
    Gaussian variable is chi-square distributed with 2 degrees of freedom.
    """
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    c = np.asarray(cov, dtype=np.float64)
    if m.shape != (2,) or c.shape != (2, 2):
        raise DataError(
            f"'mean' must have shape (2,) and 'cov' shape (2, 2); got {m.shape} and {c.shape}. "
            "Use marginal_2d() to pick two features.",
            argument="cov",
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
        raise DataError("'mean' and 'cov' must be finite", argument="cov")
    if abs(c[0, 1] - c[1, 0]) > 1e-10 * (1.0 + abs(c[0, 1])):
        raise DataError(f"'cov' must be symmetric; got {c.tolist()}", argument="cov")
    if isinstance(n_points, bool) or int(n_points) != n_points or n_points < 4:
        raise DataError(
            f"'n_points' must be an integer >= 4; got {n_points!r}", argument="n_points"
        )
    try:
        L = np.linalg.cholesky(0.5 * (c + c.T))
    except np.linalg.LinAlgError:
        raise DataError(
            f"'cov' must be positive definite; got {c.tolist()}", argument="cov"
        ) from None
    r = ellipse_radius(level)
    t = np.linspace(0.0, 2.0 * np.pi, int(n_points), endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n)
    pts = m[:, None] + r * (L @ circle)
    pts = pts.T
    return np.vstack([pts, pts[:1]])
