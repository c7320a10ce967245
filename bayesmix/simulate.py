"""Synthetic star clusters injected into real Gaia fields, for injection-recovery tests.

A simulated cluster (:class:`ClusterSpec`) is a Plummer (1911) or King (1962)
profile on the sky, drawn exactly from its projected radial distribution and
kept inside the host field's footprint, with Gaussian intrinsic proper-motion
and parallax dispersions around given means.  Each member gets the
measurement errors (and correlations) of a real star of the host field: a
whole row of error columns is resampled, together with that star's magnitudes,
so errors follow the host's own error-magnitude distribution.  The observed
values are the true ones plus noise drawn from that star's full error
covariance (Lindegren et al. 2021).

* :func:`inject_clusters`: the host table, untouched, with the members
  appended and truth columns ``injected`` (bool) and ``injected_cluster``
  (int, -1 for host rows); returns an :class:`Injection` with the truth.
* :func:`projected_cdf`, :func:`sample_projected_radii`: the profiles'
  radial distributions (used by the tests as the analytic reference).
* :func:`cluster_region`, :func:`away_from_cluster`: cut a real field away
  from its known cluster (on the sky and/or in proper motion and parallax),
  to serve as a host.

Not modelled: perspective effects across a nearby cluster, mass segregation,
binaries, a cluster's own colour-magnitude sequence (members take the host's
magnitudes unless ``magnitudes`` is given) and crowding.  This module never
imports PyMC.

References
----------
Plummer, H. C. 1911, MNRAS 71, 460.
King, I. 1962, AJ 67, 471.
Lindegren, L. et al. 2021, A&A 649, A2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.table import MaskedColumn, Table, vstack
from numpy.typing import ArrayLike, NDArray

from bayesmix._random import as_generator
from bayesmix._validate import check_choice, check_float, check_int
from bayesmix.exceptions import DataError
from bayesmix.gaia import ASTROMETRIC_ORDER, column_values, correlation_column, error_column
from bayesmix.sky import Footprint, from_tangent_plane, separation

__all__ = [
    "PROFILES",
    "ClusterSpec",
    "Injection",
    "away_from_cluster",
    "borrow_errors",
    "cluster_region",
    "inject_clusters",
    "projected_cdf",
    "sample_projected_radii",
]

#: sky profiles of a simulated cluster
PROFILES = ("king", "plummer")
#: astrometric values a member receives (Gaia names), in Gaia's order, then the radial velocity
_VALUES = (*ASTROMETRIC_ORDER, "radial_velocity")
#: columns copied from the star whose errors a member takes
_ERROR_LIKE = (
    "astrometric_",
    "visibility_periods_used",
    "ruwe",
    "ipd_",
    "nu_eff_used",
    "pseudocolour",
    "ecl_lat",
    "zero_point",
)
#: columns copied from the star whose magnitudes a member takes
_PHOTOMETRY = ("phot_", "bp_rp", "bp_g", "g_rp")
#: mas per degree
_MAS_PER_DEG = 3.6e6
_BISECTIONS = 64


# --------------------------------------------------------------------------------------------
# the cluster
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSpec:
    """A simulated cluster.

    Parameters
    ----------
    n_members : int
        Members placed inside the host's footprint (the profile is truncated
        to it; :attr:`Injection.fraction_inside` says which fraction of the
        profile that is).
    ra, dec : float
        Centre (deg).
    radius : float
        Plummer scale radius (the projected half-number radius) or King core
        radius, in degrees on the cluster's tangent plane.
    pmra, pmdec : float
        Mean proper motion (mas/yr; pmra is mu_alpha* = mu_alpha cos dec).
    parallax : float
        Mean parallax (mas); 1000 / distance in pc.
    pm_dispersion : float, default 0.5
        Intrinsic proper-motion dispersion per axis (mas/yr); 1 km/s is
        ``parallax / 4.74`` mas/yr.
    parallax_dispersion : float or None
        Intrinsic parallax dispersion (mas); None: ``parallax * radius`` in
        radians, the depth of a cluster as deep as it is wide.
    profile : {"plummer", "king"}, default "plummer"
    tidal_radius : float, optional
        King tidal radius (deg, > ``radius``); required for ``"king"``.
    radial_velocity, radial_velocity_dispersion : float, optional
        Mean and dispersion (km/s), used when the host has a ``radial_velocity``
        column; without them members have no radial velocity (masked).
    """

    n_members: int
    ra: float
    dec: float
    radius: float
    pmra: float
    pmdec: float
    parallax: float
    pm_dispersion: float = 0.5
    parallax_dispersion: float | None = None
    profile: str = "plummer"
    tidal_radius: float | None = None
    radial_velocity: float | None = None
    radial_velocity_dispersion: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.n_members, name="n_members", minimum=1)
        check_float(self.ra, name="ra")
        check_float(self.dec, name="dec", minimum=-90.0, maximum=90.0)
        check_float(self.radius, name="radius", minimum=0.0, exclusive_minimum=True)
        for nm in ("pmra", "pmdec", "parallax"):
            check_float(getattr(self, nm), name=nm)
        check_float(self.pm_dispersion, name="pm_dispersion", minimum=0.0)
        if self.parallax_dispersion is not None:
            check_float(self.parallax_dispersion, name="parallax_dispersion", minimum=0.0)
        check_choice(self.profile, name="profile", choices=PROFILES)
        if self.profile == "king":
            if self.tidal_radius is None:
                raise DataError(
                    "a King profile needs 'tidal_radius' (deg)", argument="tidal_radius"
                )
            check_float(
                self.tidal_radius,
                name="tidal_radius",
                minimum=float(self.radius),
                exclusive_minimum=True,
            )
        if self.radial_velocity is not None:
            check_float(self.radial_velocity, name="radial_velocity")
        check_float(self.radial_velocity_dispersion, name="radial_velocity_dispersion", minimum=0.0)

    @property
    def depth(self) -> float:
        """Intrinsic parallax dispersion actually used (mas)."""
        if self.parallax_dispersion is not None:
            return float(self.parallax_dispersion)
        return abs(float(self.parallax)) * math.radians(float(self.radius))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"depth": self.depth}


def projected_cdf(
    r: ArrayLike, profile: str = "plummer", *, radius: float, tidal_radius: float | None = None
) -> NDArray[np.float64]:
    r"""Fraction of a projected profile's stars within projected radius ``r``.

    Parameters
    ----------
    r : array-like
        Projected radii (same unit as ``radius``).
    profile : {"plummer", "king"}
    radius : float
        Plummer scale radius a, or King core radius r_c.
    tidal_radius : float, optional
        King tidal radius r_t (required for ``"king"``).

    Returns
    -------
    ndarray
        :math:`N(<r)/N`, from 0 at r = 0 to 1 (at infinity, or at r_t).

    Notes
    -----
    Plummer: :math:`\Sigma \propto (1 + r^2/a^2)^{-2}`, :math:`N(<r)/N = r^2/(r^2 + a^2)`.
    King (1962, eq. 14 and 18), with :math:`x = (r/r_c)^2`, :math:`x_t = (r_t/r_c)^2`:
    :math:`\Sigma \propto [(1+x)^{-1/2} - (1+x_t)^{-1/2}]^2` and
    :math:`N(<r) \propto \ln(1+x) - 4[(1+x)^{1/2} - 1]/(1+x_t)^{1/2} + x/(1+x_t)`.
    """
    check_choice(profile, name="profile", choices=PROFILES)
    r = np.asarray(r, dtype=float)
    if profile == "plummer":
        return r * r / (r * r + radius * radius)
    if tidal_radius is None:
        raise DataError("a King profile needs 'tidal_radius'", argument="tidal_radius")
    xt = (tidal_radius / radius) ** 2

    def n(x):
        return np.log1p(x) - 4.0 * (np.sqrt(1.0 + x) - 1.0) / math.sqrt(1.0 + xt) + x / (1 + xt)

    x = np.square(np.clip(r, 0.0, tidal_radius) / radius)
    return n(x) / n(xt)


def sample_projected_radii(
    n: int,
    profile: str = "plummer",
    *,
    radius: float,
    tidal_radius: float | None = None,
    rng: int | np.random.Generator | None = None,
) -> NDArray[np.float64]:
    r"""Draw ``n`` projected radii from a profile by inverting :func:`projected_cdf` exactly.

    Plummer in closed form, :math:`r = a\sqrt{u/(1-u)}`; King by bisection on
    the closed-form cumulative number (to machine precision).
    """
    gen = as_generator(rng)
    u = gen.random(int(n))
    if profile == "plummer":
        return radius * np.sqrt(u / (1.0 - u))
    lo = np.zeros_like(u)
    hi = np.full_like(u, float(tidal_radius))  # type: ignore[arg-type]
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = projected_cdf(mid, "king", radius=radius, tidal_radius=tidal_radius) < u
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# the host table
# --------------------------------------------------------------------------------------------


def _as_table(data: Any) -> Table:
    if isinstance(data, Table):
        return data
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return Table.from_pandas(data)
    if isinstance(data, Mapping):
        return Table(dict(data))
    raise DataError(
        "'field' must be an astropy Table, a pandas DataFrame or a mapping of "
        f"column name to array; got {type(data).__name__}",
        argument="field",
    )


def _values(t: Table, name: str) -> NDArray[np.float64] | None:
    return column_values(t[name], name) if name in t.colnames else None


def _covariances(
    t: Table, rows: NDArray[np.int_], feats: Sequence[str], use_correlations: bool
) -> NDArray[np.float64]:
    """Error covariances (value units; ra/dec in mas) of ``rows`` over ``feats``."""
    D = len(feats)
    sig = np.column_stack([_values(t, error_column(f))[rows] for f in feats])  # type: ignore
    cov = np.einsum("ni,nj->nij", sig, sig)
    corr = np.broadcast_to(np.eye(D), cov.shape).copy()
    if use_correlations:
        for i in range(D):
            for j in range(i + 1, D):
                nm = correlation_column(feats[i], feats[j])
                if nm is not None and nm in t.colnames:
                    v = np.nan_to_num(column_values(t[nm], nm)[rows])
                    corr[:, i, j] = corr[:, j, i] = np.clip(v, -1.0, 1.0)
    return cov * corr


def _correlated_noise(cov: NDArray[np.float64], gen: np.random.Generator) -> NDArray[np.float64]:
    """One draw of N(0, cov_n) per star (eigen-decomposition; eigenvalues of -1e-9 max -> 0)."""
    w, v = np.linalg.eigh(cov)
    z = gen.standard_normal(cov.shape[:2]) * np.sqrt(np.clip(w, 0.0, None))
    return np.einsum("nij,nj->ni", v, z)


def _valid_rows(t: Table, names: Sequence[str], positive: Sequence[str] = ()) -> NDArray:
    ok = np.ones(len(t), dtype=bool)
    for nm in names:
        ok &= np.isfinite(column_values(t[nm], nm))
    for nm in positive:
        ok &= column_values(t[nm], nm) > 0
    return ok


def _nearest_in(
    mag_pool: NDArray[np.float64], mags: NDArray[np.float64], k: int, gen: np.random.Generator
) -> NDArray[np.int_]:
    """For each of ``mags``, a random one of the ``k`` entries of ``mag_pool`` nearest to it."""
    order = np.argsort(mag_pool, kind="stable")
    sorted_pool = mag_pool[order]
    pos = np.searchsorted(sorted_pool, mags)
    k = min(k, sorted_pool.size)
    start = np.clip(pos - k, 0, sorted_pool.size - 2 * k if sorted_pool.size >= 2 * k else 0)
    win = start[:, None] + np.arange(min(2 * k, sorted_pool.size))[None, :]
    dist = np.abs(sorted_pool[win] - mags[:, None])
    best = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = best[np.arange(len(mags)), gen.integers(0, k, len(mags))]
    return order[win[np.arange(len(mags)), pick]]


# --------------------------------------------------------------------------------------------
# injection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Injection:
    """Result of :func:`inject_clusters`.

    Attributes
    ----------
    table : astropy.table.Table
        The host's rows first (unchanged, in order), then the members, with
        the truth columns ``injected`` (bool) and ``injected_cluster`` (int:
        index into ``clusters``, -1 for host rows).  Members have negative
        ``source_id`` values (-1, -2, ...) when the host has that column.
    clusters : tuple of ClusterSpec
    members : astropy.table.Table
        One row per member: ``row`` (index into ``table``), ``cluster``, the
        true ``ra, dec, parallax, pmra, pmdec[, radial_velocity]``, the
        projected radius ``r`` (deg) and the host rows that gave its
        magnitudes (``photometry_row``) and errors (``error_row``, in
        ``error_source`` when one was given).
    fraction_inside : tuple of float
        Per cluster, the fraction of its profile inside the footprint
        (Monte Carlo estimate from the draws).
    footprint : Footprint
        The host's footprint the members were kept in.
    noise_free : tuple of str
        Features the members carry without noise (``missing_errors="zero"``).
    """

    table: Table
    clusters: tuple[ClusterSpec, ...]
    members: Table
    fraction_inside: tuple[float, ...]
    footprint: Footprint
    noise_free: tuple[str, ...] = ()

    @property
    def is_member(self) -> NDArray[np.bool_]:
        """Truth over the rows of :attr:`table`."""
        return np.asarray(self.table["injected"], dtype=bool)


def _sky_positions(
    c: ClusterSpec, fp: Footprint, gen: np.random.Generator, max_draws: int
) -> tuple[NDArray, NDArray, NDArray, float]:
    """Members' (ra, dec, r) inside ``fp``, by rejection; and the accepted fraction."""
    ra_out, dec_out, r_out = [], [], []
    have, drawn = 0, 0
    while have < c.n_members:
        batch = max(2 * (c.n_members - have), 256)
        r = sample_projected_radii(
            batch, c.profile, radius=c.radius, tidal_radius=c.tidal_radius, rng=gen
        )
        theta = gen.uniform(0.0, 2.0 * math.pi, batch)
        ra, dec = from_tangent_plane(r * np.sin(theta), r * np.cos(theta), c.ra, c.dec)
        ra = np.asarray(ra) % 360.0
        dec = np.asarray(dec)
        inside = fp.contains(ra, dec)
        drawn += batch
        ra_out.append(ra[inside])
        dec_out.append(dec[inside])
        r_out.append(r[inside])
        have += int(inside.sum())
        if drawn > max_draws and have < c.n_members:
            raise DataError(
                f"only {have} of {drawn} drawn members of the cluster at ({c.ra}, {c.dec}) "
                f"fall inside the footprint ({fp.describe()}); move it inside or shrink "
                "'radius'",
                argument="clusters",
            )
    frac = have / drawn
    take = slice(0, c.n_members)
    return (
        np.concatenate(ra_out)[take],
        np.concatenate(dec_out)[take],
        np.concatenate(r_out)[take],
        frac,
    )


