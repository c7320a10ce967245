"""Sky geometry for cluster models: tangent-plane coordinates and survey footprints.

A cluster's stars are concentrated on the sky; the field's are spread over the
survey footprint.  To write both as densities over the same coordinates, the
sky is projected gnomonically onto the plane tangent at the footprint centre
(coordinates ``xi``, ``eta`` in degrees, i.e. ``degrees(tan)`` of the angle).

* :func:`tangent_plane` / :func:`from_tangent_plane`: the projection and its
  inverse, for numpy or PyTensor arrays.
* :class:`Footprint`: a cone (centre and radius) or an RA/Dec box, given or
  inferred from the stars (:meth:`Footprint.from_data`).  It knows its solid
  angle, the field's uniform density per unit tangent-plane area
  (:meth:`Footprint.field_logp`) and its outline on the tangent plane
  (:meth:`Footprint.region`).
* :class:`PlaneRegion`: that outline (a disc or a polygon), with the exact
  fraction of a Plummer (1911) profile inside it
  (:meth:`PlaneRegion.plummer_log_mass`), so that a cluster profile can be
  normalised over the footprint inside a sampler.

This module never imports PyMC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._units import angle_deg, sky_position
from bayesmix.components import Backend, get_backend
from bayesmix.exceptions import DataError, SpecError

__all__ = ["Footprint", "PlaneRegion", "from_tangent_plane", "separation", "tangent_plane"]

_DEG = math.pi / 180.0
#: square degrees per steradian
_DEG2_PER_SR = (180.0 / math.pi) ** 2


@cache
def _gauss_legendre() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Legendre nodes and weights on [-pi/2, pi/2] (256 points; computed on first use)."""
    x, w = np.polynomial.legendre.leggauss(256)
    return x * math.pi / 2, w * math.pi / 2


