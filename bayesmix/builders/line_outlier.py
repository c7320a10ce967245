"""Straight line plus outlier component (Hogg, Bovy & Lang 2010, sect. 3)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmix._units import has_unit, to_unit, with_value_unit
from bayesmix._validate import check_array_1d, check_choice, check_positive, row_label
from bayesmix.builders._coords import make_coords, object_ids
from bayesmix.builders._likelihood import add_fused_likelihood
from bayesmix.builders._model import ComponentSpec, MixtureModel, RowRecord
from bayesmix.builders._priors import check_priors, prior_dist, prior_rv
from bayesmix.builders._start import robust_line, scaled_start
from bayesmix.components import get_backend
from bayesmix.components.gaussian import Gaussian
from bayesmix.components.uniform import Uniform
from bayesmix.exceptions import DataError, SpecError

__all__ = ["CHOICES", "line_outlier"]

_LABELS = ("inlier", "outlier")
#: Allowed values of each fixed-choice argument of :func:`line_outlier` (read by the spec
#: registry).
CHOICES: dict[str, tuple] = {"outlier": ("gaussian", "uniform")}


def _prepare(
    x, y, y_err, x_err, rho_xy, user_ids, *, intrinsic_scatter: bool, outlier_range=None, units=None
) -> tuple[dict, np.ndarray, dict[str, str | None]]:
    """Validate line data; return the data dict, the object ids and the units of x and y.

    Quantities: each error is converted to its values' unit (``units``: the units the
    model was built in, for new rows).
    """
    units = dict(units or {})
    x, rel, x_unit = with_value_unit(x, {"x_err": x_err}, name="x", expected=units.get("x"))
    x_err = rel["x_err"]
    y, rel, y_unit = with_value_unit(y, {"y_err": y_err}, name="y", expected=units.get("y"))
    y_err = rel["y_err"]
    if rho_xy is not None and has_unit(rho_xy):
        rho_xy = to_unit(rho_xy, "", what="'rho_xy'", name="rho_xy")
    n = check_array_1d(y, name="y", allow_nan=True).shape[0]
    ids = object_ids(user_ids, n)
    lab = None if user_ids is None else ids  # ids named in error messages
    y = check_array_1d(y, name="y", ids=lab)
    x = check_array_1d(x, name="x", n=n, ids=lab)
    data = {"x": x, "y": y}
    if y_err is None and not intrinsic_scatter:
        raise DataError(
            "line_outlier needs the y errors or an intrinsic scatter to give the line a width: "
            'name the error column in [data.columns] (y_err = "..."), or set '
            "[builder].intrinsic_scatter = true (y_err= / intrinsic_scatter=True in Python)",
            argument="y_err",
        )
    if y_err is not None:
        try:
            data["y_err"] = check_positive(
                check_array_1d(y_err, name="y_err", n=n, ids=lab),
                name="y_err",
                ids=lab,
                strict=not intrinsic_scatter,  # zero errors: the scatter keeps a width
            )
        except DataError as exc:
            if intrinsic_scatter or "must be positive" not in str(exc):
                raise
            raise DataError(
                f"{exc}; with zero errors set [builder].intrinsic_scatter = true",
                argument="y_err",
                rows=exc.rows,
            ) from None
    if x_err is not None:
        data["x_err"] = check_positive(
            check_array_1d(x_err, name="x_err", n=n, ids=lab), name="x_err", ids=lab, strict=False
        )
    if rho_xy is not None:
        if x_err is None or y_err is None:
            raise DataError(
                "'rho_xy' (the correlation of each point's x and y errors) needs both x_err and "
                "y_err: name them in [data.columns] (x_err, y_err)",
                argument="rho_xy",
            )
        rho = check_array_1d(rho_xy, name="rho_xy", n=n, ids=lab)
        bad = np.abs(rho) > 1
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"'rho_xy' must lie in [-1, 1]; got {rho[i]} at {row_label(i, lab)}",
                argument="rho_xy",
                rows=np.flatnonzero(bad)[:100],
            )
        data["rho_xy"] = rho
    if outlier_range is not None:
        lo, hi = outlier_range
        bad = (y < lo) | (y > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"row {i}" if lab is None else f"row {i} (id {ids[i]})"
            raise DataError(
                f"'y' must lie inside outlier_range [{lo}, {hi}] for the uniform outlier "
                f"component; got {y[i]} at {where}. Widen outlier_range.",
                argument="y",
                rows=np.flatnonzero(bad)[:100],
            )
    return data, ids, {"x": x_unit, "y": y_unit}


def _line_terms(
    values: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    backend: str,
    outlier: str,
    outlier_range: tuple[float, float] | None,
    intrinsic_scatter: bool,
) -> tuple[Any, list[Any]]:
    """Log weights and the inlier/outlier log-densities (one formula for both backends)."""
    b = get_backend(backend)
    slope = values["slope"][..., None]
    intercept = values["intercept"][..., None]
    err_var = b.square(data["y_err"]) if "y_err" in data else 0.0
    inlier_var = err_var
    if "x_err" in data:
        # the (x, y) error covariance projected on y along the line (flat in true x)
        inlier_var = inlier_var + b.square(slope * data["x_err"])
        if "rho_xy" in data:
            inlier_var = inlier_var - 2.0 * slope * data["rho_xy"] * data["x_err"] * data["y_err"]
    sigma = values["intrinsic_scatter"][..., None] if intrinsic_scatter else 0.0
    inlier = Gaussian().logp(
        data["y"],
        {"mean": slope * data["x"] + intercept, "sigma": sigma, "error_var": inlier_var},
        backend=b,
    )
    if outlier == "gaussian":
        out = Gaussian().logp(
            data["y"],
            {
                "mean": values["outlier_mean"][..., None],
                "sigma": values["outlier_sigma"][..., None],
                "error_var": err_var,
            },
            backend=b,
        )
    else:
        lo, hi = outlier_range or (-np.inf, np.inf)  # always set for uniform outliers
        out = Uniform().logp(data["y"], {"lower": lo, "upper": hi}, backend=b)
    return b.log(values["weights"]), [inlier, out]


@functools.cache
def _majority_class() -> type:
    """Return the PyMC transform of a 2-simplex onto ``w[0] > 1/2`` (PyMC imported lazily)."""
    import pytensor.tensor as pt
    from pymc.logprob.transforms import Transform

    class InlierMajority(Transform):
        """``w = (1 - f, f)`` with ``f = sigmoid(v) / 2``: the second weight below 1/2.

        ``v`` has shape (..., 1); the log Jacobian is that of ``v -> f``, the same
        convention as PyMC's simplex transform (density over the first K - 1 weights).
        """

        name = "inlier_majority"
        ndim_supp = 1

        def forward(self, value, *inputs):
            f = pt.as_tensor(value)[..., 1:]
            return pt.log(2.0 * f) - pt.log1p(-2.0 * f)

        def backward(self, value, *inputs):
            f = 0.5 * pt.sigmoid(pt.as_tensor(value))
            return pt.concatenate([1.0 - f, f], axis=-1)

        def log_jac_det(self, value, *inputs):
            v = pt.as_tensor(value)
            return pt.sum(np.log(0.5) - pt.softplus(-v) - pt.softplus(v), axis=-1)

    return InlierMajority


def _majority_kwargs() -> dict[str, Any]:
    """Keyword arguments of the default ``weights``: the majority transform replaces PyMC's."""
    return {"transform": _majority_class()(), "default_transform": None, "initval": [0.8, 0.2]}


