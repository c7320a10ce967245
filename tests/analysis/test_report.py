"""bayesmix.analysis.report: the cluster record of ``bayesmix run`` and its text."""

import json
import types
import warnings

import numpy as np
import pytest
import xarray as xr

from bayesmix.analysis import (
    CLUSTER_MAX_DRAWS,
    cluster_report,
    cluster_summary,
    format_cluster_report,
    thin_draws,
    unit_of,
)
from bayesmix.exceptions import DiagnosticsWarning
from bayesmix.gaia import GaiaColumnWarning
from tests._cluster_fits import sim_fit


def _record(**over):
    rec = {
        "interval": 0.9,
        "n_draws": 1000,
        "n_draws_total": 4000,
        "parameters": {
            "n_members": {"mean": 212.4, "sd": 5.0, "lower": 204.0, "upper": 221.0, "unit": ""},
            "cluster_pmra": {
                "mean": 18.7391,
                "sd": 0.01,
                "lower": 18.72,
                "upper": 18.76,
                "unit": "mas/yr",
            },
            "cluster_fraction": {
                "mean": 0.14,
                "sd": 0.01,
                "lower": 0.13,
                "upper": 0.15,
                "unit": "",
            },
            "cluster_distance_pc": {
                "mean": 23456.0,
                "sd": 1.0,
                "lower": 23000.0,
                "upper": 24000.0,
                "unit": "pc",
            },
        },
        "reference": {
            "source": "Cantat-Gaudin et al. 2020",
            "cluster_pmra": 18.739,
            "cluster_parallax": 4.216,
        },
        "members": {"n_p_gt_0.5": 210, "n_p_gt_0.9": 180, "expected": 212.44, "n_scored": 1500},
        "compare_to_field": {
            "cluster": True,
            "elpd_diff": 812.34,
            "se_diff": 40.1,
            "sky_z": 9.87,
            "criterion": "elpd_diff > 4",
        },
        "compare_to_field_note": None,
    }
    rec.update(over)
    return rec


def test_format_cluster_report_lines():
    text = format_cluster_report(_record())
    lines = text.splitlines()
    assert lines[0] == ""
    assert lines[1] == (
        "cluster (posterior mean and 90% interval, from 1000 of the 4000 "
        "draws); published: Cantat-Gaudin et al. 2020"
    )
    # parameters first, then the cluster's size; published value and unit on the row
    assert lines[2].split() == ["quantity", "mean", "90%", "interval", "published"]
    names = [ln.split()[0] for ln in lines[3:8]]
    assert names == [
        "cluster_pmra",
        "cluster_distance_pc",
        "cluster_fraction",
        "n_members",
        "cluster_parallax",
    ]
    # decimals resolve the sd (2 significant digits) and show the published value's
    pm = next(ln for ln in lines if ln.startswith("  cluster_pmra"))
    assert pm.split() == ["cluster_pmra", "18.739", "[18.720,", "18.760]", "18.739", "mas/yr"]
    dist = next(ln for ln in lines if ln.startswith("  cluster_distance_pc"))
    assert dist.split()[1:5] == ["23456.0", "[23000.0,", "24000.0]", "pc"]  # no exponent
    frac = next(ln for ln in lines if ln.startswith("  cluster_fraction"))
    assert frac.split() == ["cluster_fraction", "0.140", "[0.130,", "0.150]"]
    plx = next(ln for ln in lines if ln.startswith("  cluster_parallax"))
    assert "(not in this model)" in plx and plx.rstrip().endswith("4.216  mas")
    assert (
        "members: 210 stars with p(cluster) > 0.5, 180 with p > 0.9; expected number "
        "(sum of p) 212.4, of 1500 stars scored"
    ) in lines
    assert (
        "is there a cluster? yes: cluster + field beats the field alone by elpd 812.3 "
        "+- 40.1 (PSIS-LOO); probable members concentrated on the sky at z = 9.9"
    ) in lines
    assert lines[-1] == "  (criterion: elpd_diff > 4)"
    assert text.endswith("\n")