def inject_clusters(
    field: Any,
    clusters: ClusterSpec | Sequence[ClusterSpec],
    *,
    footprint: Any = None,
    error_source: Any = None,
    magnitudes: ArrayLike | None = None,
    magnitude_column: str = "phot_g_mean_mag",
    missing_errors: str = "raise",
    correlations: bool = True,
    n_nearest: int = 10,
    rng: int | np.random.Generator | None = None,
) -> Injection:
    """Append simulated cluster members to a real field, with the field's own errors.

    Parameters
    ----------
    field : astropy.table.Table, pandas.DataFrame or mapping
        Host table with Gaia columns (``ra``, ``dec`` in deg; ``parallax`` mas;
        ``pmra``, ``pmdec`` mas/yr; their ``_error`` and ``_corr`` columns;
        photometry).  Its rows are copied unchanged.
    clusters : ClusterSpec or sequence of ClusterSpec
    footprint : Footprint or mapping, optional
        Members are kept inside it.  Default: recognised from the host's stars
        (:meth:`bayesmix.sky.Footprint.from_data`).
    error_source : table, optional
        Where members' errors come from when the host has no (or not every)
        error column, e.g. another field of the same data release: each member
        takes the errors of a star of ``error_source`` of similar magnitude.
        Default: the host itself.
    magnitudes : array-like of float, optional
        Members' magnitudes in ``magnitude_column`` (one per member, clusters in
        order); errors then come from stars of similar magnitude.  Default:
        each member takes the magnitudes (all photometry columns) and the
        errors of one random host star.
    magnitude_column : str, default "phot_g_mean_mag"
    missing_errors : {"raise", "zero"}, default "raise"
        A value column without an error column in the host and in
        ``error_source``: an error, or members without noise in it.  ``ra`` and
        ``dec`` without errors are always noise-free (mas against degrees).
    correlations : bool, default True
        Use the error source's ``_corr`` columns (missing ones are 0).
    n_nearest : int, default 10
        Magnitude matching picks at random among this many nearest stars.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    Injection

    Raises
    ------
    DataError
        The host lacks ``ra``/``dec`` or a needed error column (see
        ``missing_errors``), a cluster falls (almost) outside the footprint, or
        ``magnitudes`` has the wrong length.

    Notes
    -----
    For each member: projected radius from the exact inverse CDF of the
    profile (:func:`sample_projected_radii`), uniform position angle, placed on
    the cluster's tangent plane and kept if inside the footprint (rejection);
    true parallax ~ N(parallax, depth^2), true pm ~ N(mean, pm_dispersion^2 I),
    true radial velocity ~ N(rv, rv_dispersion^2).  Observed = true + e, with
    e ~ N(0, C) and C the donor star's covariance over the five astrometric
    parameters present (``ra_error``/``dec_error`` in mas, ``ra_error`` being
    the error of ra cos dec) built from its ``_error`` and ``_corr`` columns,
    plus the radial-velocity error.  Columns copied from the error donor:
    ``*_error``, ``*_corr`` and astrometric-quality columns (``ruwe``,
    ``astrometric_*``, ...); from the photometry donor: ``phot_*``,
    ``bp_rp``...; recomputed: ``l``, ``b``, ``parallax_over_error``,
    ``parallax_zpcorr`` (= parallax - zero_point); any other column is masked
    for members.  Rows with a missing value or error, a non-positive error or a
    covariance that is not positive semi-definite are never donors of errors.
    """
    gen = as_generator(rng)
    host = _as_table(field)
    specs = (clusters,) if isinstance(clusters, ClusterSpec) else tuple(clusters)
    if not specs or not all(isinstance(c, ClusterSpec) for c in specs):
        raise DataError(
            "'clusters' must be a ClusterSpec or a non-empty sequence of them", argument="clusters"
        )
    check_choice(missing_errors, name="missing_errors", choices={"raise", "zero"})
    for nm in ("ra", "dec"):
        if nm not in host.colnames:
            raise DataError(f"'field' has no column {nm!r}", argument="field")
    for nm in ("injected", "injected_cluster"):
        if nm in host.colnames:
            raise DataError(
                f"'field' already has a column {nm!r} (inject into the original "
                "field, or pass all clusters at once)",
                argument="field",
            )
    ra_h, dec_h = _values(host, "ra"), _values(host, "dec")
    sky_ok = np.isfinite(ra_h) & np.isfinite(dec_h)  # type: ignore[arg-type]
    fp = (
        Footprint.from_data(ra_h[sky_ok], dec_h[sky_ok])
        if footprint is None  # type: ignore
        else Footprint.parse(footprint)
    )
    n_tot = sum(c.n_members for c in specs)

    # which values members get and where their errors come from
    values = [f for f in _VALUES if f in host.colnames]
    src = host if error_source is None else _as_table(error_source)
    noisy = [f for f in values if error_column(f) in src.colnames]
    noise_free = tuple(f for f in values if f not in noisy)
    # positional errors (mas) are negligible against a cluster's size: no error needed
    lacking = [f for f in noise_free if f not in ("ra", "dec")]
    if lacking and missing_errors == "raise":
        raise DataError(
            f"no error column for {', '.join(lacking)} in the "
            f"{'host field' if error_source is None else 'error_source'} "
            f"(e.g. {error_column(lacking[0])!r}); pass error_source= (a table with errors, "
            "e.g. a field of the same data release) or missing_errors='zero'",
            argument="error_source" if error_source is not None else "field",
        )
    need = [v for f in noisy for v in (f, error_column(f))]
    err_ok = _valid_rows(src, need, positive=[error_column(f) for f in noisy])
    astro = [f for f in ASTROMETRIC_ORDER if f in noisy]
    if astro and err_ok.any():
        # a donor's covariance must be positive semi-definite (rounded correlations may not be)
        idx = np.flatnonzero(err_ok)
        w = np.linalg.eigvalsh(_covariances(src, idx, astro, correlations))
        err_ok[idx[w[:, 0] < -1e-9 * w[:, -1]]] = False
    has_mag = magnitude_column in host.colnames
    if magnitudes is not None:
        mags = np.asarray(magnitudes, dtype=float).ravel()
        if mags.size != n_tot or not np.isfinite(mags).all():
            raise DataError(
                f"'magnitudes' must hold {n_tot} finite values (one per member); got {mags.size}",
                argument="magnitudes",
            )
        phot_rows = None
    else:
        pool = err_ok.copy() if error_source is None else np.ones(len(host), dtype=bool)
        if has_mag:
            pool &= np.isfinite(_values(host, magnitude_column))  # type: ignore[arg-type]
        pool_idx = np.flatnonzero(pool)
        if pool_idx.size == 0:
            raise DataError(
                "'field' has no row usable as a donor of magnitudes and errors", argument="field"
            )
        phot_rows = gen.choice(pool_idx, n_tot, replace=True)
        mags = _values(host, magnitude_column)[phot_rows] if has_mag else None  # type: ignore
    err_idx = np.flatnonzero(err_ok)
    if err_idx.size == 0:
        raise DataError(
            f"no row of the error source has finite positive {need[1::2]}", argument="error_source"
        )
    if error_source is None and phot_rows is not None:
        err_rows = phot_rows
    elif mags is not None and magnitude_column in src.colnames:
        src_mag = _values(src, magnitude_column)[err_idx]  # type: ignore[index]
        good = np.isfinite(src_mag)
        err_rows = err_idx[good][_nearest_in(src_mag[good], mags, n_nearest, gen)]
    else:
        err_rows = gen.choice(err_idx, n_tot, replace=True)

    tv, fractions = _true_values(specs, fp, gen)
    obs = _observe(tv, values, astro, noisy, src, err_rows, correlations, gen)

    table = _member_rows(host, src, obs, phot_rows, err_rows, magnitude_column, mags)
    table["injected"] = np.ones(n_tot, dtype=bool)
    table["injected_cluster"] = tv["cluster"].astype(np.int32)
    out = host.copy(copy_data=True)
    out["injected"] = np.zeros(len(host), dtype=bool)
    out["injected_cluster"] = np.full(len(host), -1, dtype=np.int32)
    out = vstack([out, table], join_type="exact", metadata_conflicts="silent")
    out.meta = dict(host.meta)
    members = Table(
        {
            "row": np.arange(len(host), len(host) + n_tot),
            "cluster": tv["cluster"],
            **{k: tv[k] for k in ("ra", "dec", "r", "parallax", "pmra", "pmdec")},
        }
    )
    if "radial_velocity" in values:
        members["radial_velocity"] = tv["radial_velocity"]
    members["photometry_row"] = phot_rows if phot_rows is not None else np.full(n_tot, -1)
    members["error_row"] = err_rows
    return Injection(
        table=out,
        clusters=specs,
        members=members,
        fraction_inside=tuple(fractions),
        footprint=fp,
        noise_free=noise_free,
    )


