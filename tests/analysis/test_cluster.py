"""analysis.cluster: phase space vs explicit formulas, the cluster-or-not claim, tables."""

import math
import types
import warnings

import numpy as np
import pytest
import xarray as xr

from bayesmix.analysis import (
    cluster_phase_space,
    compare_to_field,
    log_likelihood_draws,
    membership_table,
)
from bayesmix.builders import cluster_field
from bayesmix.exceptions import DiagnosticsWarning, SpecError
from bayesmix.membership import membership
from tests._cluster_fits import blanco1_fit, sim_fit


# --------------------------------------------------------------------- 3-D position/velocity
def _fake_fit(**cols):
    post = xr.Dataset(
        {k: (("chain", "draw"), np.asarray(v, float).reshape(1, -1)) for k, v in cols.items()}
    )
    return types.SimpleNamespace(posterior=post, model=types.SimpleNamespace(spec={}))


def test_phase_space_matches_explicit_formulas():
    ra, dec, plx, pmra, pmdec, rv = 30.0, -40.0, 4.0, 12.0, -7.0, 15.0
    fit = _fake_fit(
        cluster_ra=[ra],
        cluster_dec=[dec],
        cluster_parallax=[plx],
        cluster_pmra=[pmra],
        cluster_pmdec=[pmdec],
    )
    out = cluster_phase_space(fit, radial_velocity=rv, draws=True)
    d = 1000.0 / plx
    a, de = math.radians(ra), math.radians(dec)
    rhat = np.array([math.cos(de) * math.cos(a), math.cos(de) * math.sin(a), math.sin(de)])
    ehat = np.array([-math.sin(a), math.cos(a), 0.0])
    nhat = np.array([-math.sin(de) * math.cos(a), -math.sin(de) * math.sin(a), math.cos(de)])
    k = 4.740470463533348
    v = rv * rhat + k * d / 1000 * (pmra * ehat + pmdec * nhat)
    got_x = [out["draws"][f"icrs_{c}_pc"][0] for c in "xyz"]
    got_v = [out["draws"][f"icrs_v{c}_kms"][0] for c in "xyz"]
    np.testing.assert_allclose(got_x, d * rhat, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got_v, v, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(out["v_tan_kms"]["mean"], k * d / 1000 * math.hypot(pmra, pmdec))
    assert out["radial_velocity_source"].startswith("given")


def test_phase_space_galactocentric_sun_and_no_rv():
    # an object at the Sun's place and at rest relative to it has the Sun's
    # Galactocentric position and velocity (astropy v4.0 parameters)
    fit = _fake_fit(
        cluster_ra=[266.4],
        cluster_dec=[-28.9],
        cluster_parallax=[1e9],
        cluster_pmra=[0.0],
        cluster_pmdec=[0.0],
    )
    out = cluster_phase_space(fit, radial_velocity=0.0)
    r0 = 8122.0
    z_sun = 20.8
    x_sun = -math.sqrt(r0**2 - z_sun**2)
    np.testing.assert_allclose(
        [out[f"galcen_{c}_pc"]["mean"] for c in "xyz"], [x_sun, 0.0, z_sun], atol=1e-3
    )
    np.testing.assert_allclose(
        [out[f"galcen_v{c}_kms"]["mean"] for c in "xyz"], [12.9, 245.6, 7.78], atol=1e-3
    )
    assert "8.122 kpc" in out["frame"]
    none = cluster_phase_space(fit)
    assert math.isnan(none["galcen_vx_kms"]["mean"])
    assert np.isfinite(none["galcen_x_pc"]["mean"])
    with pytest.raises(SpecError, match="cluster_parallax"):
        cluster_phase_space(_fake_fit(cluster_pmra=[1.0]))


# --------------------------------------------------------------------- membership table
@pytest.fixture(scope="session")
def simulated():
    return sim_fit(7)


def test_membership_plumbing(simulated):
    fit, t, _ = simulated
    ds = membership(fit, quantiles=False)
    np.testing.assert_allclose(ds["probability"].sum("component"), 1.0, rtol=1e-12)
    tab = membership_table(fit)
    assert len(tab) == len(t["pmra"]) and tab.meta["n_excluded"] == 0
    np.testing.assert_array_equal(tab["source_id"], t["source_id"])
    # scoring new objects through prepare_data (first 20 stars)
    sub = {k: v[:20] for k, v in t.items()}
    ds2 = membership(fit, sub, quantiles=False)
    np.testing.assert_allclose(ds2["probability"].values, ds["probability"].values[:20], rtol=1e-12)


# --------------------------------------------------------------------- is there a cluster?
@pytest.fixture(scope="session")
def blanco1():
    return blanco1_fit()


@pytest.mark.slow
def test_blanco1_is_a_cluster(blanco1):
    res = compare_to_field(blanco1)
    assert res["cluster"] and res["elpd_diff"] > 100 and res["sky_z"] > 10


@pytest.mark.slow
def test_null_field_claims_no_cluster():
    from bayesmix.datasets import load_gaia_field_ra45

    t = load_gaia_field_ra45()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        mm = cluster_field(t, rng=1)
        from bayesmix.inference import sample

        fit = sample(mm, draws=300, tune=300, chains=2, rng=1, progressbar=False)
    assert mm.spec["n_excluded"] == 375  # two-parameter solutions: no proper motions
    res = compare_to_field(fit)
    # LOO alone prefers a "cluster" here (a patch on the field fit); the members are
    # not concentrated on the sky, so no cluster is claimed
    assert not res["cluster"], res
    assert abs(res["sky_z"]) < 3


@pytest.mark.slow
def test_correlations_matter_on_strongly_correlated_errors():
    # same data (|rho| in [0.8, 0.95], errors up to 1.5 mas/yr, i.e. larger than the
    # cluster's 0.3 mas/yr dispersion), model with and without pmra_pmdec_corr: the one
    # that uses the correlations has the higher posterior-mean log-likelihood and
    # sharper membership (lower Brier score against the truth).
    fit_c, t, member = sim_fit(8, correlations=True, rho_max=0.95, err_max=1.5, rho_min=0.8)
    fit_n, _, _ = sim_fit(8, correlations=False, rho_max=0.95, err_max=1.5, rho_min=0.8)
    mix_c, _, _ = log_likelihood_draws(fit_c)
    mix_n, _, _ = log_likelihood_draws(fit_n)
    assert mix_c.mean(0).sum() > mix_n.mean(0).sum() + 10
    bc = np.mean((membership_table(fit_c)["p_cluster"] - member) ** 2)
    bn = np.mean((membership_table(fit_n)["p_cluster"] - member) ** 2)
    assert bc < bn


def test_log_likelihood_draws_against_scipy(simulated):
    # brute force per draw: logsumexp over (log w_k + log p_k) with scipy, and the
    # expected number of members as the sum of exp(log w_c + log p_c - that)
    from scipy.special import logsumexp

    from bayesmix.membership import posterior_values

    fit = simulated[0]
    mm = fit.model
    mix, fld, n_mem = log_likelihood_draws(fit, chunk=7)
    assert mix.shape == fld.shape == (600, mm.n_objects) and n_mem.shape == (600,)
    values = posterior_values(fit, mm.var_names)
    for s in (0, 13, 599):
        lw, (lc, lf) = mm.log_terms({k: v[s] for k, v in values.items()}, mm.data)
        tot = logsumexp(np.stack([lw[0] + lc, lw[1] + lf]), axis=0)
        np.testing.assert_allclose(mix[s], tot, rtol=1e-12)
        np.testing.assert_allclose(fld[s], lf, rtol=1e-12)
        np.testing.assert_allclose(n_mem[s], np.exp(lw[0] + lc - tot).sum(), rtol=1e-10)


def test_sky_test_reads_the_builders_ra_dec_columns(simulated):
    # [data.columns] ra/dec renamed: the sky concentration is the same, not skipped
    import dataclasses

    fit, t, _ = simulated
    renamed = {{"ra": "RA_ICRS", "dec": "DE_ICRS"}.get(k, k): v for k, v in t.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        mm = cluster_field(renamed, columns={"ra": "RA_ICRS", "dec": "DE_ICRS"}, rng=7)
    assert mm.spec["columns"] == {"ra": "RA_ICRS", "dec": "DE_ICRS"}
    assert mm.spec["sky_center"] == fit.model.spec["sky_center"]
    res = compare_to_field(dataclasses.replace(fit, model=mm), n_perm=200)
    want = compare_to_field(fit, n_perm=200)
    assert res["sky_z"] is not None and res["sky_z"] > 3
    assert res["sky_z"] == pytest.approx(want["sky_z"], rel=1e-12)
