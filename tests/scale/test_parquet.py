"""bayesmix.scale.parquet: Parquet in, Parquet out, partition by partition."""

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
from bayesmix.em import XDGaussianMixture  # noqa: E402
from bayesmix.exceptions import DataError  # noqa: E402
from scale._data import (  # noqa: E402
    PARQUET_NOISE,
    cluster_marks,
    write_parquet,
)


@PARQUET_NOISE
def test_score_parquet_roundtrip(tmp_path, fitted, blobs):
    X = blobs.copy()
    X[42, 0] = np.nan
    src = write_parquet(tmp_path, X)
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
@cluster_marks
def test_score_parquet_gpz_on_cluster_address(tmp_path, client, augment):
    aug, Xpop = augment
    src = write_parquet(tmp_path, Xpop, nfiles=2)
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

    from bayesmix.gpz import DivideWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        ref = aug.divide(Xpop, return_density=True)
    for col in ("best", "p0", "p1", "p2", "m0", "unassigned"):
        np.testing.assert_allclose(
            back[col].to_numpy(dtype=float), np.asarray(ref[col], dtype=float), rtol=1e-12
        )
