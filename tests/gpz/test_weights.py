"""Density-ratio weights: checks, clipping, diagnostics (bayesmix.gpz.weights)."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmix.exceptions import DataError, SpecError
from bayesmix.gpz import weight_diagnostics
from bayesmix.gpz.weights import check_eta, check_weight_bounds, clip_log_weights, log_ratio


def test_weight_diagnostics():
    w = np.array([1.0, 1.0, 2.0, 100.0, 0.5])
    d = weight_diagnostics(w, max_weight=100, min_weight=0.5)
    assert d["effective_sample_size"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))
    assert d["fraction_clipped"] == pytest.approx(0.4)
    assert (d["min"], d["max"], d["median"]) == (0.5, 100.0, 1.0)
    with pytest.raises(DataError, match="weights.*non-negative"):
        weight_diagnostics([1.0, -1.0])


def test_clip_log_weights_bounds_and_nan():
    log_w = np.array([-800.0, -1.0, 0.0, np.log(100.0), 800.0, np.nan])
    w = clip_log_weights(log_w, 100.0, None)
    np.testing.assert_allclose(w[:5], [0.0, np.exp(-1.0), 1.0, 100.0, 100.0], rtol=1e-15)
    assert w[3] == 100.0  # exp(ln 100) rounds above 100: clipped again
    assert w[5] == 1.0  # (-inf) - (-inf): nothing known, the neutral weight
    w = clip_log_weights(log_w, 100.0, 0.5)
    assert w.min() == 0.5 and w.max() == 100.0


def test_log_ratio_softened_equals_direct_where_representable():
    rng = np.random.default_rng(0)
    lp, lt = rng.normal(-3, 2, 50), rng.normal(-3, 2, 50)
    np.testing.assert_array_equal(log_ratio(lp, lt, None), lp - lt)
    eta = 1e-3
    direct = np.log((np.exp(lp) + eta) / (np.exp(lt) + eta))
    np.testing.assert_allclose(log_ratio(lp, lt, eta), direct, rtol=1e-12, atol=1e-15)


def test_option_checks():
    assert check_weight_bounds(100, None) == (100.0, None)
    assert check_weight_bounds(np.float64(5), 0) == (5.0, 0.0)
    for bad in (0, -1.0, float("inf"), True, "5"):
        with pytest.raises(SpecError, match="max_weight.*> 0"):
            check_weight_bounds(bad, None)
    with pytest.raises(SpecError, match=r"min_weight.*\[0, max_weight=10\]"):
        check_weight_bounds(10, 11)
    assert check_eta(None) is None and check_eta(2) == 2.0
    with pytest.raises(SpecError, match="eta.*> 0"):
        check_eta(-1e-3)


# ------------------------------------------------------------- issue 17: the options
def test_weight_options_are_checked_and_normalised():
    from bayesmix.gpz.weights import check_weight_options

    o = check_weight_options("classifier", "auto", 100, None, None, 0.3)
    assert o == {
        "ratio": "classifier",
        "regularise": "auto",
        "eta": None,
        "max_weight": 100.0,
        "min_weight": None,
        "ess_floor": 0.3,
    }
    # giving eta means gpz_pype's form: the softened mixture ratio
    o = check_weight_options("classifier", "auto", 100, None, 1e-3, 0.3)
    assert (o["ratio"], o["regularise"], o["eta"]) == ("mixture", "eta", 1e-3)
    assert check_weight_options("mixture", "eta", 100, None, None, 0.3)["eta"] == 1e-3
    for args, key in [
        (("logistic", "auto", 100, None, None, 0.3), "ratio"),
        (("mixture", "smooth", 100, None, None, 0.3), "regularise"),
        (("mixture", "none", 100, None, 1e-3, 0.3), "eta"),
        (("mixture", "auto", 100, None, None, 1.0), "ess_floor"),
        (("mixture", "auto", 100, None, None, True), "ess_floor"),
    ]:
        with pytest.raises(SpecError) as info:
            check_weight_options(*args)
        assert info.value.key == key


def test_weight_problems_flags_small_samples_and_no_held_out_gain():
    from bayesmix.gpz.weights import weight_problems

    ok = {"ess_fraction": 0.5, "held_out_divergence_unweighted": 0.4}
    assert weight_problems({**ok, "held_out_divergence_weighted": 0.1}) == []
    assert "effective sample 15%" in weight_problems({**ok, "ess_fraction": 0.15})[0]
    flag = weight_problems({**ok, "held_out_divergence_weighted": 0.45})
    assert len(flag) == 1 and "not below the unweighted" in flag[0]
    # no selection to correct (unweighted divergence at the binning noise): no flag
    quiet = {**ok, "held_out_divergence_weighted": 0.45, "held_out_divergence_noise": 0.5}
    assert weight_problems(quiet) == []
