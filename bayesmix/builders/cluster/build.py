"""Build :func:`cluster_field`: a cluster + field mixture over Gaia astrometry.

The builder runs in steps, each a function below: check the variant
(:func:`_variant`), read the stars and find the cluster (:func:`_stars`, with
:func:`~bayesmix.builders.cluster.detect.find_center`), set up the field
(:func:`_field_setup`, with :mod:`bayesmix.builders.cluster.field`), choose the
priors (:func:`_priors`), then build the PyMC model (:func:`_model`) whose
likelihood is :class:`~bayesmix.builders.cluster.terms.ClusterTerms`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmix._random import as_generator, derive_seed
from bayesmix._units import sky_position
from bayesmix._validate import check_choice, check_int
from bayesmix.builders._coords import make_coords
from bayesmix.builders._likelihood import add_fused_likelihood, feature_major
from bayesmix.builders._model import ComponentSpec, MixtureModel, RowRecord
from bayesmix.builders._priors import check_priors, prior_rv
from bayesmix.builders._start import scaled_start
from bayesmix.builders.cluster.detect import find_center
from bayesmix.builders.cluster.field import control_field, field_range, fit_field_xd
from bayesmix.builders.cluster.terms import ClusterTerms, ClusterVariant, sky_data
from bayesmix.components.beta import Beta
from bayesmix.components.edsd import EDSDParallax, edsd_window
from bayesmix.components.gaussian import MultivariateGaussian
from bayesmix.components.gmm import GaussianMixtureDensity
from bayesmix.components.uniform import Uniform
from bayesmix.exceptions import DataError, SpecError
from bayesmix.gaia import GaiaData, feature_vector, gaia_arrays
from bayesmix.sky import Footprint, separation

__all__ = ["CHOICES", "FIELD_CHOICES", "cluster_field"]

_LABELS = ("cluster", "field")
#: The allowed ``features`` tuples of :func:`cluster_field` and, for each, its allowed
#: ``field`` densities (read by the spec registry).
FIELD_CHOICES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("pmra",): ("gmm", "uniform"),
    ("pmdec",): ("gmm", "uniform"),
    ("pmra", "pmdec"): ("gmm", "uniform"),
    ("parallax",): ("beta", "edsd", "gmm", "uniform"),
    ("parallax", "pmra", "pmdec"): ("gmm", "uniform"),
    ("ra", "dec", "parallax", "pmra", "pmdec"): ("gmm", "uniform"),
    ("ra", "dec", "parallax", "pmra", "pmdec", "radial_velocity"): ("gmm", "uniform"),
}
#: Allowed values of each fixed-choice argument of :func:`cluster_field` (read by the spec
#: registry): ``features`` (the allowed tuples), ``field`` (all densities; which ones a
#: ``features`` tuple allows is :data:`FIELD_CHOICES`), ``field_fit`` and ``cluster_cov``.
#: ``zero_point`` takes a number or ``"free"``.
CHOICES: dict[str, tuple] = {
    "features": tuple(FIELD_CHOICES),
    "field": tuple(sorted({f for fs in FIELD_CHOICES.values() for f in fs})),
    "field_fit": ("free", "xd"),
    "cluster_cov": ("full", "isotropic"),
}
_SKY = ("ra", "dec")
#: EDSD length scales (kpc) whose union window is used inside the sampler
_EDSD_L_RANGE = np.geomspace(0.15, 10.0, 9)
#: quadrature nodes of the EDSD field
_EDSD_NODES = 96


def cluster_field(
    data: Any,
    *,
    features: Sequence[str] = ("pmra", "pmdec"),
    field: str = "gmm",
    field_components: int = 3,
    field_fit: str = "xd",
    cluster_cov: str = "isotropic",
    zero_point: float | str | None = None,
    center: ArrayLike | None = None,
    sky_center: tuple[float, float] | None = None,
    footprint: Any = None,
    field_min_separation: float | None = None,
    columns: Mapping[str, str] | None = None,
    correlations: bool = True,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    bandwidth: float = 0.5,
    rng: int | np.random.Generator | None = 0,
) -> MixtureModel:
    r"""Build a cluster + field mixture over Gaia astrometry with per-star error covariances.

    Parameters
    ----------
    data : astropy.table.Table, pandas.DataFrame or mapping of str to array-like
        Gaia-named columns (see :mod:`bayesmix.gaia`): the features, their
        ``_error`` columns, correlations, ``source_id``; ``ra``/``dec`` (deg)
        to choose the control field.  Rows missing a used value are not fitted
        (see :attr:`MixtureModel.rows` and
        :func:`bayesmix.analysis.membership_table`).  Errors may be zero, and a
        missing ``_error`` column is taken as 0 with a
        :class:`~bayesmix.gaia.GaiaColumnWarning` naming it (recorded in
        ``spec["missing_errors"]``): the cluster's intrinsic dispersion and the
        field's spread keep every covariance positive definite.  Only the
        ``edsd`` field needs positive parallax errors.
    features : tuple of str
        ``("pmra",)``, ``("pmdec",)``, ``("pmra", "pmdec")``, ``("parallax",)``,
        ``("parallax", "pmra", "pmdec")``, ``("ra", "dec", "parallax", "pmra",
        "pmdec")`` or that plus ``"radial_velocity"``; proper motions in mas/yr,
        parallax in mas, radial velocity in km/s, positions in deg.
        ``("parallax", "pmra", "pmdec")`` is the joint astrometric model with each
        star's full 3x3 error covariance and a cluster covariance
        diag(cluster_parallax_dispersion^2, cluster_pm_dispersion^2 (x2)).  The
        full model adds the sky: the cluster is a Plummer profile
        (``cluster_ra``, ``cluster_dec``, ``cluster_radius``) on the tangent
        plane, normalised over the footprint; the field is uniform on the sky
        over the footprint.  With ``radial_velocity`` (rows without one are not
        fitted) the Gaussian part is 4-D with ``cluster_radial_velocity`` and
        ``cluster_radial_velocity_dispersion`` (km/s).  Positional errors (mas)
        are neglected against the cluster's size (deg).
    field : {"gmm", "uniform", "beta", "edsd"}, default "gmm"
        Field density: Gaussian mixture convolved with each star's errors;
        uniform box over the data range; (parallax only) Beta on the observed
        parallax range, or the EDSD prior of Bailer-Jones (2015) convolved with
        the parallax error by quadrature over distance.
    field_components : int, default 3
        Gaussians in the ``gmm`` field.
    field_fit : {"xd", "free"}, default "xd"
        ``"xd"``: the ``gmm`` field is fitted once by extreme deconvolution
        (:class:`bayesmix.em.XDGaussianMixture`, 2 restarts) to the control
        field and held fixed; ``"free"``: its weights, means and covariances are
        model parameters (initialised at that fit).
    cluster_cov : {"isotropic", "full"}, default "isotropic"
        Cluster's intrinsic proper-motion covariance: ``cluster_pm_dispersion^2 I``
        or a full matrix (``cluster_chol``, LKJ prior).  2-D only for ``"full"``.
    zero_point : float, "free" or None
        Parallax zero-point (mas; observed = true + zp).  None: 0; a number:
        fixed; ``"free"`` (``("parallax",)`` only): a parameter with prior
        N(-0.017, 0.03) (Lindegren et al. 2021's mean DR3 offset).
    center : array-like over ``features``, optional
        First-pass cluster centre (e.g. known proper motion), in the observed
        features without ``ra``/``dec`` (the parallax before the zero-point
        correction): numbers in Gaia units (mas, mas/yr) or Quantities, converted
        feature by feature.  Default from
        :func:`~bayesmix.builders.cluster.detect.find_center`.  A hint moves what
        depends on the centre: the stars nearest to it (1 % of the stars, 20 to
        500, in units of each feature's robust spread) give the sky centre (unless
        ``sky_center`` is given, hence the control field), the full model's
        initial radius, the chains' starts and the initial cluster fraction.
    sky_center : (ra, dec) or astropy.coordinates.SkyCoord, optional
        Cluster centre on the sky (deg, angle Quantities, or a SkyCoord in any
        frame, taken in ICRS) for choosing the control field (and the
        prior mean of ``cluster_ra``/``cluster_dec`` in the full model).
    footprint : bayesmix.sky.Footprint or mapping, optional
        Full model only: the survey footprint, e.g. ``{"kind": "cone", "ra": 45,
        "dec": 0, "radius": 0.5}`` or ``{"kind": "box", "ra": [358, 3.8], "dec":
        [-32.5, -27.5]}``.  Default: inferred from the stars
        (:meth:`bayesmix.sky.Footprint.from_data`).  A star outside it is an error.
    field_min_separation : float, optional
        Control-field stars are those farther than this (deg) from
        ``sky_center``.  Default: the median separation of all stars, i.e. the
        outer half of the footprint.  Without ``ra``/``dec`` all stars are used.
    columns : mapping of str to str, optional
        Gaia name -> column name in ``data``.
    correlations : bool, default True
        Use Gaia's correlation columns (missing ones are 0, with a warning).
    priors : mapping, optional
        Override priors by variable name (dicts naming a PyMC distribution):
        ``weights``, ``cluster_pmra``, ``cluster_pmdec``, ``cluster_parallax``,
        ``cluster_pm_dispersion``, ``cluster_parallax_dispersion``,
        ``field_alpha``, ``field_beta``, ``field_length_scale``, ``zero_point``,
        ``cluster_ra``, ``cluster_dec``, ``cluster_radius`` (deg),
        ``cluster_radial_velocity``, ``cluster_radial_velocity_dispersion`` (km/s).
    bandwidth : float, default 0.5
        Kernel width of :func:`~bayesmix.builders.cluster.detect.find_center` (mas/yr).
    rng : int, numpy.random.Generator or None, default 0
        Seed of the XD field fit.

    Returns
    -------
    MixtureModel
        Components ``cluster`` and ``field`` over the ``component`` dim;
        variables ``weights`` (component), ``cluster_<feature>`` (mas/yr or mas),
        ``cluster_pm_dispersion`` (mas/yr) or ``cluster_chol`` (``feature``,
        ``feature_``), ``cluster_parallax_dispersion`` (mas), field parameters
        (``field_weights``/``field_means``/``field_chol`` over ``field_component``,
        ``field_alpha``/``field_beta``, ``field_length_scale`` in kpc), optional
        ``zero_point``; observed ``X`` over (feature, object) (feature-major, as the fused
        likelihood reads it; ``data["X"]`` stays (object, feature)).
        ``spec["field_params"]`` records the fixed field and its control stars,
        ``spec["columns"]`` the ``columns`` mapping (reports read ``ra``/``dec`` by it),
        ``spec["first_pass"]`` the detection (``found``, ``significance``, ``message``)
        and where ``center``/``sky_center`` came from (``"first pass"``, ``"hint"``;
        ``"center hint"``: the sky centre of the stars nearest to the ``center`` hint);
        ``rows`` the input rows used (``rows.used``, ``rows.reasons``) and, in
        ``rows.masks["control"]``, the control-field stars.

    Raises
    ------
    DataError
        Missing feature columns, negative errors, correlations outside [-1, 1], too
        few control stars, zero parallax errors with the ``edsd`` field (each message
        names the spec key to set).
    SpecError
        Unknown ``features``/``field``/``field_fit``/``cluster_cov`` or their
        combination, unknown prior names.

    Notes
    -----
    For star n with features y_n and error covariance C_n,

    .. math:: p(y_n) = w_c\,\mathcal N(y_n \mid \mu_c + z, V_c + C_n)
              + w_f\, p_f(y_n \mid C_n),

    labels marginalised; membership probabilities come afterwards from
    :func:`bayesmix.membership.membership`.  The control field for the XD fit
    is the stars farther than ``field_min_separation`` from the cluster's sky
    centre; the cluster's proper motions are never cut, so the fitted field
    density has no hole at the cluster.  Default priors: ``weights ~
    Dirichlet(1, 1)``; cluster mean ~ N(centre, 5) (mas/yr or mas);
    ``cluster_pm_dispersion ~ HalfNormal(1)`` mas/yr (0.88 mas/yr is 1 km/s at
    240 pc); ``cluster_parallax_dispersion ~ HalfNormal(0.1)`` mas;
    ``field_alpha, field_beta ~ LogNormal(ln 2, 1.5)``, ``LogNormal(ln 10, 1.5)``;
    ``field_length_scale ~ LogNormal(ln 1.35, 0.75)`` kpc (Bailer-Jones 2015's
    L = 1.35 kpc); ``cluster_ra ~ N(ra_0, 1/cos(dec_0))``, ``cluster_dec ~
    N(dec_0, 1)`` deg around the first-pass sky centre, ``cluster_radius ~
    LogNormal(ln 0.5, 1.5)`` deg (the Plummer scale radius, which is also the
    projected half-number radius); ``cluster_radial_velocity ~ N(rv_0, 20)``,
    ``cluster_radial_velocity_dispersion ~ HalfNormal(5)`` km/s.  In the full
    model the sky term multiplies both components:
    :math:`w_c\,\Sigma_{\rm Plummer}(\xi_n,\eta_n)\,\mathcal N(\cdot)
    + w_f\,(\cos^3 c_n/\Omega)\,p_f(\cdot)`, both densities per unit area of
    the tangent plane at the footprint centre (see :mod:`bayesmix.sky`).

    Chains start at the first pass (the cluster's mean at ``center``, its true
    parallax at the observed one minus ``zero_point``), jittered within the
    cluster's apparent width (the robust spread of the first pass's stars, at most
    1 mas, mas/yr, km/s or deg; the sky position within the first-pass radius),
    not PyMC's +-1 in those units: a start outside a compact cluster can lose it
    to a local mode where the cluster component holds a few field stars (on
    NGC 6819's joint astrometric model, 4 of 48 chains did, 620 nats below the
    posterior's mode).  The sampler's coordinate of each such location is
    ``(x - start) / width``, an affine map that leaves the posterior unchanged.

    The EDSD
    quadrature window of each star is the union of its
    windows for L from 0.15 to 10 kpc and zero points of +-0.1 mas.

    References
    ----------
    Bailer-Jones, C. A. L. 2015, PASP 127, 994.
    Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, Ann. Appl. Stat. 5, 1657.
    Cantat-Gaudin, T. et al. 2020, A&A 640, A1.
    Lindegren, L. et al. 2021, A&A 649, A2 and A4.
    """
    v = _variant(features, field, field_fit, cluster_cov, field_components, zero_point)
    stars = _stars(
        data,
        v,
        center=center,
        sky_center=sky_center,
        footprint=footprint,
        field_min_separation=field_min_separation,
        columns=columns,
        correlations=correlations,
        bandwidth=bandwidth,
    )
    field_params, f_range = _field_setup(v, stars, rng)
    fp = stars.footprint
    terms = ClusterTerms(
        variant=v,
        field_params=field_params,
        field_range=f_range,
        tangent_point=None if fp is None else fp.tangent_point,
        region=None if fp is None else fp.region(),
        edsd_nodes=_EDSD_NODES,
    )
    pri, r0 = _priors(v, stars, priors)
    gd = stars.gaia
    data_arrays: dict[str, np.ndarray] = {"X": gd.X, "X_cov": gd.X_cov, **stars.sky_arrays}
    if v.field == "edsd":
        zr = [-0.1, 0.1] if v.zero_point == "free" else [v.zero_point]
        lo, hi = edsd_window(gd.X[:, 0], gd.X_cov[:, 0, 0], _EDSD_L_RANGE, zr)
        data_arrays["window_lo"], data_arrays["window_hi"] = lo, hi
    if v.fixed_field:
        data_arrays["field_fixed"] = terms.fixed_field(data_arrays)
    coords = make_coords(gd.ids, _LABELS, v.xfeat)
    if v.field == "gmm" and v.field_fit == "free":
        coords["field_component"] = tuple(range(v.n_field))
    model, names = _model(v, stars, terms, pri, r0, data_arrays, coords)
    spec = {
        "builder": "cluster_field",
        "features": list(v.features),
        "field": v.field,
        "field_components": v.n_field,
        "field_fit": v.field_fit,
        "cluster_cov": v.cluster_cov,
        "zero_point": v.zero_point,
        "center": [float(c) for c in stars.center],
        "sky_center": None if stars.sky is None else [float(c) for c in stars.sky],
        "field_min_separation": stars.min_separation,
        "priors": pri,
        "field_params": dict(field_params or {}),
        "field_range": f_range,
        "n_excluded": gd.n_excluded,
        "missing_correlations": list(gd.missing_correlations),
        "missing_errors": list(gd.missing_errors),
        "footprint": None if fp is None else fp.to_dict(),
        "columns": {str(k): str(c) for k, c in (columns or {}).items()},
        "first_pass": {
            "found": bool(stars.found["found"]),
            "significance": float(stars.found["significance"]),
            "message": str(stars.found["message"]),
            "center_from": "first pass" if center is None else "hint",
            "sky_center_from": (
                "hint"
                if sky_center is not None
                else ("center hint" if center is not None else "first pass")
            ),
        },
    }
    return MixtureModel(
        model=model,
        components=_components(v, terms),
        coords=coords,
        data=data_arrays,
        spec=spec,
        var_names=tuple(names),
        log_terms=terms,
        prepare_rows=functools.partial(
            _prepare_rows,
            variant=v,
            columns=columns,
            correlations=correlations,
            footprint=fp,
            terms=terms,
        ),
        rows=_rows(gd, {"control": stars.control}),
    )


# --------------------------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------------------------


def _variant(
    features, field, field_fit, cluster_cov, field_components, zero_point
) -> ClusterVariant:
    """Check the options and their combination; return the variant."""
    features = tuple(str(f) for f in features)
    if features not in FIELD_CHOICES:
        raise SpecError(
            f"'features' must be one of {sorted(FIELD_CHOICES)}; got {features!r}", key="features"
        )
    field = check_choice(field, name="field", choices=FIELD_CHOICES[features])
    field_fit = check_choice(field_fit, name="field_fit", choices=CHOICES["field_fit"])
    cluster_cov = check_choice(cluster_cov, name="cluster_cov", choices=CHOICES["cluster_cov"])
    if cluster_cov == "full" and features != ("pmra", "pmdec"):
        raise SpecError("cluster_cov='full' needs features=('pmra', 'pmdec')", key="cluster_cov")
    K_f = check_int(field_components, name="field_components", minimum=1)
    kind = {("parallax",): "parallax", ("parallax", "pmra", "pmdec"): "astrometric"}.get(
        features, "full" if features[:2] == _SKY else "pm"
    )
    if zero_point is not None and kind == "pm":
        raise SpecError("'zero_point' applies to features with 'parallax' only", key="zero_point")
    if isinstance(zero_point, str):
        check_choice(zero_point, name="zero_point", choices={"free"})
        if kind in ("astrometric", "full"):
            raise SpecError(
                "zero_point='free' is degenerate with cluster_parallax when the "
                "field is fitted to observed parallaxes; give a number (mas)",
                key="zero_point",
            )
    zp = 0.0 if zero_point is None else (zero_point if zero_point == "free" else float(zero_point))
    return ClusterVariant(
        features=features,
        xfeat=features[2:] if kind == "full" else features,
        kind=kind,
        field=field,
        field_fit=field_fit,
        cluster_cov=cluster_cov,
        n_field=K_f,
        zero_point=zp,
    )


@dataclass(frozen=True, eq=False)
class _Stars:
    """The usable stars, the first-pass cluster and the control field."""

    gaia: GaiaData
    found: dict[str, Any]  # find_center's result (over input rows)
    center: np.ndarray  # first-pass centre over xfeat
    sky: tuple[float, float] | None  # the cluster's sky centre (deg)
    footprint: Footprint | None  # full model only
    sky_arrays: dict[str, np.ndarray]  # full model only: sky_xi, sky_eta, sky_field
    positions: tuple[np.ndarray, np.ndarray] | None  # full model only: (ra, dec) of the stars
    control: np.ndarray  # bool over the usable stars
    min_separation: float | None  # deg; None without positions
    selected: np.ndarray  # bool over the usable stars: the first pass's (or hint's) cluster
    start_scale: np.ndarray  # over xfeat: half-width of the chains' starts around center


def _read(table: Any, v: ClusterVariant, columns, correlations) -> GaiaData:
    """Read the usable stars' values and error covariances (and sky columns, full model)."""
    gd = gaia_arrays(
        table,
        v.xfeat,
        columns=columns,
        correlations=correlations,
        extra_columns=_SKY if v.kind == "full" else (),
        zero_errors=True,  # the cluster's dispersion and the field's spread stay positive
    )
    if v.field == "edsd" and not (gd.X_cov[:, 0, 0] > 0).all():
        r = int(np.flatnonzero(gd.used)[np.flatnonzero(~(gd.X_cov[:, 0, 0] > 0))[0]])
        raise DataError(
            "field 'edsd' integrates each star's parallax error, which must be positive; "
            f"row {r} (id {gd.all_ids[r]}) has "
            + (
                "none: the table has no parallax_error column"
                if gd.missing_errors
                else "a zero parallax_error"
            )
            + '. Name the error column in [data.columns] (parallax_error = "...") or '
            'choose [builder].field = "beta", "gmm" or "uniform"',
            argument="data",
            rows=[r],
        )
    return gd


def _stars(
    data,
    v: ClusterVariant,
    *,
    center,
    sky_center,
    footprint,
    field_min_separation,
    columns,
    correlations,
    bandwidth,
) -> _Stars:
    """Read the usable stars, find the cluster, the footprint and the control field."""
    cm = dict(columns or {})
    gd = _read(data, v, columns, correlations)
    if center is not None:  # numbers in Gaia units, or Quantities converted to them
        center = feature_vector(center, v.xfeat, name="center")
        if not np.isfinite(center).all():
            raise DataError(f"'center' must be finite; got {center.tolist()}", argument="center")
    if sky_center is not None:  # (ra, dec) in deg, angle Quantities or a SkyCoord
        sky_center = sky_position(sky_center, what="'sky_center'", name="sky_center")
    found = find_center(data, v.xfeat, bandwidth=bandwidth, columns=columns)
    c0 = found["center"] if center is None else center
    # the first pass's cluster stars, or with a `center` hint the stars nearest to it:
    # what the hint moves (sky centre, initial radius, starts, initial weight) follows
    selected = found["selected"][gd.used] if center is None else _near(gd.X, c0)
    ra_name, dec_name = cm.get("ra", "ra"), cm.get("dec", "dec")
    sky = sky_center if sky_center is not None else found["sky_center"]
    if sky_center is None and center is not None and ra_name in gd.columns:
        sky = _sky_centre(gd.column(ra_name)[selected], gd.column(dec_name)[selected])
    if v.kind != "full" and footprint is not None:
        raise SpecError(
            "'footprint' applies to features starting with ('ra', 'dec') only", key="footprint"
        )
    control = np.ones(gd.X.shape[0], dtype=bool)
    sky_arrays: dict[str, np.ndarray] = {}
    fp = positions = None
    if v.kind == "full":
        ra_s, dec_s = gd.column(ra_name), gd.column(dec_name)
        fp = Footprint.from_data(ra_s, dec_s) if footprint is None else Footprint.parse(footprint)
        outside = ~fp.contains(ra_s, dec_s)
        if outside.any():
            r = int(np.flatnonzero(gd.used)[np.flatnonzero(outside)[0]])
            raise DataError(
                f"row {r} (id {gd.all_ids[r]}) lies outside the footprint "
                f"({fp.describe()}); widen 'footprint' or select the rows",
                argument="footprint",
                rows=[r],
            )
        sky_arrays = sky_data(fp, ra_s, dec_s)
        positions = (ra_s, dec_s)
        if sky is None:
            sky = fp.tangent_point
    rmin = None
    if sky is not None and ra_name in gd.columns and dec_name in gd.columns:
        control, rmin = control_field(
            gd.column(ra_name), gd.column(dec_name), sky, min_separation=field_min_separation
        )
    return _Stars(
        gaia=gd,
        found=found,
        center=c0,
        sky=sky,
        footprint=fp,
        sky_arrays=sky_arrays,
        positions=positions,
        control=control,
        min_separation=rmin,
        selected=selected,
        start_scale=_start_scale(gd, selected),
    )


def _near(X: np.ndarray, c0: np.ndarray) -> np.ndarray:
    """Return the stars nearest to a hinted centre: 1 % of them (20 to 500), robust units."""
    med = np.median(X, axis=0)
    spread = 1.4826 * np.median(np.abs(X - med), axis=0)
    spread = np.where(spread > 0, spread, np.std(X, axis=0))
    d2 = np.sum(np.square((X - c0) / np.where(spread > 0, spread, 1.0)), axis=1)
    k = int(np.clip(round(0.01 * X.shape[0]), min(20, X.shape[0]), 500))
    out = np.zeros(X.shape[0], dtype=bool)
    out[np.argsort(d2, kind="stable")[:k]] = True
    return out


def _sky_centre(ra: np.ndarray, dec: np.ndarray) -> tuple[float, float] | None:
    """Circular mean RA and median Dec (deg) of stars, None without any."""
    if ra.size == 0:
        return None
    r = np.radians(ra)
    return (
        float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0),
        float(np.median(dec)),
    )


