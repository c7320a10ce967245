"""The fused mixture log-likelihood + gradient kernel against bayesmix's numpy scoring path."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from bayesmix.components.fused import BLOCK, FusedLayout
from bayesmix.components.gaussian import MultivariateGaussian
from bayesmix.components.mixture import mixture_logp
from bayesmix.components.plummer import Plummer


def _random_cov(gen, n, D, scale=1.0):
    A = gen.normal(size=(n, D, D)) * scale
    return A @ np.swapaxes(A, -1, -2) + 0.1 * scale**2 * np.eye(D)


def _problem(gen, N, D, layout):
    """Random parameters and data for ``layout`` (dicts as FusedLayout.evaluate takes)."""
    nt = layout.n_terms
    G, P = nt["gaussian"], nt["plummer"]
    J = len(layout.components)
    w = gen.dirichlet(np.ones(J) * 3)
    params = {
        "log_weights": np.log(w),
        "mean": gen.normal(size=(G, D)),
        "cov": _random_cov(gen, G, D, 0.7),
        "slope": gen.normal(size=(G, D)),
        "center": gen.normal(scale=0.2, size=(P, 2)),
        "radius": gen.uniform(0.2, 1.0, size=P),
    }
    data = {
        "X": gen.normal(scale=2.0, size=(N, D)),
        "error_cov": _random_cov(gen, N, D, 0.3),
        "t": gen.uniform(-2, 2, N),
        "t_var": gen.uniform(0.01, 0.2, N),
        # |K| small against sqrt(t_var C): the combined error covariance stays positive
        "slope_cov": gen.uniform(-0.02, 0.02, size=(N, D)),
        "sky": gen.uniform(-1, 1, size=(N, 2)),
        "fixed": gen.normal(-3.0, 1.0, size=(nt["fixed"], N)),
        "extra": gen.normal(-4.0, 1.0, size=(nt["extra"], N)),
    }
    return params, data


def _reference(layout, params, data):
    """Sum over objects of the mixture log-density, from the numpy components."""
    D = layout.n_features
    idx = layout.indices()
    comps = []
    for j, terms in enumerate(layout.components):
        lp = 0.0
        if "gaussian" in terms:
            g = idx["gaussian"][j]
            mean = params["mean"][g][None, :]
            # the kernel reads the symmetric part of V (its gradient is symmetric)
            cov = 0.5 * (params["cov"][g] + params["cov"][g].T)[None]
            if layout.slope:
                mean = mean + data["t"][:, None] * params["slope"][g]
            if layout.slope_error:
                b = params["slope"][g]
                cov = cov + data["t_var"][:, None, None] * np.outer(b, b)
            if layout.slope_cov:
                # the residual's error is e_y - beta e_t: minus its cross terms
                kb = data["slope_cov"][:, :, None] * params["slope"][g][None, None, :]
                cov = cov - kb - np.swapaxes(kb, -1, -2)
            p = {"mean": mean, "cov": cov}
            if layout.error_cov:
                p["error_cov"] = data["error_cov"]
            lp = lp + MultivariateGaussian(D).logp(data["X"], p)
        if "plummer" in terms:
            p_ = idx["plummer"][j]
            lp = lp + Plummer().logp(
                data["sky"], {"center": params["center"][p_][None], "radius": params["radius"][p_]}
            )
        if "fixed" in terms:
            lp = lp + data["fixed"][idx["fixed"][j]]
        if "extra" in terms:
            lp = lp + data["extra"][idx["extra"][j]]
        comps.append(lp)
    return float(np.sum(mixture_logp(params["log_weights"], comps)))


LAYOUTS = {
    "cluster_pm2d": FusedLayout((("gaussian",), ("fixed",)), n_features=2, error_cov=True),
    "full_sky": FusedLayout((("gaussian", "plummer"), ("fixed",)), n_features=3, error_cov=True),
    "line_xerr": FusedLayout(
        (("gaussian",), ("gaussian",)), n_features=1, error_cov=True, slope=True, slope_error=True
    ),
    "gmm3_no_errors": FusedLayout((("gaussian",),) * 3, n_features=2),
    "gmm2_3d_slope": FusedLayout((("gaussian",),) * 2, n_features=3, error_cov=True, slope=True),
    "free_field": FusedLayout(
        (("gaussian", "extra"), ("extra",), ("fixed",)), n_features=4, error_cov=True
    ),
    "line_rho": FusedLayout(
        (("gaussian",), ("gaussian",)),
        n_features=1,
        error_cov=True,
        slope=True,
        slope_error=True,
        slope_cov=True,
    ),
    "plane_rho_no_errors": FusedLayout(
        (("gaussian",), ("fixed",)), n_features=2, slope=True, slope_error=True, slope_cov=True
    ),
    "shared_sky_rows": FusedLayout(
        (("gaussian", "plummer"), ("gaussian", "fixed"), ("gaussian", "fixed"), ("fixed",)),
        n_features=3,
        error_cov=True,
        fixed_rows=(0, 0, 1),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("N", [1, 7, BLOCK, 3 * BLOCK + 5])
def test_value_matches_numpy_components(name, N):
    layout = LAYOUTS[name]
    gen = np.random.default_rng([zlib.crc32(name.encode()), N])
    params, data = _problem(gen, N, layout.n_features or 1, layout)
    got = layout.evaluate(params, data)["logp"]
    ref = _reference(layout, params, data)
    assert np.isfinite(ref)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def _flat(layout, params):
    keys = [
        k
        for k in ("log_weights", "mean", "cov", "slope", "center", "radius")
        if np.size(params[k]) and (k != "slope" or layout.slope)
    ]
    return keys, np.concatenate([np.ravel(params[k]) for k in keys])


def _unflat(keys, vec, params):
    out = dict(params)
    i = 0
    for k in keys:
        n = np.size(params[k])
        out[k] = vec[i : i + n].reshape(np.shape(params[k]))
        i += n
    return out


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_gradient_matches_finite_differences(name):
    layout = LAYOUTS[name]
    gen = np.random.default_rng(zlib.crc32(name.encode()))
    params, data = _problem(gen, 300, layout.n_features or 1, layout)
    res = layout.evaluate(params, data)
    assert np.isfinite(res["logp"])
    keys, x0 = _flat(layout, params)
    got = np.concatenate([np.ravel(res[k]) for k in keys])
    h = 1e-6
    fd = np.empty_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e[i] = h
        fd[i] = (
            _reference(layout, _unflat(keys, x0 + e, params), data)
            - _reference(layout, _unflat(keys, x0 - e, params), data)
        ) / (2 * h)
    # central differences of a sum of ~300 terms: truncation + rounding ~1e-7 relative
    np.testing.assert_allclose(got, fd, rtol=2e-6, atol=2e-6 * np.abs(fd).max())


def test_extra_gradient_is_the_responsibility():
    layout = LAYOUTS["free_field"]
    gen = np.random.default_rng(5)
    params, data = _problem(gen, 50, 4, layout)
    resp = layout.evaluate(params, data)["resp"]
    h = 1e-6
    for q, n in [(0, 3), (1, 17), (1, 49)]:
        up, dn = {**data, "extra": data["extra"].copy()}, {**data, "extra": data["extra"].copy()}
        up["extra"][q, n] += h
        dn["extra"][q, n] -= h
        fd = (_reference(layout, params, up) - _reference(layout, params, dn)) / (2 * h)
        # rounding of a ~1e2 sum over a 2e-6 step: ~1e-8 absolute
        np.testing.assert_allclose(resp[q, n], fd, rtol=1e-6, atol=1e-7)


def test_far_objects_stay_finite():
    layout = LAYOUTS["cluster_pm2d"]
    gen = np.random.default_rng(1)
    params, data = _problem(gen, 20, 2, layout)
    data["X"][3] = [1e4, -1e4]  # ~1e4 sigma from the Gaussian
    data["fixed"][0, 5] = -1e6
    res = layout.evaluate(params, data)
    assert np.isfinite(res["logp"])
    for k in ("log_weights", "mean", "cov"):
        assert np.all(np.isfinite(res[k]))
    np.testing.assert_allclose(res["logp"], _reference(layout, params, data), rtol=1e-12)


def test_all_components_impossible_gives_minus_inf():
    layout = FusedLayout((("fixed",), ("fixed",)))
    data = {"n_objects": 3, "fixed": np.array([[0.0, -np.inf, 0.0], [0.0, -np.inf, 0.0]])}
    res = layout.evaluate({"log_weights": np.log([0.5, 0.5])}, data)
    assert res["logp"] == -np.inf


def test_same_result_twice_bitwise():
    layout = LAYOUTS["full_sky"]
    gen = np.random.default_rng(2)
    params, data = _problem(gen, 1000, 3, layout)
    a = layout.evaluate(params, data)
    b = layout.evaluate(params, data)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_layout_errors():
    with pytest.raises(ValueError, match="component 1: unknown term 'gauss'"):
        FusedLayout((("gaussian",), ("gauss",)), n_features=2)
    with pytest.raises(ValueError, match="n_features"):
        FusedLayout((("gaussian",),))
    with pytest.raises(ValueError, match="slope_error"):
        FusedLayout((("gaussian",),), n_features=1, slope_error=True)
    with pytest.raises(ValueError, match="slope_cov"):
        FusedLayout((("gaussian",),), n_features=1, slope_cov=True)
    with pytest.raises(ValueError, match="fixed_rows"):
        FusedLayout((("fixed",), ("fixed",)), fixed_rows=(0, 2))
    with pytest.raises(ValueError, match="fixed_rows"):
        FusedLayout((("fixed",), ("fixed",)), fixed_rows=(0,))


def test_shared_fixed_rows():
    layout = LAYOUTS["shared_sky_rows"]
    assert layout.n_terms["fixed"] == 2
    np.testing.assert_array_equal(layout.indices()["fixed"], [-1, 0, 0, 1])