def _true_values(specs, fp, gen) -> tuple[dict[str, NDArray], list[float]]:
    """Members' true positions, radii, astrometry, radial velocities and cluster index."""
    true: dict[str, list[NDArray]] = {
        k: [] for k in ("ra", "dec", "r", "parallax", "pmra", "pmdec", "radial_velocity", "cluster")
    }
    fractions = []
    for k, c in enumerate(specs):
        ra, dec, r, frac = _sky_positions(c, fp, gen, max_draws=1000 * c.n_members + 10**5)
        fractions.append(frac)
        m = c.n_members
        true["ra"].append(ra)
        true["dec"].append(dec)
        true["r"].append(r)
        true["parallax"].append(c.parallax + c.depth * gen.standard_normal(m))
        true["pmra"].append(c.pmra + c.pm_dispersion * gen.standard_normal(m))
        true["pmdec"].append(c.pmdec + c.pm_dispersion * gen.standard_normal(m))
        rv = (
            np.full(m, np.nan)
            if c.radial_velocity is None
            else c.radial_velocity + c.radial_velocity_dispersion * gen.standard_normal(m)
        )
        true["radial_velocity"].append(rv)
        true["cluster"].append(np.full(m, k))
    return {k: np.concatenate(v) for k, v in true.items()}, fractions


