"""bayesmix.scale.em: Dask EM fit, selection and scoring equal the in-memory engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from bayesmix import scale  # noqa: E402
from bayesmix.em import GaussianMixture, XDGaussianMixture  # noqa: E402
from bayesmix.exceptions import ConvergenceWarning, DataError, SpecError  # noqa: E402
from scale._data import (  # noqa: E402
    CHUNK,
    RTOL,
    assert_same_fit,
    init_dict,
    three_blobs,
)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_fit_gmm_equals_in_memory_threaded(blobs, cov_type):
    init = init_dict(blobs, cov_type=cov_type)
    kw = dict(covariance_type=cov_type, init=init, tol=1e-8, max_iter=500)
    ref = GaussianMixture(3, **kw).fit(blobs)
    assert ref.n_iter_ > 10
    got = scale.fit(GaussianMixture(3, **kw), da.from_array(blobs, chunks=(CHUNK, 2)))
    assert_same_fit(got, ref)


def test_fit_default_init_equals_in_memory_when_sample_is_everything(blobs):
    """n <= init_sample_size: k-means++ runs on all rows with the estimator's seed."""
    ref = GaussianMixture(3, rng=3, n_init=2, tol=1e-7, max_iter=500).fit(blobs)
    got = scale.fit(
        GaussianMixture(3, rng=3, n_init=2, tol=1e-7, max_iter=500),
        da.from_array(blobs, chunks=(CHUNK, 2)),
    )
    assert_same_fit(got, ref)


def test_fit_xd_equals_in_memory(blobs):
    rng = np.random.default_rng(2)
    X_err = rng.uniform(0.1, 0.6, blobs.shape)
    kw = dict(init=init_dict(blobs), tol=1e-5, max_iter=300)
    ref = XDGaussianMixture(3, **kw).fit(blobs, X_err=X_err)
    assert ref.n_iter_ > 10
    got = scale.fit(
        XDGaussianMixture(3, **kw),
        da.from_array(blobs, chunks=(CHUNK, 2)),
        X_err=da.from_array(X_err, chunks=(1_500, 2)),
    )  # rechunked to X's rows
    assert_same_fit(got, ref)
    # full covariances, no errors (zeros) also agree
    X_cov = np.einsum("nd,de->nde", X_err**2, np.eye(2))
    X_cov[:, 0, 1] = X_cov[:, 1, 0] = 0.3 * X_err[:, 0] * X_err[:, 1]
    ref = XDGaussianMixture(3, **kw).fit(blobs, X_cov=X_cov)
    got = scale.fit(
        XDGaussianMixture(3, **kw),
        da.from_array(blobs, chunks=(CHUNK, 2)),
        X_cov=da.from_array(X_cov, chunks=(CHUNK, 2, 2)),
    )
    assert_same_fit(got, ref)


def test_fit_options_background_frozen_weights_marginalize(blobs):
    rng = np.random.default_rng(3)
    X = np.concatenate([blobs, rng.uniform(-15, 15, (200, 2))])
    X[rng.choice(X.shape[0], 300, replace=False), rng.integers(0, 2, 300)] = np.nan
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    init = init_dict(np.nan_to_num(X))
    kw = dict(
        init=init,
        background=True,
        nan_policy="marginalize",
        tol=1e-7,
        max_iter=300,
        frozen={"covariances": [0]},
    )
    ref = GaussianMixture(3, **kw).fit(X, sample_weight=sw)
    Xd = da.from_array(X, chunks=(CHUNK, 2))
    got = scale.fit(
        GaussianMixture(3, **kw), Xd, sample_weight=da.from_array(sw, chunks=CHUNK), persist=False
    )
    assert_same_fit(got, ref)
    assert got.background_weight_ > 0
    np.testing.assert_array_equal(got.bounding_box_, ref.bounding_box_)
    assert not got.persisted_


def test_fit_dataframe_numeric_columns(blobs):
    pdf = pd.DataFrame({"a": blobs[:, 0], "name": ["s"] * len(blobs), "b": blobs[:, 1]})
    ddf = dd.from_pandas(pdf, npartitions=5)
    kw = dict(init=init_dict(blobs), tol=1e-6, max_iter=300)
    ref = GaussianMixture(3, **kw).fit(blobs)
    got = scale.fit(GaussianMixture(3, **kw), ddf)
    assert_same_fit(got, ref)
    got = scale.fit(GaussianMixture(3, **kw), ddf, columns=["a", "b"])
    assert_same_fit(got, ref)