def line_outlier(
    x: ArrayLike,
    y: ArrayLike,
    y_err: ArrayLike | None = None,
    *,
    x_err: ArrayLike | None = None,
    rho_xy: ArrayLike | None = None,
    outlier: str = "gaussian",
    outlier_range: tuple[float, float] | None = None,
    intrinsic_scatter: bool = False,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    ids: Sequence | np.ndarray | None = None,
) -> MixtureModel:
    r"""Build a straight line plus outlier mixture model.

    Each object is an inlier, ``y_n ~ N(slope x_n + intercept, s_n^2)`` with
    ``s_n^2 = y_err_n^2 [+ slope^2 x_err_n^2 - 2 slope rho_xy_n x_err_n y_err_n]
    [+ intrinsic_scatter^2]``, or an outlier drawn from a broad Gaussian
    ``N(outlier_mean, outlier_sigma^2 + y_err_n^2)`` (or a uniform density over
    ``outlier_range``).  The labels are marginalised:
    ``ln L = sum_n logsumexp_k [ln w_k + ln p_k(y_n)]``.

    Parameters
    ----------
    x, y : array-like of shape (n_objects,)
        Abscissae and ordinates (any units; ``slope`` is in units of y per x).
        Quantities (or unit-carrying columns) are allowed: each error array is
        converted to its values' unit (a unit that does not convert, or an error
        with a unit beside unit-less values, is a ``DataError``) and the units are
        recorded in ``spec["units"]`` (new rows are converted to them).
    y_err : array-like of shape (n_objects,), optional
        Standard deviation of each ``y`` (units of y): strictly positive, or
        non-negative with ``intrinsic_scatter``.  Without it (only with
        ``intrinsic_scatter``) the points have no measurement error and the
        intrinsic scatter alone gives the line its width.
    x_err : array-like of shape (n_objects,), optional
        Standard deviation of each ``x`` (non-negative).
    rho_xy : array-like of shape (n_objects,), optional
        Correlation coefficient of each point's x and y errors, in [-1, 1] (needs
        ``x_err`` and ``y_err``): the point's error covariance is
        ``[[x_err^2, rho_xy x_err y_err], [rho_xy x_err y_err, y_err^2]]``
        (Hogg, Bovy & Lang 2010, Table 1 and eq. 32).
    outlier : {"gaussian", "uniform"}, default "gaussian"
        The outlier component.
    outlier_range : (float, float), optional
        ``(lower, upper)`` of the uniform outlier density (units of y); every
        ``y`` must lie inside.  Default: the range of ``y`` widened by 10 % on
        each side.  Ignored for ``outlier="gaussian"``.
    intrinsic_scatter : bool, default False
        Add a free intrinsic scatter (units of y) to the inlier variance.
    priors : mapping, optional
        Override default priors by variable name, each a dict naming a PyMC
        distribution and its arguments, e.g.
        ``{"slope": {"dist": "Normal", "mu": 0, "sigma": 5}}``.  Names:
        ``slope``, ``intercept``, ``weights``, ``outlier_mean``, ``outlier_sigma``,
        ``intrinsic_scatter``.
    ids : array-like of shape (n_objects,), optional
        Object ids for the ``object`` coordinate (default 0..n_objects-1).

    Returns
    -------
    MixtureModel
        Variables ``slope``, ``intercept``, ``weights`` (dim ``component`` =
        ``inlier``, ``outlier``), ``outlier_mean`` and ``outlier_sigma`` (gaussian
        outliers), ``intrinsic_scatter`` (if enabled), the observed ``y`` over
        ``object``, and the free ``intercept_at_pivot`` described in Notes.

    Raises
    ------
    DataError
        Non-finite values, non-positive ``y_err`` without ``intrinsic_scatter``,
        no ``y_err`` and no ``intrinsic_scatter``, negative ``x_err``, ``rho_xy``
        outside [-1, 1] or without both errors, mismatched lengths, duplicate ids,
        ``y`` outside ``outlier_range`` (the messages name the spec keys to set).
    SpecError
        Unknown ``outlier`` or prior names, bad ``outlier_range``.

    Notes
    -----
    The inlier density is that of the observed ``y_n`` given the observed ``x_n``
    for a point drawn from the line (plus intrinsic scatter) at a true abscissa
    with a flat distribution, and observed with the error covariance above: the
    covariance projected on y along the line, ``s_n^2``.  For a given slope this
    is Hogg, Bovy & Lang's eq. 32 with its correlation term (their projection is
    perpendicular to the line; ours, vertical, differs by a factor of
    ``cos(theta)`` per point, which is that of their flat prior along the line
    rather than in x).

    Default priors are weakly informative and scaled by the data (s_x, s_y the
    standard deviations of x and y): ``slope ~ N(0, 10 s_y/s_x)``,
    ``intercept ~ N(mean y, 10 s_y (1 + |mean x|/s_x))``, ``weights ~
    Dirichlet(1, 1)`` restricted to ``weights[inlier] > 1/2`` (the outlier
    fraction uniform on (0, 1/2): the line is the majority, which keeps the two
    components from swapping roles; a ``weights`` prior in ``priors`` replaces it
    and is not restricted), ``outlier_mean ~ N(mean y, 10 s_y)``,
    ``outlier_sigma ~ HalfNormal(10 s_y)``, ``intrinsic_scatter ~ HalfNormal(s_y)``.
    With Dirichlet(1, 1) on the whole simplex (as in Hogg et al.) the outlier
    Gaussian can take the majority: on the 47 stars of starsCYG (four red giants
    of high leverage) the chains then swap roles (R-hat 1.56 at 4 x 1000 draws).

    Geometry: the sampler works with ``intercept_at_pivot = intercept + slope *
    x_pivot`` (``x_pivot`` the mean of x) with a flat density, and the
    intercept's prior is added as the potential ``intercept_prior``.  The map
    (slope, intercept) -> (slope, intercept_at_pivot) has unit Jacobian, so the
    posterior of (slope, intercept) is exactly that of the stated priors, while
    the sampled coordinates are nearly uncorrelated for uncentred x (Hogg's
    x are 50-290), which multiplies NUTS's effective samples per gradient.

    References
    ----------
    Hogg, D. W., Bovy, J. & Lang, D. 2010, "Data analysis recipes: Fitting a
    model to data", arXiv:1008.4686, sect. 3 and 7.

    Examples
    --------
    >>> from bayesmix.datasets import load_hogg2010
    >>> t = load_hogg2010()
    >>> mm = line_outlier(t["x"], t["y"], t["sigma_y"], ids=t["ID"])
    >>> mm.component_labels
    ('inlier', 'outlier')
    """
    import pymc as pm

    outlier = check_choice(outlier, name="outlier", choices=CHOICES["outlier"])
    outlier_range = _check_range(outlier_range)
    data, ids, units = _prepare(
        x,
        y,
        y_err,
        x_err,
        rho_xy,
        ids,
        intrinsic_scatter=bool(intrinsic_scatter),
        outlier_range=outlier_range if outlier == "uniform" else None,
    )
    xv, yv = data["x"], data["y"]
    scale_y = float(np.median(data["y_err"])) if "y_err" in data else 0.0
    if outlier == "uniform" and outlier_range is None:
        span = float(np.ptp(yv)) or scale_y or 1.0
        outlier_range = (float(yv.min()) - 0.1 * span, float(yv.max()) + 0.1 * span)
    allowed = {"slope", "intercept", "weights"}
    allowed |= {"outlier_mean", "outlier_sigma"} if outlier == "gaussian" else set()
    allowed |= {"intrinsic_scatter"} if intrinsic_scatter else set()
    user_priors = check_priors(priors, allowed)

    s_y = float(np.std(yv)) or scale_y or 1.0
    s_x = float(np.std(xv)) or 1.0
    x_pivot = float(np.mean(xv))
    defaults: dict[str, dict[str, Any]] = {
        "slope": {"dist": "Normal", "mu": 0.0, "sigma": 10.0 * s_y / s_x},
        "intercept": {
            "dist": "Normal",
            "mu": float(np.mean(yv)),
            "sigma": 10.0 * s_y * (1.0 + abs(x_pivot) / s_x),
        },
        "weights": {"dist": "Dirichlet", "a": [1.0, 1.0]},
        "outlier_mean": {"dist": "Normal", "mu": float(np.mean(yv)), "sigma": 10.0 * s_y},
        "outlier_sigma": {"dist": "HalfNormal", "sigma": 10.0 * s_y},
        "intrinsic_scatter": {"dist": "HalfNormal", "sigma": s_y},
    }
    pri = {k: user_priors.get(k, defaults[k]) for k in sorted(allowed)}
    majority = "weights" not in user_priors  # the default: inliers are the majority

    coords = make_coords(ids, _LABELS)
    options = {
        "outlier": outlier,
        "outlier_range": outlier_range,
        "intrinsic_scatter": bool(intrinsic_scatter),
    }

    def log_terms(values, d, *, backend="numpy"):
        return _line_terms(values, d, backend=backend, **options)

    var_names = ["slope", "intercept", "weights"]
    if outlier == "gaussian":
        var_names += ["outlier_mean", "outlier_sigma"]
    if intrinsic_scatter:
        var_names.append("intrinsic_scatter")

    start = _line_start(xv, yv, x_pivot, s_x)
    with pm.Model(coords=coords) as model:
        data_vars = {k: pm.Data(k, v, dims="object") for k, v in data.items() if k != "y"}
        slope = prior_rv("slope", pri["slope"], **scaled_start(pri["slope"]["dist"], *start[0]))
        pivot = pm.Flat("intercept_at_pivot", **scaled_start("Flat", *start[1]))
        intercept = pm.Deterministic("intercept", pivot - slope * x_pivot)
        pm.Potential(
            "intercept_prior", pm.logp(prior_dist("intercept", pri["intercept"]), intercept)
        )
        weights = prior_rv(
            "weights",
            pri["weights"],
            dims="component",
            **(_majority_kwargs() if majority else {}),
        )
        rvs = {"slope": slope, "intercept": intercept, "weights": weights}
        for name in var_names[3:]:
            rvs[name] = prior_rv(name, pri[name])
        _add_likelihood(yv, rvs, data_vars, options)

    spec = {
        "builder": "line_outlier",
        "outlier": outlier,
        "outlier_range": outlier_range,
        "intrinsic_scatter": bool(intrinsic_scatter),
        "priors": pri,
        "inlier_majority": majority,
        "y_err": "y_err" in data,
        "x_err": "x_err" in data,
        "rho_xy": "rho_xy" in data,
        "x_pivot": x_pivot,
        "units": units,  # of x and y (None: plain numbers); slope in y/x, intercept in y
    }

    def prepare_rows(d: Mapping[str, Any]) -> tuple[dict, RowRecord]:
        for name in ("y_err", "x_err", "rho_xy"):
            if spec[name] and d.get(name) is None:
                raise DataError(
                    f"'data' must include {name!r} (the model was built with {name})",
                    argument="data",
                )
        arrays, new_ids, _ = _prepare(
            d.get("x"),
            d.get("y"),
            d.get("y_err") if spec["y_err"] else None,
            d.get("x_err") if spec["x_err"] else None,
            d.get("rho_xy") if spec["rho_xy"] else None,
            d.get("ids"),
            intrinsic_scatter=bool(intrinsic_scatter),
            units=units,
        )
        return arrays, RowRecord.from_ids(new_ids)

    return MixtureModel(
        model=model,
        components=_components(outlier, outlier_range, data, intrinsic_scatter),
        coords=coords,
        data=data,
        spec=spec,
        var_names=tuple(var_names),
        log_terms=log_terms,
        prepare_rows=prepare_rows,
        rows=RowRecord.from_ids(ids),
    )


