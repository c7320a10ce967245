"""Table reading/writing in every supported format, atomic writes, clear errors."""

import gzip
import json
import os

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bayesmix.exceptions import DataError, FormatError
from bayesmix.io import (
    read_table,
    table_to_array,
    write_figure,
    write_json,
    write_table,
    write_text,
)

FORMATS = ["t.csv", "t.csv.gz", "t.ecsv", "t.fits", "t.vot", "t.parquet"]


@pytest.fixture
def table():
    return Table(
        {
            "source_id": np.array([4295806720, 2, 3], dtype=np.int64),
            "FeH": [-0.1, 0.2, -0.5],
            "MgFe": [0.05, 0.01, 0.3],
            "name": ["a", "b", "c"],
        }
    )


@pytest.mark.parametrize("name", FORMATS)
def test_round_trip(tmp_path, table, name):
    path = write_table(table, tmp_path / name)
    assert path.exists()
    back = read_table(path)
    assert back.colnames == table.colnames
    assert len(back) == 3
    np.testing.assert_array_equal(back["source_id"], table["source_id"])
    np.testing.assert_allclose(back["FeH"], table["FeH"], rtol=0, atol=0)
    assert [str(s) for s in back["name"]] == ["a", "b", "c"]
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_csv_gz_is_compressed(tmp_path, table):
    path = write_table(table, tmp_path / "t.csv.gz")
    with gzip.open(path, "rt") as fh:
        assert fh.readline().strip() == "source_id,FeH,MgFe,name"


def test_read_columns_subset_and_order(tmp_path, table):
    write_table(table, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv", columns=["MgFe", "FeH"])
    assert back.colnames == ["MgFe", "FeH"]


def test_unknown_column_lists_available(tmp_path, table):
    write_table(table, tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"unknown column 'Mgfe'.*source_id, FeH, MgFe, name.*"
                       r"Did you mean 'MgFe'") as exc:
        read_table(tmp_path / "t.csv", columns=["FeH", "Mgfe"])
    assert exc.value.argument == "columns"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


def test_unknown_format(tmp_path):
    (tmp_path / "t.xyz").write_text("a\n1\n")
    with pytest.raises(FormatError, match=r"\.csv"):
        read_table(tmp_path / "t.xyz")


def test_unparsable_file_is_data_error(tmp_path):
    (tmp_path / "t.fits").write_text("this is not FITS")
    with pytest.raises(DataError, match="cannot read"):
        read_table(tmp_path / "t.fits")


def test_refuses_to_overwrite(tmp_path, table):
    path = tmp_path / "t.ecsv"
    write_table(table, path)
    before = path.read_bytes()
    table2 = table.copy()
    table2["FeH"] = [9.0, 9.0, 9.0]
    with pytest.raises(FileExistsError, match="overwrite"):
        write_table(table2, path)
    assert path.read_bytes() == before
    write_table(table2, path, overwrite=True)
    np.testing.assert_array_equal(read_table(path)["FeH"], [9.0, 9.0, 9.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ecsv"]


def test_failed_write_leaves_nothing(tmp_path, table):
    path = tmp_path / "t.csv"
    write_table(table, path)

    class Broken:
        def write(self, *args, **kwargs):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_table(Broken(), path, overwrite=True)
    # the old file is intact and no temporary file remains
    assert len(read_table(path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_creates_parent_folders(tmp_path):
    path = write_text("hi\n", tmp_path / "a" / "b" / "x.txt")
    assert path.read_text() == "hi\n"


def test_write_json_sorted_numpy_and_nan(tmp_path):
    obj = {"b": np.float64(1.5), "a": np.arange(3), "c": {"z": float("nan"), "y": np.int64(2)}}
    path = write_json(obj, tmp_path / "s.json")
    text = path.read_text()
    assert json.loads(text) == {"a": [0, 1, 2], "b": 1.5, "c": {"y": 2, "z": None}}
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')
    with pytest.raises(FileExistsError):
        write_json({}, path)
    write_json({"x": 1}, path, overwrite=True)
    assert json.loads(path.read_text()) == {"x": 1}


def test_write_json_rejects_unknown_types(tmp_path):
    with pytest.raises(TypeError, match="object"):
        write_json({"a": object()}, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_written_files_are_readable_by_others(tmp_path):
    path = write_text("x", tmp_path / "x.txt")
    assert os.stat(path).st_mode & 0o044 == 0o044


def test_table_to_array_masks_and_nonnumeric(table):
    t = table.copy()
    t["MgFe"] = MaskedColumn([0.1, 0.2, 0.3], mask=[False, True, False])
    X, usable = table_to_array(t, ["FeH", "MgFe"])
    assert X.shape == (3, 2)
    assert np.isnan(X[1, 1])
    np.testing.assert_array_equal(usable, [True, False, True])
    with pytest.raises(DataError, match="'name'.*not numeric"):
        table_to_array(t, ["FeH", "name"])
    with pytest.raises(DataError, match="unknown column 'feh'.*available columns"):
        table_to_array(t, ["feh"])


def test_write_figure_atomic(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    path = write_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        write_figure(fig, path)
    with pytest.raises(FormatError, match="suffix"):
        write_figure(fig, tmp_path / "f")


def test_parquet_without_pyarrow_is_clear(tmp_path, table, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(FormatError, match="pip install pyarrow"):
        write_table(table, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_pandas_written_parquet_reads_without_warnings(tmp_path):
    # pandas/pyarrow Parquet has no astropy string-length metadata; reading it must
    # neither warn (filterwarnings=error) nor lose a row or a column
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan], "name": ["a", "bbb", "cc"]})
    df.to_parquet(tmp_path / "t.parquet")
    t = read_table(tmp_path / "t.parquet")
    assert t.colnames == ["x", "name"] and len(t) == 3
    assert list(t["name"]) == ["a", "bbb", "cc"]
    assert np.isnan(t["x"][2])