def _start_scale(gd: GaiaData, selected: np.ndarray) -> np.ndarray:
    """Half-width (feature units) of the chains' starts around the first-pass centre.

    The apparent width of the cluster: the robust spread (1.4826 MAD) of the first
    pass's stars (those nearest to a ``center`` hint) when there are at least 5, else
    the median measurement error; never more than 1 (PyMC's own jitter, +-1 in the
    feature's unit) nor less than 1e-3.
    """
    if selected.sum() >= 5:
        X = gd.X[selected]
        spread = 1.4826 * np.median(np.abs(X - np.median(X, axis=0)), axis=0)
    else:
        spread = np.median(np.sqrt(np.diagonal(gd.X_cov, axis1=1, axis2=2)), axis=0)
    return np.clip(np.nan_to_num(spread, nan=1.0), 1e-3, 1.0)


def _cluster_center(v: ClusterVariant, stars: _Stars) -> np.ndarray:
    """Return the first-pass centre as the cluster's mean (true parallax = observed - zp)."""
    c0 = np.array(stars.center, dtype=float)
    if "parallax" in v.xfeat and v.zero_point != "free":
        c0[v.xfeat.index("parallax")] -= float(v.zero_point)
    return c0


def _field_setup(v: ClusterVariant, stars: _Stars, rng):
    """Fit the fixed XD field (``gmm``) or take the data range (``uniform``, ``beta``)."""
    X = stars.gaia.X
    field_params = f_range = None
    if v.field == "gmm":
        if v.n_field > X.shape[0]:
            raise SpecError(
                f"'field_components' ({v.n_field}) exceeds the {X.shape[0]} usable stars",
                key="field_components",
            )
        field_params = fit_field_xd(
            X, stars.gaia.X_cov, v.n_field, stars.control, derive_seed(as_generator(rng))
        )
    if v.field in ("uniform", "beta"):
        f_range = field_range(X)
    return field_params, f_range


