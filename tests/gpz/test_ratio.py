"""bayesmix.gpz.ratio: the classifier density ratio, cross-fitting, the held-out clip choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesmix.em.saved import SavedArrays
from bayesmix.exceptions import FormatError
from bayesmix.gpz.ratio import (
    CLIP_LEVELS,
    ClipChoice,
    LogisticRatio,
    Weighting,
    choose_clip,
    clip_at_level,
    cross_fitted,
    ess_fraction,
    fit_logistic_ratio,
    load_weighting,
)

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def _gaussians(n_pop=20_000, n_train=8_000, seed=0):
    r = np.random.default_rng(seed)
    mu_t, cov_t = np.array([0.7, -0.4]), np.array([[0.6, 0.2], [0.2, 0.8]])
    X_pop = r.normal(size=(n_pop, 2))
    X_train = r.multivariate_normal(mu_t, cov_t, size=n_train)
    truth = multivariate_normal(np.zeros(2), np.eye(2)).logpdf
    other = multivariate_normal(mu_t, cov_t).logpdf
    return X_pop, X_train, lambda X: truth(X) - other(X)


def test_logistic_fit_equals_scikit_learn():
    """Same loss: balanced sample weights, L2 penalty lambda on all but the intercept
    (scikit-learn's C = 1 / lambda), same quadratic design."""
    X_pop, X_train, _ = _gaussians(3000, 1500)
    m = fit_logistic_ratio(X_pop, X_train, penalty=1e-2)
    Z = (np.vstack([X_pop, X_train]) - m.center) / m.scale
    iu = np.triu_indices(2)
    A = np.column_stack([Z, (Z[:, :, None] * Z[:, None, :])[:, iu[0], iu[1]]])
    y = np.r_[np.ones(len(X_pop)), np.zeros(len(X_train))]
    sw = np.r_[np.full(len(X_pop), 0.5 / len(X_pop)), np.full(len(X_train), 0.5 / len(X_train))]
    ref = sklearn_linear.LogisticRegression(C=1 / 1e-2, tol=1e-12, max_iter=10_000)
    ref.fit(A, y, sample_weight=sw)
    np.testing.assert_allclose(m.coef[0], ref.intercept_[0], atol=1e-5)
    np.testing.assert_allclose(m.coef[1:], ref.coef_[0], atol=1e-5)


def test_logistic_ratio_recovers_a_gaussian_log_ratio():
    """Two Gaussians have a log-quadratic ratio: the fit recovers it (no penalty to speak of)."""
    X_pop, X_train, truth = _gaussians()
    m = fit_logistic_ratio(X_pop, X_train, penalty=1e-6)
    grid = np.random.default_rng(1).normal(size=(500, 2))
    err = m.log_ratio(grid) - truth(grid)
    assert np.sqrt(np.mean(err**2)) < 0.1 and np.std(truth(grid)) > 0.8
    # the cross-validated penalty is one of the grid's and still close
    cv = fit_logistic_ratio(X_pop, X_train)
    assert np.sqrt(np.mean((cv.log_ratio(grid) - truth(grid)) ** 2)) < 0.15


def test_identical_samples_give_ratio_one():
    X = np.random.default_rng(2).normal(size=(400, 3))
    m = fit_logistic_ratio(X, X)
    np.testing.assert_allclose(m.log_ratio(X), 0.0, atol=1e-10)


def test_cross_fitted_values_come_from_models_without_the_object():
    X = np.arange(20.0)[:, None]
    fitted_on = []

    def fit(rows):
        fitted_on.append(set(rows.tolist()))
        return lambda Z: np.array([float(z[0] in {X[r, 0] for r in rows}) for z in Z])

    out = cross_fitted(fit, X, n_folds=2, rng=0)
    np.testing.assert_array_equal(out, 0.0)  # no object was in its own model's fit
    assert len(fitted_on) == 2 and fitted_on[0] | fitted_on[1] == set(range(20))
    assert not fitted_on[0] & fitted_on[1]


def test_clip_and_ess_by_definition():
    r = np.log(np.array([1.0, 2.0, 4.0, 8.0, 100.0]))
    np.testing.assert_array_equal(clip_at_level(r, 100), r)
    np.testing.assert_allclose(clip_at_level(r, 50), np.minimum(r, np.log(4.0)))
    w = np.array([1.0, 1.0, 2.0])
    assert ess_fraction(w) == pytest.approx((4.0**2 / 6.0) / 3)
    assert ess_fraction(np.ones(7)) == pytest.approx(1.0)


def test_choose_clip_minimises_divergence_above_the_ess_floor():
    held = np.log(np.r_[np.ones(90), np.linspace(2, 200, 10)])

    def divergence(w):  # pretends heavier weights fit better
        return 1.0 if w is None else 1.0 / (1.0 + w.max())

    pick = choose_clip(held, divergence, ess_floor=0.5, bound=np.exp)
    ess = [ess_fraction(np.exp(clip_at_level(held, lv))) for lv in CLIP_LEVELS]
    allowed = [lv for lv, e in zip(CLIP_LEVELS, ess, strict=True) if e >= 0.5]
    assert pick.level == max(allowed)  # the heaviest allowed weights
    assert pick.ess == pytest.approx(tuple(ess))
    assert pick.divergence_unweighted == 1.0
    assert pick.divergence_weighted == pick.divergence[CLIP_LEVELS.index(pick.level)]
    none_ok = choose_clip(held, divergence, ess_floor=1.5, bound=np.exp)  # unreachable
    assert none_ok.level == CLIP_LEVELS[int(np.argmax(ess))]  # the largest ESS instead


def _weighting(logistic: bool) -> Weighting:
    lr = LogisticRatio(np.zeros(2), np.ones(2), np.arange(6.0), 1e-3) if logistic else None
    held = ClipChoice(95.0, CLIP_LEVELS, tuple(np.linspace(1, 0, 7)), (0.5,) * 7, 1.5, 0.01)
    return Weighting(
        ratio="classifier" if logistic else "mixture",
        regularise="auto",
        eta=None,
        max_weight=100.0,
        min_weight=None,
        ess_floor=0.3,
        log_clip=2.5,
        level=95.0,
        logistic=lr,
        held_out=held,
    )


@pytest.mark.parametrize("logistic", [True, False])
def test_weighting_saves_and_loads(logistic):
    wt = _weighting(logistic)
    back = load_weighting(SavedArrays(wt.to_arrays(), "m.npz", "weighting__"), 2)
    assert back.options() == wt.options() and back.held_out == wt.held_out
    assert (back.log_clip, back.level) == (wt.log_clip, wt.level)
    if logistic:
        np.testing.assert_array_equal(back.logistic.coef, wt.logistic.coef)


def test_weighting_load_refuses_tampering():
    arrays = _weighting(True).to_arrays()
    bad = dict(arrays, weighting__coef=np.arange(5.0))
    with pytest.raises(FormatError, match=r"m\.npz: field 'weighting__coef' must have shape"):
        load_weighting(SavedArrays(bad, "m.npz", "weighting__"), 2)
    doc = json.loads(str(arrays["weighting__meta"]))
    doc["ratio"] = "oracle"
    bad = dict(arrays, weighting__meta=np.array(json.dumps(doc)))
    with pytest.raises(FormatError, match="weighting__meta.ratio' must be one of"):
        load_weighting(SavedArrays(bad, "m.npz", "weighting__"), 2)