def _observe(tv, values, astro, noisy, src, err_rows, correlations, gen) -> dict[str, NDArray]:
    """Observed = true + noise from each error donor's covariance (ra, dec in deg)."""
    n_tot = len(tv["cluster"])
    obs = {f: tv[f].copy() for f in values}
    if astro:
        e = _correlated_noise(_covariances(src, err_rows, astro, correlations), gen)
        for j, f in enumerate(astro):
            if f == "ra":
                obs[f] = tv["ra"] + e[:, j] / _MAS_PER_DEG / np.cos(np.radians(tv["dec"]))
            elif f == "dec":
                obs[f] = tv["dec"] + e[:, j] / _MAS_PER_DEG
            else:
                obs[f] = tv[f] + e[:, j]
    if "radial_velocity" in noisy:
        obs["radial_velocity"] = (
            tv["radial_velocity"]
            + gen.standard_normal(n_tot) * _values(src, "radial_velocity_error")[err_rows]
        )  # type: ignore[index]
    if "ra" in obs:
        obs["ra"] = obs["ra"] % 360.0
    return obs


def _member_rows(
    host: Table,
    src: Table,
    obs: Mapping[str, NDArray],
    phot_rows,
    err_rows,
    magnitude_column: str,
    mags,
) -> Table:
    """Members' rows with the host's columns (copied, recomputed or masked)."""
    n = len(err_rows)
    cols = {}
    for nm in host.colnames:
        hc = host[nm]
        if nm in obs:
            data, mask = obs[nm], ~np.isfinite(obs[nm])
        elif nm == "source_id":
            data, mask = -np.arange(1, n + 1), np.zeros(n, bool)
        elif nm.startswith(_PHOTOMETRY) and phot_rows is not None:
            data, mask = np.asarray(hc)[phot_rows], np.ma.getmaskarray(hc)[phot_rows]
        elif nm == magnitude_column and mags is not None:
            data, mask = mags, np.zeros(n, bool)
        elif (nm.endswith(("_error", "_corr")) or nm.startswith(_ERROR_LIKE)) and (
            nm in src.colnames
        ):
            data, mask = np.asarray(src[nm])[err_rows], np.ma.getmaskarray(src[nm])[err_rows]
        else:
            data, mask = None, np.ones(n, bool)
        if data is None:
            data = np.zeros(n, dtype=hc.dtype)
        cols[nm] = MaskedColumn(
            np.asarray(data).astype(hc.dtype, copy=False),
            mask=mask,
            name=nm,
            unit=getattr(hc, "unit", None),
        )
    t = Table(cols, masked=False)
    _recompute(t, host.colnames)
    return t


