"""Validators for the public boundary.

Each validator *returns* the normalised value (``X = check_matrix(X, name="X")``)
and raises :class:`bayesmix.exceptions.DataError` naming the argument, the
problem and, for data, the first offending row.  Internals assume clean arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "check_array_1d",
    "check_choice",
    "check_covariances",
    "check_errors",
    "check_int",
    "check_matrix",
    "check_positive",
    "check_sample_weight",
    "row_label",
]


def row_label(i: int, ids: Sequence | NDArray | None = None) -> str:
    """Describe row ``i`` for an error message, with its id when known."""
    if ids is None:
        return f"row {i}"
    return f"row {i} (id {ids[i]})"


def _first_bad_row(bad: NDArray[np.bool_]) -> int:
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    return int(np.flatnonzero(bad)[0])


def check_matrix(
    X: ArrayLike,
    *,
    name: str = "X",
    allow_nan: bool = False,
    min_rows: int = 1,
    n_features: int | None = None,
    ids=None,
) -> NDArray[np.float64]:
    """Return ``X`` as a C-contiguous float64 array of shape (n_objects, n_features).

    A 1-D input is taken as one feature.  Infinite values are always errors;
    NaN is an error unless ``allow_nan``.
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' must be numeric: {exc}", argument=name) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(
            f"'{name}' must have shape (n_objects, n_features); got an array with {arr.ndim} "
            f"dimensions, shape {arr.shape}",
            argument=name,
        )
    if arr.shape[0] < min_rows:
        raise DataError(
            f"'{name}' must have at least {min_rows} row(s); got {arr.shape[0]}", argument=name
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(
            f"'{name}' must have {n_features} feature column(s) (as in the fit); got "
            f"{arr.shape[1]}",
            argument=name,
        )
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if bad.any():
        i = _first_bad_row(bad)
        j = int(np.flatnonzero(bad[i])[0])
        raise DataError(
            f"'{name}' has a non-finite value ({arr[i, j]}) at {row_label(i, ids)}, column {j}; "
            f"{int(bad.any(axis=1).sum())} row(s) affected. Remove or impute these rows"
            + ("" if allow_nan else " (or use nan_policy='marginalize' where offered)")
            + ".",
            argument=name,
            rows=np.flatnonzero(bad.any(axis=1))[:100],
        )
    if allow_nan:
        allnan = np.isnan(arr).all(axis=1)
        if allnan.any():
            i = int(np.flatnonzero(allnan)[0])
            raise DataError(
                f"'{name}' has no observed feature at {row_label(i, ids)} (all values NaN); "
                "such rows carry no information: remove them.",
                argument=name,
                rows=np.flatnonzero(allnan)[:100],
            )
    return np.ascontiguousarray(arr)


def check_array_1d(
    x: ArrayLike, *, name: str, n: int | None = None, ids=None, allow_nan: bool = False
) -> NDArray[np.float64]:
    """Return ``x`` as a finite 1-D float64 array (of length ``n`` if given)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' must be numeric: {exc}", argument=name) from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise DataError(f"'{name}' must be one-dimensional; got shape {arr.shape}", argument=name)
    if n is not None and arr.shape[0] != n:
        raise DataError(
            f"'{name}' must have length {n} (one value per object); got {arr.shape[0]}",
            argument=name,
        )
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"'{name}' has a non-finite value ({arr[i]}) at {row_label(i, ids)}; "
            f"{int(bad.sum())} value(s) affected.",
            argument=name,
            rows=np.flatnonzero(bad)[:100],
        )
    return np.ascontiguousarray(arr)


def check_positive(x: NDArray[np.float64], *, name: str, ids=None, strict: bool = True):
    """Raise unless every entry of ``x`` is (strictly) positive; return ``x``."""
    bad = ~(x > 0) if strict else ~(x >= 0)
    if bad.any():
        i = _first_bad_row(bad)
        v = x[i] if x.ndim == 1 else x[i][bad[i]][0]
        raise DataError(
            f"'{name}' must be {'positive' if strict else 'non-negative'}; got {v} at "
            f"{row_label(i, ids)} ({int(np.atleast_2d(bad.T).T.any(axis=-1).sum())} row(s) "
            "affected)",
            argument=name,
            rows=np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[:100],
        )
    return x


def check_errors(
    X_err: ArrayLike, *, shape: tuple[int, int], name: str = "X_err", ids=None
) -> NDArray[np.float64]:
    """Validate per-object standard deviations of shape (n_objects, n_features); zeros allowed."""
    arr = np.asarray(X_err, dtype=np.float64)
    if arr.ndim == 1 and shape[1] == 1:
        arr = arr[:, None]
    if arr.shape != shape:
        raise DataError(
            f"'{name}' must have shape {shape} (one standard deviation per object and "
            f"feature); got {arr.shape}",
            argument=name,
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad_row(bad)
        raise DataError(
            f"'{name}' has a non-finite value at {row_label(i, ids)}", argument=name, rows=[i]
        )
    return check_positive(np.ascontiguousarray(arr), name=name, ids=ids, strict=False)


def check_covariances(
    X_cov: ArrayLike,
    *,
    n_objects: int,
    n_features: int,
    name: str = "X_cov",
    ids=None,
    allow_singular: bool = True,
) -> NDArray[np.float64]:
    """Validate per-object covariances of shape (n_objects, n_features, n_features).

    Matrices must be finite, symmetric and positive semi-definite (positive
    definite when ``allow_singular`` is False).
    """
    arr = np.asarray(X_cov, dtype=np.float64)
    expected = (n_objects, n_features, n_features)
    if arr.shape != expected:
        raise DataError(f"'{name}' must have shape {expected}; got {arr.shape}", argument=name)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad_row(bad)
        raise DataError(
            f"'{name}' has a non-finite value at {row_label(i, ids)}", argument=name, rows=[i]
        )
    asym = np.abs(arr - np.swapaxes(arr, 1, 2)) > 1e-10 * (1.0 + np.abs(arr))
    if asym.any():
        i = _first_bad_row(asym)
        raise DataError(
            f"'{name}' must be symmetric; object {row_label(i, ids)} is not",
            argument=name,
            rows=[i],
        )
    eig_min = np.linalg.eigvalsh(arr)[:, 0] if n_features > 1 else arr[:, 0, 0]
    scale = np.abs(arr).reshape(n_objects, -1).max(axis=1)
    tol = -1e-12 * scale if allow_singular else 0.0
    bad_pd = eig_min < tol if allow_singular else eig_min <= tol
    if bad_pd.any():
        i = int(np.flatnonzero(bad_pd)[0])
        raise DataError(
            f"'{name}' must be positive {'semi-' if allow_singular else ''}definite; "
            f"{row_label(i, ids)} has eigenvalue {eig_min[i]:.3g}. Check the correlation "
            "coefficients lie in [-1, 1] and the errors are positive.",
            argument=name,
            rows=np.flatnonzero(bad_pd)[:100],
        )
    return np.ascontiguousarray(arr)


def check_sample_weight(
    sample_weight: ArrayLike | None, *, n: int, name: str = "sample_weight", ids=None
) -> NDArray[np.float64] | None:
    """Validate non-negative, finite, not-all-zero weights of length ``n`` (None passes)."""
    if sample_weight is None:
        return None
    w = check_array_1d(sample_weight, name=name, n=n, ids=ids)
    check_positive(w, name=name, ids=ids, strict=False)
    if not (w > 0).any():
        raise DataError(f"'{name}' must not be all zero", argument=name)
    return w


def check_int(value, *, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpecError(f"'{name}' must be an integer; got {value!r}", key=name)
    value = int(value)
    if minimum is not None and value < minimum:
        raise SpecError(f"'{name}' must be >= {minimum}; got {value}", key=name)
    if maximum is not None and value > maximum:
        raise SpecError(f"'{name}' must be <= {maximum}; got {value}", key=name)
    return value


def check_choice(value, *, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise list them sorted in the error."""
    if value not in choices:
        raise SpecError(f"'{name}' must be one of {sorted(choices)}; got {value!r}", key=name)
    return value
