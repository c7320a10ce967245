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
    readable_formats,
    table_to_array,
    write_figure,
    write_json,
    write_table,
    write_text,
)

FORMATS = ["t.csv", "t.csv.gz", "t.ecsv", "t.ecsv.gz", "t.fits", "t.fits.gz", "t.vot", "t.parquet"]


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
    with pytest.raises(
        DataError,
        match=r"unknown column 'Mgfe'.*source_id, FeH, MgFe, name.*"
        r"Did you mean 'MgFe'",
    ) as exc:
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


# --------------------------------------------------------------------------------------------
# damaged and ambiguous input files (issue 13, items 3 and 7): one DataError naming the path
# --------------------------------------------------------------------------------------------


def _fits_with_names(path, names):
    """A FITS binary table whose TTYPE keywords are ``names`` (astropy refuses to write dups)."""
    Table({f"c{i}": [1.0, 2.0] for i in range(len(names))}).write(path)
    data = path.read_bytes()
    for i, name in enumerate(names):
        key = f"TTYPE{i + 1}"
        old, new = f"{key:<8}= 'c{i:<7}'", f"{key:<8}= '{name:<8}'"
        assert old.encode() in data and len(new) == len(old), "test helper: short names only"
        data = data.replace(old.encode(), new.encode())
    path.write_bytes(data)


def _vot(names):
    fields = "".join(f'<FIELD name="{n}" datatype="double"/>' for n in names)
    cells = "".join(f"<TD>{i}</TD>" for i in range(len(names)))
    return (
        '<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        f"<RESOURCE><TABLE>{fields}<DATA><TABLEDATA><TR>{cells}</TR></TABLEDATA></DATA>"
        "</TABLE></RESOURCE></VOTABLE>"
    )