def separation(ra: ArrayLike, dec: ArrayLike, ra0: float, dec0: float) -> NDArray[np.float64]:
    """Angular separation (deg) of (ra, dec) from (ra0, dec0), by the haversine formula."""
    r1, d1, r0, d0 = (np.radians(np.asarray(v, dtype=float)) for v in (ra, dec, ra0, dec0))
    h = np.sin((d1 - d0) / 2) ** 2 + np.cos(d1) * np.cos(d0) * np.sin((r1 - r0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def tangent_plane(
    ra: Any, dec: Any, ra0: Any, dec0: Any, *, backend: str | Backend = "numpy"
) -> tuple[Any, Any, Any]:
    r"""Gnomonic projection of (ra, dec) onto the plane tangent at (ra0, dec0).

    Parameters
    ----------
    ra, dec : array-like (deg)
    ra0, dec0 : float or array-like (deg)
        Tangent point; broadcast against ``ra``/``dec``.
    backend : {"numpy", "pytensor"} or Backend

    Returns
    -------
    xi, eta : arrays (deg)
        Standard coordinates, ``degrees`` of the tangent-plane values (``xi``
        towards increasing RA, ``eta`` towards the north pole).
    cos_c : array
        Cosine of the angular distance from the tangent point; the projection's
        area element is :math:`d\Omega = \cos^3 c\; d\xi\, d\eta`.

    Notes
    -----
    :math:`\cos c = \sin\delta_0\sin\delta + \cos\delta_0\cos\delta\cos(\alpha-\alpha_0)`,
    :math:`\xi = \cos\delta\sin(\alpha-\alpha_0)/\cos c`,
    :math:`\eta = (\cos\delta_0\sin\delta - \sin\delta_0\cos\delta\cos(\alpha-\alpha_0))/\cos c`
    (Calabretta & Greisen 2002, the TAN projection).  Points more than 90 deg
    from the tangent point have ``cos_c <= 0`` and no projection.
    """
    b = get_backend(backend)
    a = (b.as_tensor(ra) - b.as_tensor(ra0)) * _DEG
    d = b.as_tensor(dec) * _DEG
    d0 = b.as_tensor(dec0) * _DEG
    cd, sd, cd0, sd0, ca = b.cos(d), b.sin(d), b.cos(d0), b.sin(d0), b.cos(a)
    cos_c = sd0 * sd + cd0 * cd * ca
    xi = cd * b.sin(a) / cos_c / _DEG
    eta = (cd0 * sd - sd0 * cd * ca) / cos_c / _DEG
    return xi, eta, cos_c


def from_tangent_plane(
    xi: Any, eta: Any, ra0: Any, dec0: Any, *, backend: str | Backend = "numpy"
) -> tuple[Any, Any]:
    """Inverse of :func:`tangent_plane`: (ra, dec) in deg, RA not wrapped (ra0 +- 180)."""
    b = get_backend(backend)
    x = b.as_tensor(xi) * _DEG
    y = b.as_tensor(eta) * _DEG
    d0 = b.as_tensor(dec0) * _DEG
    cd0, sd0 = b.cos(d0), b.sin(d0)
    den = cd0 - y * sd0
    ra = b.as_tensor(ra0) + b.arctan2(x, den) / _DEG
    dec = b.arctan2(sd0 + y * cd0, b.sqrt(b.square(x) + b.square(den))) / _DEG
    return ra, dec


def _wrap180(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------------------------
# regions on the tangent plane
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PlaneRegion:
    r"""A region of the tangent plane: a disc, or a simple polygon.

    Attributes
    ----------
    kind : {"disc", "polygon"}
    center : (float, float)
        Disc centre (deg); unused for polygons.
    radius : float
        Disc radius (deg); unused for polygons.
    vertices : ndarray of shape (n_vertices, 2)
        Polygon vertices (deg), counter-clockwise, not repeated at the end.
    n_angles : int
        Trapezoid nodes in angle for the disc (the integrand is smooth and
        periodic, so the rule converges geometrically).

    Notes
    -----
    The Plummer mass inside the region, for a profile of scale radius a
    centred at c, is exact for a polygon: splitting the region into the
    triangles (c, p, q) over its edges, each triangle contributes

    .. math:: \frac{1}{2\pi}\,\frac{h}{\sqrt{a^2+h^2}}
              \left[\arctan\frac{s_q}{\sqrt{a^2+h^2}} - \arctan\frac{s_p}{\sqrt{a^2+h^2}}\right],

    with h the signed distance from c to the edge's line and s_p, s_q the
    positions of the edge's ends along it, measured from the foot of the
    perpendicular; this holds for any simple polygon and any c.  For a disc,
    :math:`\frac{1}{2\pi}\oint [F(R_2(\theta)) - F(R_1(\theta))] d\theta` with
    :math:`F(R) = R^2/(a^2+R^2)` (the Plummer mass within R) and
    :math:`R_{1,2}` where the ray from c in direction θ enters and leaves the disc.
    """

    kind: str
    center: tuple[float, float] = (0.0, 0.0)
    radius: float = 0.0
    vertices: NDArray[np.float64] | None = None
    n_angles: int = 512

    def _disc_mass(self, cx: Any, cy: Any, a2: Any, b: Backend) -> Any:
        """Plummer mass in the disc (trapezoid or Gauss-Legendre rule in angle).

        Centre inside: trapezoid over all angles.  Centre outside: Gauss-Legendre
        over the rays that meet the disc, in t with psi = beta sin t.  Both branches
        are evaluated on safe inputs and the right one selected, so that gradients
        stay finite.
        """
        rho2 = self.radius**2
        dx = cx - self.center[0]
        dy = cy - self.center[1]
        d2 = b.square(dx) + b.square(dy)
        inside = d2 < rho2
        # centre inside: every ray leaves once, at R(theta) = -d.u + sqrt((d.u)^2 - d^2 + rho^2)
        th = np.arange(self.n_angles) * (2 * np.pi / self.n_angles)
        ix = b.where(inside, dx, 0.0)[..., None]
        iy = b.where(inside, dy, 0.0)[..., None]
        bb = ix * np.cos(th) + iy * np.sin(th)
        rr = -bb + b.sqrt(b.square(bb) - (b.square(ix) + b.square(iy)) + rho2)
        m_in = b.sum(b.square(rr) / (a2[..., None] + b.square(rr)), axis=-1) / self.n_angles
        # centre outside: rays within beta of the direction to the disc centre cross it,
        # entering at R1 and leaving at R2 = d cos(psi) -+ sqrt(rho^2 - d^2 sin^2 psi)
        t, w = _gauss_legendre()
        od2 = b.where(inside, 4.0 * rho2, d2)[..., None]
        od = b.sqrt(od2)
        beta = b.arctan(self.radius / b.sqrt(od2 - rho2))
        psi = beta * np.sin(t)
        along = od * b.cos(psi)
        root = b.sqrt(b.maximum(rho2 - od2 * b.square(b.sin(psi)), 0.0))
        r2, r1 = along + root, along - root
        diff = b.square(r2) / (a2[..., None] + b.square(r2)) - b.square(r1) / (
            a2[..., None] + b.square(r1)
        )
        m_out = b.sum(diff * (w * np.cos(t)) * beta, axis=-1) / (2 * np.pi)
        return b.where(inside, m_in, m_out)

    def area(self) -> float:
        """Area (deg^2 of the tangent plane)."""
        if self.kind == "disc":
            return math.pi * self.radius**2
        v = np.asarray(self.vertices)
        w = np.roll(v, -1, axis=0)
        return float(0.5 * np.sum(v[:, 0] * w[:, 1] - w[:, 0] * v[:, 1]))

    def plummer_log_mass(
        self, center: Any, radius: Any, *, backend: str | Backend = "numpy"
    ) -> Any:
        """Log of the fraction of a Plummer profile inside the region.

        Parameters
        ----------
        center : array of shape (..., 2)
            Profile centre (deg, tangent plane).
        radius : array of shape (...)
            Plummer scale radius a (deg).

        Returns
        -------
        array of shape (...)
        """
        b = get_backend(backend)
        cx, cy = center[..., 0], center[..., 1]
        a2 = b.square(b.as_tensor(radius))
        if self.kind == "disc":
            return b.log(self._disc_mass(cx, cy, a2, b))
        v = np.asarray(self.vertices)
        w = np.roll(v, -1, axis=0)
        d = w - v
        length = np.hypot(d[:, 0], d[:, 1])
        tx, ty = d[:, 0] / length, d[:, 1] / length
        px = v[:, 0] - cx[..., None]
        py = v[:, 1] - cy[..., None]
        h = px * ty - py * tx
        s1 = px * tx + py * ty
        s2 = s1 + length
        r = b.sqrt(a2[..., None] + b.square(h))
        terms = h / r * (b.arctan(s2 / r) - b.arctan(s1 / r))
        return b.log(b.sum(terms, axis=-1) / (2 * np.pi))


# --------------------------------------------------------------------------------------------
# footprints on the sky
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    r"""Survey footprint on the sky: a cone or an RA/Dec box.

    Parameters
    ----------
    kind : {"cone", "box"}
    ra, dec : float (cone centre) or (lo, hi) (box edges), deg
        A box's RA range may wrap through 0 (e.g. ``(358.0, 3.8)``).
    radius : float, optional
        Cone radius (deg).

    Notes
    -----
    The tangent point of the projection is the cone centre, or the box's
    middle RA and middle Dec.  Solid angles: a cone of radius ρ has
    :math:`2\pi(1-\cos\rho)` sr; a box
    :math:`\Delta\alpha\,(\sin\delta_{hi} - \sin\delta_{lo})` sr.
    """

    kind: str
    ra: Any
    dec: Any
    radius: float | None = None

    def __post_init__(self) -> None:
        if self.kind == "cone":
            if self.radius is None or not 0.0 < float(self.radius) < 90.0:
                raise SpecError(
                    f"a cone footprint needs 0 < radius < 90 deg; got {self.radius!r}",
                    key="footprint",
                )
            if not -90.0 <= float(self.dec) <= 90.0:
                raise SpecError(
                    f"footprint dec must lie in [-90, 90]; got {self.dec!r}", key="footprint"
                )
        elif self.kind == "box":
            lo, hi = (float(v) for v in self.dec)
            if not -90.0 <= lo < hi <= 90.0:
                raise SpecError(
                    f"a box footprint needs -90 <= dec lo < hi <= 90; got {self.dec!r}",
                    key="footprint",
                )
            if self.ra_span <= 0.0 or self.ra_span >= 180.0:
                raise SpecError(
                    f"a box footprint needs an RA span in (0, 180) deg; got {self.ra!r}",
                    key="footprint",
                )
        else:
            raise SpecError(
                f"footprint kind must be 'cone' or 'box'; got {self.kind!r}", key="footprint"
            )

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def parse(cls, value: Any) -> Footprint:
        """Return a footprint from a :class:`Footprint` or a mapping.

        The mapping is ``{"kind": "cone", "ra": ..., "dec": ..., "radius": ...}``
        or ``{"kind": "box", "ra": [lo, hi], "dec": [lo, hi]}``; angles are
        numbers in deg or astropy angle Quantities.  A cone may give its centre
        as ``"center"``, a ``SkyCoord`` (any frame; ICRS is used) or (ra, dec),
        instead of ``"ra"`` and ``"dec"``.
        """
        if isinstance(value, Footprint):
            return value
        if not isinstance(value, Mapping):
            raise SpecError(
                "'footprint' must be a Footprint or a mapping with 'kind', 'ra', "
                f"'dec' (and 'radius' for a cone); got {type(value).__name__}",
                key="footprint",
            )
        unknown = set(value) - {"kind", "ra", "dec", "radius", "center"}
        if unknown:
            raise SpecError(f"unknown footprint key {sorted(unknown)[0]!r}", key="footprint")
        key = "footprint"
        try:
            kind = str(value["kind"])
            if kind == "cone":
                if "center" in value:
                    if {"ra", "dec"} & set(value):
                        raise SpecError(
                            "a cone footprint takes 'center' or 'ra' and 'dec', not both", key=key
                        )
                    ra, dec = sky_position(value["center"], what="footprint center", key=key)
                else:
                    ra = angle_deg(value["ra"], what="footprint ra", key=key)
                    dec = angle_deg(value["dec"], what="footprint dec", key=key)
                radius = angle_deg(value["radius"], what="footprint radius", key=key)
                return cls("cone", ra % 360.0, dec, radius)
            if "center" in value:
                raise SpecError(
                    "'center' is for cone footprints; a box has 'ra' and 'dec' ranges", key=key
                )
            return cls(
                kind,
                tuple(angle_deg(v, what="footprint ra", key=key) % 360.0 for v in value["ra"]),
                tuple(angle_deg(v, what="footprint dec", key=key) for v in value["dec"]),
            )
        except SpecError:
            raise
        except KeyError as exc:
            raise SpecError(f"footprint misses {exc.args[0]!r}", key=key) from None
        except (TypeError, ValueError) as exc:
            raise SpecError(f"bad footprint value: {exc}", key=key) from None

    @classmethod
    def cone(cls, center: Any, radius: Any) -> Footprint:
        """Return a cone footprint: ``center`` a SkyCoord or (ra, dec), ``radius`` deg or Angle."""
        return cls.parse({"kind": "cone", "center": center, "radius": radius})

    @classmethod
    def from_data(cls, ra: ArrayLike, dec: ArrayLike) -> Footprint:
        """Return the smaller (in solid angle) of the enclosing RA/Dec box and cone of the stars.

        The box spans the stars' RA (through 0 if needed) and Dec ranges; the
        cone is centred on the box's middle with the largest separation as
        radius.  A catalogue cut as a cone is recognised as a cone, one cut as
        a box as a box.  The edges are the extreme stars, so the inferred
        footprint is smaller than the true one by about its size / number of
        stars on each side.
        """
        ra = np.asarray(ra, dtype=float)
        dec = np.asarray(dec, dtype=float)
        if ra.size < 3:
            raise DataError("a footprint needs at least 3 stars with ra, dec", argument="data")
        r = np.radians(ra)
        ref = float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())))
        dra = _wrap180(ra - ref)
        lo, hi = ref + float(dra.min()), ref + float(dra.max())
        box = cls("box", (lo % 360.0, hi % 360.0), (float(dec.min()), float(dec.max())))
        c_ra, c_dec = box.tangent_point
        rad = float(separation(ra, dec, c_ra, c_dec).max())
        if 0.0 < rad < 90.0:
            cone = cls("cone", c_ra, c_dec, rad)
            if cone.solid_angle < box.solid_angle:
                return cone
        return box

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (inverse of :meth:`parse`)."""
        if self.kind == "cone":
            return {
                "kind": "cone",
                "ra": float(self.ra),
                "dec": float(self.dec),
                "radius": float(self.radius),
            }  # type: ignore[arg-type]
        return {
            "kind": "box",
            "ra": [float(v) for v in self.ra],
            "dec": [float(v) for v in self.dec],
        }

    # --- geometry -------------------------------------------------------------------------

    @property
    def ra_span(self) -> float:
        """RA extent of a box (deg), through 0 if ``ra[0] > ra[1]``."""
        lo, hi = (float(v) for v in self.ra)
        return (hi - lo) % 360.0

    @property
    def tangent_point(self) -> tuple[float, float]:
        """(ra, dec) of the projection's tangent point (deg)."""
        if self.kind == "cone":
            return float(self.ra) % 360.0, float(self.dec)
        return (
            (float(self.ra[0]) + self.ra_span / 2.0) % 360.0,
            0.5 * (float(self.dec[0]) + float(self.dec[1])),
        )

    @property
    def solid_angle(self) -> float:
        """Solid angle (deg^2)."""
        if self.kind == "cone":
            return 2.0 * math.pi * (1.0 - math.cos(float(self.radius) * _DEG)) * _DEG2_PER_SR
        lo, hi = (float(v) * _DEG for v in self.dec)
        return self.ra_span * _DEG * (math.sin(hi) - math.sin(lo)) * _DEG2_PER_SR

    def contains(self, ra: ArrayLike, dec: ArrayLike) -> NDArray[np.bool_]:
        """Which positions lie inside (edges included)."""
        ra = np.asarray(ra, dtype=float)
        dec = np.asarray(dec, dtype=float)
        if self.kind == "cone":
            return separation(ra, dec, float(self.ra), float(self.dec)) <= float(self.radius)
        off = (ra - float(self.ra[0])) % 360.0
        return (off <= self.ra_span) & (dec >= self.dec[0]) & (dec <= self.dec[1])

    def project(self, ra: Any, dec: Any, *, backend: str | Backend = "numpy"):
        """(xi, eta, cos_c) of positions on this footprint's tangent plane."""
        ra0, dec0 = self.tangent_point
        return tangent_plane(ra, dec, ra0, dec0, backend=backend)

    def field_logp(self, ra: ArrayLike, dec: ArrayLike) -> NDArray[np.float64]:
        r"""Log density per deg^2 of tangent plane of stars spread uniformly over the sky.

        :math:`\ln(\cos^3 c / \Omega)`, Ω the solid angle in deg^2: uniform per
        solid angle over the footprint (the gnomonic area element is
        :math:`\cos^3 c\,d\xi\,d\eta`).  It is defined for any position; it is
        a normalised density over the footprint.
        """
        _, _, cos_c = self.project(ra, dec)
        return 3.0 * np.log(cos_c) - math.log(self.solid_angle)

    def region(self, *, n_per_edge: int = 128) -> PlaneRegion:
        """Outline on the tangent plane.

        A cone is an exact disc of radius ``degrees(tan(radius))``.  A box's
        constant-RA edges are great circles (straight lines); its constant-Dec
        edges are small circles, followed by ``n_per_edge`` chords each (the
        chords cut off a relative area of about 1e-7 for a 5-degree box).
        """
        if self.kind == "cone":
            return PlaneRegion(
                "disc", (0.0, 0.0), math.degrees(math.tan(float(self.radius) * _DEG))
            )
        lo, hi = (float(v) for v in self.ra)
        ras = lo + np.linspace(0.0, self.ra_span, n_per_edge + 1)
        dl, dh = (float(v) for v in self.dec)
        # bottom edge west -> east, then the top edge east -> west
        ra_line = np.r_[ras, ras[::-1]]
        dec_line = np.r_[np.full(n_per_edge + 1, dl), np.full(n_per_edge + 1, dh)]
        xi, eta, _ = self.project(ra_line, dec_line)
        v = np.column_stack([xi, eta])
        reg = PlaneRegion("polygon", vertices=v)
        if reg.area() < 0:
            reg = PlaneRegion("polygon", vertices=v[::-1].copy())
        return reg

    def describe(self) -> str:
        """One line, e.g. ``cone centred on (45.000, 0.000) deg, radius 0.500 deg``."""
        if self.kind == "cone":
            return (
                f"cone centred on ({float(self.ra):.3f}, {float(self.dec):.3f}) deg, "
                f"radius {float(self.radius):.3f} deg, {self.solid_angle:.3f} deg^2"
            )
        return (
            f"box RA {self.ra[0]:.3f}..{self.ra[1]:.3f}, Dec {self.dec[0]:.3f}.."
            f"{self.dec[1]:.3f} deg, {self.solid_angle:.3f} deg^2"
        )