def _recompute(t: Table, names: Sequence[str]) -> None:
    """Fill ``l``, ``b``, ``parallax_over_error`` and ``parallax_zpcorr`` from the new values."""
    if "l" in names and "b" in names:
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        g = SkyCoord(
            ra=column_values(t["ra"], "ra") * u.deg,
            dec=column_values(t["dec"], "dec") * u.deg,
            frame="icrs",
        ).galactic
        t["l"] = MaskedColumn(g.l.deg, mask=~np.isfinite(g.l.deg))
        t["b"] = MaskedColumn(g.b.deg, mask=~np.isfinite(g.b.deg))
    plx = column_values(t["parallax"], "parallax") if "parallax" in names else None
    if plx is not None and "parallax_over_error" in names and "parallax_error" in names:
        v = plx / column_values(t["parallax_error"], "parallax_error")
        t["parallax_over_error"] = MaskedColumn(v, mask=~np.isfinite(v))
    if plx is not None and "parallax_zpcorr" in names and "zero_point" in names:
        v = plx - column_values(t["zero_point"], "zero_point")
        t["parallax_zpcorr"] = MaskedColumn(v, mask=~np.isfinite(v))


def borrow_errors(
    data: Any,
    donor: Any,
    *,
    magnitude_column: str = "phot_g_mean_mag",
    n_nearest: int = 10,
    rng: int | np.random.Generator | None = None,
) -> Table:
    """Return ``data`` with the error and correlation columns it lacks, taken from ``donor``.

    For a host without (some) uncertainties, e.g. a cone downloaded without
    ``pmra_error``: every row gets the missing ``*_error`` and ``*_corr``
    columns of a ``donor`` star of similar magnitude (one random star among
    the ``n_nearest`` nearest in ``magnitude_column``; a random donor for rows
    without a magnitude).  Existing columns are not changed.  The borrowed
    errors describe stars *like* these, not these stars' own measurements: use
    the result as a host for injections, and say so.

    Parameters
    ----------
    data, donor : table
        Gaia-named columns; ``donor`` has the error columns (e.g. a field of the
        same data release).
    magnitude_column : str, default "phot_g_mean_mag"
    n_nearest : int, default 10
    rng : int, numpy.random.Generator or None

    Returns
    -------
    astropy.table.Table
        ``data``'s columns, then the borrowed ones; ``meta["borrowed_errors"]``
        lists them and ``meta["error_donor_rows"]`` holds each row's donor row.
    """
    gen = as_generator(rng)
    t = _as_table(data).copy(copy_data=True)
    d = _as_table(donor)
    known = {error_column(f) for f in _VALUES} | {
        correlation_column(a, b)
        for i, a in enumerate(ASTROMETRIC_ORDER)
        for b in ASTROMETRIC_ORDER[i + 1 :]
    }
    names = [nm for nm in d.colnames if nm in known and nm not in t.colnames]
    if not names:
        raise DataError(
            "'donor' has no error or correlation column that 'data' lacks", argument="donor"
        )
    needed = [nm for nm in names if nm.endswith("_error")]
    ok = _valid_rows(d, names, positive=needed)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        raise DataError(f"no row of 'donor' has finite {names}", argument="donor")
    rows = gen.choice(idx, len(t), replace=True)
    if magnitude_column in t.colnames and magnitude_column in d.colnames:
        m_t, m_d = _values(t, magnitude_column), _values(d, magnitude_column)[idx]  # type: ignore
        have = np.isfinite(m_t)  # type: ignore[arg-type]
        good = np.isfinite(m_d)
        if good.any() and have.any():
            rows[have] = idx[good][_nearest_in(m_d[good], m_t[have], n_nearest, gen)]  # type: ignore
    for nm in names:
        t[nm] = np.asarray(column_values(d[nm], nm))[rows]
    t.meta["borrowed_errors"] = names
    t.meta["error_donor_rows"] = rows
    return t


