"""Beta distribution on a rescaled interval, e.g. a field parallax distribution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bayesmix.components._backend import Backend, get_backend
from bayesmix.components._special import special

__all__ = ["Beta"]


@dataclass(frozen=True)
class Beta:
    r"""Beta density of shape ``(alpha, beta)`` rescaled to ``[lower, upper]``.

    Notes
    -----
    Parameters read from ``params`` (the mapping given to ``logp``):

    alpha, beta : array-like, broadcastable to (..., n_objects)
        Shape parameters, > 0.
    lower, upper : array-like, broadcastable to (..., n_objects)
        The interval (units of ``y``, e.g. mas for a parallax), ``upper > lower``.

    With :math:`z = (y - l)/(u - l)`,

    .. math:: \ln p(y) = (\alpha-1)\ln z + (\beta-1)\ln(1-z) - \ln B(\alpha,\beta) - \ln(u-l)

    inside the interval and :math:`-\infty` outside; :math:`\ln B` from log-gamma
    functions.  Measurement errors are not convolved: the component is meant
    for a broad field distribution of *observed* values (e.g. observed parallaxes,
    negative ones included by choosing ``lower`` below the smallest), whose
    width is much larger than the errors.  This is the field model of the
    parallax variant of :func:`bayesmix.builders.cluster_field`.
    """

    parameters: ClassVar[tuple[str, ...]] = ("alpha", "beta", "lower", "upper")

    def logp(self, y: Any, params: Mapping[str, Any], *, backend: str | Backend = "numpy") -> Any:
        """Return ``ln Beta((y - lower)/(upper - lower) | alpha, beta) - ln(upper - lower)``."""
        b = get_backend(backend)
        sp = special(b)
        a, bb = params["alpha"], params["beta"]
        lo, hi = params["lower"], params["upper"]
        width = hi - lo
        inside = (y > lo) & (y < hi)
        # clip z into (0, 1) before the logs so the masked branch stays finite (and
        # its gradient is not NaN)
        z = (y - lo) / width
        z = b.where(inside, z, 0.5)
        log_beta_fn = sp.gammaln(a) + sp.gammaln(bb) - sp.gammaln(a + bb)
        val = (a - 1.0) * b.log(z) + (bb - 1.0) * b.log1p(-z) - log_beta_fn - b.log(width)
        return b.where(inside, val, -np.inf)
