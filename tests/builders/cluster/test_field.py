"""builders.cluster.field: control stars by separation, the XD field fit, the data range."""

import numpy as np
import pytest

from bayesmix.builders.cluster.field import control_field, field_range, fit_field_xd
from bayesmix.em import XDGaussianMixture
from bayesmix.exceptions import DataError


def _haversine_deg(ra, dec, ra0, dec0):
    ra, dec, ra0, dec0 = (np.radians(np.asarray(v, float)) for v in (ra, dec, ra0, dec0))
    h = np.sin((dec - dec0) / 2) ** 2 + np.cos(dec) * np.cos(dec0) * np.sin((ra - ra0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h)))


def test_control_field_is_the_outer_half_by_default(rng):
    ra = rng.uniform(9.0, 11.0, 501)
    dec = rng.uniform(-31.0, -29.0, 501)
    sep = _haversine_deg(ra, dec, 10.0, -30.0)
    control, rmin = control_field(ra, dec, (10.0, -30.0))
    np.testing.assert_allclose(rmin, np.median(sep), rtol=1e-12)
    np.testing.assert_array_equal(control, sep > np.median(sep))
    assert control.sum() == 250
    control, rmin = control_field(ra, dec, (10.0, -30.0), min_separation=0.5)
    assert rmin == 0.5
    np.testing.assert_array_equal(control, sep > 0.5)


def test_fit_field_xd_is_the_seeded_xd_fit_of_the_control_stars(rng):
    X = np.r_[rng.normal([0, 0], 1.0, (300, 2)), rng.normal([4, 1], 0.5, (100, 2))]
    C = np.broadcast_to(np.diag([0.04, 0.09]), (400, 2, 2)).copy()
    control = rng.random(400) < 0.7
    ff = fit_field_xd(X, C, 2, control, 5)
    ref = XDGaussianMixture(2, rng=5, n_init=2).fit(X[control], X_cov=C[control])
    order = np.argsort(-ref.weights_)
    np.testing.assert_allclose(ff["weights"], ref.weights_[order], rtol=1e-12)
    np.testing.assert_allclose(ff["means"], ref.means_[order], rtol=1e-12)
    np.testing.assert_allclose(ff["covs"], ref.full_covariances()[order], rtol=1e-12)
    assert ff["weights"][0] >= ff["weights"][1]
    assert ff["n_stars"] == int(control.sum())
    assert isinstance(ff["converged"], bool) and ff["n_iter"] >= 1


def test_fit_field_xd_needs_five_control_stars_per_component(rng):
    X = rng.normal(size=(40, 2))
    C = np.broadcast_to(0.01 * np.eye(2), (40, 2, 2)).copy()
    control = np.zeros(40, dtype=bool)
    control[:14] = True
    with pytest.raises(DataError, match="only 14 control-field stars for a 3-component") as e:
        fit_field_xd(X, C, 3, control, 0)
    assert e.value.argument == "field_components"


def test_field_range_pads_the_data_range_by_one_percent():
    X = np.array([[0.0, 5.0], [10.0, 5.0], [4.0, 5.0]])
    lo, hi = field_range(X)
    assert lo == [-0.1, 4.99] and hi == [10.1, 5.01]  # a constant feature gets span 1
