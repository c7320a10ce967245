"""The field of :func:`~bayesmix.builders.cluster_field`: control stars and the fixed fit.

A fixed ``gmm`` field is an extreme-deconvolution fit (Bovy, Hogg & Roweis
2011) to the *control field*: the stars far from the cluster on the sky.  The
cluster's proper motions are never cut, so the fitted field density has no
hole at the cluster.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bayesmix.exceptions import DataError
from bayesmix.sky import separation

__all__ = ["FieldFit", "control_field", "field_range", "fit_field_xd"]


class FieldFit(dict):
    """Record of the fixed field (weights, means, covs, which stars were used); JSON-able.

    Keys: ``weights`` (K,), ``means`` (K, D), ``covs`` (K, D, D) as lists, ordered
    by decreasing weight; ``n_stars`` (control stars fitted), ``converged``,
    ``n_iter``.
    """


def control_field(
    ra: NDArray[np.float64],
    dec: NDArray[np.float64],
    sky_center: tuple[float, float],
    *,
    min_separation: float | None = None,
) -> tuple[NDArray[np.bool_], float]:
    """Return the control-field stars (farther than a separation from the cluster) and it.

    Parameters
    ----------
    ra, dec : ndarray of shape (n_objects,)
        Star positions (deg).
    sky_center : (ra, dec)
        The cluster's centre (deg).
    min_separation : float, optional
        Separation (deg) beyond which a star is in the control field.  Default:
        the median separation of all stars, i.e. the outer half of the footprint.

    Returns
    -------
    control : ndarray of bool, shape (n_objects,)
    min_separation : float
        The separation used (deg).
    """
    sep = separation(ra, dec, sky_center[0], sky_center[1])
    rmin = float(np.median(sep)) if min_separation is None else float(min_separation)
    return sep > rmin, rmin


def fit_field_xd(
    X: NDArray[np.float64],
    X_cov: NDArray[np.float64],
    n_components: int,
    control: NDArray[np.bool_],
    rng: int,
) -> FieldFit:
    """Fit the field by extreme deconvolution to the control stars (2 restarts).

    Parameters
    ----------
    X : ndarray of shape (n_objects, n_features)
    X_cov : ndarray of shape (n_objects, n_features, n_features)
        Values and error covariances of every star.
    n_components : int
        Gaussians K of the field.
    control : ndarray of bool, shape (n_objects,)
        The stars to fit (see :func:`control_field`).
    rng : int
        Seed of :class:`bayesmix.em.XDGaussianMixture`.

    Returns
    -------
    FieldFit

    Raises
    ------
    DataError
        Fewer than 5 K control stars (key ``field_components``).
    """
    from bayesmix.em import XDGaussianMixture

    K = n_components
    if control.sum() < 5 * K:
        raise DataError(
            f"only {int(control.sum())} control-field stars for a {K}-component field fit; "
            "lower field_components or field_min_separation",
            argument="field_components",
        )
    # XD converges slowly on ridges (Bovy et al. 2011): room for them, the tolerance kept
    xd = XDGaussianMixture(K, rng=rng, n_init=2, max_iter=10_000).fit(
        X[control], X_cov=X_cov[control]
    )
    order = np.argsort(-xd.weights_)
    return FieldFit(
        weights=xd.weights_[order].tolist(),
        means=xd.means_[order].tolist(),
        covs=xd.full_covariances()[order].tolist(),
        n_stars=int(control.sum()),
        converged=bool(xd.converged_),
        n_iter=int(xd.n_iter_),
    )


def field_range(X: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Box of a ``uniform`` (or the range of a ``beta``) field: the data range plus 1 %."""
    span = X.max(axis=0) - X.min(axis=0)
    span = np.where(span > 0, span, 1.0)
    return ((X.min(axis=0) - 0.01 * span).tolist(), (X.max(axis=0) + 0.01 * span).tolist())