def test_format_cluster_report_digits_units_plurals_and_warnings():
    # RA/Dec to 0.001 deg at least (was "295.3 [295.3, 295.3]" next to 295.327), km/s
    # velocities, the singular, undefined draws starred, warnings at the end
    params = {
        "cluster_ra": {"mean": 295.32714, "sd": 0.0031, "lower": 295.3221, "upper": 295.3322},
        "cluster_dec": {"mean": 40.19, "sd": 0.2, "lower": 39.9, "upper": 40.5},
        "cluster_radial_velocity_dispersion": {
            "mean": 1.234,
            "sd": 0.21,
            "lower": 0.9,
            "upper": 1.6,
        },
        "cluster_galcen_x_pc": {"mean": -7823.4, "sd": 1.2, "lower": -7843.0, "upper": -7803.0},
        "cluster_distance_pc": {
            "mean": 2500.0,
            "sd": 40.0,
            "lower": 2440.0,
            "upper": 2570.0,
            "n_undefined": 3,
            "n_draws": 50,
        },
    }
    rec = _record(
        parameters={k: {**v, "unit": unit_of(k)} for k, v in params.items()},
        reference={"cluster_ra": 295.327},
        members={"n_p_gt_0.5": 1, "n_p_gt_0.9": 0, "expected": 1.2, "n_scored": 1},
        warnings=["the comparison with the field alone could not be computed (X)"],
    )
    lines = format_cluster_report(rec).splitlines()
    row = {ln.split()[0]: ln.split() for ln in lines if ln.startswith("  cluster_")}
    assert row["cluster_ra"] == [
        "cluster_ra",
        "295.3271",
        "[295.3221,",
        "295.3322]",
        "295.327",
        "deg",
    ]
    assert row["cluster_dec"][1:4] == ["40.190", "[39.900,", "40.500]"]  # 0.001 deg at least
    assert row["cluster_radial_velocity_dispersion"][-1] == "km/s"
    assert row["cluster_galcen_x_pc"][1:] == ["-7823.4", "[-7843.0,", "-7803.0]", "pc"]
    assert row["cluster_distance_pc*"][1:] == ["2500", "[2440,", "2570]", "pc"]
    assert any(ln.startswith("  * undefined (NaN) in some draws") for ln in lines)
    assert "members: 1 star with p(cluster) > 0.5" in "\n".join(lines)
    assert "of 1 star scored" in "\n".join(lines)
    assert lines[-1] == "warning: the comparison with the field alone could not be computed (X)"


def test_format_cluster_report_without_comparison():
    text = format_cluster_report(
        _record(
            n_draws=600,
            n_draws_total=600,
            reference={},
            compare_to_field=None,
            compare_to_field_note="not computed: free field",
        )
    )
    assert "cluster (posterior mean and 90% interval)\n" in text
    assert "published" not in text.splitlines()[1]
    assert text.endswith("is there a cluster? not computed: free field\n")


def test_cluster_report_on_a_fit():
    fit, _, _ = sim_fit()
    p = np.linspace(0.0, 1.0, 101)
    p = np.r_[p, np.nan]  # a row that was not scored
    rep = cluster_report(fit, p, reference={"cluster_pmra": 8.0}, max_draws=150)
    assert rep["n_draws_total"] == 600 and rep["n_draws"] == 150
    want = cluster_summary(thin_draws(fit, 150), interval=0.9)
    assert list(rep["parameters"]) == list(want)
    for k, v in want.items():
        assert {kk: rep["parameters"][k][kk] for kk in v} == v
    assert rep["parameters"]["cluster_pmra"]["unit"] == "mas/yr"
    assert rep["members"] == {
        "n_p_gt_0.5": 50,
        "n_p_gt_0.9": 10,
        "expected": float(np.nansum(p)),
        "n_scored": 101,
    }
    assert rep["reference"] == {"cluster_pmra": 8.0}
    assert rep["compare_to_field"]["cluster"] is True
    assert rep["compare_to_field_note"] is None
    # p here is not one value per fitted star: the completeness lookup is a warning, not a crash
    assert rep["completeness"] is None
    assert len(rep["warnings"]) == 1
    assert rep["warnings"][0].startswith("the expected completeness could not be looked up")
    assert rep["reference_units"] == {"cluster_pmra": "mas/yr"}
    json.dumps(rep)  # JSON-able as it is
    assert CLUSTER_MAX_DRAWS == 1000


def test_cluster_report_places_the_cluster_on_the_injection_maps():
    """The record's completeness uses the fitted stars and agrees with the simulation's truth."""
    from bayesmix.analysis.completeness import cluster_position
    from bayesmix.membership import membership

    fit, t, member = sim_fit()
    p = np.asarray(membership(fit, quantiles=False)["probability"].sel(component="cluster"))
    rep = cluster_report(fit, p, max_draws=150)
    assert rep["warnings"] == []
    comp = rep["completeness"]
    pos = comp["position"]
    # the same numbers as the lookup from the star table itself
    err = np.asarray(t["pmra_error"], dtype=float)
    want = cluster_position(rep, pmra=t["pmra"], pmdec=t["pmdec"], p_cluster=p, pmra_error=err)
    assert pos.pop("bulk") == pytest.approx(want.pop("bulk"))
    assert pos == pytest.approx(want)
    # the expected members are those injected (within Poisson noise), and the sentence is reported
    assert abs(pos["n_members"] - member.sum()) < 3 * np.sqrt(member.sum())
    assert comp["sentence"] and isinstance(comp["inside"], bool)
    assert f"injection-recovery: {comp['sentence']}" in format_cluster_report(rep)
    json.dumps(rep)


def _broken_fit(**cols):
    """A 'fit' whose model cannot evaluate its log-likelihood (as a step that fails)."""
    post = xr.Dataset(
        {k: (("chain", "draw"), np.asarray(v, float).reshape(1, -1)) for k, v in cols.items()}
    )
    model = types.SimpleNamespace(var_names=tuple(cols), spec={"field": "uniform"})
    return types.SimpleNamespace(posterior=post, model=model)


