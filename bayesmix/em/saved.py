"""Reading saved ``.npz`` files safely: every field checked, every failure one FormatError.

A bayesmix model file is an ``.npz`` archive of plain arrays plus a ``meta``
array holding a JSON description (class, format version, hyperparameters,
fitted scalars).  Nothing is unpickled (``allow_pickle=False``), and nothing in
a file is trusted: :func:`read_npz` turns a damaged archive into a
:class:`~bayesmix.exceptions.FormatError`, and :class:`SavedArrays` checks each
array (presence, dtype, shape, finiteness, range) and each metadata value
(type, range, choice) as it is read.  Every message names the file and the
field, e.g. ``model.npz: field 'weights' must sum to 1; got 3.5``.

Used by :func:`bayesmix.em.load` and :meth:`bayesmix.gpz.GPzAugment.load`.
"""

from __future__ import annotations

import json
import math
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix.exceptions import FormatError

__all__ = ["Meta", "SavedArrays", "check_version", "read_npz"]

#: what numpy and zipfile raise on a damaged archive or member: ValueError, EOFError,
#: zipfile.BadZipFile, zlib.error, KeyError, OSError, NotImplementedError (an unknown zip
#: version), tokenize.TokenError and SyntaxError (numpy parses a .npy header as a literal),
#: MemoryError (a huge declared shape), ... -- any of them means a damaged file
_READ_ERRORS = (Exception,)


def read_npz(path: str | os.PathLike, *, what: str) -> dict[str, np.ndarray]:
    """Read every array of the ``.npz`` archive ``path`` without unpickling anything.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file should be (``"bayesmix EM model"``), for error messages.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    FormatError
        Not an ``.npz`` archive (truncated, corrupt, another format), or a
        member that cannot be read (object arrays need pickle and are refused).
    FileNotFoundError, IsADirectoryError, PermissionError
        The path itself cannot be opened.
    """
    source = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    with open(source, "rb") as fh:  # our handle: numpy leaks its own on a bad archive
        try:
            data = np.load(fh, allow_pickle=False)
        except _READ_ERRORS as exc:
            raise FormatError(f"{source}: not a {what} file (an .npz archive): {exc}") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise FormatError(
                f"{source}: not a {what} file: a single .npy array, not an .npz archive"
            )
        with data:
            for name in data.files:
                try:
                    arrays[name] = data[name]
                except _READ_ERRORS as exc:
                    raise FormatError(f"{source}: field {name!r} cannot be read: {exc}") from None
    return arrays


