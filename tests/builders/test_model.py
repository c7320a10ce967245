"""MixtureModel.rows / prepare_rows: which input rows a model uses, for every builder."""

import warnings

import numpy as np
import pytest

from bayesmix.builders import RowRecord, cluster_field, gaussian_mixture, line_outlier
from bayesmix.exceptions import DataError
from bayesmix.gaia import GaiaColumnWarning
from bayesmix.sky import separation
from tests._cluster_fits import simulate


def test_row_record_from_ids():
    rows = RowRecord.from_ids(np.array([7, 3, 9]))
    assert rows.used.tolist() == [True] * 3 and rows.reasons.tolist() == [""] * 3
    assert rows.ids.tolist() == [7, 3, 9] and rows.all_ids.tolist() == [7, 3, 9]
    assert rows.n_rows == 3 and rows.n_excluded == 0
    assert dict(rows.columns) == {} and dict(rows.masks) == {}
    with pytest.raises(DataError, match="no column 'ra'"):
        rows.column("ra")


def test_array_builders_record_every_row(rng):
    x = np.linspace(0, 1, 12)
    y = 2 * x + rng.normal(0, 0.1, 12)
    mm = line_outlier(x, y, np.full(12, 0.1), ids=np.arange(12) + 100)
    assert mm.rows.ids.tolist() == list(mm.coords["object"])
    assert mm.rows.used.all() and mm.rows.n_excluded == 0
    data, rows = mm.prepare_rows(
        {"x": x[:3], "y": y[:3], "y_err": np.full(3, 0.1), "ids": [5, 6, 7]}
    )
    np.testing.assert_array_equal(data["y"], y[:3])
    assert rows.ids.tolist() == [5, 6, 7]
    assert mm.prepare_data({"x": x[:3], "y": y[:3], "y_err": np.full(3, 0.1)})[1].tolist() == [
        0,
        1,
        2,
    ]
    gm = gaussian_mixture(rng.normal(size=(20, 2)), 2)
    assert gm.rows.ids.tolist() == list(range(20)) and gm.rows.n_rows == 20


def test_cluster_field_records_used_rows_reasons_and_control_stars():
    t, _ = simulate(5, n=300)
    t = {k: np.array(v, dtype=float) if k != "source_id" else v for k, v in t.items()}
    t["pmra"][[4, 17]] = np.nan
    t["pmdec_error"][17] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        mm = cluster_field(t, rng=3)
    rows = mm.rows
    assert rows.n_rows == 300 and rows.n_excluded == 2 == mm.spec["n_excluded"]
    assert np.flatnonzero(~rows.used).tolist() == [4, 17]
    assert rows.reasons[4] == "missing pmra"
    assert rows.reasons[17] == "missing pmra, pmdec_error"
    assert (rows.reasons[rows.used] == "").all()
    np.testing.assert_array_equal(rows.all_ids, t["source_id"])
    np.testing.assert_array_equal(rows.ids, np.asarray(mm.coords["object"]))
    np.testing.assert_array_equal(rows.column("ra"), t["ra"][rows.used])
    # the control field: used stars farther from the sky centre than the median separation
    ra0, dec0 = mm.spec["sky_center"]
    sep = separation(t["ra"][rows.used], t["dec"][rows.used], ra0, dec0)
    control = rows.masks["control"]
    np.testing.assert_array_equal(control, sep > np.median(sep))
    assert control.sum() == mm.spec["field_params"]["n_stars"]
    assert mm.spec["field_min_separation"] == pytest.approx(np.median(sep), rel=1e-12)


def test_cluster_field_prepare_rows_on_new_stars():
    t, _ = simulate(5, n=200)
    mm = cluster_field(t, rng=3)
    new = {k: np.array(v[:10], dtype=float) if k != "source_id" else v[:10] for k, v in t.items()}
    new["pmdec"][2] = np.nan
    data, rows = mm.prepare_rows(new)
    assert rows.used.tolist() == [True, True, False] + [True] * 7
    assert rows.reasons[2] == "missing pmdec"
    assert rows.ids.tolist() == [t["source_id"][i] for i in range(10) if i != 2]
    sel = np.r_[0, 1, np.arange(3, 10)]
    np.testing.assert_allclose(data["X"], mm.data["X"][sel], rtol=0)
    np.testing.assert_allclose(data["field_fixed"], mm.data["field_fixed"][sel], rtol=1e-12)
    assert dict(rows.masks) == {}