def _duplicate_files(tmp_path):
    """The same two-column table whose columns are both named 'a', in every format."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "t.csv").write_text("a,a\n1,2\n")
    (tmp_path / "q.csv").write_text('"a", "a"\n1,2\n')  # quoted, spaced: the same name
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(b"a,b,a\n1,2,3\n"))
    (tmp_path / "t.ecsv").write_text(
        "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: float64}\n"
        "# - {name: a, datatype: float64}\na a\n1 2\n"
    )
    _fits_with_names(tmp_path / "t.fits", ["a", "a"])
    (tmp_path / "t.vot").write_text(_vot(["a", "a"]))
    pq.write_table(
        pa.table([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]), tmp_path / "t.parquet"
    )
    return ["t.csv", "q.csv", "t.csv.gz", "t.ecsv", "t.fits", "t.vot", "t.parquet"]


def test_duplicate_column_names_are_an_error_in_every_format(tmp_path):
    # astropy would rename the second 'a' (a_1, a_2) and a fit could use either
    for name in _duplicate_files(tmp_path):
        with pytest.raises(DataError) as info:
            read_table(tmp_path / name)
        msg = str(info.value)
        assert "\n" not in msg and f"'{tmp_path / name}'" in msg, name
        assert "column name 'a' appears twice" in msg, (name, msg)
        assert info.value.argument == "path"


def test_a_column_named_like_a_renamed_duplicate_is_kept(tmp_path):
    # 'a_1' written by the user is a name like any other: read as written, not refused
    (tmp_path / "t.csv").write_text("a,a_1\n1,2\n")
    assert read_table(tmp_path / "t.csv").colnames == ["a", "a_1"]


def test_unnamed_columns_are_an_error_not_col1(tmp_path):
    (tmp_path / "t.csv").write_text("a,,b\n1,2,3\n")
    with pytest.raises(DataError, match=r"t.csv': column 2 has no name"):
        read_table(tmp_path / "t.csv")
    _fits_with_names(tmp_path / "t.fits", ["a", " "])
    with pytest.raises(DataError, match=r"t.fits': column 2 has no name"):
        read_table(tmp_path / "t.fits")


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    (tmp_path / "t.csv").write_bytes("\ufeffa,b\n1,2\n".encode())
    assert read_table(tmp_path / "t.csv").colnames == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.csv", b"", r"the file is empty \(0 bytes\)"),
        ("t.fits", b"", r"the file is empty \(0 bytes\)"),
        ("t.parquet", b"", r"the file is empty \(0 bytes\)"),
        ("t.csv", b"\n \n\n", "the file holds only blank lines"),
        ("t.csv", b"a,b\n", r"it has columns \(a, b\) but no rows"),
        ("t.csv", b"a,b", r"it has columns \(a, b\) but no rows"),  # no line break
        ("t.csv.gz", gzip.compress(b""), "the gzip file holds no data"),
        ("t.csv.gz", b"a,b\n1,2\n", "its name ends in .gz but it is not gzip-compressed"),
        (
            "t.csv.gz",
            gzip.compress(np.random.default_rng(1).bytes(3000))[:1000],
            "corrupt or truncated gzip file",
        ),
        ("t.csv.gz", b"\x1f\x8b" + bytes(range(200)), "corrupt or truncated gzip file"),
        ("t.csv", b"a,b\n1,2\n\xe9,3\n", r"not UTF-8 text \(byte 0xe9 on line 3\)"),
        ("t.csv", bytes(range(256)) * 4, r"not UTF-8 text \(byte 0x80 on line 2\)"),
        ("t.csv", b"a,b\n1,2\x00\n", "it holds a NUL byte on line 2"),
        ("t.csv", b"a,b\n1,2\n3\n4,5\n", "line 3 has 1 value, the header 2"),
        ("t.csv", b"a,b\n1,2\n\n3,4,5\n", "line 4 has 3 values, the header 2"),
        ("t.csv", b"# note\na,b\n1,2\n", r"line 2 has 2 values, the header 1 \(line 1, '# note'"),
        ("t.ecsv", b"a b\n1 2\n", r"ECSV header line"),
        ("t.vot", b"<VOTABLE><RESOURCE>", "as votable"),
        (
            "t.vot",
            _vot([]).encode().replace(b"<TABLE>", b"").replace(b"</TABLE>", b""),
            "holds no table",
        ),
        ("t.fits", b"SIMPLE  =                    T" + b" " * 100, "as fits"),
    ],
)
def test_damaged_files_give_one_line_naming_the_path(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    msg = str(info.value)
    assert "\n" not in msg and f"'{path}'" in msg
    assert "chr()" not in msg and "available columns: ." not in msg
    assert path.read_bytes() == content  # never touched


def test_header_only_table_allowed_when_asked(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n")
    t = read_table(tmp_path / "t.csv", allow_empty=True)
    assert t.colnames == ["a", "b"] and len(t) == 0


@pytest.mark.parametrize("fmt", ["parquet", "fits", "fits.gz"])
def test_truncated_binary_tables_are_refused(tmp_path, table, fmt):
    pytest.importorskip("pyarrow")
    big = Table({"x": np.arange(5000.0), "y": np.arange(5000.0)})
    write_table(big, tmp_path / f"full.{fmt}")
    data = (tmp_path / f"full.{fmt}").read_bytes()
    for cut in (len(data) - 7, len(data) // 2, 2885, 100):
        path = tmp_path / f"t{cut}.{fmt}"
        path.write_bytes(data[:cut])
        with pytest.raises(DataError) as info:
            read_table(path)
        assert f"'{path}'" in str(info.value) and "\n" not in str(info.value), cut


def test_short_and_long_rows_name_their_line_with_quotes(tmp_path):
    # quoted fields with commas and line breaks are one value each
    (tmp_path / "t.csv").write_text('a,b\n1,"x,\ny"\n2\n')
    with pytest.raises(DataError, match=r"line 4 has 1 value, the header 2"):
        read_table(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text('a,b\n1,"x,y"\n2,\n')  # an empty field is a missing value
    t = read_table(tmp_path / "t.csv")
    assert list(t["b"].mask) == [False, True]


def test_first_non_numeric_value_is_named(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,nan\n4,\n5,x\n6,7\n")
    t = read_table(tmp_path / "t.csv")
    with pytest.raises(
        DataError, match=r"column 'b' in t.csv is not numeric: row 3 holds 'x'"
    ) as e:
        table_to_array(t, ["a", "b"], source="t.csv")
    assert e.value.rows == [3]


def test_columns_named_twice_are_refused(tmp_path, table):
    write_table(table, tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"column 'FeH' of '.*t.csv' is named twice") as e:
        read_table(tmp_path / "t.csv", columns=["FeH", "MgFe", "FeH"])
    assert e.value.argument == "columns"
    with pytest.raises(DataError, match=r"column 'FeH' of the table is named twice"):
        table_to_array(table, ["FeH", "FeH"])


def test_parquet_folder_with_an_empty_part(tmp_path):
    from bayesmix.spec.model import TableSource

    pytest.importorskip("pyarrow")
    (tmp_path / "parts").mkdir()
    write_table(Table({"a": [1.0, 2.0]}), tmp_path / "parts" / "p0.parquet")
    write_table(Table({"a": np.array([], dtype=float)}), tmp_path / "parts" / "p1.parquet")
    assert list(TableSource(path=tmp_path / "parts", format="parquet").read()["a"]) == [1, 2]
    (tmp_path / "parts" / "p0.parquet").unlink()
    with pytest.raises(DataError, match=r"the 1 Parquet files of '.*parts' hold no rows"):
        TableSource(path=tmp_path / "parts", format="parquet").read()


def test_other_reader_warnings_pass_through(tmp_path):
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    hdus = [fits.PrimaryHDU()] + [
        fits.BinTableHDU(Table({"a": [float(i)]}), name=f"T{i}") for i in range(2)
    ]
    fits.HDUList(hdus).writeto(tmp_path / "t.fits")
    with pytest.warns(AstropyUserWarning, match="multiple"):
        t = read_table(tmp_path / "t.fits")
    assert list(t["a"]) == [0.0]


def test_unknown_format_name_is_a_format_error(tmp_path, table):
    write_table(table, tmp_path / "t.csv")
    with pytest.raises(FormatError, match=r"unknown table format 'excel'.*astropy reads ascii"):
        read_table(tmp_path / "t.csv", format="excel")
    with pytest.raises(FormatError, match=r"unknown table format 'ascii.cvs'; did you mean"):
        read_table(tmp_path / "t.csv", format="ascii.cvs")
    assert "ascii.csv" in readable_formats() and "parquet" in readable_formats()
    assert len(read_table(tmp_path / "t.csv", format="ascii.csv")) == 3


_DATATREE_SCRIPT = """
import sys
import numpy as np
import xarray as xr
{first}
from bayesmix.io import write_datatree
tree = xr.DataTree.from_dict({{"posterior": xr.Dataset({{"a": ("x", np.arange(4.0))}})}})
{chunk}
write_datatree(tree, sys.argv[1])
print("distributed" in sys.modules)
import distributed  # importable afterwards
back = xr.open_datatree(sys.argv[1])
print(back["posterior"]["a"].values.tolist())
"""


@pytest.mark.parametrize(
    ("first", "chunk", "imported"),
    [
        ("", "", "False"),  # no Dask client can exist: distributed is not imported to look
        ("import distributed", "tree = tree.chunk()", "True"),  # imported: dask asks it
    ],
    ids=["plain", "distributed-imported"],
)
def test_write_datatree_without_importing_distributed(tmp_path, first, chunk, imported):
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("distributed")
    code = textwrap.dedent(_DATATREE_SCRIPT).format(first=first, chunk=chunk)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "posterior.nc")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split("\n")
    assert out[0] == imported
    assert out[1] == "[0.0, 1.0, 2.0, 3.0]"
