"""Confidence ellipses: checked by brute force (Mahalanobis contour, Monte Carlo mass)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from bayesmix._geometry import covariance_ellipse, ellipse_radius, marginal_2d
from bayesmix.exceptions import DataError

COVS = [
    np.array([[1.0, 0.0], [0.0, 1.0]]),
    np.array([[4.0, 1.2], [1.2, 0.5]]),
    np.array([[0.02966, -0.00603], [-0.00603, 0.00238]]),  # a thin-disc-like component
    np.array([[1e-6, 0.0], [0.0, 1e4]]),  # badly scaled
]


def _points_in_polygon(points, poly, chunk=5000):
    """Even-odd ray casting, written out independently of matplotlib."""
    if len(points) > chunk:
        return np.concatenate(
            [
                _points_in_polygon(points[i : i + chunk], poly, chunk)
                for i in range(0, len(points), chunk)
            ]
        )
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x0, y0 = poly[:-1, 0][None, :], poly[:-1, 1][None, :]
    x1, y1 = poly[1:, 0][None, :], poly[1:, 1][None, :]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < x_cross)).sum(axis=1) % 2 == 1


@pytest.mark.parametrize("cov", COVS)
@pytest.mark.parametrize("level", [0.39346934, 0.68, 0.95, 0.997])
def test_points_on_mahalanobis_contour(cov, level):
    mean = np.array([1.5, -2.0])
    pts = covariance_ellipse(mean, cov, level, n_points=64)
    assert pts.shape == (65, 2)
    np.testing.assert_array_equal(pts[0], pts[-1])  # closed polygon
    d = pts - mean
    m2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(m2, stats.chi2.ppf(level, 2), rtol=1e-9)


def test_one_sigma_radius_is_one():
    # chi2(2) cdf at r^2 = 1 is 1 - exp(-1/2) = 0.3935: the "1 sigma" 2-D ellipse
    np.testing.assert_allclose(ellipse_radius(1 - np.exp(-0.5)), 1.0, rtol=1e-12)
    np.testing.assert_allclose(ellipse_radius(0.95), np.sqrt(-2 * np.log(0.05)), rtol=1e-12)


@pytest.mark.parametrize("cov", COVS[1:3])
@pytest.mark.parametrize("level", [0.68, 0.95])
def test_enclosed_probability_by_monte_carlo(cov, level, rng):
    mean = np.array([-0.3, 0.2])
    pts = covariance_ellipse(mean, cov, level, n_points=360)
    n = 100_000
    draws = rng.multivariate_normal(mean, cov, size=n)
    inside = _points_in_polygon(draws, pts).mean()
    # binomial sd <= 0.0016 at n = 1e5; 5 sd tolerance (false failure ~6e-7), plus the
    # inscribed polygon's probability deficit (~5e-5 at 360 points)
    assert abs(inside - level) < 5 * np.sqrt(level * (1 - level) / n) + 1e-4


def test_marginal_2d_picks_features():
    mean = np.array([1.0, 2.0, 3.0])
    cov = np.array([[1.0, 0.1, 0.2], [0.1, 2.0, 0.3], [0.2, 0.3, 3.0]])
    m, c = marginal_2d(mean, cov, (2, 0))
    np.testing.assert_array_equal(m, [3.0, 1.0])
    np.testing.assert_array_equal(c, [[3.0, 0.2], [0.2, 1.0]])
    with pytest.raises(DataError, match="dims"):
        marginal_2d(mean, cov, (0, 3))
    with pytest.raises(DataError, match="dims"):
        marginal_2d(mean, cov, (1, 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 1.0}, "level"),
        ({"level": 0.0}, "level"),
        ({"level": "high"}, "level"),
        ({"n_points": 3}, "n_points"),
        ({"cov": np.array([[1.0, 2.0], [2.0, 1.0]])}, "positive definite"),
        ({"cov": np.array([[1.0, 0.5], [0.0, 1.0]])}, "symmetric"),
        ({"cov": np.eye(3)}, "shape"),
        ({"cov": np.array([[np.nan, 0.0], [0.0, 1.0]])}, "finite"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"mean": np.zeros(2), "cov": np.eye(2), "level": 0.68, "n_points": 50, **kwargs}
    with pytest.raises(DataError, match=match):
        covariance_ellipse(**args)


@given(
    log_sd=st.tuples(st.floats(-4, 4), st.floats(-4, 4)),
    corr=st.floats(-0.99, 0.99),
    mean=st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)),
    level=st.floats(0.01, 0.999),
)
def test_contour_property(log_sd, corr, mean, level):
    sd = np.exp(np.array(log_sd))
    cov = np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])
    pts = covariance_ellipse(mean, cov, level, n_points=16)
    d = pts - np.asarray(mean)
    m2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    # relative 1e-6: inverting a covariance with condition number up to ~1e9 loses digits
    np.testing.assert_allclose(m2, stats.chi2.ppf(level, 2), rtol=1e-6)
