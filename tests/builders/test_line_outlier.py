import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from bayesmix.builders import MixtureModel, line_outlier
from bayesmix.datasets import load_hogg2010
from bayesmix.exceptions import DataError, SpecError


@pytest.fixture(scope="module")
def hogg():
    return load_hogg2010()


@pytest.fixture(scope="module")
def hogg_model(hogg):
    return line_outlier(hogg["x"], hogg["y"], hogg["sigma_y"], ids=hogg["ID"])


def _eval(mm, outs, point):
    """Evaluate model expressions at a point (python linker: no C compilation)."""
    model = mm.model
    single = not isinstance(outs, list)
    outs = model.replace_rvs_by_values([outs] if single else outs)
    outs = outs[0] if single else outs
    fn = model.compile_fn(
        outs, inputs=model.value_vars, mode="FAST_COMPILE", on_unused_input="ignore"
    )
    return fn(point)


def _point(mm, **values):
    """The sampler's coordinates of constrained ``values`` (each variable's own transform)."""
    import pytensor.tensor as pt

    out = {}
    for rv in mm.model.free_RVs:
        tr = mm.model.rvs_to_transforms.get(rv)
        x = pt.as_tensor(np.asarray(values[rv.name], dtype=float))
        out[mm.model.rvs_to_values[rv].name] = (
            tr.forward(x, *rv.owner.inputs).eval() if tr else x.eval()
        )
    return out


def test_structure(hogg_model):
    mm = hogg_model
    assert isinstance(mm, MixtureModel)
    assert mm.component_labels == ("inlier", "outlier")
    assert mm.coords["object"] == tuple(range(1, 21))
    names = set(mm.model.named_vars)
    assert {"slope", "intercept", "weights", "outlier_mean", "outlier_sigma", "y"} <= names
    assert mm.model.named_vars_to_dims["weights"] == ("component",)
    assert mm.model.named_vars_to_dims["y"] == ("object",)
    # no per-object deterministics
    for det in mm.model.deterministics:
        assert "object" not in (mm.model.named_vars_to_dims.get(det.name) or ())
    assert mm.spec["builder"] == "line_outlier"
    assert mm.var_names == ("slope", "intercept", "weights", "outlier_mean", "outlier_sigma")


def test_likelihood_matches_scipy(hogg_model, hogg):
    mm = hogg_model
    point = _point(
        mm,
        slope=2.1,
        intercept_at_pivot=420.0,
        weights=[0.7, 0.3],
        outlier_mean=400.0,
        outlier_sigma=150.0,
    )
    x, y, s = (np.asarray(hogg[c], float) for c in ("x", "y", "sigma_y"))
    intercept = 420.0 - 2.1 * x.mean()
    w, got = _eval(mm, [mm.model["weights"], mm.model.logp(vars=[mm.model["y"]])], point)
    np.testing.assert_allclose(w, [0.7, 0.3], rtol=1e-12)
    w = np.log(np.asarray(w))
    expected = logsumexp(
        [
            w[0] + stats.norm(2.1 * x + intercept, s).logpdf(y),
            w[1] + stats.norm(400.0, np.sqrt(150.0**2 + s**2)).logpdf(y),
        ],
        axis=0,
    ).sum()
    np.testing.assert_allclose(float(got), expected, rtol=1e-10)


def test_numpy_log_joint_matches_scipy(hogg_model, hogg):
    # the numpy path used by membership, with a leading draw axis
    values = {
        "slope": np.array([2.0, 2.3]),
        "intercept": np.array([40.0, 20.0]),
        "weights": np.array([[0.8, 0.2], [0.6, 0.4]]),
        "outlier_mean": np.array([450.0, 380.0]),
        "outlier_sigma": np.array([90.0, 200.0]),
    }
    lj = hogg_model.log_joint(values)
    assert lj.shape == (2, 2, 20)
    x, y, s = (np.asarray(hogg[c], float) for c in ("x", "y", "sigma_y"))
    np.testing.assert_allclose(
        lj[1, 1], np.log(0.4) + stats.norm(380.0, np.hypot(200.0, s)).logpdf(y), rtol=1e-12
    )
    np.testing.assert_allclose(
        lj[0, 0], np.log(0.8) + stats.norm(2.0 * x + 40.0, s).logpdf(y), rtol=1e-12
    )


