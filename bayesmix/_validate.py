"""Validators for the public boundary.

Each validator *returns* the normalised value (``X = check_matrix(X, name="X")``)
and raises :class:`bayesmix.exceptions.DataError` naming the argument, the
problem and, for data, the first offending row.  Internals assume clean arrays.

The option checkers (``check_int``, ``check_float``, ``check_choice``, ...)
serve both Python arguments (``name="n_init"``) and spec key paths
(``key="[builder].n_init"``, used by :mod:`bayesmix.spec`), raising
:class:`bayesmix.exceptions.SpecError`; they are the only value checks of the
package.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "check_array_1d",
    "check_bool",
    "check_candidates",
    "check_choice",
    "check_covariances",
    "check_errors",
    "check_float",
    "check_float_list",
    "check_int",
    "check_matrix",
    "check_positive",
    "check_range",
    "check_same_length",
    "check_sample_weight",
    "check_str",
    "check_str_list",
    "option_error",
    "row_label",
    "suggest",
    "toml_key",
    "type_name",
]


def row_label(i: int, ids: Sequence | NDArray | None = None) -> str:
    """Describe row ``i`` for an error message, with its id when known."""
    if ids is None:
        return f"row {i}"
    return f"row {i} (id {ids[i]})"


def _shown(v: float) -> str:
    """Return a value as a message shows it (NaN spelled so; inf and -inf as Python does)."""
    return "NaN" if np.isnan(v) else repr(float(v))


def _bad_rows(bad: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Return the rows (first axis) where ``bad`` holds anywhere, in order."""
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    return np.flatnonzero(bad)


