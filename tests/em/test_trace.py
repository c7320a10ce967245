"""em_trace: the replayed iterations are those of a normal fit."""

import warnings

import numpy as np
import pytest

from bayesmix.em import GaussianMixture, XDGaussianMixture
from bayesmix.em.trace import em_trace
from bayesmix.exceptions import ConvergenceWarning, DataError


@pytest.fixture
def X(rng):
    return np.concatenate([rng.normal(-2, 1, (150, 2)), rng.normal(2, 1.5, (150, 2))])


def _fit_fixed(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)


# Replaying with init=dict(...) renormalises the weights at every step, so the states agree
# with a continuous fit to rounding (observed: exactly, or within a few ulp).
RTOL, ATOL = 1e-12, 1e-12


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_final_state_equals_fit_with_same_start(X, covariance_type):
    n = 7
    # the trace follows the first seeded start: compare with a one-start fit
    trace = em_trace(GaussianMixture(2, covariance_type=covariance_type, rng=5, n_init=1), X, n)
    gm = _fit_fixed(
        GaussianMixture(2, covariance_type=covariance_type, rng=5, max_iter=n, tol=0, n_init=1),
        X,
    )
    assert len(trace) == n + 1
    assert [s["iteration"] for s in trace] == list(range(n + 1))
    last = trace[-1]
    np.testing.assert_allclose(last["weights"], gm.weights_, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(last["means"], gm.means_, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(last["covariances"], gm.full_covariances(), rtol=RTOL, atol=ATOL)
    ll = [s["log_likelihood"] for s in trace[:-1]]
    np.testing.assert_allclose(ll, gm.log_likelihood_history_, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("n_objects", [300, 20_000])
def test_several_starts_trace_the_kept_one(rng, n_objects):
    """n_init > 1 (the default): the trace starts where the kept run starts and, after
    fit.n_iter_ iterations, is the fitted model (also when the starts are screened on a
    subsample, n_objects > SCREEN_ROWS)."""
    X = np.concatenate(
        [rng.normal(-2, 1, (n_objects // 2, 2)), rng.normal(2, 1.5, (n_objects // 2, 2))]
    )
    gm = GaussianMixture(2, rng=7).fit(X)
    trace = em_trace(GaussianMixture(2, rng=7), X, gm.n_iter_)
    last = trace[-1]
    np.testing.assert_allclose(last["means"], gm.means_, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(last["covariances"], gm.full_covariances(), rtol=RTOL, atol=ATOL)
    ll = [s["log_likelihood"] for s in trace[:-1]]
    np.testing.assert_allclose(ll, gm.log_likelihood_history_, rtol=RTOL, atol=ATOL)


def test_dict_init_is_state_zero_and_loglike_never_decreases(X):
    init = {
        "weights": [0.5, 0.5],
        "means": [[-1.0, 0.0], [1.0, 0.0]],
        "covariances": [np.eye(2), np.eye(2)],
    }
    trace = em_trace(GaussianMixture(2, init=init), X, 15)
    np.testing.assert_array_equal(trace[0]["means"], init["means"])
    np.testing.assert_array_equal(trace[0]["covariances"], init["covariances"])
    ll = np.array([s["log_likelihood"] for s in trace])
    assert np.all(np.diff(ll) >= -1e-12)
    gm = _fit_fixed(GaussianMixture(2, init=init, max_iter=15, tol=0), X)
    np.testing.assert_allclose(trace[-1]["means"], gm.means_, rtol=RTOL, atol=ATOL)


def test_background_and_sample_weight(X, rng):
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    trace = em_trace(GaussianMixture(2, background=True, rng=1, n_init=1), X, 4, sample_weight=sw)
    gm = _fit_fixed(
        GaussianMixture(2, background=True, rng=1, max_iter=4, tol=0, n_init=1),
        X,
        sample_weight=sw,
    )
    np.testing.assert_allclose(trace[-1]["means"], gm.means_, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        trace[-1]["background_weight"], gm.background_weight_, rtol=RTOL, atol=ATOL
    )


def test_xd(X):
    err = np.full_like(X, 0.3)
    trace = em_trace(XDGaussianMixture(2, rng=2), X, 4, X_err=err)
    xd = _fit_fixed(XDGaussianMixture(2, rng=2, max_iter=4, tol=0), X, X_err=err)
    np.testing.assert_allclose(
        trace[-1]["covariances"], xd.full_covariances(), rtol=RTOL, atol=ATOL
    )


def test_fitted_estimator_and_generator_untouched(X):
    gm = GaussianMixture(2, rng=np.random.default_rng(3)).fit(X)
    means = gm.means_.copy()
    state = gm.rng.bit_generator.state
    em_trace(gm, X, 2)
    np.testing.assert_array_equal(gm.means_, means)
    assert gm.rng.bit_generator.state == state


def test_zero_iterations_and_errors(X):
    trace = em_trace(GaussianMixture(2, rng=0), X, 0)
    assert len(trace) == 1 and np.isfinite(trace[0]["log_likelihood"])
    with pytest.raises(DataError, match="estimator"):
        em_trace(object(), X, 3)
    with pytest.raises(DataError, match="X_err"):
        em_trace(GaussianMixture(2), X, 3, X_err=np.ones_like(X))
    with pytest.raises(ValueError, match="n_iter"):
        em_trace(GaussianMixture(2), X, -1)