def test_variants_build_with_finite_logp(hogg):
    x, y, sy, sx = (np.asarray(hogg[c], float) for c in ("x", "y", "sigma_y", "sigma_x"))
    for kwargs in [
        dict(outlier="uniform"),
        dict(x_err=sx, intrinsic_scatter=True),
        dict(outlier="uniform", outlier_range=(0.0, 1000.0), x_err=sx),
    ]:
        mm = line_outlier(x, y, sy, **kwargs)
        ip = mm.model.initial_point()
        lp = _eval(mm, mm.model.logp(), ip)
        assert np.isfinite(lp), kwargs
    assert "intrinsic_scatter" in line_outlier(x, y, sy, intrinsic_scatter=True).var_names


def test_uniform_outlier_numpy(hogg):
    x, y, s = (np.asarray(hogg[c], float) for c in ("x", "y", "sigma_y"))
    mm = line_outlier(x, y, s, outlier="uniform", outlier_range=(0.0, 1000.0))
    lj = mm.log_joint(
        {"slope": np.array([2.0]), "intercept": np.array([30.0]), "weights": np.array([[0.5, 0.5]])}
    )
    np.testing.assert_allclose(lj[0, 1], np.log(0.5) - np.log(1000.0), rtol=1e-14)


def test_priors_override(hogg):
    mm = line_outlier(
        hogg["x"],
        hogg["y"],
        hogg["sigma_y"],
        priors={"slope": {"dist": "Normal", "mu": 2.0, "sigma": 0.5}},
    )
    assert mm.spec["priors"]["slope"] == {"dist": "Normal", "mu": 2.0, "sigma": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(y=[1.0, np.nan, 3.0]), DataError, r"'y' has a non-finite value \(NaN\) at row 1"),
        (dict(x=[1.0, 2.0, np.inf]), DataError, r"'x' has a non-finite value \(inf\) at row 2"),
        (
            dict(y_err=[1.0, 0.0, 1.0]),
            DataError,
            r"'y_err' must be positive; got 0.0 at row 1.*\[builder\].intrinsic_scatter = true",
        ),
        (
            dict(y_err=None),
            DataError,
            r"\[data.columns\] \(y_err = .*\[builder\].intrinsic_scatter = true",
        ),
        (dict(y_err=[1.0, -1.0, 1.0], intrinsic_scatter=True), DataError, "non-negative"),
        (dict(rho_xy=[0.0, 0.5, 0.1]), DataError, r"'rho_xy'.*needs both x_err and y_err"),
        (
            dict(x_err=[1.0, 1.0, 1.0], rho_xy=[0.0, 1.5, 0.1]),
            DataError,
            r"'rho_xy' must lie in \[-1, 1\]; got 1.5 at row 1",
        ),
        (dict(y_err=[1.0, 1.0, -2.0]), DataError, r"'y_err' must be positive.*row 2"),
        (dict(x=[1.0, 2.0]), DataError, r"'x' must have length 3"),
        (dict(x_err=[1.0, -1.0, 1.0]), DataError, r"'x_err' must be non-negative.*row 1"),
        (dict(outlier="student"), SpecError, r"'outlier' must be one of \['gaussian', 'uniform'\]"),
        (
            dict(outlier="uniform", outlier_range=(0.0, 2.5)),
            DataError,
            r"'y' must lie inside outlier_range.*row 2",
        ),
        (dict(outlier_range=(3.0, 1.0), outlier="uniform"), SpecError, "outlier_range"),
        (dict(priors={"slop": {"dist": "Normal"}}), SpecError, r"unknown variable 'slop'"),
        (dict(priors={"slope": {"dist": "NoSuchDist"}}), SpecError, "priors.slope.dist"),
        (dict(ids=[7, 8, 7]), DataError, r"'ids' must be unique; id 7 .*row 2"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(x=[1.0, 2.0, 3.0], y=[1.0, 2.0, 3.0], y_err=[1.0, 1.0, 1.0])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        line_outlier(args.pop("x"), args.pop("y"), args.pop("y_err"), **args)
    assert issubclass(exc, ValueError)


def test_error_names_id(hogg):
    y = np.asarray(hogg["y"], float).copy()
    y[5] = np.nan
    with pytest.raises(DataError, match=r"row 5 \(id 6\)"):
        line_outlier(hogg["x"], y, hogg["sigma_y"], ids=hogg["ID"])


# ------------------------------------------------- the default outlier weight (issue 12.6)
def test_default_weights_keep_the_inliers_the_majority(hogg):
    # Dirichlet(1, 1) restricted to weights[inlier] > 1/2: the outlier fraction is uniform
    # on (0, 1/2).  Integrate the density of the sampler's coordinate v over a fine grid.
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    mm = line_outlier(hogg["x"], hogg["y"], hogg["sigma_y"])
    assert mm.spec["inlier_majority"] and mm.spec["priors"]["weights"]["a"] == [1.0, 1.0]
    rv = mm.model["weights"]
    tr = mm.model.rvs_to_transforms[rv]
    v = np.linspace(-40, 40, 200001)
    vs = pt.dmatrix("v")
    ws = tr.backward(vs)
    lp_fn = pytensor.function(
        [vs],
        [ws, pm.logp(pm.Dirichlet.dist(a=[1.0, 1.0]), ws) + tr.log_jac_det(vs)],
        mode="FAST_COMPILE",
    )
    w, lp = lp_fn(v[:, None])
    assert np.all(w[:, 0] >= 0.5) and np.allclose(w.sum(1), 1.0)
    point = dict(mm.model.initial_point(), weights_inlier_majority__=np.array([0.3]))
    logp = _eval(mm, mm.model.logp(vars=[rv], sum=False)[0], point)
    dens = np.exp(lp)
    np.testing.assert_allclose(np.trapezoid(dens, v), 0.5, rtol=1e-6)  # all the mass of f < 1/2
    f = w[:, 1]
    cdf = np.cumsum(dens) * (v[1] - v[0]) / 0.5
    for q in (0.1, 0.25, 0.4):  # uniform on (0, 1/2)
        assert abs(np.interp(q, f, cdf) - q / 0.5) < 1e-3
    # the model's log density of the sampler's coordinate is that same expression
    want = np.log(np.interp(0.3, v, dens))
    np.testing.assert_allclose(float(np.asarray(logp).sum()), want, rtol=1e-6)
    # a weights prior of the user's replaces it, on the whole simplex
    own = line_outlier(
        hogg["x"],
        hogg["y"],
        hogg["sigma_y"],
        priors={"weights": {"dist": "Dirichlet", "a": [2, 1]}},
    )
    assert not own.spec["inlier_majority"]
    assert own.model.rvs_to_values[own.model["weights"]].name == "weights_simplex__"


# -------------------------------------------------------- data without errors (issue 12.2)
def test_no_y_err_with_intrinsic_scatter_equals_zero_errors(hogg):
    x, y = (np.asarray(hogg[c], float) for c in ("x", "y"))
    none = line_outlier(x, y, intrinsic_scatter=True)
    zero = line_outlier(x, y, np.zeros(20), intrinsic_scatter=True)
    assert "y_err" not in none.data and not none.spec["y_err"]
    values = {
        "slope": np.array([2.2]),
        "intercept": np.array([30.0]),
        "weights": np.array([[0.8, 0.2]]),
        "outlier_mean": np.array([400.0]),
        "outlier_sigma": np.array([150.0]),
        "intrinsic_scatter": np.array([20.0]),
    }
    lj = none.log_joint(values)
    np.testing.assert_allclose(lj, zero.log_joint(values), rtol=1e-14)
    np.testing.assert_allclose(
        lj[0, 0], np.log(0.8) + stats.norm(2.2 * x + 30.0, 20.0).logpdf(y), rtol=1e-12
    )
    np.testing.assert_allclose(
        lj[0, 1], np.log(0.2) + stats.norm(400.0, 150.0).logpdf(y), rtol=1e-12
    )
    assert np.isfinite(_eval(none, none.model.logp(), none.model.initial_point()))


def test_stars_cyg_dataset():
    from bayesmix.datasets import load_stars_cyg

    t = load_stars_cyg()
    assert len(t) == 47 and t.colnames == ["star", "log_Te", "log_light"]
    giants = np.asarray(t["log_Te"]) < 3.6
    assert list(np.asarray(t["star"])[giants]) == [11, 20, 30, 34]


# --------------------------------------------------- correlated x, y errors (issue 12.7)
def _brute_force_inlier(xo, yo, sx, sy, rho, m, b, scatter, n=1601):
    """ln of the 2-D integral over the true x and the intrinsic offset e (flat in x).

    Trapezoid rule on an n x n grid over +-10 standard deviations (exponentially accurate
    for these smooth, rapidly decaying integrands), with the bivariate normal density of
    the error written out.
    """
    w = 10 * np.hypot(sx, (sy + scatter) / abs(m))
    xt = np.linspace(xo - w, xo + w, n)[:, None]
    e = np.linspace(-10 * scatter, 10 * scatter, n)[None, :]
    dx, dy = xo - xt, yo - (m * xt + b + e)
    q = ((dx / sx) ** 2 - 2 * rho * (dx / sx) * (dy / sy) + (dy / sy) ** 2) / (1 - rho**2)
    err = np.exp(-0.5 * q) / (2 * np.pi * sx * sy * np.sqrt(1 - rho**2))
    f = err * np.exp(-0.5 * (e / scatter) ** 2) / (np.sqrt(2 * np.pi) * scatter)
    return np.log(np.trapezoid(np.trapezoid(f, e[0], axis=1), xt[:, 0]))


def test_correlated_errors_match_a_brute_force_2d_integral(hogg):
    # inlier density of each Table 1 point, observed with its own covariance
    # [[sigma_x^2, rho_xy sigma_x sigma_y], [., sigma_y^2]], from a line plus intrinsic
    # scatter at a true x with a flat distribution: the 2-D integral over the true x and
    # the scatter, vs the model's closed form (Hogg, Bovy & Lang 2010 eq. 32 with the
    # correlation term, projected on y)
    cols = [np.asarray(hogg[c], float) for c in ("x", "y", "sigma_x", "sigma_y", "rho_xy")]
    xo, yo, sx, sy, rho = cols
    assert np.ptp(rho) > 1.0  # Table 1 has correlations from -0.84 to 0.74
    mm = line_outlier(xo, yo, sy, x_err=sx, rho_xy=rho, intrinsic_scatter=True)
    m, b, s = 2.2, 34.0, 7.0
    values = {
        "slope": np.array([m]),
        "intercept": np.array([b]),
        "weights": np.array([[1.0, 0.0]]),
        "outlier_mean": np.array([0.0]),
        "outlier_sigma": np.array([1.0]),
        "intrinsic_scatter": np.array([s]),
    }
    with np.errstate(divide="ignore"):
        lj = mm.log_joint(values)[0, 0]
        plain = line_outlier(xo, yo, sy, x_err=sx, intrinsic_scatter=True).log_joint(values)[0, 0]
    want = np.array([_brute_force_inlier(*p, m, b, s) for p in zip(*cols, strict=True)])
    np.testing.assert_allclose(lj, want, rtol=1e-10, atol=1e-9)  # measured: 9e-12
    # the correlation matters: without it the densities differ by far more than that
    assert np.abs(plain - want).max() > 0.1


# ------------------------------------------ chains start at a robust line (issue 12.6)
def test_chains_start_at_the_repeated_median_line(rng):
    from scipy import stats

    from bayesmix.builders._start import robust_line

    x = rng.uniform(0, 10, 60)
    y = 1.5 * x - 2 + rng.normal(0, 0.3, 60)
    y[:20] = rng.uniform(20, 40, 20)  # a third are outliers, all far above the line
    slope, intercept, scale = robust_line(x, y)
    want = stats.siegelslopes(y, x)
    assert (slope, intercept) == (want.slope, want.intercept)
    assert abs(slope - 1.5) < 0.2 and 0.2 < scale < 1.0  # least squares is pulled far away
    assert robust_line(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])) is None
    mm = line_outlier(x, y, np.full(60, 0.3))
    ip = mm.model.initial_point()
    # the initial point (sampler coordinates 0) is that line, at the pivot mean(x)
    assert ip["slope_scaled_start__"] == 0 and ip["intercept_at_pivot_scaled_start__"] == 0
    tr = mm.model.rvs_to_transforms[mm.model["slope"]]
    assert tr.center == slope and tr.scale == pytest.approx(scale / (x.std() * np.sqrt(60)))


