"""Uniform (box) component, e.g. a flat outlier or background distribution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bayesmix.components._backend import Backend, get_backend

__all__ = ["Uniform"]


@dataclass(frozen=True)
class Uniform:
    r"""Uniform density on ``[lower, upper]`` (a box in D dimensions).

    Parameters
    ----------
    n_features : int or None
        None for 1-D data ``y`` of shape (n_objects,); D for data of shape
        (n_objects, D), where the box is the product of D intervals.

    Notes
    -----
    Parameters read from ``params`` (the mapping given to ``logp``):

    lower, upper : array-like, broadcastable to (..., 1) or (..., 1, D)
        Bounds in the units of ``y``, ``upper > lower``.

    :math:`\ln p(y) = -\sum_d \ln(u_d - l_d)` inside the box and
    :math:`-\infty` outside.  Measurement errors are not convolved: the box is
    assumed much wider than the errors (Hogg, Bovy & Lang 2010, sect. 3).
    """

    n_features: int | None = None
    parameters: ClassVar[tuple[str, ...]] = ("lower", "upper")

    def logp(self, y: Any, params: Mapping[str, Any], *, backend: str | Backend = "numpy") -> Any:
        """Return ``-ln(upper - lower)`` inside the box, ``-inf`` outside."""
        b = get_backend(backend)
        lo, hi = params["lower"], params["upper"]
        inside = (y >= lo) & (y <= hi)
        logp = -b.log(hi - lo) + 0.0 * y
        if self.n_features is not None:
            inside = inside.all(axis=-1)
            logp = b.sum(logp, axis=-1)
        return b.where(inside, logp, -np.inf)
