"""bayesmix.scale: Dask EM and scoring equal the in-memory engine (threads and a LocalCluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from bayesmix import scale  # noqa: E402
from bayesmix.em import GaussianMixture, XDGaussianMixture  # noqa: E402
from bayesmix.exceptions import DataError, SpecError  # noqa: E402

# dask's Parquet reader calls DataFrame.reset_index(inplace=True), deprecated in pandas 3.1
# (Pandas4Warning); dask's to fix, harmless here.
PARQUET_NOISE = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index:pandas.errors.Pandas4Warning"
)
# Tearing down worker processes can leave sockets/event loops for the garbage collector
# (ResourceWarning, surfaced by pytest as PytestUnraisableExceptionWarning) -- distributed's
# shutdown, not ours; seen intermittently, never on results.
CLUSTER_NOISE = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _cluster_marks(f):
    for m in CLUSTER_NOISE:
        f = m(f)
    return f


RTOL = 1e-10  # the brief: Dask equals in-memory to 1e-10 relative (sums differ in order only)
CHUNK = 2_000  # rows per Dask block in these tests; data sizes are not multiples of it


def _three_blobs(rng, n=9_137, d=2):
    """Three overlapping Gaussians (EM needs tens of iterations, not 2)."""
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.5]])[:, :d]
    k = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    X = means[k] + rng.normal(size=(n, d)) * np.array([1.0, 0.7])[:d]
    return X


def _init_dict(X, K=3, cov_type="full"):
    """A fixed initial state: same starting parameters for Dask and in-memory fits."""
    rng = np.random.default_rng(5)
    means = X[rng.choice(X.shape[0], K, replace=False)]
    D = X.shape[1]
    covs = {"full": np.stack([np.eye(D)] * K), "diag": np.ones((K, D))}[cov_type]
    return {"means": means, "weights": np.full(K, 1.0 / K), "covariances": covs}


def _assert_same_fit(a, b):
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=RTOL, atol=0)
    np.testing.assert_allclose(
        a.log_likelihood_history_, b.log_likelihood_history_, rtol=RTOL, atol=0
    )
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(a.means_, b.means_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(a.full_covariances(), b.full_covariances(), rtol=RTOL, atol=1e-12)
    assert a.background_weight_ == pytest.approx(b.background_weight_, rel=RTOL, abs=1e-12)


@pytest.fixture(scope="module")
def blobs():
    return _three_blobs(np.random.default_rng(7))


@pytest.fixture(scope="module")
def fitted(blobs):
    return GaussianMixture(3, rng=0, tol=1e-6, max_iter=300).fit(blobs)


@pytest.fixture(scope="module")
def client():
    """One 2-worker LocalCluster (processes) shared by the distributed tests of this module."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        )
        cl = distributed.Client(cluster, set_as_default=False)
    yield cl
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl.close()
        cluster.close()


# ----------------------------------------------------------------------------- fit
@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_fit_gmm_equals_in_memory_threaded(blobs, cov_type):
    init = _init_dict(blobs, cov_type=cov_type)
    kw = dict(covariance_type=cov_type, init=init, tol=1e-8, max_iter=500)
    ref = GaussianMixture(3, **kw).fit(blobs)
    assert ref.n_iter_ > 10
    got = scale.fit(GaussianMixture(3, **kw), da.from_array(blobs, chunks=(CHUNK, 2)))
    _assert_same_fit(got, ref)


def test_fit_default_init_equals_in_memory_when_sample_is_everything(blobs):
    """n <= init_sample_size: k-means++ runs on all rows with the estimator's seed."""
    ref = GaussianMixture(3, rng=3, n_init=2, tol=1e-7, max_iter=500).fit(blobs)
    got = scale.fit(
        GaussianMixture(3, rng=3, n_init=2, tol=1e-7, max_iter=500),
        da.from_array(blobs, chunks=(CHUNK, 2)),
    )
    _assert_same_fit(got, ref)


