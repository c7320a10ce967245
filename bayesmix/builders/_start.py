"""Where the sampler's chains start: a scaled coordinate for a variable known from a first pass.

PyMC (and nutpie, through PyMC's initial-point function) start each chain at the
model's initial point plus a uniform jitter of +-1 in the *sampler's* coordinates.
For a location in the data's units that is +-1 mas or +-1 mas/yr, which for a distant
cluster is a hundred times its width: a chain that starts outside the cluster can
lose it (the cluster component shrinks onto a few field stars, a local mode hundreds of
nats below the posterior's).  :func:`scaled_start` makes the sampler's coordinate
``(x - center) / scale``, so that the same jitter is +-``scale`` around ``center``;
the transform is affine, its Jacobian a constant, so the posterior is unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["UNBOUNDED", "robust_line", "scaled_start"]

#: PyMC distributions over the whole real line (no default transform), for which
#: :func:`scaled_start` may replace the sampler's coordinate
UNBOUNDED = frozenset(
    {
        "AsymmetricLaplace",
        "Cauchy",
        "ExGaussian",
        "Flat",
        "Gumbel",
        "Laplace",
        "Logistic",
        "Moyal",
        "Normal",
        "SkewNormal",
        "StudentT",
    }
)


@functools.cache
def _scaled_start_class() -> type:
    """Return the PyMC transform class (PyMC is imported when a model is built)."""
    import pytensor.tensor as pt
    from pymc.logprob.transforms import Transform

    class ScaledStart(Transform):
        """``x = center + scale * v``, ``v`` the sampler's coordinate (constant Jacobian)."""

        name = "scaled_start"
        ndim_supp = 0

        def __init__(self, center: float, scale: float):
            self.center = float(center)
            self.scale = float(scale)

        def forward(self, value, *inputs):
            return (pt.as_tensor(value) - self.center) / self.scale

        def backward(self, value, *inputs):
            return self.center + self.scale * pt.as_tensor(value)

        def log_jac_det(self, value, *inputs):
            return pt.zeros_like(value) + np.log(self.scale)

    return ScaledStart


def scaled_start(dist: str, center: float, scale: float | None) -> dict[str, Any]:
    """Keyword arguments that start a variable with prior ``dist`` within +-``scale`` of ``center``.

    Parameters
    ----------
    dist : str
        The prior's PyMC distribution name.
    center : float
        Initial value.
    scale : float or None
        Jitter half-width in the variable's unit; None keeps PyMC's coordinate.

    Returns
    -------
    dict
        ``{"initval": center}``, plus a ``transform`` ``x = center + scale * v`` when the
        distribution is in :data:`UNBOUNDED` (a bounded prior keeps its own transform,
        hence its support) and ``scale`` is given.
    """
    kw: dict[str, Any] = {"initval": float(center)}
    if scale is not None and dist in UNBOUNDED:
        if not (np.isfinite(scale) and scale > 0 and np.isfinite(center)):
            raise ValueError(f"a scaled start needs a finite center and scale > 0; got {scale}")
        kw["transform"] = _scaled_start_class()(center, scale)
    return kw


def robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float] | None:
    """Siegel's repeated-median line through (x, y) and its robust residual scale.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        Finite values, at least 3 points and 2 distinct x.

    Returns
    -------
    (slope, intercept, scale) or None
        The repeated-median slope and intercept (Siegel 1982; 50 % breakdown point,
        so a minority of outliers, even of high leverage, does not move it) and
        1.4826 times the median absolute residual (units of y); None when the line is
        undefined (fewer than 3 points, one x value).

    References
    ----------
    Siegel, A. F. 1982, Biometrika 69, 242.
    """
    from scipy import stats

    if x.size < 3 or np.ptp(x) == 0:
        return None
    res = stats.siegelslopes(y, x)
    slope, intercept = float(res.slope), float(res.intercept)
    r = y - (intercept + slope * x)
    scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    return slope, intercept, scale
