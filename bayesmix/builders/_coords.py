"""Coordinates (dims) shared by every builder.

``object``    input row ids (e.g. Gaia ``source_id``), else 0..N-1;
``component`` readable component labels (``inlier``/``outlier``, ``0``..);
``feature``   feature names; ``feature_`` the second axis of a covariance;
``cov_packed`` the packed lower triangle of a Cholesky factor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayesmix.exceptions import DataError

__all__ = ["make_coords", "object_ids"]


def object_ids(
    ids: Sequence | np.ndarray | None, n_objects: int, *, name: str = "ids"
) -> np.ndarray:
    """Return object ids: ``ids`` validated (length, uniqueness) or ``arange(n_objects)``."""
    if ids is None:
        return np.arange(n_objects)
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.shape[0] != n_objects:
        raise DataError(
            f"'{name}' must be one-dimensional with length {n_objects} (one id per object); "
            f"got shape {arr.shape}",
            argument=name,
        )
    _, first, counts = np.unique(arr, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(np.sort(first[counts > 1])[0])
        later = int(np.flatnonzero(arr == arr[dup])[1])
        raise DataError(
            f"'{name}' must be unique; id {arr[dup].item()!r} appears at row {dup} and row {later}",
            argument=name,
            rows=[later],
        )
    return arr


def make_coords(
    ids: np.ndarray,
    components: Sequence[str],
    features: Sequence[str] | None = None,
) -> dict[str, tuple]:
    """Build the coords mapping for a builder's ``pm.Model``."""
    coords: dict[str, tuple] = {"object": tuple(ids.tolist()), "component": tuple(components)}
    if features is not None:
        d = len(features)
        coords["feature"] = tuple(features)
        coords["feature_"] = tuple(features)
        coords["feature_rest"] = tuple(features[1:])
        coords["cov_packed"] = tuple(range(d * (d + 1) // 2))
    return coords