def _add_likelihood(yv: np.ndarray, rvs, data_vars, options: Mapping[str, Any]) -> None:
    """Add the observed ``y`` with the fused likelihood of :func:`_line_terms` (same formula).

    Both components are 1-D Gaussians in the kernel's terms: the inlier has mean
    ``intercept + slope x``, intrinsic variance ``intrinsic_scatter**2`` (or 0) and error
    variance ``y_err**2 + slope**2 x_err**2 - 2 slope rho_xy x_err y_err`` (the kernel's
    error covariance, covariate variance and covariate covariance); the Gaussian outlier has
    slope 0 and error variance ``y_err**2``; a uniform outlier is a fixed per-object term.
    """
    import pytensor.tensor as pt

    from bayesmix.components.fused import FusedLayout

    gaussian_outlier = options["outlier"] == "gaussian"
    layout = FusedLayout(
        (("gaussian",), ("gaussian",) if gaussian_outlier else ("fixed",)),
        n_features=1,
        error_cov="y_err" in data_vars,
        slope=True,
        slope_error="x_err" in data_vars,
        slope_cov="rho_xy" in data_vars,
    )
    inputs = {**rvs, **data_vars}
    if not gaussian_outlier:
        lo, hi = options["outlier_range"]
        inputs["outlier_logp"] = Uniform().logp(yv, {"lower": lo, "upper": hi})

    def kernel_args(value, v):
        zero = pt.zeros(())
        scatter2 = pt.square(v["intrinsic_scatter"]) if options["intrinsic_scatter"] else zero
        terms = [(v["intercept"], scatter2, v["slope"])]  # (mean, variance, slope) per Gaussian
        if gaussian_outlier:
            terms.append((v["outlier_mean"], pt.square(v["outlier_sigma"]), zero))
        args = {
            "log_weights": pt.log(v["weights"]),
            "X": value[None, :],
            "t": v["x"],
            "mean": pt.stack([m for m, _, _ in terms])[:, None],
            "cov": pt.stack([c for _, c, _ in terms])[:, None, None],
            "slope": pt.stack([b for _, _, b in terms])[:, None],
        }
        if "y_err" in v:
            args["error_cov"] = pt.square(v["y_err"])[None, None, :]
        if "x_err" in v:
            args["t_var"] = pt.square(v["x_err"])
        if "rho_xy" in v:
            # covariance of the x and y errors: the inlier variance loses 2 slope cov
            args["slope_cov"] = (v["rho_xy"] * v["x_err"] * v["y_err"])[None, :]
        if not gaussian_outlier:
            args["fixed"] = v["outlier_logp"][None, :]
        return args

    add_fused_likelihood(
        "y", yv, dims="object", layout=layout, inputs=inputs, kernel_args=kernel_args
    )


