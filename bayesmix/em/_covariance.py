"""Covariance structures of the EM mixtures: shapes, parameter counts, regularisation.

Internally every fit keeps full (K, D, D) covariances; scikit-learn's per-type
shapes (``covariances_``) are converted at the edges.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "COVARIANCE_TYPES",
    "from_full",
    "n_covariance_parameters",
    "regularise",
    "to_full",
]

#: the covariance structures, as in scikit-learn (sorted)
COVARIANCE_TYPES = ("diag", "full", "spherical", "tied")


def to_full(cov: ArrayLike, covariance_type: str, K: int, D: int) -> NDArray[np.float64]:
    """Covariances in scikit-learn's per-type shape -> (K, D, D) full matrices."""
    if covariance_type == "full":
        return np.array(cov, dtype=float).reshape(K, D, D)
    if covariance_type == "tied":
        return np.broadcast_to(np.asarray(cov, dtype=float), (K, D, D)).copy()
    out = np.zeros((K, D, D))
    idx = np.arange(D)
    diag = np.asarray(cov, dtype=float)
    out[:, idx, idx] = diag if covariance_type == "diag" else diag[:, None]
    return out


def from_full(
    full: NDArray[np.float64], covariance_type: str, weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(K, D, D) -> scikit-learn's per-type shape (``weights`` pool a tied covariance)."""
    if covariance_type == "full":
        return full
    if covariance_type == "tied":
        w = weights / weights.sum()
        return np.einsum("k,kab->ab", w, full)
    diag = np.diagonal(full, axis1=1, axis2=2).copy()
    if covariance_type == "diag":
        return diag
    return diag.mean(axis=1)


def n_covariance_parameters(covariance_type: str, K: int, D: int) -> int:
    """Return the number of free covariance parameters of K components in D dimensions."""
    return {
        "full": K * D * (D + 1) // 2,
        "diag": K * D,
        "tied": D * (D + 1) // 2,
        "spherical": K,
    }[covariance_type]


def regularise(
    full: NDArray[np.float64], weights: NDArray[np.float64], covariance_type: str, reg_covar: float
) -> NDArray[np.float64]:
    """Impose the covariance type on (K, D, D) covariances and add ``reg_covar`` to diagonals.

    ``weights`` (any positive scale) pool the components' covariances into the
    shared one for ``"tied"``.
    """
    K, D, _ = full.shape
    idx = np.arange(D)
    if covariance_type == "full":
        out = full.copy()
        out[:, idx, idx] += reg_covar
        return out
    if covariance_type == "tied":
        tied = np.einsum("k,kab->ab", weights / weights.sum(), full)
        tied[idx, idx] += reg_covar
        return np.broadcast_to(tied, (K, D, D)).copy()
    diag = np.diagonal(full, axis1=1, axis2=2) + reg_covar
    if covariance_type == "spherical":
        diag = np.repeat(diag.mean(axis=1, keepdims=True), D, axis=1)
    out = np.zeros((K, D, D))
    out[:, idx, idx] = diag
    return out