def _priors(v: ClusterVariant, stars: _Stars, priors) -> tuple[dict[str, dict[str, Any]], float]:
    """Return the priors by variable (user's over defaults) and the initial radius (deg)."""
    allowed = {"weights"} | {f"cluster_{f}" for f in v.features}
    if v.kind == "parallax":
        allowed |= {"cluster_parallax_dispersion"}
        allowed |= {"zero_point"} if v.zero_point == "free" else set()
        allowed |= {"beta": {"field_alpha", "field_beta"}, "edsd": {"field_length_scale"}}.get(
            v.field, set()
        )
    elif v.kind in ("astrometric", "full"):
        allowed |= {"cluster_parallax_dispersion", "cluster_pm_dispersion"}
        if v.kind == "full":
            allowed |= {"cluster_ra", "cluster_dec", "cluster_radius"}
        if "radial_velocity" in v.xfeat:
            allowed |= {"cluster_radial_velocity_dispersion"}
    elif v.cluster_cov == "isotropic":
        allowed |= {"cluster_pm_dispersion"}
    user = check_priors(priors, allowed)
    scale = 5.0
    defaults: dict[str, dict[str, Any]] = {
        "weights": {"dist": "Dirichlet", "a": [1.0, 1.0]},
        "cluster_pm_dispersion": {"dist": "HalfNormal", "sigma": 1.0},
        "cluster_parallax_dispersion": {"dist": "HalfNormal", "sigma": 0.1},
        "zero_point": {"dist": "Normal", "mu": -0.017, "sigma": 0.03},
        "field_alpha": {"dist": "LogNormal", "mu": math.log(2.0), "sigma": 1.5},
        "field_beta": {"dist": "LogNormal", "mu": math.log(10.0), "sigma": 1.5},
        "field_length_scale": {"dist": "LogNormal", "mu": math.log(1.35), "sigma": 0.75},
    }
    c0 = _cluster_center(v, stars)
    for j, f in enumerate(v.xfeat):
        # radial velocities (km/s) get a wider prior than the mas and mas/yr features
        defaults[f"cluster_{f}"] = {
            "dist": "Normal",
            "mu": float(c0[j]),
            "sigma": 20.0 if f == "radial_velocity" else scale,
        }
    defaults["cluster_radial_velocity_dispersion"] = {"dist": "HalfNormal", "sigma": 5.0}
    r0 = 0.5
    if v.kind == "full":
        sky = stars.sky
        cos_d = max(math.cos(math.radians(sky[1])), 0.05)
        defaults["cluster_ra"] = {"dist": "Normal", "mu": float(sky[0]), "sigma": 1.0 / cos_d}
        defaults["cluster_dec"] = {"dist": "Normal", "mu": float(sky[1]), "sigma": 1.0}
        defaults["cluster_radius"] = {"dist": "LogNormal", "mu": math.log(0.5), "sigma": 1.5}
        sel = stars.selected
        if sel.sum() >= 5:
            ra_s, dec_s = stars.positions
            r0 = float(np.clip(np.median(separation(ra_s[sel], dec_s[sel], *sky)), 0.02, 5.0))
    return {k: user.get(k, defaults[k]) for k in sorted(allowed)}, r0