def test_fit_xd_equals_in_memory(blobs):
    rng = np.random.default_rng(2)
    X_err = rng.uniform(0.1, 0.6, blobs.shape)
    kw = dict(init=_init_dict(blobs), tol=1e-5, max_iter=300)
    ref = XDGaussianMixture(3, **kw).fit(blobs, X_err=X_err)
    assert ref.n_iter_ > 10
    got = scale.fit(
        XDGaussianMixture(3, **kw),
        da.from_array(blobs, chunks=(CHUNK, 2)),
        X_err=da.from_array(X_err, chunks=(1_500, 2)),
    )  # rechunked to X's rows
    _assert_same_fit(got, ref)
    # full covariances, no errors (zeros) also agree
    X_cov = np.einsum("nd,de->nde", X_err**2, np.eye(2))
    X_cov[:, 0, 1] = X_cov[:, 1, 0] = 0.3 * X_err[:, 0] * X_err[:, 1]
    ref = XDGaussianMixture(3, **kw).fit(blobs, X_cov=X_cov)
    got = scale.fit(
        XDGaussianMixture(3, **kw),
        da.from_array(blobs, chunks=(CHUNK, 2)),
        X_cov=da.from_array(X_cov, chunks=(CHUNK, 2, 2)),
    )
    _assert_same_fit(got, ref)


def test_fit_options_background_frozen_weights_marginalize(blobs):
    rng = np.random.default_rng(3)
    X = np.concatenate([blobs, rng.uniform(-15, 15, (200, 2))])
    X[rng.choice(X.shape[0], 300, replace=False), rng.integers(0, 2, 300)] = np.nan
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    init = _init_dict(np.nan_to_num(X))
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
    _assert_same_fit(got, ref)
    assert got.background_weight_ > 0
    np.testing.assert_array_equal(got.bounding_box_, ref.bounding_box_)
    assert not got.persisted_


def test_fit_dataframe_numeric_columns(blobs):
    pdf = pd.DataFrame({"a": blobs[:, 0], "name": ["s"] * len(blobs), "b": blobs[:, 1]})
    ddf = dd.from_pandas(pdf, npartitions=5)
    kw = dict(init=_init_dict(blobs), tol=1e-6, max_iter=300)
    ref = GaussianMixture(3, **kw).fit(blobs)
    got = scale.fit(GaussianMixture(3, **kw), ddf)
    _assert_same_fit(got, ref)
    got = scale.fit(GaussianMixture(3, **kw), ddf, columns=["a", "b"])
    _assert_same_fit(got, ref)


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


# ----------------------------------------------------------------------------- scoring
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
    X = _three_blobs(np.random.default_rng(8), n=150_001)
    Xd = da.from_array(X, chunks=(100_000, 2))
    np.testing.assert_allclose(
        scale.predict_proba(fitted, Xd).compute(), fitted.predict_proba(X), rtol=1e-12, atol=1e-15
    )
    kw = dict(init=_init_dict(X), tol=1e-4, max_iter=300)
    _assert_same_fit(scale.fit(GaussianMixture(3, **kw), Xd), GaussianMixture(3, **kw).fit(X))


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


# ----------------------------------------------------------------------------- GPz
@pytest.fixture(scope="module")
def augment():
    from bayesmix.gpz import GPzAugment

    rng = np.random.default_rng(9)
    X_pop = rng.normal(size=(3_000, 2)) * [1.0, 2.0] + [0.0, 1.0]
    X_train = X_pop[X_pop[:, 0] < rng.normal(size=3_000)]
    return GPzAugment(X_pop, X_train, n_components=3, rng=1), X_pop


