"""Saved EM models: ``.npz`` arrays with embedded JSON metadata (never pickle).

:meth:`BaseMixture.save` writes the arrays of :func:`to_arrays`; :func:`load`
reads a file and :func:`from_arrays` rebuilds a model from such arrays (also
when they are embedded in another file, e.g. a saved ``GPzAugment``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from bayesmix.em._base import FORMAT_VERSION, BaseMixture
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.xd import XDGaussianMixture
from bayesmix.exceptions import FormatError

__all__ = ["from_arrays", "load", "to_arrays"]

_CLASSES: dict[str, type[BaseMixture]] = {
    "GaussianMixture": GaussianMixture,
    "XDGaussianMixture": XDGaussianMixture,
}


def to_arrays(model: BaseMixture) -> dict[str, np.ndarray]:
    """Return the arrays that ``model.save`` writes (``meta`` holds the JSON description).

    Raises
    ------
    NotFittedError
        ``model`` is not fitted.
    """
    return model._arrays()


def from_arrays(arrays: Mapping[str, np.ndarray], *, source: str = "the arrays") -> BaseMixture:
    """Rebuild a fitted model from the arrays of :func:`to_arrays`.

    Parameters
    ----------
    arrays : mapping of str to ndarray
    source : str
        What the arrays came from (a file name), for error messages.

    Raises
    ------
    FormatError
        No metadata, an unknown class or an unsupported ``format_version``.
    """
    if "meta" not in arrays:
        raise FormatError(f"{source} has no bayesmix metadata; it was not written by save()")
    meta = json.loads(str(arrays["meta"]))
    name = meta.get("class")
    version = meta.get("format_version")
    if name not in _CLASSES:
        raise FormatError(f"{source} holds class {name!r}; expected one of {sorted(_CLASSES)}")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"{source} has format_version {version} (written by bayesmix "
            f"{meta.get('bayesmix_version')}); this bayesmix reads format_version "
            f"{FORMAT_VERSION}"
        )
    return _CLASSES[name]._from_saved(meta, arrays)


def load(path: str | os.PathLike) -> BaseMixture:
    """Load a model saved with ``save`` (no code is executed: ``allow_pickle=False``).

    Raises
    ------
    FormatError
        Not a bayesmix EM model file, or an unsupported ``format_version``.
    """
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path} is not a bayesmix EM model file: {exc}") from None
    return from_arrays(arrays, source=str(path))