def _model(
    v: ClusterVariant, stars: _Stars, terms: ClusterTerms, pri, r0: float, data_arrays, coords
) -> tuple[Any, list[str]]:
    """Build the PyMC model: data, priors, and the likelihood of ``X`` from ``terms``."""
    import pymc as pm

    gd = stars.gaia
    # initial cluster fraction: stars near the first-pass centre, relative to all
    init_w = float(np.clip(stars.selected.mean() if v.kind in ("pm", "full") else 0.05, 0.01, 0.5))
    with pm.Model(coords=coords) as model:
        # feature-major (objects last): the layout the fused likelihood reads
        dvars = {
            "X_cov": pm.Data(
                "X_cov", feature_major(gd.X_cov), dims=("feature", "feature_", "object")
            )
        }
        if v.field == "edsd":
            dvars["window_lo"] = pm.Data("window_lo", data_arrays["window_lo"], dims="object")
            dvars["window_hi"] = pm.Data("window_hi", data_arrays["window_hi"], dims="object")
        if v.fixed_field:
            dvars["field_fixed"] = pm.Data("field_fixed", data_arrays["field_fixed"], dims="object")
        else:
            for nm in stars.sky_arrays:
                dvars[nm] = pm.Data(nm, stars.sky_arrays[nm], dims="object")
        if v.kind == "full":
            for nm in ("sky_xi", "sky_eta"):
                if nm not in dvars:
                    dvars[nm] = pm.Data(nm, stars.sky_arrays[nm], dims="object")
        rvs: dict[str, Any] = {}
        rvs["weights"] = prior_rv(
            "weights", pri["weights"], dims="component", initval=np.array([init_w, 1 - init_w])
        )
        rvs.update(_cluster_rvs(v, stars, pri, r0))
        rvs.update(_field_rvs(v, gd.X, terms, pri))
        add_fused_likelihood(
            "X",
            feature_major(gd.X),
            dims=("feature", "object"),
            layout=terms.fused_layout(),
            inputs={**rvs, **dvars},
            kernel_args=lambda value, v: terms.fused_args(v, {**v, "X": value}),
        )
    return model, list(rvs)