def test_fit_init_from_sample_is_seeded(blobs):
    """n > init_sample_size: initialise on a seeded sample; same rng, same fit."""
    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    kw = dict(rng=1, tol=1e-4, max_iter=1000)
    a = scale.fit(GaussianMixture(3, **kw), Xd, init_sample_size=500, rng=11)
    b = scale.fit(GaussianMixture(3, **kw), Xd, init_sample_size=500, rng=11)
    np.testing.assert_array_equal(a.means_, b.means_)
    ref = GaussianMixture(3, rng=1, tol=1e-4, max_iter=1000).fit(blobs)
    # a different start may end in another local maximum, but not a much worse one
    assert a.lower_bound_ > ref.lower_bound_ - 0.01


def test_fit_bad_input_names_the_global_row(blobs):
    X = blobs.copy()
    X[5_123, 1] = np.nan
    with pytest.raises(DataError, match="'X'.*row 5123"):
        scale.fit(GaussianMixture(3), da.from_array(X, chunks=(CHUNK, 2)))
    with pytest.raises(SpecError, match="XDGaussianMixture"):
        scale.fit(GaussianMixture(3), da.from_array(blobs, chunks=(CHUNK, 2)), X_err=blobs)
    sw = np.ones(len(blobs))
    sw[4_001] = -1.0
    with pytest.raises(DataError, match="sample_weight.*row 4001"):
        scale.fit(GaussianMixture(3), da.from_array(blobs, chunks=(CHUNK, 2)), sample_weight=sw)
    with pytest.raises(SpecError, match="n_components"):
        scale.fit(GaussianMixture(0), da.from_array(blobs, chunks=(CHUNK, 2)))


def test_scoring_equals_in_memory_threaded_ragged(fitted, blobs):
    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    assert Xd.chunks[0][-1] != CHUNK  # ragged last chunk
    p = scale.predict_proba(fitted, Xd)
    s = scale.score_samples(fitted, Xd)
    assert p.chunks == (Xd.chunks[0], (3,))
    assert s.chunks == (Xd.chunks[0],)
    np.testing.assert_allclose(p.compute(), fitted.predict_proba(blobs), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.compute(), fitted.score_samples(blobs), rtol=1e-12)
    # a dataframe: its numeric columns, partitions kept as row chunks
    ddf = dd.from_pandas(pd.DataFrame(blobs, columns=["a", "b"]), npartitions=4)
    p2 = scale.predict_proba(fitted, ddf)
    assert p2.numblocks[0] == 4
    np.testing.assert_allclose(p2.compute(), fitted.predict_proba(blobs), rtol=1e-12, atol=1e-15)


def test_blocks_larger_than_a_kernel_call_are_sliced_exactly(fitted):
    """Blocks above the kernels' threading threshold are fed in slices: same numbers."""
    X = three_blobs(np.random.default_rng(8), n=150_001)
    Xd = da.from_array(X, chunks=(100_000, 2))
    np.testing.assert_allclose(
        scale.predict_proba(fitted, Xd).compute(), fitted.predict_proba(X), rtol=1e-12, atol=1e-15
    )
    kw = dict(init=init_dict(X), tol=1e-4, max_iter=300)
    assert_same_fit(scale.fit(GaussianMixture(3, **kw), Xd), GaussianMixture(3, **kw).fit(X))


def test_scoring_xd_with_errors(blobs):
    rng = np.random.default_rng(4)
    X_err = rng.uniform(0.1, 0.5, blobs.shape)
    xd = XDGaussianMixture(3, rng=0, tol=1e-5, max_iter=200).fit(blobs, X_err=X_err)
    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    Ed = da.from_array(X_err, chunks=(CHUNK, 2))
    np.testing.assert_allclose(
        scale.predict_proba(xd, Xd, X_err=Ed).compute(),
        xd.predict_proba(blobs, X_err=X_err),
        rtol=1e-12,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        scale.score_samples(xd, Xd, X_err=Ed).compute(),
        xd.score_samples(blobs, X_err=X_err),
        rtol=1e-12,
    )


