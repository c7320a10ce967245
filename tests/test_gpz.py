"""Tests of bayesmix.gpz: GPz cost-sensitive weights, mixture divides, KL scores."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from decimal import Decimal, getcontext

import numpy as np
import pytest
from astropy.table import Table
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp
from scipy.stats import entropy, multivariate_normal

from bayesmix.datasets import load_candels_cosmos
from bayesmix.em import GaussianMixture, XDGaussianMixture
from bayesmix.exceptions import DataError, FormatError, NotFittedError, SpecError
from bayesmix.gpz import (
    DivideWarning,
    GPzAugment,
    feature_matrix,
    gpz_divide_table,
    gpz_weights_table,
    kl_score,
    kl_score_mixture,
    parse_feature,
    read_divide_csv,
    weight_diagnostics,
    write_divide_csv,
)

FEATURES = ["lupt_F606W-lupt_F814W", "lupt_F814W-lupt_F125W", "lupt_F160W"]


# ---------------------------------------------------------------------------- helpers
def weighted_ks(x, w, y):
    """Largest difference between the weighted CDF of x and the empirical CDF of y."""
    grid = np.sort(y)
    order = np.argsort(x)
    cw = np.concatenate([[0.0], np.cumsum(w[order]) / w.sum()])
    fx = cw[np.searchsorted(x[order], grid, side="right")]
    fy = np.arange(1, len(y) + 1) / len(y)
    return float(np.max(np.abs(fx - fy)))


def reference_log_density(gm, center, scale, X):
    """ln p(X) in original units from the fitted parameters, with scipy (independent path)."""
    S = np.diag(scale)
    comps = [
        math.log(w) + multivariate_normal(center + scale * mu, S @ cov @ S).logpdf(X)
        for w, mu, cov in zip(gm.weights_, gm.means_, gm.full_covariances(), strict=True)
    ]
    return logsumexp(np.column_stack(comps), axis=1)


def candels_selection(seed):
    """Population = all 4,830 objects; training = drawn with P(m) = 1/(1+exp((m-23)/0.5))."""
    X, _ = feature_matrix(load_candels_cosmos(), FEATURES)
    rng = np.random.default_rng(seed)
    p_sel = 1.0 / (1.0 + np.exp((X[:, 2] - 23.0) / 0.5))
    sel = rng.uniform(size=len(X)) < p_sel
    return X, sel


@pytest.fixture(scope="module")
def candels():
    X, sel = candels_selection(20261122)
    aug = GPzAugment(X, X[sel], n_components=8, rng=1)
    return X, sel, aug


def simulated(n_features, seed, n_pop=3000):
    """A population of 3 overlapping blobs and a training sample selected on feature 0."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.0, size=(3, n_features))
    X = centers[rng.integers(0, 3, n_pop)] + rng.normal(size=(n_pop, n_features))
    p_sel = 1.0 / (1.0 + np.exp(X[:, 0] - np.median(X[:, 0])))
    sel = rng.uniform(size=n_pop) < p_sel
    return X, X[sel]


# ------------------------------------------------------------------- CANDELS COSMOS
def test_candels_weighting_recovers_population(candels):
    # Criterion: on the real CANDELS COSMOS sample with a magnitude-dependent
    # selection (logistic, 50% at F160W = 23), the weighted training sample's
    # histogram KL score is below half the unweighted one, and for every feature
    # the weighted training CDF lies within 0.08 of the population's (weighted
    # Kolmogorov-Smirnov distance) while the unweighted F160W one is off by > 0.15.
    # With max_weight=20, ten selection seeds gave KL ratios 0.14-0.26 and KS
    # distances <= 0.059, so a false failure needs a far larger fluctuation.
    X, sel, aug = candels
    Xt = X[sel]
    w = aug.calc_weights(Xt, max_weight=20)
    raw, weighted = kl_score(X, Xt, w)
    assert np.isfinite(raw) and np.isfinite(weighted)
    assert weighted < 0.5 * raw
    ks_raw = [weighted_ks(Xt[:, j], np.ones(len(Xt)), X[:, j]) for j in range(3)]
    ks_w = [weighted_ks(Xt[:, j], w, X[:, j]) for j in range(3)]
    assert ks_raw[2] > 0.15
    assert max(ks_w) < 0.08, (ks_raw, ks_w)
    diag = weight_diagnostics(w, max_weight=20)
    assert 0 < diag["ess_fraction"] < 1
    assert diag["max"] <= 20