def _cluster_rvs(v: ClusterVariant, stars: _Stars, pri, r0: float) -> dict[str, Any]:
    """Add the cluster's variables to the current model: position, means, dispersions."""
    import pymc as pm

    rvs: dict[str, Any] = {}
    # chains start within the first pass's cluster, not PyMC's +-1 (mas, mas/yr, deg)
    # around it: a start outside a compact cluster can lose it (see builders._start)
    if v.kind == "full":
        sky = stars.sky
        cos_d = max(math.cos(math.radians(sky[1])), 0.05)
        for nm, c, sc in (("cluster_ra", sky[0], r0 / cos_d), ("cluster_dec", sky[1], r0)):
            rvs[nm] = prior_rv(nm, pri[nm], **scaled_start(pri[nm]["dist"], c, min(sc, 1.0)))
        rvs["cluster_radius"] = prior_rv("cluster_radius", pri["cluster_radius"], initval=r0)
    c0 = _cluster_center(v, stars)
    for j, f in enumerate(v.xfeat):
        nm = f"cluster_{f}"
        rvs[nm] = prior_rv(
            nm, pri[nm], **scaled_start(pri[nm]["dist"], c0[j], float(stars.start_scale[j]))
        )
    if v.kind in ("parallax", "astrometric", "full"):
        rvs["cluster_parallax_dispersion"] = prior_rv(
            "cluster_parallax_dispersion", pri["cluster_parallax_dispersion"], initval=0.05
        )
    if v.kind == "parallax":
        if v.zero_point == "free":
            rvs["zero_point"] = prior_rv("zero_point", pri["zero_point"])
    elif v.kind in ("astrometric", "full") or v.cluster_cov == "isotropic":
        rvs["cluster_pm_dispersion"] = prior_rv(
            "cluster_pm_dispersion", pri["cluster_pm_dispersion"], initval=0.5
        )
        if "radial_velocity" in v.xfeat:
            rvs["cluster_radial_velocity_dispersion"] = prior_rv(
                "cluster_radial_velocity_dispersion",
                pri["cluster_radial_velocity_dispersion"],
                initval=1.0,
            )
    else:
        import pytensor.tensor as pt

        packed = pm.LKJCholeskyCov(
            "cluster_cov_packed",
            n=2,
            eta=2.0,
            sd_dist=pm.HalfNormal.dist(sigma=1.0, shape=2),
            compute_corr=False,
            dims="cov_packed",
        )
        r, c = np.tril_indices(2)
        rvs["cluster_chol"] = pm.Deterministic(
            "cluster_chol", pt.zeros((2, 2))[r, c].set(packed), dims=("feature", "feature_")
        )
    return rvs