def _line_start(xv, yv, x_pivot: float, s_x: float) -> tuple[tuple, tuple]:
    """Chains' starts: (slope, scale) and (intercept at the pivot, scale) of a robust line.

    Siegel's repeated median (:func:`~bayesmix.builders._start.robust_line`), which a
    minority of outliers does not move, with its standard errors (residual scale r:
    r / (s_x sqrt n) and r / sqrt n); without one (fewer than 3 points, one x), slope 0
    and the median of y with PyMC's own jitter.
    """
    fit = robust_line(xv, yv)
    if fit is None or not fit[2] > 0:
        return (0.0, None), (float(np.median(yv)), None)
    slope, intercept, r = fit
    n = np.sqrt(xv.size)
    return (slope, r / (s_x * n)), (intercept + slope * x_pivot, r / n)


def _check_range(outlier_range) -> tuple[float, float] | None:
    """Return ``outlier_range`` as two floats (upper > lower), or None."""
    if outlier_range is None:
        return None
    try:
        lo, hi = (float(v) for v in outlier_range)
    except (TypeError, ValueError):
        raise SpecError(
            f"'outlier_range' must be (lower, upper); got {outlier_range!r}", key="outlier_range"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise SpecError(
            f"'outlier_range' must be finite with upper > lower; got {outlier_range!r}",
            key="outlier_range",
        )
    return lo, hi


def _components(outlier, outlier_range, data, intrinsic_scatter) -> tuple[ComponentSpec, ...]:
    """Human-readable description of the inlier and outlier components."""
    err = ["y_err**2"] if "y_err" in data else []
    if "x_err" in data:
        err.append("slope**2 * x_err**2")
    if "rho_xy" in data:
        err.append("- 2 * slope * rho_xy * x_err * y_err")
    bounds = outlier_range or (float("nan"), float("nan"))  # set for uniform outliers
    return (
        ComponentSpec(
            "inlier",
            Gaussian(),
            {
                "mean": "slope * x + intercept",
                "sigma": "intrinsic_scatter" if intrinsic_scatter else "0",
                "error_var": " + ".join(err).replace("+ -", "-") or "0",
            },
        ),
        ComponentSpec(
            "outlier",
            Gaussian() if outlier == "gaussian" else Uniform(),
            (
                {
                    "mean": "outlier_mean",
                    "sigma": "outlier_sigma",
                    "error_var": "y_err**2" if "y_err" in data else "0",
                }
                if outlier == "gaussian"
                else {"lower": repr(bounds[0]), "upper": repr(bounds[1])}
            ),
        ),
    )
