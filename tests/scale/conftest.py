"""Fixtures of the bayesmix.scale tests (one LocalCluster for the session)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from bayesmix.em import GaussianMixture  # noqa: E402
from scale._data import three_blobs  # noqa: E402


@pytest.fixture(scope="session")
def blobs():
    return three_blobs(np.random.default_rng(7))


@pytest.fixture(scope="session")
def fitted(blobs):
    return GaussianMixture(3, rng=0, tol=1e-6, max_iter=300).fit(blobs)


@pytest.fixture(scope="session")
def client():
    """One 2-worker LocalCluster (processes) shared by the distributed tests of this module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        )
        cl = distributed.Client(cluster, set_as_default=False)
    yield cl
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl.close()
        cluster.close()


@pytest.fixture(scope="session")
def augment():
    from bayesmix.gpz import GPzAugment

    rng = np.random.default_rng(9)
    X_pop = rng.normal(size=(3_000, 2)) * [1.0, 2.0] + [0.0, 1.0]
    X_train = X_pop[X_pop[:, 0] < rng.normal(size=3_000)]
    return GPzAugment(X_pop, X_train, n_components=3, rng=1), X_pop


@pytest.fixture(scope="session")
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
