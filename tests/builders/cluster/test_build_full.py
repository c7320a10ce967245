"""builders.cluster.build, the full model: sky (Plummer vs uniform) x (parallax, pm[, rv]).

Checked against simulated truth and Cantat-Gaudin et al. (2020) for Blanco 1 and
NGC 6819 (the log terms against brute force are in test_terms.py).
"""

import warnings

import numpy as np
import pytest

from bayesmix.analysis import cluster_summary, membership_table
from bayesmix.builders import cluster_field
from bayesmix.exceptions import DataError, DiagnosticsWarning, SpecError
from bayesmix.gaia import GaiaColumnWarning
from bayesmix.membership import membership
from bayesmix.sky import Footprint
from tests._cluster_fits import full_fit, sim_fit, simulate

FULL = ("ra", "dec", "parallax", "pmra", "pmdec")


def _build(t, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        return cluster_field(t, features=FULL, **kw)


def test_full_model_options_and_errors():
    t, _ = simulate(5, n=200)
    mm = _build(t)
    assert {
        "cluster_ra",
        "cluster_dec",
        "cluster_radius",
        "cluster_parallax",
        "cluster_parallax_dispersion",
        "cluster_pm_dispersion",
    } <= set(mm.var_names)
    assert mm.model.named_vars_to_dims["X"] == ("feature", "object")  # feature-major
    assert tuple(mm.coords["feature"]) == ("parallax", "pmra", "pmdec")
    with pytest.raises(DataError, match="outside the footprint"):
        _build(t, footprint={"kind": "cone", "ra": 120.0, "dec": -20.0, "radius": 0.5})
    with pytest.raises(SpecError, match="footprint"):
        cluster_field(
            t,
            features=("pmra", "pmdec"),
            footprint={"kind": "cone", "ra": 1, "dec": 1, "radius": 1},
        )
    with pytest.raises(SpecError, match="degenerate"):
        _build(t, zero_point="free")
    bad = dict(t)
    bad["ra"] = np.array(t["ra"], float)
    bad["ra"][3] = np.nan
    mm = _build(bad)
    assert mm.spec["n_excluded"] == 1
    assert "ra" in mm.rows.reasons[3]


def test_radial_velocity_variant_excludes_rows_without_rv():
    t, member = simulate(6, n=300)
    rng = np.random.default_rng(0)
    rv = np.where(member, rng.normal(-12.0, 0.8, member.size), rng.normal(10, 30, member.size))
    rv_err = rng.uniform(0.5, 3.0, member.size)
    rv[::10] = np.nan
    t = {**t, "radial_velocity": rv + rng.normal(0, rv_err), "radial_velocity_error": rv_err}
    mm = _build_rv(t)
    assert tuple(mm.coords["feature"]) == ("parallax", "pmra", "pmdec", "radial_velocity")
    assert {"cluster_radial_velocity", "cluster_radial_velocity_dispersion"} <= set(mm.var_names)
    assert mm.spec["n_excluded"] == 30
    lp = mm.model.compile_logp(mode="NUMBA")(mm.model.initial_point())
    assert np.isfinite(lp)


def _build_rv(t):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        return cluster_field(t, features=(*FULL, "radial_velocity"), rng=1)


@pytest.fixture(scope="session")
def full_sim():
    return full_fit(7)


def test_full_model_recovers_truth_on_simulated_data(full_sim):
    fit, t, member = full_sim
    s = cluster_summary(fit)
    truth = {
        "cluster_ra": 120.0,
        "cluster_dec": -20.0,
        "cluster_radius": 0.3,
        "cluster_parallax": 2.5,
        "cluster_pmra": 8.0,
        "cluster_pmdec": -4.0,
        "cluster_pm_dispersion": 0.3,
    }
    for k, v in truth.items():
        assert abs(s[k]["mean"] - v) < 4 * s[k]["sd"] + 1e-3, (k, s[k], v)
    assert abs(s["n_members"]["mean"] - member.sum()) < 4 * s["n_members"]["sd"] + 10
    assert s["cluster_distance_pc"]["mean"] == pytest.approx(400.0, rel=0.02)
    assert np.isfinite(s["cluster_galcen_x_pc"]["mean"])
    assert fit.diagnostics["max_rhat"] < 1.05


def test_sky_improves_membership_over_proper_motions_alone(full_sim):
    fit, t, member = full_sim
    fit2, t2, member2 = sim_fit(7)
    assert np.array_equal(member, member2)
    p_full = membership(fit)["probability"].sel(component="cluster").values
    p_pm = membership(fit2)["probability"].sel(component="cluster").values
    brier_full = np.mean((p_full - member) ** 2)
    brier_pm = np.mean((p_pm - member) ** 2)
    assert brier_full < brier_pm
    table = membership_table(fit)
    assert len(table) == len(member)


@pytest.mark.slow
def test_blanco1_full_model_against_cantat_gaudin_2020():
    from bayesmix.datasets import load_blanco1
    from bayesmix.inference import sample

    t = load_blanco1()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        mm = cluster_field(t, features=FULL, correlations=False, rng=1)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=1, progressbar=False)
    assert Footprint.parse(mm.spec["footprint"]).kind == "cone"
    s = cluster_summary(fit)
    # CG20: RA 0.853, Dec -29.958, plx 4.210, pmra 18.739, pmdec 2.602, N(p>=0.7) = 380
    assert abs(s["cluster_ra"]["mean"] - 0.853) < 0.1
    assert abs(s["cluster_dec"]["mean"] + 29.958) < 0.1
    assert abs(s["cluster_parallax"]["mean"] - 4.210) < 0.02
    assert abs(s["cluster_pmra"]["mean"] - 18.739) < 0.1
    assert abs(s["cluster_pmdec"]["mean"] - 2.602) < 0.1
    assert 330 < s["n_members"]["mean"] < 420
    assert 0.4 < s["cluster_radius"]["mean"] < 1.2