def test_gpz_weights_and_divide_equal_in_memory(augment):
    import warnings

    from bayesmix.gpz import DivideWarning

    aug, X = augment
    X = X.copy()
    X[11, 1] = np.nan
    ok = np.isfinite(X).all(axis=1)
    Xd = da.from_array(X, chunks=(700, 2))
    w = scale.gpz_weights(aug, Xd, max_weight=30).compute()
    np.testing.assert_allclose(w[ok], aug.calc_weights(X[ok], max_weight=30), rtol=1e-12)
    assert np.isnan(w[11])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        ref = aug.divide(X[ok], weight=True, return_density=True, threshold=0.6)
    ddf = dd.from_pandas(pd.DataFrame(X, columns=["c1", "c2"]), npartitions=4)
    for source in (ddf, Xd):
        out = scale.gpz_divide(aug, source, weight=True, return_density=True, threshold=0.6)
        got = out.compute()
        assert out.npartitions == (4 if source is ddf else Xd.numblocks[0])
        np.testing.assert_array_equal(got["index"], np.arange(len(X)))
        assert got["unscored_reason"].iloc[11] != ""
        assert (got["unscored_reason"][ok] == "").all()
        assert got["best"].iloc[11] == -1 and got["unassigned"].iloc[11]
        g = got[ok]
        for col in ref.colnames:
            if col == "index":
                continue
            np.testing.assert_allclose(
                np.asarray(g[col], dtype=float), np.asarray(ref[col], dtype=float), rtol=1e-12
            )


# ----------------------------------------------------------------------------- membership
@pytest.fixture(scope="module")
def line_fit():
    """A Fit of the line+outlier model with synthetic draws (no sampling needed)."""
    import xarray as xr

    from bayesmix.builders import line_outlier
    from bayesmix.inference import Fit

    rng = np.random.default_rng(0)
    n = 100
    x = rng.uniform(0, 10, n)
    y_err = rng.uniform(0.2, 0.5, n)
    y = 1.5 * x - 2 + rng.normal(0, y_err)
    mm = line_outlier(x, y, y_err)
    C, S = 2, 40
    post = xr.Dataset(
        {
            "slope": (("chain", "draw"), 1.5 + 0.01 * rng.normal(size=(C, S))),
            "intercept": (("chain", "draw"), -2 + 0.05 * rng.normal(size=(C, S))),
            "weights": (
                ("chain", "draw", "component"),
                np.stack([np.full((C, S), 0.85), np.full((C, S), 0.15)], -1),
            ),
            "outlier_mean": (("chain", "draw"), 5 + 0.3 * rng.normal(size=(C, S))),
            "outlier_sigma": (("chain", "draw"), 6 + 0.3 * rng.uniform(size=(C, S))),
        },
        coords={"chain": range(C), "draw": range(S), "component": list(mm.component_labels)},
    )
    return Fit(idata=xr.DataTree.from_dict({"posterior": post}), model=mm)


def _new_line_objects(n=4_321):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, n)
    y_err = rng.uniform(0.2, 0.5, n)
    y = 1.5 * x - 2 + rng.normal(0, y_err)
    y[::7] = rng.normal(5, 6, len(y[::7]))
    return {"x": x, "y": y, "y_err": y_err}


def test_membership_new_objects_threaded(line_fit):
    from bayesmix.membership import membership

    data = _new_line_objects()
    ref = membership(line_fit, data)
    data_bad = {k: v.copy() for k, v in data.items()}
    data_bad["y"][3] = np.nan
    ds = scale.membership(
        line_fit,
        {k: da.from_array(v, chunks=1_000) for k, v in data_bad.items()},
        broadcast="delayed",
    )
    assert ds["probability"].data.chunks[0] == (1_000,) * 4 + (321,)
    got = ds.compute()
    ok = np.ones(len(data["x"]), bool)
    ok[3] = False
    for var in ref.data_vars:
        np.testing.assert_allclose(got[var].values[ok], ref[var].values[ok], rtol=1e-12, atol=1e-15)
        assert np.isnan(got[var].values[3]).all()


