"""Radial profiles of cluster members and the fitted Plummer (1911) profile.

* :func:`radial_profile`: members per unit area in annuli around the cluster
  centre, each annulus's area clipped to the survey footprint.
* :func:`plummer_profile`: the fitted member surface density over posterior
  draws, normalised over the footprint as in the full model of
  :func:`bayesmix.builders.cluster_field`.
* :func:`fitted_radial_profile`: both, and the fitted field density, from a
  sampled full cluster_field fit (what :func:`bayesmix.plot.plot_radial_profile`
  draws).

Nothing here draws or samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_array_1d, check_int
from bayesmix.analysis.figures_data import check_probability
from bayesmix.components.plummer import Plummer
from bayesmix.exceptions import DataError
from bayesmix.sky import from_tangent_plane, tangent_plane

__all__ = [
    "PlummerProfile",
    "RadialProfile",
    "fitted_radial_profile",
    "plummer_profile",
    "radial_profile",
]


@dataclass(frozen=True)
class RadialProfile:
    """Surface density of members (and of all objects) in annuli around the cluster centre.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Annulus radii (deg of the tangent plane).
    radius : ndarray of shape (n_bins,)
        Area-weighted mean radius of each annulus (where its points are drawn).
    area : ndarray of shape (n_bins,)
        Area of each annulus inside the footprint (deg^2).
    members : ndarray of shape (n_bins,)
        Expected members in each annulus (sum of probabilities).
    density, density_err : ndarray of shape (n_bins,)
        ``members / area`` and its weighted-Poisson error sqrt(sum p^2) / area (deg^-2).
    density_all : ndarray of shape (n_bins,)
        All scored objects per deg^2.
    n_unscored : int
        Objects with NaN probability (left out).
    """

    edges: NDArray[np.float64]
    radius: NDArray[np.float64]
    area: NDArray[np.float64]
    members: NDArray[np.float64]
    density: NDArray[np.float64]
    density_err: NDArray[np.float64]
    density_all: NDArray[np.float64]
    n_unscored: int


def _annulus_areas(
    edges: NDArray, center_xy: NDArray, tangent_point, footprint, n_sub: int = 8, n_theta: int = 720
) -> tuple[NDArray, NDArray]:
    """Area (deg^2) of each annulus inside the footprint and its area-weighted mean radius.

    Midpoint rule: ``n_sub`` sub-annuli by ``n_theta`` angles per annulus, each
    point tested with ``footprint.contains`` after projecting back to the sky.
    """
    nb = edges.size - 1
    frac = np.linspace(0, 1, n_sub + 1)
    r_lo = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, :-1]
    r_hi = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None, 1:]
    r_mid = 0.5 * (r_lo + r_hi)
    sub_area = math.pi * (r_hi**2 - r_lo**2)  # (nb, n_sub)
    if footprint is None:
        inside = np.ones((nb, n_sub))
    else:
        th = (np.arange(n_theta) + 0.5) * (2 * math.pi / n_theta)
        xi = center_xy[0] + r_mid[..., None] * np.cos(th)
        eta = center_xy[1] + r_mid[..., None] * np.sin(th)
        ra, dec = from_tangent_plane(xi, eta, *tangent_point)
        inside = footprint.contains(ra % 360.0, dec).mean(axis=-1)
    area = (sub_area * inside).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rad = np.where(
            area > 0, (sub_area * inside * r_mid).sum(axis=1) / area, 0.5 * (edges[:-1] + edges[1:])
        )
    return area, rad


def radial_profile(
    ra: ArrayLike,
    dec: ArrayLike,
    probability: ArrayLike,
    *,
    center: tuple[float, float],
    footprint: Any = None,
    edges: ArrayLike | None = None,
    n_bins: int = 12,
) -> RadialProfile:
    """Members per unit area in annuli around the cluster centre.

    Radii are measured on the plane tangent at the footprint's centre (as the
    fitted Plummer profile of :func:`bayesmix.builders.cluster_field` is), from
    the projected cluster centre; without a footprint, on the plane tangent at
    the cluster centre.  Each annulus's area is the part inside the footprint,
    so a box footprint or an off-centre cluster gives no artificial drop.

    Parameters
    ----------
    ra, dec : array-like of shape (n_objects,)
        Positions (deg).
    probability : array-like of shape (n_objects,)
        Cluster membership probability (NaN: not scored, left out and counted).
    center : tuple of float
        Cluster centre (ra, dec) in deg, e.g. the posterior mean of
        ``cluster_ra``, ``cluster_dec``.
    footprint : bayesmix.sky.Footprint, optional
        Survey footprint; annulus areas are clipped to it.
    edges : array-like, optional
        Annulus radii (deg), increasing from >= 0.  Default: 0 then ``n_bins``
        geometric steps from 1/30 of the largest radius to the largest radius.
    n_bins : int, default 12
        Annuli when ``edges`` is not given.

    Returns
    -------
    RadialProfile
    """
    a = check_array_1d(ra, name="ra")
    d = check_array_1d(dec, name="dec", n=a.size)
    p = check_probability(probability, n=a.size)
    if footprint is not None:
        tp = tuple(float(v) for v in footprint.tangent_point)
    else:
        tp = (float(center[0]), float(center[1]))
    xi, eta, _ = tangent_plane(a, d, *tp)
    cx, cy, _ = tangent_plane(float(center[0]), float(center[1]), *tp)
    cxy = np.array([float(cx), float(cy)])
    r = np.hypot(xi - cxy[0], eta - cxy[1])
    if edges is None:
        n_bins = check_int(n_bins, name="n_bins", minimum=2)
        r_max = float(r.max())
        e = np.r_[0.0, r_max * np.geomspace(1.0 / 30.0, 1.0, n_bins)]
        e[-1] = np.nextafter(r_max, np.inf)  # the farthest object falls in the last annulus
    else:
        e = np.asarray(edges, dtype=np.float64).reshape(-1)
        if e.size < 2 or e[0] < 0 or not (np.diff(e) > 0).all():
            raise DataError(f"'edges' must increase from >= 0; got {e.tolist()}", argument="edges")
    area, rad = _annulus_areas(e, cxy, tp, footprint)
    ok = np.isfinite(p)
    idx = np.searchsorted(e, r, side="right") - 1
    use = ok & (idx >= 0) & (idx < e.size - 1)
    nb = e.size - 1
    members = np.bincount(idx[use], weights=p[use], minlength=nb)
    var = np.bincount(idx[use], weights=p[use] ** 2, minlength=nb)
    n_all = np.bincount(idx[use], minlength=nb).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = np.where(area > 0, members / area, np.nan)
        err = np.where(area > 0, np.sqrt(var) / area, np.nan)
        dall = np.where(area > 0, n_all / area, np.nan)
    return RadialProfile(
        edges=e,
        radius=rad,
        area=area,
        members=members,
        density=dens,
        density_err=err,
        density_all=dall,
        n_unscored=int((~ok).sum()),
    )


@dataclass(frozen=True)
class PlummerProfile:
    """Fitted member surface density against radius, with a credible band.

    Attributes
    ----------
    radius : ndarray of shape (n_radii,)
        Radii (deg).
    median, lower, upper : ndarray of shape (n_radii,)
        Posterior median and central ``interval`` band of the member surface
        density (deg^-2).
    interval : float
    """

    radius: NDArray[np.float64]
    median: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    interval: float


def plummer_profile(
    radius: ArrayLike,
    *,
    scale_radius: ArrayLike,
    n_members: ArrayLike,
    center: ArrayLike | None = None,
    footprint: Any = None,
    interval: float = 0.68,
) -> PlummerProfile:
    r"""Surface density of members of a Plummer (1911) cluster, over posterior draws.

    For each draw s, :math:`N_s\,\Sigma(R \mid a_s) / f_s` with Σ the projected
    Plummer profile (:class:`bayesmix.components.Plummer`), N the expected
    number of members and f the profile's fraction inside the footprint (1
    without one), as in the full model of :func:`bayesmix.builders.cluster_field`.

    Parameters
    ----------
    radius : array-like of shape (n_radii,)
        Radii (deg) at which to evaluate it.
    scale_radius : array-like of shape (n_draws,) or float
        Plummer scale radius a (deg) per draw (``cluster_radius``).
    n_members : array-like of shape (n_draws,) or float
        Expected number of members per draw (e.g. ``weights[cluster]`` times the
        number of fitted stars).
    center : array-like of shape (n_draws, 2) or (2,), optional
        Cluster centre (ra, dec) in deg per draw; needed with ``footprint``.
    footprint : bayesmix.sky.Footprint, optional
        Normalise each draw's profile over this footprint.
    interval : float, default 0.68
        Probability content of the band.

    Returns
    -------
    PlummerProfile
    """
    r = np.asarray(radius, dtype=np.float64).reshape(-1)
    a = np.atleast_1d(np.asarray(scale_radius, dtype=np.float64)).reshape(-1)
    n = np.broadcast_to(np.atleast_1d(np.asarray(n_members, dtype=np.float64)).reshape(-1), a.shape)
    if not (a > 0).all():
        raise DataError("'scale_radius' must be positive", argument="scale_radius")
    y = np.column_stack([r, np.zeros_like(r)])
    log_s = Plummer().logp(y, {"center": np.zeros((a.size, 1, 2)), "radius": a[:, None]})
    if footprint is not None:
        if center is None:
            raise DataError(
                "'center' (ra, dec per draw) is needed with 'footprint'", argument="center"
            )
        c = np.broadcast_to(np.asarray(center, dtype=np.float64).reshape(-1, 2), (a.size, 2))
        xi, eta, _ = footprint.project(c[:, 0], c[:, 1])
        log_f = footprint.region().plummer_log_mass(np.column_stack([xi, eta]), a)
        log_s = log_s - log_f[:, None]
    dens = n[:, None] * np.exp(log_s)
    q = [50.0, 50 * (1 - interval), 50 * (1 + interval)]
    med, lo, hi = np.percentile(dens, q, axis=0)
    return PlummerProfile(radius=r, median=med, lower=lo, upper=hi, interval=float(interval))


def fitted_radial_profile(
    fit: Any,
    probability: ArrayLike,
    *,
    n_bins: int = 12,
    n_radii: int = 100,
    interval: float = 0.68,
) -> tuple[RadialProfile, PlummerProfile, float] | None:
    """Radial profile of the members, the fitted Plummer profile and the field density.

    Parameters
    ----------
    fit : Fit
        A sampled full :func:`bayesmix.builders.cluster_field` model (features
        starting with ``ra``, ``dec``; its posterior has ``cluster_ra``,
        ``cluster_dec`` and ``cluster_radius``).
    probability : array-like of shape (n_objects,)
        Cluster membership probability of the fitted objects.
    n_bins : int, default 12
        Annuli (see :func:`radial_profile`).
    n_radii : int, default 100
        Radii at which the fitted profile is evaluated.
    interval : float, default 0.68
        Credible band of the fitted profile.

    Returns
    -------
    tuple or None
        ``(profile, model, background)``: :class:`RadialProfile` around the
        posterior-mean centre over the fit's footprint, :class:`PlummerProfile`
        with ``n_members = n_objects * weights[cluster]`` per draw, and the
        fitted field density (stars per deg^2: expected field stars over the
        footprint's solid angle).  None for models without the sky.
    """
    from bayesmix.sky import Footprint

    post = fit.posterior
    mm = fit.model
    if "cluster_radius" not in post or not mm.spec.get("footprint"):
        return None
    fp = Footprint.parse(mm.spec["footprint"])
    ra_c = np.asarray(post["cluster_ra"].values, dtype=np.float64).reshape(-1)
    dec_c = np.asarray(post["cluster_dec"].values, dtype=np.float64).reshape(-1)
    ra, dec = from_tangent_plane(
        np.asarray(mm.data["sky_xi"]), np.asarray(mm.data["sky_eta"]), *fp.tangent_point
    )
    profile = radial_profile(
        ra % 360.0,
        dec,
        probability,
        center=(float(np.mean(ra_c)), float(np.mean(dec_c))),
        footprint=fp,
        n_bins=n_bins,
    )
    w = np.asarray(post["weights"].sel(component="cluster").values, dtype=np.float64).ravel()
    n = mm.n_objects
    radii = np.geomspace(max(profile.edges[1] / 2, 1e-4), profile.edges[-1], n_radii)
    model = plummer_profile(
        radii,
        scale_radius=np.asarray(post["cluster_radius"].values).ravel(),
        n_members=n * w,
        center=np.column_stack([ra_c, dec_c]),
        footprint=fp,
        interval=interval,
    )
    background = float(n * (1.0 - w.mean()) / fp.solid_angle)
    return profile, model, background
