"""bayesmix.analysis.summary: parameter table, thinning, units (against numpy and truth)."""

import numpy as np
import pytest
import xarray as xr

from bayesmix.analysis import parameter_summary, summarize_draws, thin_draws, unit_of
from bayesmix.inference import Fit


def _fit(posterior: dict) -> Fit:
    ds = xr.Dataset(posterior)
    return Fit(idata=xr.DataTree.from_dict({"posterior": ds}), model=None)


def test_parameter_summary_matches_numpy_and_labels_elements():
    rng = np.random.default_rng(1)
    mu = rng.normal(3.0, 2.0, (4, 500))
    w = rng.dirichlet([2.0, 5.0], (4, 500))
    chol = np.zeros((4, 500, 2, 2))
    chol[..., 0, 0] = rng.gamma(5.0, 1.0, (4, 500))
    chol[..., 1, 0] = rng.normal(0, 1, (4, 500))
    chol[..., 1, 1] = rng.gamma(5.0, 1.0, (4, 500))
    ds = xr.Dataset(
        {
            "mu": (("chain", "draw"), mu),
            "weights": (("chain", "draw", "component"), w),
            "chol": (("chain", "draw", "feature", "feature_"), chol),
        },
        coords={"component": ["inlier", "outlier"], "feature": ["x", "y"], "feature_": ["x", "y"]},
    )
    fit = Fit(idata=xr.DataTree.from_dict({"posterior": ds}), model=None)
    out = parameter_summary(fit)
    # the constant upper triangle chol[x, y] is left out
    assert set(out) == {
        "mu",
        "weights[inlier]",
        "weights[outlier]",
        "chol[x, x]",
        "chol[y, x]",
        "chol[y, y]",
    }
    flat = mu.ravel()
    q = np.percentile(flat, [3, 16, 50, 84, 97])
    s = out["mu"]
    np.testing.assert_allclose(s["mean"], flat.mean(), rtol=1e-12)
    np.testing.assert_allclose(s["sd"], flat.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose([s["q03"], s["q16"], s["q50"], s["q84"], s["q97"]], q, rtol=1e-12)
    np.testing.assert_allclose(out["weights[outlier]"]["mean"], w[..., 1].mean(), rtol=1e-12)
    np.testing.assert_allclose(out["chol[y, x]"]["sd"], chol[..., 1, 0].std(ddof=1), rtol=1e-12)
    # independent draws: R-hat ~ 1 and the ESS near the number of draws (2000)
    for v in out.values():
        assert v["r_hat"] < 1.01
        assert 1500 < v["ess_bulk"] < 2600
        assert 1000 < v["ess_tail"] < 2600


def test_parameter_summary_flags_chains_that_disagree():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, (4, 300)) + np.array([0.0, 0.0, 0.0, 3.0])[:, None]
    out = parameter_summary(_fit({"x": (("chain", "draw"), x)}))
    assert out["x"]["r_hat"] > 1.3


def test_parameter_summary_undefined_diagnostics_are_none():
    # a single draw per chain: R-hat and ESS cannot be computed
    x = np.array([[0.0], [1.0]])
    out = parameter_summary(_fit({"x": (("chain", "draw"), x)}))
    assert out["x"]["r_hat"] is None and out["x"]["ess_bulk"] is None


def test_thin_draws_keeps_every_kth_draw_of_each_chain():
    x = np.arange(4 * 1000, dtype=float).reshape(4, 1000)
    fit = _fit({"x": (("chain", "draw"), x)})
    th = thin_draws(fit, 1000)
    got = th.posterior["x"].values
    assert got.shape == (4, 250)
    np.testing.assert_array_equal(got, x[:, ::4])
    # ceil(4000 / 999) = 5
    assert thin_draws(fit, 999).posterior.sizes["draw"] == 200
    assert thin_draws(fit, 4000) is fit


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("cluster_pmra", "mas/yr"),
        ("cluster_pm_dispersion", "mas/yr"),
        ("cluster_parallax", "mas"),
        ("cluster_parallax_dispersion", "mas"),
        ("zero_point", "mas"),
        ("cluster_distance_pc", "pc"),
        ("cluster_ra", "deg"),
        ("cluster_dec", "deg"),
        ("cluster_radius", "deg"),
        ("cluster_radial_velocity", "km/s"),
        ("n_members", ""),
        ("cluster_fraction", ""),
        ("field_alpha", ""),
        ("weights[cluster]", ""),
        # issue 12.5: velocities in km/s (the rv dispersion was labelled mas/yr),
        # ICRS and Galactocentric positions in pc
        ("cluster_radial_velocity_dispersion", "km/s"),
        ("cluster_pmra_dispersion", "mas/yr"),
        ("cluster_chol", "mas/yr"),
        ("cluster_v_tan_kms", "km/s"),
        ("cluster_icrs_x_pc", "pc"),
        ("cluster_icrs_vz_kms", "km/s"),
        ("cluster_galcen_y_pc", "pc"),
        ("cluster_galcen_vx_kms", "km/s"),
        ("field_length_scale", "kpc"),
        # not told by the name: None, not a wrong unit
        ("slope", None),
        ("field_means[0, pmra]", None),
    ],
)
def test_unit_of(name, unit):
    assert unit_of(name) == unit


def test_summarize_draws_over_defined_draws():
    x = np.array([1.0, np.nan, 3.0, 2.0, np.inf, 4.0])
    s = summarize_draws(x, interval=0.5)
    ok = np.array([1.0, 3.0, 2.0, 4.0])
    assert s["mean"] == ok.mean() and s["sd"] == ok.std(ddof=1)
    assert [s["lower"], s["upper"]] == list(np.percentile(ok, [25, 75]))
    assert s["n_undefined"] == 2 and s["n_draws"] == 6
    assert "n_undefined" not in summarize_draws(ok)
    one = summarize_draws([5.0])
    assert one["mean"] == 5.0 and np.isnan(one["sd"])
    none = summarize_draws([np.nan, np.nan])
    assert np.isnan(none["mean"]) and none["n_undefined"] == 2


def test_parameter_summary_carries_units():
    rng = np.random.default_rng(3)
    fit = _fit(
        {
            "cluster_pmra": (("chain", "draw"), rng.normal(size=(2, 50))),
            "slope": (("chain", "draw"), rng.normal(size=(2, 50))),
        }
    )
    out = parameter_summary(fit)
    assert out["cluster_pmra"]["unit"] == "mas/yr" and out["slope"]["unit"] is None