# ----------------------------------------------------------------------------- distributed
@_cluster_marks
def test_distributed_fit_scoring_membership(client, blobs, fitted, line_fit, augment):
    from bayesmix.membership import membership

    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    # tol 1e-5: 65 iterations (each one a round trip to the cluster) keeps the test quick
    kw = dict(init=_init_dict(blobs), tol=1e-5, max_iter=300)
    ref = GaussianMixture(3, **kw).fit(blobs)
    with client.as_current():
        got = scale.fit(GaussianMixture(3, **kw), Xd)
        p = scale.predict_proba(fitted, Xd).compute()
        data = _new_line_objects(2_500)
        ds = scale.membership(
            line_fit,
            {k: da.from_array(v, chunks=800) for k, v in data.items()},
            broadcast="scatter",
        )
        mem = ds.compute()
        aug, Xpop = augment
        w = scale.gpz_weights(aug, da.from_array(Xpop, chunks=(900, 2))).compute()
    _assert_same_fit(got, ref)
    assert got.persisted_
    np.testing.assert_allclose(p, fitted.predict_proba(blobs), rtol=1e-12, atol=1e-15)
    mref = membership(line_fit, data)
    np.testing.assert_allclose(
        mem["probability"].values, mref["probability"].values, rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(w, aug.calc_weights(Xpop), rtol=1e-12)


# ----------------------------------------------------------------------------- Parquet
def _write_parquet(tmp_path, X, nfiles=3):
    src = tmp_path / "cat"
    src.mkdir()
    pdf = pd.DataFrame(
        {
            "source_id": np.arange(len(X), dtype=np.int64),
            "g": X[:, 0],
            "bp_rp": X[:, 1],
            "flag": ["x"] * len(X),
        }
    )
    for i, part in enumerate(np.array_split(np.arange(len(X)), nfiles)):
        pdf.iloc[part].to_parquet(src / f"part{i}.parquet", index=False)
    return src


@PARQUET_NOISE
def test_score_parquet_roundtrip(tmp_path, fitted, blobs):
    X = blobs.copy()
    X[42, 0] = np.nan
    src = _write_parquet(tmp_path, X)
    out = tmp_path / "scored"
    info = scale.score_parquet(fitted, src, out, columns=["g", "bp_rp"])
    assert info["n_rows"] == len(X) and info["n_unscored"] == 1 and info["n_partitions"] == 3
    back = pd.read_parquet(out)
    assert list(back.columns) == [
        "source_id",
        "g",
        "bp_rp",
        "flag",
        "p_0",
        "p_1",
        "p_2",
        "unscored_reason",
    ]
    np.testing.assert_array_equal(back["source_id"], np.arange(len(X)))
    ok = np.isfinite(X).all(axis=1)
    np.testing.assert_allclose(
        back[["p_0", "p_1", "p_2"]].to_numpy()[ok],
        fitted.predict_proba(X[ok]),
        rtol=1e-12,
        atol=1e-15,
    )
    assert back["unscored_reason"].iloc[42].startswith("missing")
    with pytest.raises(FileExistsError):
        scale.score_parquet(fitted, src, out, columns=["g", "bp_rp"])
    info = scale.score_parquet(
        fitted,
        src,
        out,
        columns=["g", "bp_rp"],
        what="score_samples",
        overwrite=True,
        scheduler="synchronous",
    )
    back = pd.read_parquet(out)
    np.testing.assert_allclose(
        back["log_density"].to_numpy()[ok], fitted.score_samples(X[ok]), rtol=1e-12
    )
    with pytest.raises(DataError, match="no column"):
        scale.score_parquet(fitted, src, tmp_path / "x", columns=["g", "nope"])
    assert not (tmp_path / "x").exists()


@PARQUET_NOISE
def test_score_parquet_xd_with_error_columns(tmp_path, blobs):
    rng = np.random.default_rng(6)
    X_err = rng.uniform(0.1, 0.5, blobs.shape)
    X_err[100, 1] = -1.0  # a bad error: that row is kept, unscored, with its reason
    ok = np.ones(len(blobs), bool)
    ok[100] = False
    xd = XDGaussianMixture(3, rng=0, tol=1e-4).fit(blobs[ok], X_err=X_err[ok])
    src = tmp_path / "cat"
    src.mkdir()
    pd.DataFrame(
        {"a": blobs[:, 0], "b": blobs[:, 1], "a_err": X_err[:, 0], "b_err": X_err[:, 1]}
    ).to_parquet(src / "p.parquet", index=False)
    scale.score_parquet(
        xd, src, tmp_path / "out", columns=["a", "b"], error_columns=["a_err", "b_err"]
    )
    back = pd.read_parquet(tmp_path / "out")
    np.testing.assert_allclose(
        back[["p_0", "p_1", "p_2"]].to_numpy()[ok],
        xd.predict_proba(blobs[ok], X_err=X_err[ok]),
        rtol=1e-12,
        atol=1e-15,
    )
    assert back["unscored_reason"].iloc[100] == scale.REASONS[3]
    assert np.isnan(back["p_0"].iloc[100])


@PARQUET_NOISE
@_cluster_marks
def test_score_parquet_gpz_on_cluster_address(tmp_path, client, augment):
    aug, Xpop = augment
    src = _write_parquet(tmp_path, Xpop, nfiles=2)
    out = tmp_path / "divide"
    info = scale.score_parquet(
        aug,
        src,
        out,
        columns=["g", "bp_rp"],
        what="gpz_divide",
        scheduler=client.scheduler.address,
        return_density=True,
    )
    assert info["n_unscored"] == 0
    back = pd.read_parquet(out)
    np.testing.assert_array_equal(back["index"], np.arange(len(Xpop)))
    np.testing.assert_array_equal(back["source_id"], np.arange(len(Xpop)))
    import warnings

    from bayesmix.gpz import DivideWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        ref = aug.divide(Xpop, return_density=True)
    for col in ("best", "p0", "p1", "p2", "m0", "unassigned"):
        np.testing.assert_allclose(
            back[col].to_numpy(dtype=float), np.asarray(ref[col], dtype=float), rtol=1e-12
        )


# ----------------------------------------------------------------------------- failures
def _slow_source(block):
    """Stand-in for reading a catalogue partition from slow storage."""
    time.sleep(0.05)
    return block


@_cluster_marks
def test_worker_killed_mid_scoring_still_completes(client, fitted):
    """Kill one worker process while scoring runs: distributed recomputes the lost tasks."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rng = np.random.default_rng(12)
    X = _three_blobs(rng, n=120_000)
    Xd = da.from_array(X, chunks=(1_000, 2)).map_blocks(_slow_source, dtype=float)
    ref = fitted.predict_proba(X)
    fut = client.compute(scale.predict_proba(fitted, Xd))
    # wait until the computation is under way, then kill one worker process (SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:
        done = client.run_on_scheduler(
            lambda dask_scheduler: sum(ts.state == "memory" for ts in dask_scheduler.tasks.values())
        )
        if done >= 10:
            break
        time.sleep(0.05)
    assert not fut.done()
    victim = next(iter(client.cluster.workers.values()))
    pid = victim.process.process.pid
    os.kill(pid, 9)
    got = fut.result(timeout=120)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    client.wait_for_workers(2, timeout=60)


# ----------------------------------------------------------------------------- imports
def test_scale_does_not_import_pymc():
    code = "import bayesmix.scale, sys; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_threading_is_safe_for_concurrent_scoring(fitted, blobs):
    """Two threads scoring at once give the same answer (the kernels share one thread pool)."""
    Xd = da.from_array(blobs, chunks=(500, 2))
    res = {}

    def run(i):
        res[i] = scale.predict_proba(fitted, Xd).compute(scheduler="threads")

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_array_equal(res[0], res[1])
