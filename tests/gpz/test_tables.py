"""Feature expressions, table-level functions, divide CSV (bayesmix.gpz.tables)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.table import Table

from bayesmix.datasets import load_candels_cosmos
from bayesmix.exceptions import DataError, SpecError
from bayesmix.gpz import (
    DivideWarning,
    GPzAugment,
    gpz_divide_table,
    gpz_weights_table,
    parse_feature,
    read_divide_csv,
    write_divide_csv,
)
from gpz._data import FEATURES, candels_selection


def test_divide_csv_compatible_with_gpz_pype(candels, tmp_path):
    X, sel, aug = candels
    with pytest.warns(DivideWarning):
        div = aug.divide(X[sel][:300], weight=True)
    path = tmp_path / "mixtures.csv"
    write_divide_csv(div, path)
    text = path.read_text().splitlines()
    K = aug.n_components
    assert text[0] == ",".join(
        ["index", "best", *[f"m{k}" for k in range(K)], "weights", "unassigned"]
    )
    assert set(text[1].split(",")[2 : 2 + K]) <= {"True", "False"}
    # gpz_pype writes its divide Table (index, best, m0..: int, int, bool) with astropy's
    # ascii.csv writer and reads it back with Table.read(..., format="ascii.csv")
    ref = Table()
    ref["index"] = np.arange(4)
    ref["best"] = np.array([0, 1, 2, 3])
    for k in range(K):
        ref[f"m{k}"] = np.arange(4) == (k % 4)
    ref.write(tmp_path / "gpz_pype_like.csv", format="ascii.csv")
    ref_back = Table.read(tmp_path / "gpz_pype_like.csv", format="ascii.csv")
    ours_back = Table.read(path, format="ascii.csv")
    for name in ref_back.colnames:
        assert ours_back[name].dtype == ref_back[name].dtype, name
    # read_divide_csv restores the booleans: same names and dtypes as in memory
    back = read_divide_csv(path)
    assert back.colnames == div.colnames
    for name in div.colnames:
        assert back[name].dtype == div[name].dtype, name
        np.testing.assert_array_equal(back[name], div[name])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_divide_csv(div, path)
    write_divide_csv(div[:10], path, overwrite=True)
    assert len(read_divide_csv(path)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpz_pype_like.csv", "mixtures.csv"]


def test_parse_feature():
    assert parse_feature("lupt_F160W") == [(1, "lupt_F160W")]
    assert parse_feature("lupt_F606W-lupt_F814W") == [(1, "lupt_F606W"), (-1, "lupt_F814W")]
    assert parse_feature(" a + b - c ") == [(1, "a"), (1, "b"), (-1, "c")]
    assert parse_feature("g-r", columns=["g-r", "g", "r"]) == [(1, "g-r")]
    for bad in ("", "a--b", "a*b", "a b", "__import__('os')", "a-", "1a"):
        with pytest.raises(SpecError, match="feature"):
            parse_feature(bad)


def test_table_functions(tmp_path):
    t = load_candels_cosmos()
    X, sel = candels_selection(4)
    train = t[sel]
    out, aug = gpz_weights_table(t, train, FEATURES, n_components=4, rng=2)
    assert out.colnames == [*train.colnames, "weights"]
    assert len(out) == len(train) and "weights" not in train.colnames
    direct = GPzAugment(X, X[sel], n_components=4, rng=2)
    np.testing.assert_array_equal(out["weights"], direct.calc_weights(X[sel]))
    assert out.meta["gpz_weights"]["diagnostics"]["max"] <= 100
    with pytest.raises(DataError, match="lupt_F999W.*not in the population table.*available"):
        gpz_weights_table(t, train, ["lupt_F606W-lupt_F999W"], n_components=2)
    with pytest.raises(DataError, match="already has a column 'weights'"):
        gpz_weights_table(t, out, FEATURES, n_components=2)
    with pytest.warns(DivideWarning):
        div, aug2 = gpz_divide_table(
            t, train, FEATURES, train_table=train, n_components=4, weight=True, augment=aug
        )
    assert len(div) == len(train) and div.meta["features"] == FEATURES
    np.testing.assert_array_equal(div["weights"], out["weights"])
    div_best, _ = gpz_divide_table(t, train, FEATURES, n_components=4, assign="best", rng=2)
    assert not div_best["unassigned"].any()
    with pytest.raises(SpecError, match="train_table"):
        gpz_divide_table(t, train, FEATURES, n_components=2, weight=True)
    # masked values are reported, not silently dropped
    masked = Table(t[:50], masked=True)
    masked["lupt_F160W"].mask[7] = True
    with pytest.raises(DataError, match="non-finite.*row 7"):
        gpz_weights_table(masked, train, FEATURES, n_components=2)


def test_divide_csv_flushes_subnormal_probabilities(tmp_path):

    from astropy.table import Table

    from bayesmix.gpz import write_divide_csv

    t = Table({"index": [0, 1], "best": [0, 1], "m0": [True, False], "p0": [1.0, 1.04e-319]})
    write_divide_csv(t, tmp_path / "d.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = Table.read(tmp_path / "d.csv", format="ascii.csv")
    assert list(back["p0"]) == [1.0, 0.0]
    assert t["p0"][1] == 1.04e-319  # the caller's table is untouched
