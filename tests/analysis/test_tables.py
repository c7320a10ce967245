"""bayesmix.analysis.tables: every input row back in its place, with its membership."""

import numpy as np
import pytest
import xarray as xr
from astropy.table import MaskedColumn, Table

from bayesmix.analysis import membership_table, merge_membership
from bayesmix.exceptions import DataError
from bayesmix.gaia import gaia_arrays
from bayesmix.membership import membership


def _table(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return Table(
        {
            "source_id": np.arange(100, 100 + n),
            "pmra": rng.normal(5, 2, n),
            "pmra_error": np.full(n, 0.1),
            "pmdec": rng.normal(-3, 2, n),
            "pmdec_error": np.full(n, 0.1),
        }
    )


def _probabilities(ids, p):
    return xr.Dataset(
        {
            "probability": (("object", "component"), np.c_[p, 1 - p]),
            "probability_sd": (("object", "component"), np.zeros((len(p), 2))),
        },
        coords={"object": ids, "component": ["cluster", "field"]},
    )


def test_merge_membership_keeps_every_row_in_place():
    t = _table()
    t["pmra"] = MaskedColumn(t["pmra"], mask=[False, True, False, False, False, False])
    t["pmdec_error"][4] = np.nan
    g = gaia_arrays(t, ("pmra", "pmdec"), correlations=False)
    p = np.linspace(0.1, 0.4, 4)
    ds = _probabilities(g.ids, p)
    out = merge_membership(g, ds)
    assert len(out) == 6 and out.meta["n_excluded"] == 2 and out.meta["n_fitted"] == 4
    np.testing.assert_array_equal(out["source_id"], t["source_id"])
    assert np.isnan(out["p_cluster"][1]) and np.isnan(out["p_cluster"][4])
    np.testing.assert_allclose(out["p_cluster"][[0, 2, 3, 5]], p)
    np.testing.assert_allclose(out["p_field"][[0, 2, 3, 5]], 1 - p)
    assert out["excluded_reason"][4] == "missing pmdec_error"
    assert out["excluded_reason"][0] == ""
    # keep_columns=False: the ids of every row instead of the input columns
    ids_only = merge_membership(g, ds, keep_columns=False)
    assert ids_only.colnames[0] == "object" and "pmra" not in ids_only.colnames
    np.testing.assert_array_equal(ids_only["object"], t["source_id"])
    # probabilities of other objects: refused
    with pytest.raises(DataError, match="does not cover every fitted object"):
        merge_membership(g, _probabilities(g.ids + 1, p))


def test_membership_table_of_a_model_built_from_arrays(rng):
    # a builder given arrays records no input columns: the table has an object column
    from bayesmix.builders import line_outlier
    from bayesmix.inference import Fit

    x = np.linspace(0, 1, 8)
    mm = line_outlier(x, 2 * x, np.full(8, 0.1), ids=np.arange(8) + 10)
    draws = {
        "slope": rng.normal(2, 0.01, (1, 50)),
        "intercept": rng.normal(0, 0.01, (1, 50)),
        "weights": np.broadcast_to([0.9, 0.1], (1, 50, 2)),
        "outlier_mean": np.zeros((1, 50)),
        "outlier_sigma": np.full((1, 50), 10.0),
    }
    post = xr.Dataset(
        {k: (("chain", "draw", "component")[: np.ndim(v)], v) for k, v in draws.items()},
        coords={"component": ["inlier", "outlier"]},
    )
    fit = Fit(idata=xr.DataTree.from_dict({"posterior": post}), model=mm)
    tab = membership_table(fit)
    assert tab.colnames == [
        "object",
        "p_inlier",
        "p_inlier_sd",
        "p_outlier",
        "p_outlier_sd",
        "excluded_reason",
    ]
    assert tab["object"].tolist() == list(range(10, 18))
    ds = membership(fit, quantiles=False)
    np.testing.assert_allclose(
        tab["p_inlier"], ds["probability"].sel(component="inlier"), rtol=1e-12
    )
    assert tab.meta["n_excluded"] == 0