def _fmt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SavedArrays:
    """The arrays of one saved file (or one prefixed part of it), read with checks.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        As returned by :func:`read_npz`.
    source : str
        The file name, first in every message.
    prefix : str, default ""
        Key prefix of this part (``"pop__"``): fields are read as
        ``prefix + name`` and named so in messages.

    Examples
    --------
    >>> import numpy as np
    >>> saved = SavedArrays({"weights": np.array([2.0, 1.5])}, "model.npz")
    >>> w = saved.array("weights", shape=(2,))
    >>> saved.fail("weights", f"must sum to 1; got {w.sum()}")
    FormatError("model.npz: field 'weights' must sum to 1; got 3.5")
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str, prefix: str = ""):
        self.arrays = arrays
        self.source = source
        self.prefix = prefix

    # ----------------------------------------------------------------- errors
    def fail(self, field: str, message: str) -> FormatError:
        """Return the FormatError ``"<source>: field '<prefix><field>' <message>"``."""
        return FormatError(f"{self.source}: field '{self.prefix}{field}' {message}")

    def part(self, prefix: str) -> SavedArrays:
        """Return the part of the file whose keys start with ``prefix`` (prefix kept in names)."""
        return SavedArrays(self.arrays, self.source, self.prefix + prefix)

    def names(self) -> set[str]:
        """Return this part's field names (without the prefix)."""
        n = len(self.prefix)
        return {k[n:] for k in self.arrays if k.startswith(self.prefix)}

    def has(self, field: str) -> bool:
        """Return whether the field is present."""
        return self.prefix + field in self.arrays

    def check_fields(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        """Raise if a required field is missing or a field is not one the format knows."""
        present = self.names()
        required = set(required)
        for field in sorted(required - present):
            raise self.fail(field, "is missing")
        for field in sorted(present - required - set(optional)):
            raise self.fail(field, "is not part of this file format (unexpected array)")

    # ----------------------------------------------------------------- arrays
    def raw(self, field: str) -> np.ndarray:
        """Return the array of ``field`` unchecked (raise if missing)."""
        try:
            return self.arrays[self.prefix + field]
        except KeyError:
            raise self.fail(field, "is missing") from None

    def array(
        self,
        field: str,
        *,
        shape: Sequence[int | None],
        finite: bool = True,
        minimum: float | None = None,
        positive: bool = False,
        context: str = "",
    ) -> NDArray[np.float64]:
        """Return a float64 array of the given shape (``None`` = any length), checked.

        ``context`` explains the expected shape in the message (``"n_components = 3"``).

        Raises
        ------
        FormatError
            Missing, not float64, wrong shape, non-finite (with ``finite``),
            below ``minimum`` or, with ``positive``, not > 0.
        """
        a = self.raw(field)
        if a.dtype != np.float64:
            raise self.fail(field, f"must be a float64 array; got dtype {a.dtype}")
        if a.ndim != len(shape) or any(
            s is not None and s != t for s, t in zip(shape, a.shape, strict=False)
        ):
            want = "(" + ", ".join("n" if s is None else str(s) for s in shape)
            want += ",)" if len(shape) == 1 else ")"
            why = f" ({context})" if context else ""
            raise self.fail(field, f"must have shape {want}{why}; got {a.shape}")
        if finite and not np.isfinite(a).all():
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise self.fail(field, f"must be finite; got {a[idx]} at index {idx}")
        if minimum is not None and a.size and np.nanmin(a) < minimum:
            idx = tuple(int(i) for i in np.argwhere(a < minimum)[0])
            raise self.fail(field, f"must be >= {minimum}; got {a[idx]} at index {idx}")
        if positive and a.size and not (a > 0).all():
            idx = tuple(int(i) for i in np.argwhere(~(a > 0))[0])
            raise self.fail(field, f"must be > 0; got {a[idx]} at index {idx}")
        return np.array(a, dtype=np.float64, copy=True)

    # --------------------------------------------------------------- metadata
    def meta(self, field: str = "meta") -> Meta:
        """Parse the JSON metadata held in ``field`` (a 0-d unicode array)."""
        a = self.raw(field)
        if a.dtype.kind != "U" or a.ndim != 0:
            raise self.fail(field, f"must be a JSON text (0-d str array); got dtype {a.dtype}")
        try:
            doc = json.loads(str(a))
        except ValueError as exc:
            raise self.fail(field, f"is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise self.fail(field, f"must be a JSON object; got {type(doc).__name__}")
        return Meta(doc, self, field)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}


class Meta:
    """A JSON object from a saved file whose values are read with type and range checks.

    Returned by :meth:`SavedArrays.meta`; ``Meta.section("params")`` reads a
    nested object.  Field names in messages are dotted paths
    (``meta.params.covariance_type``).
    """

    def __init__(self, doc: dict, saved: SavedArrays, path: str):
        self.doc = doc
        self.saved = saved
        self.path = path

    def fail(self, key: str, message: str) -> FormatError:
        """Return the FormatError for ``key`` of this object."""
        return self.saved.fail(f"{self.path}.{key}", message)

    def check_keys(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        """Raise if a required key is missing or an unknown key is present."""
        required = set(required)
        for key in sorted(required - set(self.doc)):
            raise self.fail(key, "is missing")
        for key in sorted(set(self.doc) - required - set(optional)):
            raise self.fail(key, "is not part of this file format (unexpected key)")

    def value(self, key: str) -> Any:
        """Return the raw value of ``key`` (raise if missing)."""
        if key not in self.doc:
            raise self.fail(key, "is missing")
        return self.doc[key]

    def section(self, key: str) -> Meta:
        """Return the nested JSON object ``key``."""
        v = self.value(key)
        if not isinstance(v, dict):
            raise self.fail(key, f"must be a JSON object; got {_fmt(v)}")
        return Meta(v, self.saved, f"{self.path}.{key}")

    def _scalar(self, key: str, what: str, ok, optional: bool = False, **bounds) -> Any:
        """Return the value of ``key`` if ``ok(value)``, within ``bounds`` (else raise).

        ``bounds``: ``minimum`` (>=), ``maximum`` (<=), ``below`` (<), ``above`` (>),
        each None for no bound; ``None`` is returned for JSON null with ``optional``.
        """
        v = self.value(key)
        if v is None and optional:
            return None
        if not ok(v):
            raise self.fail(key, f"must be {what}; got {_fmt(v)}")
        for name, sign in (("minimum", ">="), ("maximum", "<="), ("below", "<"), ("above", ">")):
            bound = bounds.get(name)
            if bound is not None and not _COMPARE[sign](v, bound):
                raise self.fail(key, f"must be {sign} {bound}; got {v}")
        return v

    def integer(self, key: str, *, minimum=None, maximum=None, optional=False) -> int | None:
        """Return an integer in [minimum, maximum] (``None`` allowed with ``optional``)."""
        return self._scalar(key, "an integer", _is_int, optional, minimum=minimum, maximum=maximum)

    def number(self, key: str, *, minimum=None, below=None, above=None, optional=False) -> Any:
        """Return a finite float (>= minimum, < below, > above; ``None`` with ``optional``)."""
        bounds = {"minimum": minimum, "below": below, "above": above}
        v = self._scalar(key, "a finite number", _is_finite, optional, **bounds)
        return None if v is None else float(v)

    def flag(self, key: str) -> bool:
        """Return a JSON boolean."""
        return self._scalar(key, "true or false", lambda v: isinstance(v, bool))

    def text(self, key: str) -> str:
        """Return a string."""
        return self._scalar(key, "a string", lambda v: isinstance(v, str))

    def choice(self, key: str, choices: Iterable[str]) -> str:
        """Return a string that is one of ``choices``."""
        choices = sorted(choices)
        v = self.value(key)
        if not isinstance(v, str) or v not in choices:
            raise self.fail(key, f"must be one of {choices}; got {_fmt(v)}")
        return v

    def float_list(self, key: str, *, length: int | None = None) -> list[float]:
        """Return a list of finite numbers (of ``length`` items when given)."""
        v = self.value(key)
        ok = isinstance(v, list) and all(_is_finite(x) for x in v)
        if not ok:
            raise self.fail(key, f"must be a list of finite numbers; got {_fmt(v)}")
        if length is not None and len(v) != length:
            raise self.fail(key, f"must have {length} entries; got {len(v)}")
        return [float(x) for x in v]


def check_version(meta: Meta, current: int) -> int:
    """Return the file's ``format_version`` if this bayesmix reads it (else FormatError)."""
    version = meta.integer("format_version", minimum=1)
    if version > current:
        written = meta.doc.get("bayesmix_version")
        raise meta.fail(
            "format_version",
            f"is {version}: the file was written by a newer bayesmix ({written!s}); this "
            f"bayesmix reads format_version {current}, upgrade bayesmix",
        )
    if version < current:  # pragma: no cover - there is no older layout yet
        raise meta.fail("format_version", f"is {version}; no longer supported")
    return version