# --------------------------------------------------------------------------------------------
# real fields away from their cluster
# --------------------------------------------------------------------------------------------


def cluster_region(
    data: Any,
    *,
    sky: tuple[float, float, float] | None = None,
    pm: tuple[float, float, float] | None = None,
    parallax: tuple[float, float] | None = None,
) -> NDArray[np.bool_]:
    """Which stars lie in a cluster's region: inside *every* given criterion.

    Parameters
    ----------
    data : table
        Gaia-named columns.
    sky : (ra, dec, radius), optional
        Within ``radius`` (deg) of (ra, dec).
    pm : (pmra, pmdec, radius), optional
        Proper motion within ``radius`` (mas/yr) of (pmra, pmdec).
    parallax : (parallax, half_width), optional
        Parallax within ``half_width`` (mas).

    Returns
    -------
    ndarray of bool
        True for stars inside.  A star with a missing value a criterion needs
        is not inside (e.g. 2-parameter solutions under a ``pm`` criterion).

    Examples
    --------
    Blanco 1's members anywhere in its 5-degree field: ``pm=(18.74, 2.60, 2.0),
    parallax=(4.21, 1.0)``; a sky cut alone leaves its outer members.
    """
    t = _as_table(data)
    if sky is None and pm is None and parallax is None:
        raise DataError("give at least one of 'sky', 'pm', 'parallax'", argument="sky")
    inside = np.ones(len(t), dtype=bool)
    with np.errstate(invalid="ignore"):
        if sky is not None:
            ra0, dec0, rad = (float(v) for v in sky)
            inside &= separation(_values(t, "ra"), _values(t, "dec"), ra0, dec0) <= rad
        if pm is not None:
            p0, q0, rad = (float(v) for v in pm)
            for nm in ("pmra", "pmdec"):
                if nm not in t.colnames:
                    raise DataError(f"'data' has no column {nm!r}", argument="pm")
            inside &= np.hypot(_values(t, "pmra") - p0, _values(t, "pmdec") - q0) <= rad
        if parallax is not None:
            if "parallax" not in t.colnames:
                raise DataError("'data' has no column 'parallax'", argument="parallax")
            p0, half = (float(v) for v in parallax)
            inside &= np.abs(_values(t, "parallax") - p0) <= half
    return inside


def away_from_cluster(data: Any, **region: Any) -> Table:
    """Return the rows of ``data`` outside :func:`cluster_region` (same keywords), in order.

    ``meta["cluster_region"]`` records the cut and ``meta["n_removed"]`` the
    number of rows removed.
    """
    t = _as_table(data)
    inside = cluster_region(t, **region)
    out = t[~inside]
    out.meta = dict(t.meta)
    out.meta["cluster_region"] = {k: list(v) for k, v in region.items() if v is not None}
    out.meta["n_removed"] = int(inside.sum())
    return out
