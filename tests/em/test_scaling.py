"""Numerical extremes (issue 13.6): EM fits data far from unit scale, or refuses them clearly.

Features around 1e100 or 1e-100, or of order 1e10 next to 1e-10, are fitted in
internal power-of-two units and transformed back exactly (checked against
analytic one-component fits and scikit-learn on the rescaled data); data whose
covariances float64 cannot hold (1e300, 1e-300, a 1e200 outlier) are one
DataError naming the feature.  Ordinary data are not transformed at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayesmix.em import GaussianMixture, XDGaussianMixture
from bayesmix.em.scaling import LIMIT, ORDINARY, FeatureScaling, choose_scaling, extent
from bayesmix.em.trace import em_trace
from bayesmix.exceptions import ConvergenceWarning, DataError

sklearn_mixture = pytest.importorskip("sklearn.mixture")


def _two_blobs(seed: int = 0, n: int = 400, d: int = 2) -> np.ndarray:
    r = np.random.default_rng(seed)
    return np.concatenate([r.normal(-3, 1, (n // 2, d)), r.normal(3, 1, (n // 2, d))])


def _scaling_of(X, cov_type="full") -> FeatureScaling:
    return choose_scaling(X, *extent(X), spherical=cov_type == "spherical")


def _fit(X, **kw):
    kw = {"rng": 0, "tol": 1e-10, "max_iter": 2000, **kw}
    return GaussianMixture(2, **kw).fit(X)


# ---------------------------------------------------------------- ordinary data
@pytest.mark.parametrize("spread", [0.1, 0.3, 1.0, 250.0, 1e5])
@pytest.mark.parametrize("offset", [0.0, -40.0, 1e5])
def test_ordinary_data_are_not_transformed(spread, offset):
    X = offset + spread * _two_blobs() / 3.0
    sc = _scaling_of(X)
    assert sc.is_identity and sc.log_jacobian == 0.0
    assert sc.data(X) is X  # no arithmetic at all: fits are bit for bit the unscaled ones
    S = np.ones((2, 2, 2))
    assert sc.covariances(S) is S


def test_choice_of_scales_and_centres():
    r = np.random.default_rng(1)
    X = np.column_stack([r.normal(0, 1e10, 500), r.normal(0, 1e-10, 500), r.normal(7e9, 1, 500)])
    sc = _scaling_of(X)
    for j, target in enumerate([1e10, 1e-10, 1.0]):
        assert np.log2(sc.scale[j]) == np.round(np.log2(sc.scale[j]))  # a power of two
        assert 0.5 < sc.scale[j] / target < 2.5
    assert sc.center[0] == 0 and sc.center[1] == 0
    assert sc.center[2] == pytest.approx(7e9, rel=1e-9)  # a big offset is taken out
    sph = _scaling_of(X, "spherical")
    assert np.all(sph.scale == sph.scale[0]) and sph.scale[0] == sc.scale[0]


# ------------------------------------------------- extremes: fitted, transformed back
@pytest.mark.parametrize("factor", [1e100, 2.0**-300, 1e-100, 3e140, 1e-140])
def test_one_component_equals_the_sample_moments(factor):
    """K = 1 has an analytic maximum: the (biased) sample mean and covariance."""
    X = _two_blobs(2) * factor
    gm = GaussianMixture(1, rng=0).fit(X)
    mean = X.mean(axis=0)
    cov = np.cov(X.T, bias=True)
    s = _scaling_of(X).scale
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-12, atol=1e-12 * factor)
    # reg_covar = 1e-6 is added in the internal units: relative to s**2
    np.testing.assert_allclose(
        gm.covariances_[0], cov + 1e-6 * np.diag(s**2), rtol=1e-11, atol=1e-12 * factor**2
    )
    assert np.isfinite(gm.lower_bound_)
    # ln p in data units: the internal log-likelihood minus sum(ln s)
    assert gm.score(X) == pytest.approx(gm.lower_bound_, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    "factors",
    [(1e10, 1e-10), (1e100, 1.0), (2.0**-200, 2.0**200), (1e-60, 1e60)],
    ids=["1e10-1e-10", "1e100-1", "2^-200-2^200", "1e-60-1e60"],
)
@pytest.mark.parametrize("cov_type", ["full", "diag", "tied"])
def test_mixed_scales_equal_scikit_learn_on_rescaled_data(factors, cov_type):
    X = _two_blobs(3) * np.array(factors)
    sc = _scaling_of(X, cov_type)
    assert not sc.is_identity
    gm = _fit(X, covariance_type=cov_type)
    ref = sklearn_mixture.GaussianMixture(
        2, covariance_type=cov_type, tol=1e-10, max_iter=2000, random_state=0, reg_covar=1e-6
    ).fit(sc.data(X))
    order = np.argsort(gm.means_[:, 0])
    ref_order = np.argsort(ref.means_[:, 0])
    s = sc.scale
    np.testing.assert_allclose(gm.weights_[order], ref.weights_[ref_order], rtol=1e-6)
    # compared in the internal units (scikit-learn's), where both are O(1)
    np.testing.assert_allclose((gm.means_[order] - sc.center) / s, ref.means_[ref_order], atol=1e-6)
    full_ref = {
        "full": lambda c: c,
        "diag": lambda c: np.eye(2) * c[:, None, :],
        "tied": lambda c: np.broadcast_to(c, (2, 2, 2)),
    }[cov_type](ref.covariances_)[ref_order]
    got = gm.full_covariances()[order] / np.outer(s, s)
    np.testing.assert_allclose(got, full_ref, atol=1e-6)
    assert gm.lower_bound_ == pytest.approx(ref.lower_bound_ - np.log(s).sum(), rel=1e-9)
    assert np.all(np.isfinite(gm.predict_proba(X)))
    proba = gm.predict_proba(X)[:, order]
    # both converged (tol 1e-10) under different stopping rules: agreement ~1e-7
    np.testing.assert_allclose(proba, ref.predict_proba(sc.data(X))[:, ref_order], atol=1e-6)


@pytest.mark.parametrize("xd", [False, True])
def test_power_of_two_rescaling_is_exact(xd):
    """Outside the ordinary band a fit of 2**a X is exactly 2**(a-b) times the fit of 2**b X."""
    X = _two_blobs(4)
    E = np.abs(np.random.default_rng(4).normal(0.3, 0.05, X.shape))
    fits = []
    for a in (-300, -40, 40, 300):
        f = 2.0**a
        cls = XDGaussianMixture if xd else GaussianMixture
        m = cls(2, rng=5, tol=1e-8, max_iter=300)
        m.fit(X * f, X_err=E * f) if xd else m.fit(X * f)
        fits.append((f, m))
    f0, m0 = fits[0]
    for f, m in fits[1:]:
        np.testing.assert_array_equal(m.means_ / f, m0.means_ / f0)
        np.testing.assert_array_equal(m.full_covariances() / f**2, m0.full_covariances() / f0**2)
        np.testing.assert_array_equal(m.weights_, m0.weights_)
        assert m.n_iter_ == m0.n_iter_
        assert m.lower_bound_ == pytest.approx(m0.lower_bound_ - 2 * np.log(f / f0), rel=1e-12)


def test_xd_with_mixed_scales_deconvolves():
    r = np.random.default_rng(6)
    true = np.column_stack([r.normal(0, 2e10, 3000), r.normal(0, 2e-10, 3000)])
    E = np.column_stack([np.full(3000, 1.5e10), np.full(3000, 1.5e-10)])
    X = true + r.normal(size=true.shape) * E
    xd = XDGaussianMixture(1, rng=0).fit(X, X_err=E)
    np.testing.assert_allclose(np.sqrt(np.diag(xd.covariances_[0])), [2e10, 2e-10], rtol=0.05)
    gm = GaussianMixture(1, rng=0).fit(X)
    np.testing.assert_allclose(np.sqrt(np.diag(gm.covariances_[0])), [2.5e10, 2.5e-10], rtol=0.05)


def test_offset_data_keep_their_digits_and_frozen_values():
    X = 1e12 + _two_blobs(7)
    init = {"means": [[1e12 - 3, 1e12 - 3], [1e12 + 3, 1e12 + 3]]}
    gm = GaussianMixture(2, init=init, tol=1e-10).fit(X)
    ref = GaussianMixture(2, init={"means": [[-3, -3], [3, 3]]}, tol=1e-10).fit(X - 1e12)
    np.testing.assert_allclose(gm.means_ - 1e12, ref.means_, atol=1e-3)
    np.testing.assert_allclose(gm.full_covariances(), ref.full_covariances(), rtol=1e-6)
    init = {
        "means": [[1e12 - 3, 1e12 - 3], [1e12 + 3, 1e12 + 3]],
        "weights": [0.5, 0.5],
        "covariances": np.stack([np.eye(2) * 1.3] * 2),
    }
    frozen = GaussianMixture(2, init=init, frozen=[0], tol=1e-8).fit(X)
    np.testing.assert_array_equal(frozen.means_[0], [1e12 - 3, 1e12 - 3])
    np.testing.assert_array_equal(frozen.full_covariances()[0], np.eye(2) * 1.3)


def test_background_box_and_density_in_data_units():
    X = _two_blobs(8) * 1e-50
    gm = GaussianMixture(2, background=True, rng=0).fit(X)
    np.testing.assert_array_equal(gm.bounding_box_, [X.min(axis=0), X.max(axis=0)])
    span = X.max(axis=0) - X.min(axis=0)
    assert gm.background_log_density_ == pytest.approx(-np.log(span).sum(), rel=1e-12)
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_trace_states_are_in_data_units():
    X = _two_blobs(9) * 1e40
    states = em_trace(GaussianMixture(2, rng=0), X, 3)
    assert np.all(np.abs(states[0]["means"]) > 1e39)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        last = GaussianMixture(2, rng=0, max_iter=3, tol=0).fit(X)
    np.testing.assert_allclose(states[-1]["means"], last.means_, rtol=1e-9)


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("factor", "match"),
    [(1e300, "beyond ~3e\\+144"), (1e-300, "below ~3e-145"), (1e150, "beyond"), (1e-150, "below")],
)
@pytest.mark.parametrize("cls", [GaussianMixture, XDGaussianMixture])
def test_unrepresentable_data_are_refused(factor, match, cls):
    X = _two_blobs(10) * np.array([1.0, factor])
    with pytest.raises(DataError, match=f"^feature 1 of 'X' .*{match}") as info:
        cls(2, rng=0).fit(X)
    assert info.value.argument == "X"
    assert "\n" not in str(info.value)


def test_far_outlier_and_overflowing_range_are_refused():
    X = _two_blobs(11)
    X[17, 0] = 1e200
    with pytest.raises(DataError, match=r"feature 0 of 'X' has a value 1e\+200 .*remove"):
        GaussianMixture(2, rng=0).fit(X)
    X[17, 0] = -1.7e308
    X[18, 0] = 1.7e308
    with pytest.raises(DataError, match="feature 0 of 'X'"):
        GaussianMixture(2, rng=0).fit(X)


def test_missing_feature_everywhere_is_refused():
    X = _two_blobs(12)
    X[:, 1] = np.nan
    with pytest.raises(DataError, match="feature 1 of 'X' has no observed value"):
        GaussianMixture(2, nan_policy="marginalize", rng=0).fit(X)


@given(
    exponents=st.lists(st.integers(-1000, 1000), min_size=1, max_size=3),
    cov_type=st.sampled_from(["full", "diag", "spherical", "tied"]),
    seed=st.integers(0, 1000),
)
def test_never_nan_parameters(exponents, cov_type, seed):
    """Any per-feature scale 2**-1000 .. 2**1000 gives finite parameters or one DataError."""
    r = np.random.default_rng(seed)
    D = len(exponents)
    X = np.concatenate([r.normal(-2, 1, (60, D)), r.normal(2, 1, (60, D))])
    X = X * np.ldexp(1.0, np.array(exponents))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(2, covariance_type=cov_type, rng=seed, max_iter=50).fit(X)
    except DataError as exc:
        assert "\n" not in str(exc)
        assert max(abs(e) for e in exponents) > 470  # refused only where float64 cannot hold it
        return
    for a in (gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_):
        assert np.all(np.isfinite(a))
    assert np.isfinite(gm.lower_bound_)
    assert np.all(np.isfinite(gm.predict_proba(X)))


def test_limit_constants():
    assert LIMIT**2 < np.finfo(float).max / 1e8
    assert (1 / LIMIT) ** 2 * 1e-6 > np.finfo(float).tiny


@pytest.mark.parametrize(
    ("spread", "identity"),
    [
        (ORDINARY[0] * 1.01, True),
        (ORDINARY[0] * 0.99, False),
        (ORDINARY[1] * 0.99, True),
        (ORDINARY[1] * 1.01, False),
    ],
)
def test_band_edges(spread, identity):
    """The robust spread is IQR / 1.349; IQR(linspace(-1, 1)) = 1."""
    x = np.linspace(-1.0, 1.0, 1001) * 1.349 * spread
    assert _scaling_of(x[:, None]).is_identity is identity