def _field_rvs(v: ClusterVariant, X: np.ndarray, terms: ClusterTerms, pri) -> dict[str, Any]:
    """Add the field's variables to the current model (Beta, EDSD or free mixture)."""
    import pymc as pm

    rvs: dict[str, Any] = {}
    if v.field == "beta":
        plx = X[:, 0]
        lo_, hi_ = terms.field_range[0][0], terms.field_range[1][0]
        z = (plx - lo_) / (hi_ - lo_)
        m, var = z.mean(), z.var()
        common = m * (1 - m) / var - 1
        rvs["field_alpha"] = prior_rv(
            "field_alpha", pri["field_alpha"], initval=float(np.clip(m * common, 0.2, 50))
        )
        rvs["field_beta"] = prior_rv(
            "field_beta", pri["field_beta"], initval=float(np.clip((1 - m) * common, 0.2, 500))
        )
    if v.field == "edsd":
        rvs["field_length_scale"] = prior_rv(
            "field_length_scale", pri["field_length_scale"], initval=1.35
        )
    if v.field == "gmm" and v.field_fit == "free":
        import pytensor.tensor as pt

        K_f, D = v.n_field, X.shape[1]
        ff = terms.field_params
        rvs["field_weights"] = pm.Dirichlet(
            "field_weights",
            a=np.ones(K_f),
            dims="field_component",
            initval=np.asarray(ff["weights"]),
        )
        s = X.std(axis=0)
        rvs["field_means"] = pm.Normal(
            "field_means",
            mu=X.mean(axis=0),
            sigma=3 * s,
            dims=("field_component", "feature"),
            initval=np.asarray(ff["means"]),
        )
        dims = ("field_component", "feature", "feature_")
        if D == 1:
            # one feature: the "Cholesky factor" is the standard deviation (LKJ needs n >= 2)
            sd0 = np.sqrt(np.asarray(ff["covs"], dtype=float)[:, 0, 0])
            sig = pm.HalfNormal(
                "field_sigma", sigma=3 * float(s[0]), dims="field_component", initval=sd0
            )
            rvs["field_chol"] = pm.Deterministic("field_chol", sig[:, None, None], dims=dims)
        else:
            chols = []
            r, c = np.tril_indices(D)
            for k in range(K_f):
                packed = pm.LKJCholeskyCov(
                    f"field_cov_packed_{k}",
                    n=D,
                    eta=2.0,
                    sd_dist=pm.HalfNormal.dist(sigma=3 * s, shape=D),
                    compute_corr=False,
                    dims="cov_packed",
                )
                chols.append(pt.zeros((D, D))[r, c].set(packed))
            rvs["field_chol"] = pm.Deterministic("field_chol", pt.stack(chols, axis=0), dims=dims)
    return rvs


