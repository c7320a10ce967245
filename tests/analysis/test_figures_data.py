"""figures_data: binning behind the figures, against scipy, scikit-learn and brute force."""

import numpy as np
import pytest
from scipy import stats

from bayesmix.analysis.figures_data import (
    parallax_distance,
    probability_histogram,
    reliability_curve,
    robust_limits,
    zoom_window,
)
from bayesmix.exceptions import DataError


def test_reliability_curve_matches_sklearn_scipy_and_a_loop(rng):
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    p = rng.uniform(size=3000) ** 2
    truth = rng.uniform(size=3000) < np.clip(p + 0.1, 0, 1)
    c = reliability_curve(p, truth, bins=8, interval=0.9)
    prob_true, prob_pred = calibration_curve(truth, p, n_bins=8, strategy="uniform")
    ok = c.counts > 0
    np.testing.assert_allclose(c.observed_fraction[ok], prob_true, rtol=1e-12)
    np.testing.assert_allclose(c.mean_probability[ok], prob_pred, rtol=1e-12)
    assert c.brier_score == pytest.approx(brier_score_loss(truth, p), rel=1e-12)
    # Wilson interval of each bin against scipy's binomial test
    for b in np.flatnonzero(ok):
        k = int(round(c.observed_fraction[b] * c.counts[b]))
        ci = stats.binomtest(k, int(c.counts[b])).proportion_ci(0.9, method="wilson")
        assert c.lower[b] == pytest.approx(ci.low, abs=1e-12)
        assert c.upper[b] == pytest.approx(ci.high, abs=1e-12)
    # expected calibration error by a loop over objects
    edges = np.linspace(0, 1, 9)
    ece = 0.0
    for b in range(8):
        inb = (p >= edges[b]) & ((p < edges[b + 1]) | (b == 7))
        if inb.any():
            ece += inb.sum() * abs(truth[inb].mean() - p[inb].mean())
    assert c.calibration_error == pytest.approx(ece / p.size, rel=1e-12)


def test_reliability_of_calibrated_probabilities_follows_the_diagonal(rng):
    p = rng.uniform(size=200_000)
    truth = rng.uniform(size=p.size) < p  # calibrated by construction
    c = reliability_curve(p, truth, bins=10, interval=0.999)
    # each bin holds ~20000 objects: its fraction is within 0.01 of its mean probability
    np.testing.assert_allclose(c.observed_fraction, c.mean_probability, atol=0.012)
    assert ((c.lower <= c.mean_probability) & (c.mean_probability <= c.upper)).all()
    assert c.calibration_error < 0.005


def test_reliability_unscored_counted_and_bad_input():
    c = reliability_curve([0.1, np.nan, 0.9, 1.0], [0, 1, 1, 1], bins=[0, 0.5, 1])
    assert c.n_unscored == 1
    assert c.counts.tolist() == [1, 2]  # p = 1 falls in the last bin
    with pytest.raises(DataError, match="'truth' must be boolean.*row 1"):
        reliability_curve([0.1, 0.2], [0, 2])
    with pytest.raises(DataError, match="'probability' must lie in \\[0, 1\\].*row 0"):
        reliability_curve([1.5, 0.2], [0, 1])
    with pytest.raises(DataError, match="'truth' must have one value per object"):
        reliability_curve([0.1, 0.2], [0, 1, 1])
    with pytest.raises(DataError, match="'bins' edges"):
        reliability_curve([0.1], [1], bins=[0.2, 1.0])


def test_probability_histogram_matches_numpy(rng):
    p = rng.beta(0.3, 0.3, size=500)
    p[:7] = np.nan
    h = probability_histogram(p, bins=20, threshold=0.8)
    ref, _ = np.histogram(p[7:], bins=20, range=(0, 1))
    np.testing.assert_array_equal(h.counts, ref)
    assert h.n_unscored == 7
    assert h.n_above == int((p[7:] > 0.8).sum())
    assert h.expected_members == pytest.approx(np.nansum(p), rel=1e-12)


