"""bayesmix.scale.gpz: lazy GPz weights and divide equal the in-memory GPzAugment."""

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
from bayesmix.exceptions import NotFittedError  # noqa: E402


def test_gpz_weights_and_divide_equal_in_memory(augment):

    from bayesmix.gpz import DivideWarning

    aug, X = augment
    X = X.copy()
    X[11, 1] = np.nan
    ok = np.isfinite(X).all(axis=1)
    Xd = da.from_array(X, chunks=(700, 2))
    # the rule is fitted in memory on the training sample (here a subsample of the
    # population stands in for it), then applied block by block
    aug.fit_weights(aug.pop_sample_[::3], max_weight=30)
    w = scale.gpz_weights(aug, Xd).compute()
    np.testing.assert_allclose(w[ok], aug.weights(X[ok]), rtol=1e-12)
    assert np.isnan(w[11])
    # a rule that needs no training sample is set up from its options
    w_exact = scale.gpz_weights(aug, Xd, ratio="mixture", regularise="none").compute()
    ref = np.minimum(np.exp(aug.log_density_ratio(X[ok])), 100)
    np.testing.assert_allclose(w_exact[ok], ref, rtol=1e-12)
    with pytest.raises(NotFittedError, match="fit_weights"):
        scale.gpz_weights(aug, Xd, regularise="auto", ess_floor=0.5)
    aug.fit_weights(aug.pop_sample_[::3], max_weight=30)
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
