"""bayesmix.scale.bayes: Bayesian membership of new objects over Dask."""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from bayesmix import scale  # noqa: E402
from bayesmix.exceptions import DataError, SpecError  # noqa: E402
from scale._data import (  # noqa: E402
    new_line_objects,
)


def test_membership_new_objects_threaded(line_fit):
    from bayesmix.membership import membership

    data = new_line_objects()
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


def test_membership_from_posterior_draws_record(line_fit):
    """The record alone (what workers receive) gives the same lazy membership."""
    from bayesmix.membership import PosteriorDraws, membership

    data = new_line_objects(1_500)
    record = PosteriorDraws.from_fit(line_fit)
    lazy = {k: da.from_array(v, chunks=600) for k, v in data.items()}
    got = scale.membership(record, lazy, broadcast="delayed", quantiles=False).compute()
    ref = membership(line_fit, data, quantiles=False)
    assert set(got.data_vars) == {"probability", "probability_sd"}
    for var in got.data_vars:
        np.testing.assert_allclose(got[var].values, ref[var].values, rtol=1e-12, atol=1e-15)
    with pytest.raises(SpecError, match="broadcast='scatter' needs"):
        scale.membership(record, lazy, broadcast="scatter")
    with pytest.raises(DataError, match="data"):
        scale.membership(record, {})