def test_robust_limits_and_zoom_window(rng):
    field = rng.normal(0, 20, (5000, 2))
    members = rng.normal([18.7, 2.6], 0.4, (300, 2))
    X = np.vstack([field, members, [[1e4, 1e4]]])  # one far outlier
    p = np.r_[np.zeros(5000), np.full(300, 0.95), 0.0]
    lo, hi = robust_limits(X[:, 0])
    assert lo < -40 and hi > 40 and hi < 200  # the outlier does not stretch the field
    w = zoom_window(X, p)
    assert w.xlim[1] - w.xlim[0] == pytest.approx(w.ylim[1] - w.ylim[0])  # square
    inside = (
        (X[:, 0] >= w.xlim[0])
        & (X[:, 0] <= w.xlim[1])
        & (X[:, 1] >= w.ylim[0])
        & (X[:, 1] <= w.ylim[1])
    )
    assert inside[5000:5300].mean() >= 0.98  # all but a few members
    assert w.xlim[1] - w.xlim[0] < 10  # and zoomed: the field spans ~160 mas/yr
    assert w.n_inside == int(inside.sum())
    assert w.n_members_inside == pytest.approx(0.95 * inside[5000:5300].sum())
    # the fitted spread sets a wider window around the given centre
    w2 = zoom_window(X, p, center=[18.0, 3.0], scale=2.0, n_sigma=5)
    assert w2.center == (18.0, 3.0)
    assert w2.xlim == pytest.approx((8.0, 28.0))
    # never wider than the field
    w3 = zoom_window(X, p, center=[0, 0], scale=1e3)
    assert w3.xlim[1] - w3.xlim[0] <= hi - lo + 1e-9
    with pytest.raises(DataError, match="give 'center'"):
        zoom_window(X, np.zeros(len(X)))


def test_parallax_distance(rng):
    draws = rng.normal(4.21, 0.02, (4, 500))
    s = parallax_distance(draws, interval=0.9, bins=30)
    flat = draws.ravel()
    lo, med, hi = np.percentile(flat, [5, 50, 95])
    assert s.parallax["median"] == pytest.approx(med)
    assert (s.parallax["lower"], s.parallax["upper"]) == pytest.approx((lo, hi))
    assert (s.distance["lower"], s.distance["median"], s.distance["upper"]) == pytest.approx(
        (1000 / hi, 1000 / med, 1000 / lo)
    )
    assert s.distance["mean"] == pytest.approx(np.mean(1000 / flat))
    assert np.sum(s.density * np.diff(s.edges)) == pytest.approx(1.0)
    with pytest.raises(DataError, match="draw 1 is -0.1"):
        parallax_distance([4.0, -0.1])


def test_cluster_astrometry_from_a_fit():
    from bayesmix.analysis.figures_data import cluster_astrometry
    from bayesmix.membership import membership
    from tests._cluster_fits import TRUTH, sim_fit

    fit, _, _ = sim_fit()
    p = membership(fit, quantiles=False)["probability"].sel(component="cluster").values
    ca = cluster_astrometry(fit, p)
    assert ca.names == ("pmra", "pmdec")
    np.testing.assert_allclose(ca.mean, [TRUTH["cluster_pmra"], TRUTH["cluster_pmdec"]], atol=0.1)
    sigma2 = (fit.posterior["cluster_pm_dispersion"].values ** 2).mean()
    np.testing.assert_allclose(ca.intrinsic_cov, np.eye(2) * sigma2, rtol=1e-12)
    X_cov = np.asarray(fit.model.data["X_cov"])
    np.testing.assert_allclose(ca.error_cov, np.median(X_cov[p > 0.5], axis=0), rtol=1e-12)
    np.testing.assert_allclose(ca.cov, ca.intrinsic_cov + ca.error_cov)
    assert np.sqrt(sigma2) == pytest.approx(TRUTH["cluster_pm_dispersion"], abs=0.1)


def test_reliability_from_pooled_bins_equals_the_whole(rng):
    from bayesmix.analysis.figures_data import reliability_from_bins

    p = rng.uniform(size=4000)
    truth = rng.uniform(size=4000) < p**1.2
    whole = reliability_curve(p, truth, bins=20)
    sums = np.zeros((3, 20))
    for part in np.array_split(np.arange(4000), 7):  # runs pooled by their bin sums
        c = reliability_curve(p[part], truth[part], bins=20)
        ok = c.counts > 0
        sums[0] += c.counts
        sums[1][ok] += (c.observed_fraction * c.counts)[ok]
        sums[2][ok] += (c.mean_probability * c.counts)[ok]
    pooled = reliability_from_bins(*sums, squared_error=float(np.sum((p - truth) ** 2)))
    np.testing.assert_array_equal(pooled.counts, whole.counts)
    np.testing.assert_allclose(pooled.observed_fraction, whole.observed_fraction, rtol=1e-12)
    np.testing.assert_allclose(pooled.mean_probability, whole.mean_probability, rtol=1e-12)
    np.testing.assert_allclose(pooled.lower, whole.lower, rtol=1e-12)
    assert pooled.calibration_error == pytest.approx(whole.calibration_error, rel=1e-12)
    assert pooled.brier_score == pytest.approx(whole.brier_score, rel=1e-12)
    assert np.isnan(reliability_from_bins(*sums).brier_score)
    with pytest.raises(DataError, match="bin 1: need 0 <= members <= counts"):
        reliability_from_bins([5, 2], [1, 3], [1.0, 1.0])
    with pytest.raises(DataError, match="'edges' must have 3 values"):
        reliability_from_bins([5, 2], [1, 1], [1.0, 1.0], edges=[0, 0.3, 0.6, 1])