def test_missing_values_keep_their_rows(fitted, blobs):
    X = blobs.copy()
    bad = [0, 1_999, 2_000, 9_000]
    X[bad, 0] = np.nan
    X[17, 1] = np.inf
    Xd = da.from_array(X, chunks=(CHUNK, 2))
    p = scale.predict_proba(fitted, Xd).compute()
    s = scale.score_samples(fitted, Xd).compute()
    assert p.shape == (len(X), 3)
    rows = np.zeros(len(X), bool)
    rows[bad + [17]] = True
    assert np.isnan(p[rows]).all() and np.isnan(s[rows]).all()
    np.testing.assert_allclose(p[~rows], fitted.predict_proba(X[~rows]), rtol=1e-12, atol=1e-15)
    # with nan_policy="marginalize" the NaN rows are scored on their observed feature,
    # exactly as in memory; the infinite one still is not
    gm = GaussianMixture(3, rng=0, nan_policy="marginalize").fit(blobs)
    pm_ = scale.predict_proba(gm, Xd).compute()
    keep = np.ones(len(X), bool)
    keep[17] = False
    np.testing.assert_allclose(pm_[keep], gm.predict_proba(X[keep]), rtol=1e-12, atol=1e-15)
    assert np.isnan(pm_[17]).all()


# ----------------------------------------------------------------------------- issue 13.8
@pytest.fixture(scope="module")
def big():
    """12,000 rows: more than the init sample below, so the sample is not every row."""
    rng = np.random.default_rng(13)
    X = three_blobs(rng, n=12_000)
    return X, rng.uniform(0.2, 3.0, len(X)), rng.uniform(0.1, 0.6, X.shape)