def test_cluster_report_turns_failed_steps_into_warnings():
    # a parallax <= 0 in some draws (distance undefined: astropy's "Distance must be
    # >= 0" before) and steps that raise (expected members, the comparison)
    plx = [-0.2, 0.5, 0.4, 0.45, 0.0]
    fit = _broken_fit(
        cluster_ra=[10.0] * 5,
        cluster_dec=[-30.0] * 5,
        cluster_parallax=plx,
        cluster_pmra=[1.0, 1.1, 0.9, 1.0, 1.2],
        cluster_pmdec=[-2.0] * 5,
    )
    rep = cluster_report(fit, np.array([0.9, 0.1, np.nan]))
    par = rep["parameters"]
    d = par["cluster_distance_pc"]
    assert d["n_undefined"] == 2 and d["n_draws"] == 5 and d["unit"] == "pc"
    np.testing.assert_allclose(d["mean"], np.mean(1000 / np.array([0.5, 0.4, 0.45])))
    assert par["cluster_icrs_x_pc"]["n_undefined"] == 2
    assert par["cluster_v_tan_kms"]["unit"] == "km/s"
    assert "n_members" not in par
    assert rep["compare_to_field"] is None
    assert rep["compare_to_field_note"].startswith("not computed: the comparison failed")
    w = rep["warnings"]
    assert any(m.startswith("cluster_distance_pc is undefined (NaN) in 2 of 5 draws") for m in w)
    assert any(m.startswith("the expected number of members could not be computed") for m in w)
    assert any(m.startswith("the comparison with the field alone could not be computed") for m in w)
    text = format_cluster_report(rep)
    assert text.count("\nwarning: ") == len(w)
    assert rep["members"]["n_scored"] == 2
    json.dumps(rep)


_QUICK = {
    "pmra": {"features": ("pmra",)},
    "pmdec-uniform": {"features": ("pmdec",), "field": "uniform"},
    "pm": {"features": ("pmra", "pmdec")},
    "parallax-beta": {"features": ("parallax",), "field": "beta"},
    "parallax-edsd": {"features": ("parallax",), "field": "edsd"},
    "parallax-gmm": {"features": ("parallax",), "field": "gmm"},
    "parallax-uniform": {"features": ("parallax",), "field": "uniform"},
    "astrometric": {"features": ("parallax", "pmra", "pmdec")},
    "full": {"features": ("ra", "dec", "parallax", "pmra", "pmdec")},
    "full-rv": {"features": ("ra", "dec", "parallax", "pmra", "pmdec", "radial_velocity")},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_QUICK))
def test_quick_look_reports_on_every_variant(name):
    # issue 12.4: a quick look (1 chain x 20 draws) never loses the fit: the report is
    # produced, every quantity has a unit, what cannot be computed is a warning (20 draws
    # are too few for PSIS: the comparison with the field is such a warning)
    from bayesmix.builders import cluster_field
    from bayesmix.datasets import load_ngc6819
    from bayesmix.inference import sample
    from bayesmix.membership import membership
    from tests._cluster_fits import simulate, simulate_parallax

    kw = _QUICK[name]
    if name == "full-rv":
        data = load_ngc6819()
    elif kw["features"] == ("parallax",):
        data = simulate_parallax(3, n=300)[0]
    else:
        data = simulate(5, n=300)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)  # one chain: no R-hat
        warnings.simplefilter("ignore", GaiaColumnWarning)
        fit = sample(
            cluster_field(data, **kw), draws=20, tune=20, chains=1, rng=2, progressbar=False
        )
        p = membership(fit, quantiles=False)["probability"].sel(component="cluster").values
        rep = cluster_report(fit, np.asarray(p))
    json.dumps(rep)
    assert rep["n_draws"] == 20 and rep["members"]["n_scored"] == len(p)
    assert all(v["unit"] is not None for v in rep["parameters"].values()), rep["parameters"]
    assert "n_members" in rep["parameters"]
    fixed = kw.get("field", "gmm") in ("gmm", "uniform")
    failed = any("comparison with the field alone" in w for w in rep["warnings"])
    assert (rep["compare_to_field"] is None) == (failed or not fixed)
    if rep["compare_to_field"] is None:
        assert rep["compare_to_field_note"].startswith("not computed")
    for k, v in rep["parameters"].items():
        if v.get("n_undefined"):
            assert any(w.startswith(k) or "3-D position" in w for w in rep["warnings"])
    text = format_cluster_report(rep)
    assert text.count("\nwarning: ") == len(rep["warnings"])
    if "ra" in kw["features"]:
        assert rep["parameters"]["cluster_ra"]["unit"] == "deg"
        assert rep["parameters"]["cluster_galcen_x_pc"]["unit"] == "pc"
    if "radial_velocity" in kw["features"]:
        assert rep["parameters"]["cluster_radial_velocity_dispersion"]["unit"] == "km/s"
        assert rep["parameters"]["cluster_icrs_vx_kms"]["unit"] == "km/s"