def test_candels_multivariate_kl(candels):
    X, sel, aug = candels
    raw, model_w, se_raw, se_w = kl_score_mixture(
        aug, X, X[sel], n_samples=20_000, rng=3, max_weight=1e6, return_stderr=True
    )
    assert raw > 10 * se_raw > 0  # the biased sample misses part of the population
    # unclipped model weights turn the training mixture into the population mixture
    assert abs(model_w) < 5 * se_w + 1e-3
    w = aug.calc_weights(X[sel], max_weight=20)
    _, refit_w = kl_score_mixture(aug, X, X[sel], w, n_samples=20_000, rng=3)
    assert refit_w < raw


# ---------------------------------------------------------- weights vs scipy reference
@pytest.mark.parametrize("n_features", [3, 10, 40])
def test_weights_equal_scipy_density_ratio(n_features, candels):
    if n_features == 3:
        X_pop, sel, aug = candels
        X_train = X_pop[sel]
        max_weight = 100.0
    else:
        X_pop, X_train = simulated(n_features, seed=n_features)
        aug = GPzAugment(X_pop, X_train, n_components=3, rng=0)
        max_weight = 1e8
    w = aug.calc_weights(X_train, max_weight=max_weight)
    X_all = np.vstack([X_train, X_pop[:500]])
    w_all = aug.calc_weights(X_all, max_weight=max_weight)
    lp = reference_log_density(aug.gmm_pop, aug.center_, aug.scale_, X_all)
    lt = reference_log_density(aug.gmm_train, aug.center_, aug.scale_, X_all)
    ref = np.minimum(np.exp(lp - lt), max_weight)
    unclipped = ref < max_weight
    assert unclipped.mean() > 0.9
    np.testing.assert_allclose(w_all, ref, rtol=1e-8, atol=0)
    np.testing.assert_array_equal(w, w_all[: len(X_train)])
    # gpz_pype's softened form (eta = 1e-3 on densities of the scaled features): at 10
    # features the densities are comparable with eta and the weights are compressed; at
    # 40 they are far below eta and every weight is 1 (the defects the exact ratio fixes)
    w_eta = aug.calc_weights(X_train, eta=1e-3, max_weight=max_weight)
    if n_features == 10:
        assert np.std(np.log(w_eta)) < 0.5 * np.std(np.log(w))
    if n_features == 40:
        np.testing.assert_allclose(w_eta, 1.0, atol=1e-4)
        assert np.std(np.log(w)) > 0.5


def test_far_objects_get_finite_clipped_weights(candels):
    X, _, aug = candels
    far = np.vstack(
        [
            aug.center_ + 1000 * aug.scale_,
            aug.center_ - 1000 * aug.scale_,
            aug.center_ + np.array([1e4, -1e4, 1e4]) * aug.scale_,
        ]
    )
    for min_weight in (None, 0.01):
        w = aug.calc_weights(far, max_weight=100, min_weight=min_weight)
        assert np.all(np.isfinite(w))
        assert np.all(w <= 100) and np.all(w >= (min_weight or 0.0))
        assert np.all(np.isin(w, [100.0, min_weight or 0.0]) | ((w > 0) & (w < 100)))
    w_eta = aug.calc_weights(far, eta=1e-3)
    np.testing.assert_allclose(w_eta, 1.0, rtol=1e-12)  # both densities << eta
    with pytest.warns(DivideWarning):
        div = aug.divide(far, return_density=True)
    p = np.column_stack([div[f"p{k}"] for k in range(aug.n_components)])
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(
    X=arrays(np.float64, (7, 3), elements=st.floats(-1e6, 1e6, allow_nan=False)),
    min_weight=st.sampled_from([None, 0.0, 1e-3]),
)
def test_weights_finite_in_range_and_permutation_equivariant(candels, X, min_weight):
    _, _, aug = candels
    w = aug.calc_weights(X, max_weight=50, min_weight=min_weight)
    assert np.all(np.isfinite(w)) and np.all(w <= 50) and np.all(w >= (min_weight or 0.0))
    perm = np.arange(7)[::-1]
    np.testing.assert_array_equal(
        aug.calc_weights(X[perm], max_weight=50, min_weight=min_weight), w[perm]
    )
    log_resp = aug.gmm_pop.predict_log_proba(aug.transform(X))
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)