@pytest.mark.slow
def test_stars_cyg_with_defaults_flags_the_giants():
    # 47 stars without errors, four red giants of high leverage (stars 11, 20, 30, 34).
    # With Dirichlet(1, 1) on the whole simplex the chains swapped roles (R-hat 1.56-1.73,
    # chains with 98 % "outliers").  With the defaults the posterior still has a small second
    # mode, the least-squares line through the giants (slope ~ -0.5): over 12 seeds 5 runs (2
    # with the previous, graph likelihood) had R-hat > 1.01 from chains visiting it (one chain
    # wholly there), so the run's diagnostics warn; the main mode holds the giants as outliers
    # and slope ~3 (least trimmed squares: ~3.0).  Seed 47: 5 % of the draws in the second mode.
    from bayesmix.datasets import load_stars_cyg
    from bayesmix.exceptions import DiagnosticsWarning
    from bayesmix.inference import sample
    from bayesmix.membership import membership

    t = load_stars_cyg()
    mm = line_outlier(t["log_Te"], t["log_light"], intrinsic_scatter=True, ids=t["star"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = sample(mm, draws=1000, tune=1000, chains=4, rng=47, progressbar=False)
    slope = fit.posterior["slope"].values
    assert (slope < 1.0).mean() < 0.15  # most of the mass in the robust line's mode
    assert 2.8 < float(np.median(slope)) < 3.2
    p = membership(fit, quantiles=False)["probability"].sel(component="outlier")
    assert (p.sel(object=[11, 20, 30, 34]) > 0.5).all()


@pytest.mark.slow
def test_hogg_table1_with_its_full_error_covariances(hogg):
    # x_err = sigma_x and rho_xy from Table 1: the line stays that of the inliers
    # (exercise 1: m = 2.24 +- 0.11, b = 34 +- 18 from points 5-20), points 2-4 are
    # outliers.  Measured (seeds 2010, 1): m = 2.19-2.20 +- 0.13, b = 36-37 +- 20.5;
    # point 1 (sigma_y 61, rho -0.84) p_outlier ~ 0.2, as with sigma_y alone (~0.25).
    from bayesmix.inference import sample
    from bayesmix.membership import membership

    mm = line_outlier(
        hogg["x"],
        hogg["y"],
        hogg["sigma_y"],
        x_err=hogg["sigma_x"],
        rho_xy=hogg["rho_xy"],
        ids=hogg["ID"],
    )
    fit = sample(
        mm, draws=1000, tune=1000, chains=4, rng=2010, progressbar=False, target_accept=0.95
    )
    assert fit.diagnostics["max_rhat"] < 1.01
    m = fit.posterior["slope"].values.ravel()
    b = fit.posterior["intercept"].values.ravel()
    assert abs(m.mean() - 2.24) < 0.11 and abs(b.mean() - 34) < 18
    p = membership(fit, quantiles=False)["probability"].sel(component="outlier")
    assert (p.sel(object=[2, 3, 4]) > 0.9).all()
    assert (p.sel(object=list(range(5, 21))) < 0.5).all()
