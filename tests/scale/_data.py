"""Shared data and checks of the bayesmix.scale tests."""

from __future__ import annotations

import numpy as np
import pytest

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


def cluster_marks(f):
    """Mark a test that tears down worker processes (their ResourceWarnings are not ours)."""
    for m in CLUSTER_NOISE:
        f = m(f)
    return f


RTOL = 1e-10  # the brief: Dask equals in-memory to 1e-10 relative (sums differ in order only)
CHUNK = 2_000  # rows per Dask block in these tests; data sizes are not multiples of it


def three_blobs(rng, n=9_137, d=2):
    """Three overlapping Gaussians (EM needs tens of iterations, not 2)."""
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.5]])[:, :d]
    k = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    X = means[k] + rng.normal(size=(n, d)) * np.array([1.0, 0.7])[:d]
    return X


def init_dict(X, K=3, cov_type="full"):
    """A fixed initial state: same starting parameters for Dask and in-memory fits."""
    rng = np.random.default_rng(5)
    means = X[rng.choice(X.shape[0], K, replace=False)]
    D = X.shape[1]
    covs = {"full": np.stack([np.eye(D)] * K), "diag": np.ones((K, D))}[cov_type]
    return {"means": means, "weights": np.full(K, 1.0 / K), "covariances": covs}


def assert_same_fit(a, b):
    """Two fits agree to rounding: iterations, history, parameters."""
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


def new_line_objects(n=4_321):
    """New objects for the line + outlier model (every 7th an outlier)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, n)
    y_err = rng.uniform(0.2, 0.5, n)
    y = 1.5 * x - 2 + rng.normal(0, y_err)
    y[::7] = rng.normal(5, 6, len(y[::7]))
    return {"x": x, "y": y, "y_err": y_err}


def write_parquet(tmp_path, X, nfiles=3):
    """A Parquet catalogue of X in ``nfiles`` files, with an id and a string column."""
    import pandas as pd

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