def test_gpz_does_not_import_pymc():
    code = "import sys, bayesmix.gpz; print('pymc' in sys.modules, 'pytensor' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_softened_eta_matches_high_precision(candels):
    X, sel, aug = candels
    getcontext().prec = 60
    Xs = aug.transform(np.vstack([X[sel][:200], aug.center_ + 300 * aug.scale_]))
    lp = aug.gmm_pop.score_samples(Xs)
    lt = aug.gmm_train.score_samples(Xs)
    assert lp.min() < -700  # exp() underflows in double precision for the far object
    for eta in (1e-3, 1e-30, 2.5):
        w = aug.calc_weights(aug.center_ + aug.scale_ * Xs, eta=eta, max_weight=1e6)
        e = Decimal(eta)
        ref = np.array(
            [
                float((Decimal(a).exp() + e) / (Decimal(b).exp() + e))
                for a, b in zip(lp, lt, strict=True)
            ]
        )
        # the scaled features round-trip through transform: ~1e-15 relative in lp
        np.testing.assert_allclose(w, np.minimum(ref, 1e6), rtol=1e-10)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors(candels):
    X, sel, aug = candels
    with pytest.raises(DataError, match="X_train.*3 feature"):
        GPzAugment(X, X[sel][:, :2], n_components=2)
    with pytest.raises(DataError, match="X_train.*3 feature"):
        aug.calc_weights(X[:, :2])
    with pytest.raises(DataError, match="'X'.*3 feature"):
        aug.divide(X[:, :2])
    Xnan = X.copy()
    Xnan[5, 1] = np.nan
    with pytest.raises(DataError, match="X_pop.*non-finite.*row 5"):
        GPzAugment(Xnan, n_components=2)
    with pytest.raises(DataError, match="X_train.*non-finite.*row 5"):
        aug.calc_weights(Xnan)
    for bad in (0.0, 1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(SpecError, match="threshold.*between 0 and 1"):
            GPzAugment(threshold=bad)
        with pytest.raises(SpecError, match="threshold.*between 0 and 1"):
            aug.divide(X[:10], threshold=bad)
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(SpecError, match="max_weight.*> 0"):
            aug.calc_weights(X[:10], max_weight=bad)
        with pytest.raises(SpecError, match="max_weight.*> 0"):
            aug.divide(X[:10], weight=True, max_weight=bad)
    with pytest.raises(SpecError, match="min_weight"):
        aug.calc_weights(X[:10], min_weight=200)
    with pytest.raises(SpecError, match="eta.*> 0"):
        aug.calc_weights(X[:10], eta=0.0)
    with pytest.raises(SpecError, match="assign.*'best', 'threshold'"):
        aug.divide(X[:10], assign="all")
    with pytest.raises(NotFittedError, match="population"):
        GPzAugment().divide(X)
    with pytest.raises(NotFittedError, match="X_pop"):
        GPzAugment().calc_weights(X)


# ------------------------------------------------------------------------------ divide
def test_divide_semantics(candels):
    X, sel, aug = candels
    Xt = X[sel]
    with pytest.warns(DivideWarning, match="in no mixture sample.*unassigned fraction"):
        div = aug.divide(Xt, return_density=True, weight=True)
    K = aug.n_components
    assert div.colnames == (
        ["index", "best"]
        + [f"m{k}" for k in range(K)]
        + [f"p{k}" for k in range(K)]
        + ["weights", "unassigned"]
    )
    p = np.column_stack([div[f"p{k}"] for k in range(K)])
    m = np.column_stack([div[f"m{k}"] for k in range(K)])
    np.testing.assert_array_equal(p, aug.gmm_pop.predict_proba(aug.transform(Xt)))
    np.testing.assert_array_equal(m, p > 0.5)
    np.testing.assert_array_equal(div["best"], np.argmax(p, axis=1))
    np.testing.assert_array_equal(div["index"], np.arange(len(Xt)))
    np.testing.assert_array_equal(div["unassigned"], ~m.any(axis=1))
    np.testing.assert_array_equal(div["weights"], aug.calc_weights(Xt))
    n_un = int(div["unassigned"].sum())
    assert n_un > 0
    assert div.meta["n_unassigned"] == n_un
    assert div.meta["unassigned_fraction"] == pytest.approx(n_un / len(Xt))
    assert div.meta["member_counts"] == [int(c) for c in m.sum(axis=0)]
    # assign="best": nobody is left out, and the threshold members are kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        best = aug.divide(Xt, assign="best")
    mb = np.column_stack([best[f"m{k}"] for k in range(K)])
    assert not best["unassigned"].any() and best.meta["unassigned_fraction"] == 0.0
    assert np.all(mb[m]) and np.all(mb[np.arange(len(Xt)), np.argmax(p, axis=1)])
    # a lower threshold lets objects join several samples (gpz_pype's guide used 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        low = aug.divide(Xt, threshold=0.2)
    assert np.column_stack([low[f"m{k}"] for k in range(K)]).sum(axis=1).max() >= 2


def test_divide_warns_on_empty_and_small_samples(candels):
    X, _, aug = candels
    k0 = 0
    members = aug.gmm_pop.predict(aug.transform(X)) == k0
    few = X[members][:5]
    with pytest.warns(DivideWarning, match=r"empty.*fewer than 10 members.*unassigned fraction"):
        div = aug.divide(few, assign="best")
    assert div.meta["member_counts"][k0] == 5


# ------------------------------------------------------------------------ CSV in / out
def test_divide_csv_compatible_with_gpz_pype(candels, tmp_path):
    X, sel, aug = candels
    with pytest.warns(DivideWarning):
        div = aug.divide(X[sel][:300], weight=True)
    path = tmp_path / "mixtures.csv"
    write_divide_csv(div, path)
    text = path.read_text().splitlines()
    K = aug.n_components
    assert text[0] == ",".join(
        ["index", "best", *[f"m{k}" for k in range(K)], "weights", "unassigned"]
    )
    assert set(text[1].split(",")[2 : 2 + K]) <= {"True", "False"}
    # gpz_pype writes its divide Table (index, best, m0..: int, int, bool) with astropy's
    # ascii.csv writer and reads it back with Table.read(..., format="ascii.csv")
    ref = Table()
    ref["index"] = np.arange(4)
    ref["best"] = np.array([0, 1, 2, 3])
    for k in range(K):
        ref[f"m{k}"] = np.arange(4) == (k % 4)
    ref.write(tmp_path / "gpz_pype_like.csv", format="ascii.csv")
    ref_back = Table.read(tmp_path / "gpz_pype_like.csv", format="ascii.csv")
    ours_back = Table.read(path, format="ascii.csv")
    for name in ref_back.colnames:
        assert ours_back[name].dtype == ref_back[name].dtype, name
    # read_divide_csv restores the booleans: same names and dtypes as in memory
    back = read_divide_csv(path)
    assert back.colnames == div.colnames
    for name in div.colnames:
        assert back[name].dtype == div[name].dtype, name
        np.testing.assert_array_equal(back[name], div[name])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_divide_csv(div, path)
    write_divide_csv(div[:10], path, overwrite=True)
    assert len(read_divide_csv(path)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpz_pype_like.csv", "mixtures.csv"]


# -------------------------------------------------------------------------- save / load
def test_save_load_round_trip(candels, tmp_path):
    X, sel, aug = candels
    aug.Y_train = np.linspace(0, 6, sel.sum())
    path = tmp_path / "gpz.npz"
    aug.save(path)
    back = GPzAugment.load(path)
    np.testing.assert_array_equal(back.calc_weights(X), aug.calc_weights(X))
    np.testing.assert_array_equal(back.calc_weights(X, eta=1e-3), aug.calc_weights(X, eta=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        a = aug.divide(X, weight=True, return_density=True)
        b = back.divide(X, weight=True, return_density=True)
    assert a.colnames == b.colnames
    for name in a.colnames:
        np.testing.assert_array_equal(a[name], b[name])
    assert a.meta == b.meta
    np.testing.assert_array_equal(back.Y_train, aug.Y_train)
    assert (back.n_components, back.threshold, back.seed_) == (8, 0.5, aug.seed_)
    with pytest.raises(FileExistsError):
        aug.save(path)
    aug.save(path, overwrite=True)
    # the file holds no pickled objects
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    aug.gmm_pop.save(tmp_path / "em.npz")
    with pytest.raises(FormatError, match="expected 'GPzAugment'"):
        GPzAugment.load(tmp_path / "em.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError):
        GPzAugment.load(tmp_path / "junk.npz")


def test_extreme_deconvolution_path(tmp_path):
    t = load_candels_cosmos()[::6]
    X, E = feature_matrix(t, FEATURES, error_prefix=("lupt_", "lupterr_"))
    train = X[:, 2] < np.median(X[:, 2])
    aug = GPzAugment(X, X[train], n_components=2, X_err_pop=E, X_err_train=E[train], tol=1e-3)
    assert isinstance(aug.gmm_pop, XDGaussianMixture)
    assert isinstance(aug.gmm_train, XDGaussianMixture)
    w = aug.calc_weights(X[train])
    assert np.all(np.isfinite(w)) and np.all(w <= 100)
    # the weights compare the deconvolved densities
    lp = aug.gmm_pop.score_samples(aug.transform(X[train]))
    lt = aug.gmm_train.score_samples(aug.transform(X[train]))
    np.testing.assert_allclose(w, np.minimum(np.exp(lp - lt), 100), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        d_err = aug.divide(X, X_err=E, return_density=True)
    p = np.column_stack([d_err["p0"], d_err["p1"]])
    np.testing.assert_allclose(
        p, aug.gmm_pop.predict_proba(aug.transform(X), X_err=E / aug.scale_), rtol=1e-12
    )
    aug.save(tmp_path / "xd.npz")
    back = GPzAugment.load(tmp_path / "xd.npz")
    assert back.uses_errors_
    np.testing.assert_array_equal(back.calc_weights(X), aug.calc_weights(X))


def test_training_only_warns_and_gives_unit_weights():
    X, Xt = simulated(3, seed=5, n_pop=800)
    with pytest.warns(UserWarning, match="serves as the population"):
        aug = GPzAugment(X_train=Xt, n_components=2)
    np.testing.assert_array_equal(aug.calc_weights(Xt), np.ones(len(Xt)))


def test_same_seed_same_numbers():
    X, Xt = simulated(3, seed=6, n_pop=800)
    a = GPzAugment(X, Xt, n_components=3, rng=11, n_init=2)
    b = GPzAugment(X, Xt, n_components=3, rng=11, n_init=2)
    np.testing.assert_array_equal(a.calc_weights(Xt), b.calc_weights(Xt))
    assert isinstance(a.gmm_pop, GaussianMixture) and a.gmm_pop.n_init == 2


# ----------------------------------------------------------------------------- KL score
def test_kl_score_matches_gpz_pype_without_empty_bins_and_is_finite_with_them():
    rng = np.random.default_rng(0)
    pop = rng.normal(size=(20000, 2))
    train = rng.normal(0.3, 0.8, size=(3000, 2))
    # gpz_pype: scipy.stats.entropy(train density hist, pop density hist), summed
    ref = 0.0
    for j in range(2):
        h_p, bins = np.histogram(
            pop[:, j], density=True, bins=10, range=np.percentile(pop[:, j], [0.1, 99.9])
        )
        h_t, _ = np.histogram(train[:, j], density=True, bins=bins)
        ref += entropy(h_t, h_p)
    raw, weighted = kl_score(pop, train, nbins=10, pseudocount=1e-12)
    assert np.isnan(weighted)
    np.testing.assert_allclose(raw, ref, rtol=1e-9)  # the pseudocount moves it by ~1e-12
    # a population with a gap where the training sample lives: plain KL is infinite
    pop_gap = np.concatenate([rng.uniform(0, 1, 500), rng.uniform(2, 3, 500)])[:, None]
    train_in_gap = rng.uniform(1.2, 1.8, 100)[:, None]
    raw, weighted = kl_score(pop_gap, train_in_gap, np.ones(100), nbins=30)
    assert np.isfinite(raw) and np.isfinite(weighted) and raw > 1
    assert weighted == pytest.approx(raw)  # equal weights change nothing
    with pytest.raises(DataError, match="X_train.*2 feature"):
        kl_score(pop, train[:, :1])
    with pytest.raises(DataError, match="weights.*length 3000"):
        kl_score(pop, train, np.ones(5))


def test_kl_score_mixture_matches_closed_form_for_single_gaussians():
    rng = np.random.default_rng(1)
    pop = rng.normal(0.0, 1.0, size=(20000, 1))
    train = rng.normal(0.5, 0.7, size=(20000, 1))
    aug = GPzAugment(pop, train, n_components=1, scale=False)
    m1, s1 = aug.gmm_pop.means_[0, 0], math.sqrt(aug.gmm_pop.full_covariances()[0, 0, 0])
    m2, s2 = aug.gmm_train.means_[0, 0], math.sqrt(aug.gmm_train.full_covariances()[0, 0, 0])
    exact = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    raw, _, se, _ = kl_score_mixture(aug, n_samples=50_000, rng=2, return_stderr=True)
    assert abs(raw - exact) < 4 * se
    raw_data, _ = kl_score_mixture(aug, pop, n_samples=None)
    assert abs(raw_data - exact) < 0.02


def test_weight_diagnostics():
    w = np.array([1.0, 1.0, 2.0, 100.0, 0.5])
    d = weight_diagnostics(w, max_weight=100, min_weight=0.5)
    assert d["effective_sample_size"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))
    assert d["fraction_clipped"] == pytest.approx(0.4)
    assert (d["min"], d["max"], d["median"]) == (0.5, 100.0, 1.0)
    with pytest.raises(DataError, match="weights.*non-negative"):
        weight_diagnostics([1.0, -1.0])


# ------------------------------------------------------------------- table-level API
def test_parse_feature():
    assert parse_feature("lupt_F160W") == [(1, "lupt_F160W")]
    assert parse_feature("lupt_F606W-lupt_F814W") == [(1, "lupt_F606W"), (-1, "lupt_F814W")]
    assert parse_feature(" a + b - c ") == [(1, "a"), (1, "b"), (-1, "c")]
    assert parse_feature("g-r", columns=["g-r", "g", "r"]) == [(1, "g-r")]
    for bad in ("", "a--b", "a*b", "a b", "__import__('os')", "a-", "1a"):
        with pytest.raises(SpecError, match="feature"):
            parse_feature(bad)


def test_table_functions(tmp_path):
    t = load_candels_cosmos()
    X, sel = candels_selection(4)
    train = t[sel]
    out, aug = gpz_weights_table(t, train, FEATURES, n_components=4, rng=2)
    assert out.colnames == [*train.colnames, "weights"]
    assert len(out) == len(train) and "weights" not in train.colnames
    direct = GPzAugment(X, X[sel], n_components=4, rng=2)
    np.testing.assert_array_equal(out["weights"], direct.calc_weights(X[sel]))
    assert out.meta["gpz_weights"]["diagnostics"]["max"] <= 100
    with pytest.raises(DataError, match="lupt_F999W.*not in the population table.*available"):
        gpz_weights_table(t, train, ["lupt_F606W-lupt_F999W"], n_components=2)
    with pytest.raises(DataError, match="already has a column 'weights'"):
        gpz_weights_table(t, out, FEATURES, n_components=2)
    with pytest.warns(DivideWarning):
        div, aug2 = gpz_divide_table(
            t, train, FEATURES, train_table=train, n_components=4, weight=True, augment=aug
        )
    assert len(div) == len(train) and div.meta["features"] == FEATURES
    np.testing.assert_array_equal(div["weights"], out["weights"])
    div_best, _ = gpz_divide_table(t, train, FEATURES, n_components=4, assign="best", rng=2)
    assert not div_best["unassigned"].any()
    with pytest.raises(SpecError, match="train_table"):
        gpz_divide_table(t, train, FEATURES, n_components=2, weight=True)
    # masked values are reported, not silently dropped
    masked = Table(t[:50], masked=True)
    masked["lupt_F160W"].mask[7] = True
    with pytest.raises(DataError, match="non-finite.*row 7"):
        gpz_weights_table(masked, train, FEATURES, n_components=2)


def test_divide_csv_flushes_subnormal_probabilities(tmp_path):
    import warnings

    from astropy.table import Table

    from bayesmix.gpz import write_divide_csv

    t = Table({"index": [0, 1], "best": [0, 1], "m0": [True, False], "p0": [1.0, 1.04e-319]})
    write_divide_csv(t, tmp_path / "d.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = Table.read(tmp_path / "d.csv", format="ascii.csv")
    assert list(back["p0"]) == [1.0, 0.0]
    assert t["p0"][1] == 1.04e-319  # the caller's table is untouched
