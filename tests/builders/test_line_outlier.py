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
    point = {
        "slope": 2.1,
        "intercept_at_pivot": 420.0,
        "weights_simplex__": np.array([0.7]),
        "outlier_mean": 400.0,
        "outlier_sigma_log__": np.log(150.0),
    }
    x, y, s = (np.asarray(hogg[c], float) for c in ("x", "y", "sigma_y"))
    intercept = 420.0 - 2.1 * x.mean()
    w, got = _eval(mm, [mm.model["weights"], mm.model.logp(vars=[mm.model["y"]])], point)
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
        (dict(y=[1.0, np.nan, 3.0]), DataError, r"'y' has a non-finite value \(nan\) at row 1"),
        (dict(x=[1.0, 2.0, np.inf]), DataError, r"'x' has a non-finite value \(inf\) at row 2"),
        (dict(y_err=[1.0, 0.0, 1.0]), DataError, r"'y_err' must be positive; got 0.0 at row 1"),
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
