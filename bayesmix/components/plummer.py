"""Plummer (1911) surface-density profile of a star cluster on the tangent plane."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bayesmix.components._backend import Backend, get_backend

__all__ = ["Plummer"]


@dataclass(frozen=True)
class Plummer:
    r"""Projected Plummer profile in tangent-plane coordinates, optionally truncated.

    Parameters
    ----------
    max_radius : float or None
        If given, the density is normalised on the disc of this radius (deg)
        centred on the profile's centre, and is :math:`-\infty` outside it.
        (Observed footprints centred on the cluster; when the cluster centre is
        offset from the footprint centre by a small fraction of ``max_radius``
        the normalisation is approximate to that order.)
    region : bayesmix.sky.PlaneRegion or None
        If given (and ``max_radius`` is None), the density is normalised over
        this fixed region of the tangent plane (a survey footprint): the
        Plummer mass inside it, exact for any centre and radius
        (:meth:`bayesmix.sky.PlaneRegion.plummer_log_mass`), is divided out.
        Values outside the region are the same formula (the density is
        normalised over the region, not truncated), so that new objects
        outside the footprint can still be scored.

    Notes
    -----
    Parameters read from ``params`` (the mapping given to ``logp``):

    center : array-like of shape (..., 1, 2)
        Cluster centre ``(xi0, eta0)`` on the tangent plane (deg).
    radius : array-like of shape (..., 1)
        Plummer scale radius ``a`` (deg), which is also the projected half-number
        radius of the untruncated profile.

    Data ``y`` of shape (n_objects, 2) are gnomonic tangent-plane coordinates
    (deg).  With :math:`R^2 = |y - c|^2`,

    .. math:: \ln\Sigma(R) = -\ln\pi - 2\ln a - 2\ln(1 + R^2/a^2) - \ln f,
       \qquad f = R_{\max}^2/(a^2 + R_{\max}^2)

    (``f = 1`` without truncation), a density normalised to 1 over the plane
    (or the disc); with ``region``, f is the profile's mass inside the region.

    References
    ----------
    Plummer, H. C. 1911, MNRAS 71, 460.
    """

    max_radius: float | None = None
    region: Any = None
    parameters: ClassVar[tuple[str, ...]] = ("center", "radius")

    def logp(self, y: Any, params: Mapping[str, Any], *, backend: str | Backend = "numpy") -> Any:
        """Return the log surface density (per deg^2), shape (..., n_objects)."""
        b = get_backend(backend)
        c = params["center"]
        a = params["radius"]
        d0 = y[..., 0] - c[..., 0]
        d1 = y[..., 1] - c[..., 1]
        r2 = b.square(d0) + b.square(d1)
        a2 = b.square(a)
        val = -math.log(math.pi) - b.log(a2) - 2.0 * b.log1p(r2 / a2)
        if self.max_radius is None:
            if self.region is not None:
                log_f = self.region.plummer_log_mass(c[..., 0, :], a[..., 0], backend=b)
                val = val - log_f[..., None]
            return val
        rmax2 = float(self.max_radius) ** 2
        val = val + b.log1p(a2 / rmax2)  # -ln f = ln((a^2 + Rmax^2)/Rmax^2)
        return b.where(r2 <= rmax2, val, -np.inf)