def _same_at(got, ref):
    """Parameters after exactly max_iter iterations, and every log-likelihood on the way."""
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.log_likelihood_history_, ref.log_likelihood_history_, rtol=RTOL)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=RTOL)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(got.full_covariances(), ref.full_covariances(), rtol=RTOL)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dask_em_is_in_memory_em_iteration_by_iteration(big, cov_type, weighted):
    """Same start (given means), tol=0: equal after 1, 2, 5 and 20 iterations, any chunking.

    The initialisation runs on a 1,000-row sample; the given means are completed
    (weights, covariances) from every row, exactly as in memory.
    """
    X, w, _ = big
    sw = w if weighted else None
    init = X[[5, 4_000, 9_000]]
    kw = dict(covariance_type=cov_type, init=init, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 never converges
        for max_iter in (1, 2, 5, 20):
            ref = GaussianMixture(3, max_iter=max_iter, **kw).fit(X, sample_weight=sw)
            for chunk in (5_000, 1_024):
                got = scale.fit(
                    GaussianMixture(3, max_iter=max_iter, **kw),
                    da.from_array(X, chunks=(chunk, 2)),
                    sample_weight=None if sw is None else da.from_array(sw, chunks=chunk),
                    init_sample_size=1_000,
                    rng=0,
                )
                _same_at(got, ref)


def test_dask_xd_is_in_memory_xd_iteration_by_iteration(big):
    X, _, err = big
    kw = dict(init=X[[5, 4_000, 9_000]], tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for max_iter in (1, 2, 5, 20):
            ref = XDGaussianMixture(3, max_iter=max_iter, **kw).fit(X, X_err=err)
            for chunk in (5_000, 1_024):
                got = scale.fit(
                    XDGaussianMixture(3, max_iter=max_iter, **kw),
                    da.from_array(X, chunks=(chunk, 2)),
                    X_err=da.from_array(err, chunks=(chunk, 2)),
                    init_sample_size=1_000,
                )
                _same_at(got, ref)


def test_select_n_components_equals_in_memory_selection(blobs):
    from bayesmix.em import select_n_components as select_in_memory

    kw = dict(criterion="aic", rng=4, n_init=2, tol=0.0, max_iter=25, covariance_type="diag")
    messages = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = select_in_memory(blobs, [3, 1, 2], **kw)
        ddf = dd.from_pandas(pd.DataFrame(blobs, columns=["a", "b"]), npartitions=3)
        got = scale.select_n_components(
            ddf, [3, 1, 2], columns=["a", "b"], progress=messages.append, **kw
        )
    assert got.best_n_components == ref.best_n_components and got.criterion == "aic"
    assert [m.n_components for m in got.models] == [3, 1, 2]
    for key, values in ref.table.items():
        np.testing.assert_allclose(got.table[key], values, rtol=RTOL)
    for a, b in zip(got.models, ref.models, strict=True):
        np.testing.assert_allclose(a.means_, b.means_, rtol=RTOL, atol=1e-12)
    assert len(messages) == 3 and "K = 3" in messages[0]
    with pytest.raises(SpecError, match="criterion"):
        scale.select_n_components(ddf, [1], criterion="dic")
    with pytest.raises(DataError, match="n_components"):
        scale.select_n_components(da.from_array(blobs[:2], chunks=(1, 2)), [3])


def test_scheduler_context_names_and_errors(fitted, blobs):
    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    with scale.scheduler_context("synchronous"):
        p = scale.predict_proba(fitted, Xd).compute()
    with scale.scheduler_context(None):
        q = scale.predict_proba(fitted, Xd).compute()
    np.testing.assert_array_equal(p, q)
    with pytest.raises(SpecError, match="scheduler.*processes.*threads"):
        with scale.scheduler_context("thread"):
            pass
    with pytest.raises(SpecError, match="scheduler.*string"):
        with scale.scheduler_context(4):
            pass


# ----------------------------------------------------------------------------- issue 13.6
@pytest.mark.parametrize("xd", [False, True])
def test_dask_em_on_extreme_scales_is_in_memory_em(big, xd):
    """Features of order 1e10 and 1e-10 (fitted in internal power-of-two units) and a 1e12
    offset: the Dask fit converts each block as the in-memory fit converts the array."""
    X0, w, err0 = big
    f = np.array([1e10, 1e-10])
    X, err = X0 * f, err0 * f
    r = np.random.default_rng(3)
    X = np.column_stack([X, 1e12 + r.normal(0, 1, len(X))])
    err = np.column_stack([err, err0[:, 0]])
    init = X[[5, 4_000, 9_000]]
    cls = XDGaussianMixture if xd else GaussianMixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for max_iter in (1, 5, 20):
            ref = cls(3, max_iter=max_iter, init=init, tol=0.0)
            ref.fit(X, X_err=err, sample_weight=w) if xd else ref.fit(X, sample_weight=w)
            got = scale.fit(
                cls(3, max_iter=max_iter, init=init, tol=0.0),
                da.from_array(X, chunks=(1_024, 3)),
                X_err=da.from_array(err, chunks=(1_024, 3)) if xd else None,
                sample_weight=da.from_array(w, chunks=1_024),
            )
            _same_at(got, ref)
            assert np.all(np.isfinite(got.means_)) and np.all(np.isfinite(got.covariances_))
    # the features are resolved: the 1e-10 feature's variance is not reg_covar's 1e-6
    assert np.all(np.diagonal(ref.full_covariances(), axis1=1, axis2=2)[:, 1] < 1e-18)


def test_dask_em_refuses_unrepresentable_data(big):
    X = big[0] * np.array([1.0, 1e300])
    with pytest.raises(DataError, match="feature 1 of 'X' spreads over .*cannot be held"):
        scale.fit(GaussianMixture(3, rng=0), da.from_array(X, chunks=(4_000, 2)))


# ----------------------------------------------------------------------------- issue 12.6
@pytest.mark.parametrize("xd", [False, True])
def test_screened_starts_are_those_of_the_in_memory_fit(xd):
    """More than SCREEN_ROWS objects, default n_init: the starts are screened on the same
    subsample of the init sample (every row here) with the same errors, so the Dask fit is
    the in-memory fit; only the kept start makes passes over the blocks."""
    from bayesmix.em._base import SCREEN_ROWS

    rng = np.random.default_rng(21)
    X = three_blobs(rng, n=SCREEN_ROWS + 3_001)
    err = rng.uniform(0.05, 0.3, X.shape)
    cls = XDGaussianMixture if xd else GaussianMixture
    kw = dict(rng=4, n_init=3, tol=1e-5 if xd else 1e-3)
    ref = cls(3, **kw)
    ref.fit(X, X_err=err) if xd else ref.fit(X)
    got = scale.fit(
        cls(3, **kw),
        da.from_array(X, chunks=(4_000, 2)),
        X_err=da.from_array(err, chunks=(4_000, 2)) if xd else None,
    )
    assert_same_fit(got, ref)