@pytest.mark.slow
def test_ngc6819_full_model_with_radial_velocities():
    # DR3, all correlations, every star has a radial velocity: the 4-D Gaussian part
    # gives the cluster's mean radial velocity and so its full 3-D velocity.  (With
    # only 500 tuning steps one seed left a chain stuck; 1000 are used here.)
    from bayesmix.datasets import load_ngc6819
    from bayesmix.inference import sample

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        mm = cluster_field(
            load_ngc6819(), features=(*FULL, "radial_velocity"), zero_point=-0.03, rng=1
        )
        fit = sample(mm, draws=300, tune=1000, chains=2, rng=1, progressbar=False)
    assert fit.diagnostics["max_rhat"] < 1.05 and fit.diagnostics["divergences"] == 0
    assert Footprint.parse(mm.spec["footprint"]).kind == "cone"  # a 23' cone
    s = cluster_summary(fit)
    # CG20 (DR2): RA 295.327, Dec 40.190, pmra -2.916, pmdec -3.856; parallax as in
    # test_ngc6819_joint_astrometric_model (zero point -0.03 mas)
    assert abs(s["cluster_ra"]["mean"] - 295.327) < 0.03
    assert abs(s["cluster_dec"]["mean"] - 40.190) < 0.03
    assert 0.36 < s["cluster_parallax"]["mean"] < 0.44
    assert abs(s["cluster_pmra"]["mean"] + 2.916) < 0.1
    assert abs(s["cluster_pmdec"]["mean"] + 3.856) < 0.1
    assert 100 < s["n_members"]["mean"] < 150
    # the members' own radial velocities: the posterior mean agrees with their
    # error-weighted mean (an internal check, independent of the mixture machinery)
    p = membership(fit)["probability"].sel(component="cluster").values
    rv = mm.data["X"][:, 3]
    w = (p > 0.9) / mm.data["X_cov"][:, 3, 3]
    assert abs(s["cluster_radial_velocity"]["mean"] - (w @ rv) / w.sum()) < 0.5
    assert s["cluster_radial_velocity_dispersion"]["mean"] < 3.0
    for k in ("icrs_vx_kms", "galcen_vx_kms", "galcen_vy_kms", "galcen_vz_kms"):
        assert np.isfinite(s[f"cluster_{k}"]["mean"])
    # rotating with the disc: V_phi near the Sun's ~ 230-250 km/s
    assert 200 < s["cluster_galcen_vy_kms"]["mean"] < 260


@pytest.mark.filterwarnings("ignore::bayesmix.gaia.GaiaColumnWarning")
def test_full_model_scores_new_objects_and_over_dask(full_sim):
    # scoring the fitted stars as "new objects" (prepare_data recomputes the sky
    # coordinates, the field's sky density and the fixed field) equals the fit's own
    # membership, in memory and block by block over Dask
    pytest.importorskip("dask")
    from bayesmix import scale

    fit, t, member = full_sim
    ref = membership(fit)["probability"].sel(component="cluster").values
    cols = {k: np.asarray(v) for k, v in t.items()}
    new = membership(fit, cols)["probability"].sel(component="cluster").values
    np.testing.assert_allclose(new, ref, rtol=1e-12, atol=1e-15)
    lazy = scale.membership(fit, cols, quantiles=False)
    got = lazy["probability"].sel(component="cluster").values
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
