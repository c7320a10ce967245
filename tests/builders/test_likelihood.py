"""Every builder's fused likelihood equals its numpy scoring path (value) and the PyTensor graph
of the same ``log_terms`` (value and gradient), at random points of every variant."""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import logsumexp

from bayesmix.builders import cluster_field, gaussian_mixture, line_outlier
from bayesmix.components.fused_op import FusedMixtureLogLik
from bayesmix.components.mixture import mixture_logp
from bayesmix.datasets import load_hogg2010
from tests._cluster_fits import simulate, simulate_parallax

pytestmark = pytest.mark.filterwarnings(
    "ignore::bayesmix.gaia.GaiaColumnWarning",
    "ignore:PyTensor could not link to a BLAS:UserWarning",
)

_FULL = ("ra", "dec", "parallax", "pmra", "pmdec")


def ancestors_apply(out):
    """The Apply nodes of the graph computing ``out``."""
    from pytensor.graph.traversal import ancestors

    return [v.owner for v in ancestors([out]) if v.owner is not None]


def _data():
    gen = np.random.default_rng(5)
    t, _ = simulate(5, n=300)
    t["radial_velocity"] = gen.normal(20, 5, 300)
    t["radial_velocity_error"] = gen.uniform(0.5, 2, 300)
    tp, _ = simulate_parallax(3, n=300)
    X = np.r_[gen.normal(-2, 1, (40, 2)), gen.normal(2, 0.5, (40, 2))]
    A = gen.normal(size=(80, 2, 2)) * 0.2
    return {
        "hogg": load_hogg2010(),
        "gaia": t,
        "plx": tp,
        "X": X,
        "X_err": gen.uniform(0.05, 0.3, (80, 2)),
        "X_cov": A @ A.transpose(0, 2, 1) + 0.01 * np.eye(2),
    }


def _line(d, **kw):
    h = d["hogg"]
    y_err = kw.pop("y_err", h["sigma_y"])
    return line_outlier(h["x"], h["y"], y_err, **kw)


VARIANTS = {
    "line": lambda d: _line(d),
    "line_x_err": lambda d: _line(d, x_err=d["hogg"]["sigma_x"]),
    "line_rho_xy": lambda d: _line(d, x_err=d["hogg"]["sigma_x"], rho_xy=d["hogg"]["rho_xy"]),
    "line_uniform_scatter": lambda d: _line(
        d, x_err=d["hogg"]["sigma_x"], outlier="uniform", intrinsic_scatter=True
    ),
    "line_no_errors": lambda d: _line(d, y_err=None, intrinsic_scatter=True),
    "line_zero_errors": lambda d: _line(d, y_err=np.zeros(20), intrinsic_scatter=True),
    "gmm": lambda d: gaussian_mixture(d["X"], 3),
    "gmm_X_err": lambda d: gaussian_mixture(d["X"], 2, X_err=d["X_err"]),
    "gmm_X_cov": lambda d: gaussian_mixture(d["X"], 2, X_cov=d["X_cov"]),
    "gmm_1d": lambda d: gaussian_mixture(d["X"][:, 0], 2, X_err=d["X_err"][:, 0]),
    "gmm_3d": lambda d: gaussian_mixture(np.c_[d["X"], d["X"][:, 0] ** 2], 2),
    "cf_pm1d": lambda d: cluster_field(d["gaia"], features=("pmra",), rng=1),
    "cf_pm2d": lambda d: cluster_field(d["gaia"], rng=1),
    "cf_pm2d_uniform": lambda d: cluster_field(d["gaia"], field="uniform", rng=1),
    "cf_pm2d_free_full": lambda d: cluster_field(
        d["gaia"], field_fit="free", cluster_cov="full", rng=1
    ),
    "cf_pm1d_free": lambda d: cluster_field(
        d["gaia"], features=("pmdec",), field_fit="free", field_components=2, rng=1
    ),
    "cf_parallax_beta": lambda d: cluster_field(d["plx"], features=("parallax",), field="beta"),
    "cf_parallax_edsd": lambda d: cluster_field(
        d["plx"], features=("parallax",), field="edsd", zero_point="free"
    ),
    "cf_parallax_gmm": lambda d: cluster_field(
        d["plx"], features=("parallax",), zero_point=-0.02, rng=1
    ),
    "cf_parallax_uniform": lambda d: cluster_field(
        d["plx"], features=("parallax",), field="uniform"
    ),
    "cf_astrometric": lambda d: cluster_field(
        d["gaia"], features=("parallax", "pmra", "pmdec"), rng=1
    ),
    "cf_full": lambda d: cluster_field(d["gaia"], features=_FULL, rng=1),
    "cf_full_rv": lambda d: cluster_field(d["gaia"], features=(*_FULL, "radial_velocity"), rng=1),
    "cf_full_free": lambda d: cluster_field(
        d["gaia"], features=_FULL, field_fit="free", field_components=2, rng=1
    ),
    "cf_full_uniform": lambda d: cluster_field(d["gaia"], features=_FULL, field="uniform", rng=1),
}


