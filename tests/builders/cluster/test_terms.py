"""builders.cluster.terms: the log terms against brute force, and both backends agree."""

import math
import warnings

import numpy as np
from scipy import integrate, stats

from bayesmix.builders import cluster_field
from bayesmix.gaia import GaiaColumnWarning
from bayesmix.sky import tangent_plane
from tests._cluster_fits import simulate

FULL = ("ra", "dec", "parallax", "pmra", "pmdec")


def _build(t, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        return cluster_field(t, features=FULL, **kw)


def test_model_structure_and_log_terms_agree_between_backends():
    import pytensor

    t, _ = simulate(4, n=300)
    mm = cluster_field(t)
    assert mm.component_labels == ("cluster", "field")
    assert mm.model.named_vars_to_dims["weights"] == ("component",)
    assert mm.model.named_vars_to_dims["X"] == ("feature", "object")  # feature-major
    assert set(mm.var_names) == {
        "weights",
        "cluster_pmra",
        "cluster_pmdec",
        "cluster_pm_dispersion",
    }
    assert mm.spec["field_params"]["n_stars"] < 300  # control field only
    # the model's logp at the initial point equals the numpy mixture + priors
    ip = mm.model.initial_point()
    f = mm.model.compile_logp(vars=[mm.model["X"]], sum=True, mode="NUMBA")
    vals = {
        "weights": np.array([0.2, 0.8]),
        "cluster_pmra": 8.0,
        "cluster_pmdec": -4.0,
        "cluster_pm_dispersion": 0.5,
    }
    lw, lps = mm.log_terms(vals, mm.data)
    from scipy.special import logsumexp

    expected = logsumexp(np.stack([lw[0] + lps[0], lw[1] + lps[1]]), axis=0).sum()
    # the sampler's coordinates of those values (each variable's own transform)
    point = dict(ip)
    for name, val in vals.items():
        rv = mm.model[name]
        tr = mm.model.rvs_to_transforms.get(rv)
        x = np.asarray(val, dtype=float)
        fwd = tr.forward(pytensor.tensor.as_tensor(x), *rv.owner.inputs).eval() if tr else x
        point[mm.model.rvs_to_values[rv].name] = fwd
    with pytensor.config.change_flags(on_opt_error="raise"):
        got = f(point)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_full_model_log_terms_match_brute_force():
    t, _ = simulate(4, n=250)
    fp = {"kind": "cone", "ra": 120.0, "dec": -20.0, "radius": 2.05}
    mm = _build(t, footprint=fp, rng=2)
    assert mm.spec["footprint"]["kind"] == "cone"
    vals = {
        "weights": np.array([0.15, 0.85]),
        "cluster_ra": 120.1,
        "cluster_dec": -19.95,
        "cluster_radius": 0.35,
        "cluster_parallax": 2.5,
        "cluster_pmra": 8.0,
        "cluster_pmdec": -4.0,
        "cluster_parallax_dispersion": 0.03,
        "cluster_pm_dispersion": 0.3,
    }
    lw, (lc, lf) = mm.log_terms(vals, mm.data)
    np.testing.assert_allclose(lw, np.log(vals["weights"]))
    # brute force: Plummer on the tangent plane at (120, -20), normalised by 2-D
    # quadrature over the cone; Gaussian by scipy; field GMM by scipy + uniform sky
    ra, dec = np.asarray(t["ra"]), np.asarray(t["dec"])
    xi, eta, cos_c = tangent_plane(ra, dec, 120.0, -20.0)
    cx, cy, _ = tangent_plane(vals["cluster_ra"], vals["cluster_dec"], 120.0, -20.0)
    a = vals["cluster_radius"]

    def plummer(x, y):
        return 1 / (math.pi * a * a) * (1 + ((x - cx) ** 2 + (y - cy) ** 2) / a**2) ** -2

    R = math.degrees(math.tan(math.radians(2.05)))
    mass = integrate.dblquad(
        lambda r, p: plummer(r * np.cos(p), r * np.sin(p)) * r,
        0,
        2 * np.pi,
        0,
        R,
        epsabs=1e-13,
        epsrel=1e-12,
    )[0]
    X, C = mm.data["X"], mm.data["X_cov"]
    V = np.diag([0.03**2, 0.3**2, 0.3**2])
    mean = np.array([2.5, 8.0, -4.0])
    want_c = np.array(
        [stats.multivariate_normal(mean, V + C[i]).logpdf(X[i]) for i in range(len(X))]
    )
    want_c += np.log(plummer(xi, eta) / mass)
    omega = 2 * math.pi * (1 - math.cos(math.radians(2.05))) * (180 / math.pi) ** 2
    ff = mm.spec["field_params"]
    want_f = np.log(
        [
            sum(
                w * stats.multivariate_normal(m, np.asarray(S) + C[i]).pdf(X[i])
                for w, m, S in zip(ff["weights"], ff["means"], ff["covs"], strict=True)
            )
            for i in range(len(X))
        ]
    )
    want_f += 3 * np.log(cos_c) - math.log(omega)
    np.testing.assert_allclose(lc, want_c, rtol=1e-9)
    np.testing.assert_allclose(lf, want_f, rtol=1e-9)


def test_full_model_pytensor_logp_equals_numpy():
    t, _ = simulate(4, n=250)
    mm = _build(t, rng=2)
    assert mm.spec["footprint"]["kind"] == "cone"  # the simulated disc is recognised
    f = mm.model.compile_logp(vars=[mm.model["X"]], sum=True, mode="NUMBA")
    ip = mm.model.initial_point()
    # evaluate the numpy terms at the initial point's constrained values
    point = {}
    for rv in mm.model.free_RVs:
        val = ip[mm.model.rvs_to_values[rv].name]
        tr = mm.model.rvs_to_transforms.get(rv)
        point[rv.name] = np.asarray(tr.backward(val).eval()) if tr is not None else val
    from scipy.special import logsumexp

    lw, lps = mm.log_terms(point, mm.data)
    want = logsumexp(np.stack([lw[0] + lps[0], lw[1] + lps[1]]), axis=0).sum()
    np.testing.assert_allclose(f(ip), want, rtol=1e-10)
