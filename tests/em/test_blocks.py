"""EM over blocks (bayesmix.em.blocks): the in-memory algorithm, iteration by iteration.

The blocks here are plain numpy slices, so these tests check the protocol itself;
tests/scale/test_em.py checks the same over Dask.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

import bayesmix.em
from bayesmix.em import GaussianMixture, XDGaussianMixture
from bayesmix.em.blocks import (
    block_scores,
    block_statistics,
    check_model,
    fit_statistics,
    serial_rows,
)
from bayesmix.em.statistics import (
    AssignmentStatistics,
    EStepStatistics,
    assignment_statistics,
    sum_statistics,
)
from bayesmix.exceptions import ConvergenceWarning, DataError, NotFittedError, SpecError

TOL = 1e-10  # the sums differ in order only: agreement is at rounding level (~1e-14)


def _data(rng, n=3_001):
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.5]])
    k = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return means[k] + rng.normal(size=(n, 2)) * np.array([1.0, 0.7])


def _splits(n, sizes):
    edges = np.concatenate([[0], np.cumsum(sizes)])
    edges = edges[edges < n].tolist() + [n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _fit_blocks(est, X, splits, *, sw=None, S=None, sample=None):
    """Fit ``est`` from per-block sums only, as a caller holding blocks would."""
    n = X.shape[0]
    w = np.ones(n) if sw is None else sw
    fill = np.nanmean(X, axis=0) if np.isnan(X).any() else None

    def statistics(params):
        return sum_statistics(
            block_statistics(
                est,
                X[sl],
                params,
                X_cov=None if S is None else S[sl],
                sample_weight=w[sl],
            )
            for sl in splits
        )

    def assignment(centers):
        return sum_statistics(
            assignment_statistics(X[sl], centers, sample_weight=w[sl], fill=fill) for sl in splits
        )

    Xs = X if sample is None else X[sample]
    return fit_statistics(
        est,
        statistics,
        n_objects=n,
        total_weight=float(w.sum()),
        init_sample=Xs,
        init_sample_weight=w if sample is None else w[sample],
        assignment=assignment,
        bounding_box=(np.nanmin(X, axis=0), np.nanmax(X, axis=0)),
    )


def _assert_same(a, b):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.log_likelihood_history_, b.log_likelihood_history_, rtol=TOL)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=TOL, atol=1e-14)
    np.testing.assert_allclose(a.means_, b.means_, rtol=TOL, atol=1e-14)
    np.testing.assert_allclose(a.full_covariances(), b.full_covariances(), rtol=TOL, atol=1e-14)
    np.testing.assert_allclose(a.background_weight_, b.background_weight_, rtol=TOL, atol=1e-14)


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_equal_in_memory_at_every_iteration_count(rng, cov_type, weighted):
    X = _data(rng)
    sw = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    init = X[[3, 1_000, 2_000]]
    # the initialisation sample is a tenth of the rows: given means are completed from
    # all rows (the assignment sums), so the start does not depend on the sample
    sample = np.sort(rng.choice(len(X), 300, replace=False))
    chunkings = [[len(X)], [1_000, 1_500, 501], [97] * 40]
    kw = dict(covariance_type=cov_type, init=init, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 never converges
        for max_iter in (1, 2, 5, 20):
            ref = GaussianMixture(3, max_iter=max_iter, **kw).fit(X, sample_weight=sw)
            for sizes in chunkings:
                got = _fit_blocks(
                    GaussianMixture(3, max_iter=max_iter, **kw),
                    X,
                    _splits(len(X), sizes),
                    sw=sw,
                    sample=sample,
                )
                _assert_same(got, ref)


def test_blocks_equal_in_memory_xd_missing_background_frozen(rng):
    X = _data(rng)
    err = rng.uniform(0.1, 0.5, X.shape)
    S = np.einsum("nd,de->nde", err**2, np.eye(2))
    kw = dict(init=X[[3, 1_000, 2_000]], tol=0.0, max_iter=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = XDGaussianMixture(3, **kw).fit(X, X_err=err)
        got = _fit_blocks(XDGaussianMixture(3, **kw), X, _splits(len(X), [800] * 4), S=S)
        _assert_same(got, ref)
        # missing values (marginalised), a background and a frozen covariance
        Xm = np.concatenate([X, rng.uniform(-12, 12, (60, 2))])
        Xm[rng.choice(len(Xm), 200, replace=False), rng.integers(0, 2, 200)] = np.nan
        init = {"means": Xm[[3, 1_000, 2_000]], "covariances": np.stack([np.eye(2)] * 3)}
        kw = dict(init=init, nan_policy="marginalize", background=True, tol=0.0, max_iter=6)
        kw["frozen"] = {"covariances": [1]}
        ref = GaussianMixture(3, **kw).fit(Xm)
        got = _fit_blocks(GaussianMixture(3, **kw), Xm, _splits(len(Xm), [700] * 5))
        _assert_same(got, ref)
        assert got.background_weight_ > 0


def test_seeded_start_on_all_rows_equals_in_memory(rng):
    X = _data(rng)
    ref = GaussianMixture(3, rng=4, n_init=2, tol=1e-8, max_iter=300).fit(X)
    got = _fit_blocks(
        GaussianMixture(3, rng=4, n_init=2, tol=1e-8, max_iter=300),
        X,
        _splits(len(X), [1_234, 1_000]),
    )
    _assert_same(got, ref)


def test_statistics_are_sums_over_rows(rng):
    X = _data(rng, n=500)
    gm = GaussianMixture(3, rng=0).fit(X)
    from bayesmix.em.statistics import Parameters

    p = Parameters(gm.weights_, gm.means_, gm.full_covariances())
    whole = block_statistics(gm, X, p)
    parts = sum_statistics(block_statistics(gm, X[sl], p) for sl in _splits(500, [123] * 5))
    for a, b in zip(
        (whole.log_likelihood, whole.counts, whole.first_moment, whole.second_moment),
        (parts.log_likelihood, parts.counts, parts.first_moment, parts.second_moment),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # against the definitions, with responsibilities from predict_proba
    r = gm.predict_proba(X)
    np.testing.assert_allclose(whole.log_likelihood, gm.score_samples(X).sum(), rtol=1e-12)
    np.testing.assert_allclose(whole.counts, r.sum(axis=0), rtol=1e-12)
    d = X[:, None, :] - gm.means_[None]
    np.testing.assert_allclose(whole.first_moment, np.einsum("nk,nka->ka", r, d), atol=1e-9)
    np.testing.assert_allclose(
        whole.second_moment, np.einsum("nk,nka,nkb->kab", r, d, d), rtol=1e-10
    )
    zero = EStepStatistics.zeros(3, 2)
    assert (zero + whole).log_likelihood == whole.log_likelihood
    with pytest.raises(ValueError, match="at least one"):
        sum_statistics([])


def test_assignment_statistics_brute_force_and_empty_component(rng):
    X = _data(rng, n=400)
    w = rng.uniform(0.5, 2.0, 400)
    C = np.array([[0.0, 0.0], [2.0, 1.0], [50.0, 50.0]])  # the last centre gets no object
    st = assignment_statistics(X, C, sample_weight=w)
    lab = np.argmin(((X[:, None] - C[None]) ** 2).sum(-1), axis=1)
    for k in range(3):
        rows = lab == k
        d = X[rows] - C[k]
        np.testing.assert_allclose(st.counts[k], w[rows].sum(), rtol=1e-12)
        np.testing.assert_allclose(st.first_moment[k], w[rows] @ d, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(st.second_moment[k], (w[rows] * d.T) @ d, rtol=1e-12)
    assert st.counts[2] == 0
    halves = assignment_statistics(X[:150], C, sample_weight=w[:150]) + assignment_statistics(
        X[150:], C, sample_weight=w[150:]
    )
    assert isinstance(halves, AssignmentStatistics)
    np.testing.assert_allclose(halves.second_moment, st.second_moment, rtol=1e-12)
    # a start from these centres: the empty component takes the whole data's mean and
    # covariance (as a weighted sample mean and covariance computed directly)
    from bayesmix.em._start import parameters_from_assignment

    weights, means, full = parameters_from_assignment(st, C)
    mean_all = np.average(X, axis=0, weights=w)
    cov_all = np.cov(X.T, aweights=w, ddof=0)
    np.testing.assert_allclose(means[2], mean_all, rtol=1e-12)
    np.testing.assert_allclose(full[2], cov_all, rtol=1e-10)
    np.testing.assert_allclose(weights[0], w[lab == 0].sum() / w.sum(), rtol=1e-12)
    d0 = X[lab == 0] - np.average(X[lab == 0], axis=0, weights=w[lab == 0])
    np.testing.assert_allclose(full[0], (w[lab == 0] * d0.T) @ d0 / w[lab == 0].sum(), rtol=1e-10)


def test_block_scores_equal_estimator_scores(rng):
    X = _data(rng, n=2_000)
    gm = GaussianMixture(3, rng=0, background=True).fit(X)
    lse, lr = block_scores(gm, X, responsibilities=True, serial=False)
    np.testing.assert_array_equal(lse, gm.score_samples(X))
    np.testing.assert_array_equal(lr, gm.predict_log_proba(X))
    out = (np.empty(2_000), None)
    assert block_scores(gm, X, out=out)[0] is out[0]
    err = rng.uniform(0.1, 0.3, X.shape)
    xd = XDGaussianMixture(2, rng=0, tol=1e-3).fit(X, X_err=err)
    lse, _ = block_scores(xd, X, X_err=err)
    np.testing.assert_allclose(lse, xd.score_samples(X, X_err=err), rtol=1e-13)
    with pytest.raises(SpecError, match="XDGaussianMixture"):
        block_scores(gm, X, X_err=err)
    with pytest.raises(NotFittedError):
        block_scores(GaussianMixture(2), X)
    assert serial_rows() >= 4096


def test_fit_statistics_checks(rng):
    X = _data(rng, n=100)
    with pytest.raises(TypeError, match="estimator"):
        check_model(object(), fitted=False)
    with pytest.raises(DataError, match="n_components.*\\(5\\).*\\(4\\)"):
        check_model(GaussianMixture(5), fitted=False, n_objects=4, n_features=2)
    gm = GaussianMixture(2)

    def never(params):  # pragma: no cover - must not be reached
        raise AssertionError

    with pytest.raises(DataError, match="total_weight"):
        fit_statistics(gm, never, n_objects=100, total_weight=0.0, init_sample=X)
    with pytest.raises(SpecError, match="bounding box"):
        fit_statistics(
            GaussianMixture(2, background=True),
            never,
            n_objects=100,
            total_weight=100.0,
            init_sample=X,
        )
    with pytest.raises(DataError, match="init_sample.*non-finite"):
        fit_statistics(gm, never, n_objects=100, total_weight=100.0, init_sample=X * np.nan)


def test_em_has_no_import_circle():
    """Modules of bayesmix.em import each other downward only (load lives in _io)."""
    folder = Path(bayesmix.em.__file__).parent
    edges = {}
    for f in folder.glob("*.py"):
        tree = ast.parse(f.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("bayesmix.em."):
                    deps.add(node.module.split(".")[2])
                elif node.module == "bayesmix.em":
                    deps.update(a.name for a in node.names if (folder / f"{a.name}.py").exists())
        edges[f.stem] = deps - {f.stem}

    def reaches(a, b, seen=()):
        return any(
            d == b or (d not in seen and reaches(d, b, (*seen, d))) for d in edges.get(a, ())
        )

    cycles = [m for m in edges if m != "__init__" and reaches(m, m)]
    assert not cycles, cycles