@pytest.fixture(scope="module")
def data():
    return _data()


def _functions(mm, mode="FAST_COMPILE"):
    """(fused logp, graph logp, their gradients, the constrained var_names) of value vars."""
    model = mm.model
    values = {n: model[n] for n in mm.var_names}
    data = {k: np.asarray(v) for k, v in mm.data.items()}
    # the reference: the builder's own log terms as a PyTensor graph, mixed by the
    # components' mixture_logp (the formula the numpy scoring path evaluates)
    lw, lps = mm.log_terms(values, data, backend="pytensor")
    ref = pt.sum(mixture_logp(lw, lps, backend="pytensor"))
    fused = model.logp(vars=model.observed_RVs)
    ref, *cons = model.replace_rvs_by_values([ref, *values.values()])
    wrt = model.value_vars
    outs = [fused, ref, *pytensor.grad(fused, wrt), *pytensor.grad(ref, wrt), *cons]
    return wrt, pytensor.function(wrt, outs, mode=mode, on_unused_input="ignore")


def _points(model, wrt, n, seed):
    """The initial point and n - 1 random points around it (unconstrained space)."""
    ip = model.initial_point()
    gen = np.random.default_rng(seed)
    yield [ip[v.name] for v in wrt]
    for _ in range(n - 1):
        yield [ip[v.name] + gen.normal(scale=0.3, size=np.shape(ip[v.name])) for v in wrt]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_fused_likelihood_equals_the_scoring_path(data, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mm = VARIANTS[name](data)
    # the model's likelihood is the fused Op
    logp = mm.model.logp(vars=mm.model.observed_RVs)
    assert FusedMixtureLogLik in {type(n.op) for n in ancestors_apply(logp)}
    wrt, f = _functions(mm)
    k = len(wrt)
    for i, point in enumerate(_points(mm.model, wrt, 5, zlib.crc32(name.encode()))):
        out = f(*point)
        fused, ref = float(out[0]), float(out[1])
        g_fused, g_ref = out[2 : 2 + k], out[2 + k : 2 + 2 * k]
        cons = dict(zip(mm.var_names, out[2 + 2 * k :], strict=True))
        # the numpy scoring path at the same (constrained) values
        scored = float(
            logsumexp(
                mm.log_joint({n: np.asarray(v)[None] for n, v in cons.items()}), axis=-2
            ).sum()
        )
        assert np.isfinite(fused)
        np.testing.assert_allclose(fused, scored, rtol=1e-10, atol=0)
        np.testing.assert_allclose(fused, ref, rtol=1e-10, atol=0)
        if i == 0:
            continue  # the gradient at the start (near a mode) is a cancellation of ~1e-3
        scale = max(float(np.max(np.abs(g))) for g in g_ref)
        for v, a, b in zip(wrt, g_fused, g_ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale, err_msg=v.name)


@pytest.mark.parametrize("name", ["line_rho_xy", "gmm_X_cov", "cf_full_free"])
def test_numba_linker_gives_the_same_logp_and_gradient(data, name):
    # nutpie compiles the model with PyTensor's numba backend (the kernel inlined)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mm = VARIANTS[name](data)
    wrt, f_py = _functions(mm)
    _, f_nb = _functions(mm, mode="NUMBA")
    for point in list(_points(mm.model, wrt, 3, 1))[1:]:  # away from the start (see above)
        for a, b in zip(f_nb(*point), f_py(*point), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(b)))


def test_observed_data_are_feature_major(data):
    mm = VARIANTS["cf_astrometric"](data)
    X = mm.model.rvs_to_values[mm.model["X"]].data
    assert X.flags.c_contiguous and X.shape == (3, mm.n_objects)
    np.testing.assert_array_equal(X, mm.data["X"].T)
    assert mm.model.named_vars_to_dims["X"] == ("feature", "object")
    C = mm.model["X_cov"].get_value()
    assert C.flags.c_contiguous
    np.testing.assert_array_equal(C, mm.data["X_cov"].transpose(1, 2, 0))