def _first_bad_row(bad: NDArray[np.bool_]) -> int:
    return int(_bad_rows(bad)[0])


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
        rows = _bad_rows(bad)
        i = int(rows[0])
        j = int(np.flatnonzero(bad[i])[0])
        fix = "" if allow_nan else " (or use nan_policy='marginalize' where offered)"
        raise DataError(
            f"'{name}' has a non-finite value ({_shown(arr[i, j])}) at {row_label(i, ids)}, "
            f"column {j}; {rows.size} row(s) affected. Remove or impute these rows{fix}.",
            argument=name,
            rows=rows[:100],
        )
    rows = _bad_rows(np.isnan(arr).all(axis=1)) if allow_nan else ()
    if len(rows):
        raise DataError(
            f"'{name}' has no observed feature at {row_label(int(rows[0]), ids)} (all values "
            "NaN); such rows carry no information: remove them.",
            argument=name,
            rows=rows[:100],
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
    rows = _bad_rows(np.isinf(arr) if allow_nan else ~np.isfinite(arr))
    if rows.size:
        i = int(rows[0])
        raise DataError(
            f"'{name}' has a non-finite value ({_shown(arr[i])}) at {row_label(i, ids)}; "
            f"{rows.size} value(s) affected.",
            argument=name,
            rows=rows[:100],
        )
    return np.ascontiguousarray(arr)


def check_same_length(arrays: Mapping[str, ArrayLike], *, argument: str) -> list[NDArray]:
    """Return ``arrays`` flattened to 1-D float64; raise unless all have the same length.

    The DataError names every array and its length, e.g. ``'x', 'y' and
    'probability' must have the same length; got 3, 3 and 2``.
    """
    out = [np.asarray(v, dtype=np.float64).reshape(-1) for v in arrays.values()]
    if len({a.size for a in out}) > 1:
        names = _listed([f"'{name}'" for name in arrays])
        raise DataError(
            f"{names} must have the same length; got {_listed([str(a.size) for a in out])}",
            argument=argument,
        )
    return out


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def check_positive(x: NDArray[np.float64], *, name: str, ids=None, strict: bool = True):
    """Raise unless every entry of ``x`` is (strictly) positive; return ``x``."""
    bad = ~(x > 0) if strict else ~(x >= 0)
    rows = _bad_rows(bad)
    if rows.size:
        i = int(rows[0])
        v = x[i] if x.ndim == 1 else x[i][bad[i]][0]
        raise DataError(
            f"'{name}' must be {'positive' if strict else 'non-negative'}; got {v} at "
            f"{row_label(i, ids)} ({rows.size} row(s) affected)",
            argument=name,
            rows=rows[:100],
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
    rows = _bad_rows(eig_min < tol if allow_singular else eig_min <= tol)
    if rows.size:
        i = int(rows[0])
        raise DataError(
            f"'{name}' must be positive {'semi-' if allow_singular else ''}definite; "
            f"{row_label(i, ids)} has eigenvalue {eig_min[i]:.3g}. Check the correlation "
            "coefficients lie in [-1, 1] and the errors are positive.",
            argument=name,
            rows=rows[:100],
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


# --------------------------------------------------------------------------------------------
# option values (SpecError): one implementation for Python arguments and spec keys
# --------------------------------------------------------------------------------------------
#
# Every checker below takes exactly one of ``name`` (a Python argument: the message reads
# "'n_init' must be >= 1; got 0") or ``key`` (a spec or command-line key path: the message
# reads "[builder].n_init must be >= 1, got 0"); the SpecError's ``key`` is that name or key.


def type_name(value: Any) -> str:
    """Describe the type of a (TOML or JSON) value for a message: "a string", "an array", ..."""
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", tuple: "an array", dict: "a table"})
    return names.get(type(value), type(value).__name__)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(name: Any) -> str:
    """Spell a key for a key path: bare when TOML allows it, else quoted (``"a b"``)."""
    name = str(name)
    return name if _BARE_KEY.match(name) else json.dumps(name)


def suggest(word: Any, options: Iterable[Any]) -> str:
    """Return ``"; did you mean 'x'?"`` for the option closest to ``word`` (or ``""``).

    An option differing only in case comes first (``b`` -> ``B``, which a
    similarity ratio misses for short names).
    """
    names = [str(o) for o in options]
    same = [n for n in names if n.casefold() == str(word).casefold()]
    close = same or difflib.get_close_matches(str(word), names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _label(name: str | None, key: str | None) -> tuple[str, str, str]:
    if (name is None) == (key is None):
        raise TypeError("give exactly one of name= (an argument) and key= (a spec key path)")
    return (key, ", got", key) if key is not None else (f"'{name}'", "; got", str(name))


def option_error(text: str, got: str | None = None, *, name=None, key=None) -> SpecError:
    """Return the SpecError "<label> <text>, got <got>" for an argument ``name`` or ``key``."""
    label, sep, k = _label(name, key)
    return SpecError(f"{label} {text}" + ("" if got is None else f"{sep} {got}"), key=k)


def _item(name: str | None, key: str | None, suffix: str) -> dict[str, str | None]:
    return {"name": None if name is None else f"{name}{suffix}", "key": key and key + suffix}


def check_int(
    value, *, name=None, key=None, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an int within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise option_error(
            "must be an integer", f"{type_name(value)} {value!r}", name=name, key=key
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise option_error(f"must be >= {minimum}", str(value), name=name, key=key)
    if maximum is not None and value > maximum:
        raise option_error(f"must be <= {maximum}", str(value), name=name, key=key)
    return value


def check_float(
    value,
    *,
    name=None,
    key=None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """Return ``value`` as a finite float within its bounds (excluded when ``exclusive_*``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise option_error("must be a number", f"{type_name(value)} {value!r}", name=name, key=key)
    v = float(value)
    if not math.isfinite(v):
        raise option_error("must be finite", repr(value), name=name, key=key)
    if minimum is not None and (v <= minimum if exclusive_minimum else v < minimum):
        op = ">" if exclusive_minimum else ">="
        raise option_error(f"must be {op} {minimum}", repr(value), name=name, key=key)
    if maximum is not None and (v >= maximum if exclusive_maximum else v > maximum):
        op = "<" if exclusive_maximum else "<="
        raise option_error(f"must be {op} {maximum}", repr(value), name=name, key=key)
    return v


def check_bool(value, *, name=None, key=None) -> bool:
    """Return ``value`` if it is a boolean."""
    if not isinstance(value, (bool, np.bool_)):
        raise option_error(
            "must be true or false", f"{type_name(value)} {value!r}", name=name, key=key
        )
    return bool(value)


def check_str(value, *, name=None, key=None) -> str:
    """Return ``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise option_error(
            "must be a non-empty string", f"{type_name(value)} {value!r}", name=name, key=key
        )
    return value


def check_choice(value, *, choices, name=None, key=None):
    """Return ``value`` if it is one of ``choices``; otherwise list them sorted in the error."""
    options = sorted(choices)
    try:
        ok = value in options
    except TypeError:  # e.g. comparing an array with tuples
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in options) if key is not None else str(options)
        raise option_error(f"must be one of {listed}", repr(value), name=name, key=key)
    return value


def check_str_list(
    value,
    *,
    name=None,
    key=None,
    min_len: int = 1,
    length: int | None = None,
    unique: bool = False,
) -> tuple[str, ...]:
    """Return strings (one string counts as a list of one) as a tuple of non-empty strings.

    With ``unique``, an entry given twice is an error naming its position.
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise option_error("must be an array of non-empty strings", repr(value), name=name, key=key)
    if length is not None and len(value) != length:
        raise option_error(f"must have {length} entries", str(len(value)), name=name, key=key)
    if len(value) < min_len:
        entries = "entry" if min_len == 1 else "entries"
        raise option_error(
            f"must have at least {min_len} {entries}", str(len(value)), name=name, key=key
        )
    if unique:
        for i, v in enumerate(value):
            if v in value[:i]:
                first = list(value).index(v)
                raise option_error(
                    f"repeats {v!r} (also entry [{first}]); name each entry once",
                    **_item(name, key, f"[{i}]"),
                )
    return tuple(value)


def check_float_list(value, *, name=None, key=None, length: int | None = None) -> tuple[float, ...]:
    """Return an array of finite numbers (of ``length`` entries if given) as a tuple."""
    if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
        n = f"{length} numbers" if length is not None else "numbers"
        raise option_error(f"must be an array of {n}", repr(value), name=name, key=key)
    return tuple(check_float(v, **_item(name, key, f"[{i}]")) for i, v in enumerate(value))


def check_range(value, *, name=None, key=None) -> tuple[float, float]:
    """Return ``[lower, upper]`` as finite floats with upper > lower."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise option_error("must be [lower, upper]", repr(value), name=name, key=key)
    lo, hi = check_float_list(value, name=name, key=key, length=2)
    if not hi > lo:
        raise option_error("must have upper > lower", repr(value), name=name, key=key)
    return (lo, hi)


def check_candidates(value, *, name=None, key=None) -> tuple[int, ...]:
    """Return numbers of components as sorted unique ints >= 1.

    Accepts a count (``3``), a range or list as text (``"1-6"``, ``"1,2,4"``,
    ``"1-3,6"``) or an array (``[1, 2, 4]``).
    """
    looks = "must look like 3, '1-6', '1,2,4' or [1, 2, 4]"
    vals: list[int] = []
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        vals = [int(value)]
    elif isinstance(value, (list, tuple, range)):
        vals = [check_int(v, **_item(name, key, f"[{i}]")) for i, v in enumerate(value)]
    elif isinstance(value, str):
        try:
            for part in value.replace(" ", "").split(","):
                lo, dash, hi = part.partition("-")
                first, last = int(lo), int(hi if dash else lo)  # "1-" is not a range
                if last < first:
                    raise ValueError
                vals.extend(range(first, last + 1))
        except ValueError:
            raise option_error(looks, repr(value), name=name, key=key) from None
    else:
        raise option_error(looks, f"{type_name(value)} {value!r}", name=name, key=key)
    if not vals:
        raise option_error("must name at least one number of components", name=name, key=key)
    if min(vals) < 1:
        raise option_error("must be >= 1", str(min(vals)), name=name, key=key)
    return tuple(sorted(set(vals)))