def _components(v: ClusterVariant, terms: ClusterTerms) -> tuple[ComponentSpec, ComponentSpec]:
    """Human-readable description of the cluster and field components."""
    D = len(v.xfeat)
    if v.cluster_cov == "full":
        cov = "cluster_chol @ cluster_chol.T"
    elif v.kind == "parallax":
        cov = "cluster_parallax_dispersion**2"
    elif v.kind in ("astrometric", "full"):
        cov = "diag(cluster_parallax_dispersion**2, cluster_pm_dispersion**2 x 2" + (
            ", cluster_radial_velocity_dispersion**2)" if D == 4 else ")"
        )
    else:
        cov = "cluster_pm_dispersion**2 * I"
    cdesc = {
        "mean": " + ".join(f"cluster_{f}" for f in v.xfeat)
        + (" + zero_point" if v.kind != "pm" and v.zero_point != 0.0 else ""),
        "cov": cov,
        "error_cov": "X_cov",
    }
    if v.kind == "full":
        cdesc["sky"] = "Plummer(cluster_ra, cluster_dec, cluster_radius) over the footprint"
    field_comp = {
        "gmm": GaussianMixtureDensity(D, v.n_field),
        "uniform": Uniform(n_features=D),
        "beta": Beta(),
        "edsd": EDSDParallax(n_nodes=_EDSD_NODES),
    }[v.field]
    f_range = terms.field_range
    fdesc = {
        "gmm": {
            "weights": "field_weights",
            "means": "field_means",
            "covs": "field_chol @ field_chol.T",
            "error_cov": "X_cov",
        }
        if v.field_fit == "free"
        else {
            "weights": "XD fit (fixed)",
            "means": "XD fit",
            "covs": "XD fit",
            "error_cov": "X_cov",
        },
        "uniform": {
            "lower": repr(None if f_range is None else f_range[0]),
            "upper": repr(None if f_range is None else f_range[1]),
        },
        "beta": {"alpha": "field_alpha", "beta": "field_beta"},
        "edsd": {
            "length_scale": "field_length_scale",
            "zero_point": "zero_point",
            "error_var": "X_cov",
        },
    }[v.field]
    if v.kind == "full":
        fdesc = {**fdesc, "sky": "uniform over the footprint"}
    return (
        ComponentSpec("cluster", MultivariateGaussian(D), cdesc),
        ComponentSpec("field", field_comp, fdesc),
    )


def _rows(gd: GaiaData, masks: Mapping[str, np.ndarray]) -> RowRecord:
    """Return the row record of stars read by :func:`~bayesmix.gaia.gaia_arrays`."""
    return RowRecord(
        used=gd.used, reasons=gd.reasons, all_ids=gd.all_ids, columns=gd.columns, masks=dict(masks)
    )


def _prepare_rows(
    table: Any, *, variant: ClusterVariant, columns, correlations, footprint, terms: ClusterTerms
) -> tuple[dict[str, np.ndarray], RowRecord]:
    """Arrays of new stars the way the model's own were made (``MixtureModel.prepare_rows``)."""
    cm = dict(columns or {})
    g2 = _read(table, variant, columns, correlations)
    out = {"X": g2.X, "X_cov": g2.X_cov}
    if footprint is not None:
        out.update(
            sky_data(footprint, g2.column(cm.get("ra", "ra")), g2.column(cm.get("dec", "dec")))
        )
    if variant.fixed_field:
        out["field_fixed"] = terms.fixed_field(out)
    return out, _rows(g2, {})
