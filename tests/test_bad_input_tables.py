"""Bad-input battery, part 1: damaged, empty and ambiguous table files (issue 13, items 3, 7).

Each damaged file is given to every command that reads a table, in every role
it can play (the fitted table, a GPz population, a GPz training table, a spec's
``[data].path``): each time exactly one ``bayesmix: error:`` line naming the
file, exit code 2, before any fitting, and the folder unchanged.  A hypothesis
fuzz of CSV text checks the reader's promise on arbitrary input: the table
read has the file's header names and one row per data line, or one
``DataError`` naming the file.
"""

from __future__ import annotations

import csv
import gzip
import string

import numpy as np
import pytest
from _bad_input import assert_refused, known_failure, run_cli, two_blobs, write
from astropy.table import Table
from hypothesis import event, given
from hypothesis import strategies as st

from bayesmix.exceptions import DataError
from bayesmix.io import read_table, table_to_array

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _parquet_bytes(tmp_path, table=None):
    path = tmp_path / "_whole.parquet"
    (table or two_blobs()).write(path, overwrite=True)
    data = path.read_bytes()
    path.unlink()
    return data


def _fits_bytes(tmp_path):
    path = tmp_path / "_whole.fits"
    two_blobs(600).write(path, overwrite=True)
    data = path.read_bytes()
    path.unlink()
    return data


def _dup_parquet(tmp_path):
    path = tmp_path / "_dup.parquet"
    pq.write_table(pa.table([pa.array([1.0, 2.0])] * 2, names=["a", "a"]), path)
    data = path.read_bytes()
    path.unlink()
    return data


def _dup_fits(tmp_path):
    path = tmp_path / "_dup.fits"
    Table({"a": [1.0, 2.0], "c": [3.0, 4.0]}).write(path)
    data = path.read_bytes().replace(b"TTYPE2  = 'c       '", b"TTYPE2  = 'a       '")
    path.unlink()
    return data


GOOD_CSV = "a,b\n" + "".join(f"{i % 7}.5,{(i * 3) % 11}.25\n" for i in range(40))

#: (case id, file name, content: bytes, or a function of tmp_path giving bytes, message regex)
DAMAGED = [
    ("empty", "t.csv", b"", r"the file is empty \(0 bytes\)"),
    ("blank-lines", "t.csv", b"\n  \n\n", "only blank lines"),
    ("header-only", "t.csv", b"a,b\n", r"has columns \(a, b\) but no rows"),
    ("header-only-no-newline", "t.csv", b"a,b", r"has columns \(a, b\) but no rows"),
    ("duplicate-header", "t.csv", b"a,a,b\n1,2,3\n4,5,6\n", "column name 'a' appears twice"),
    ("duplicate-quoted", "t.csv", b'"a", "a",b\n1,2,3\n', "column name 'a' appears twice"),
    ("blank-name", "t.csv", b"a,,b\n1,2,3\n", "column 2 has no name"),
    ("latin-1", "t.csv", "a,b\n1,2\n\u00e9,3\n".encode("latin-1"), "not UTF-8 text.*line 3"),
    ("utf-16", "t.csv", GOOD_CSV.encode("utf-16"), "not UTF-8 text"),
    ("binary", "t.csv", bytes(range(256)) * 8, "not UTF-8 text"),
    ("nul-byte", "t.csv", b"a,b\n1,2\n3\x00,4\n", "NUL byte on line 3"),
    ("short-row", "t.csv", b"a,b\n1,2\n3\n4,5\n", "line 3 has 1 value, the header 2"),
    ("long-row", "t.csv", b"a,b\n1,2\n3,4,5\n", "line 3 has 3 values, the header 2"),
    ("comment-header", "t.csv", b"# made by hand\na,b\n1,2\n", "line 2 has 2 values"),
    ("gz-not-gzip", "t.csv.gz", GOOD_CSV.encode(), "not gzip-compressed"),
    ("gz-truncated", "t.csv.gz", gzip.compress(GOOD_CSV.encode())[:-12], "corrupt or truncated"),
    ("gz-corrupt", "t.csv.gz", b"\x1f\x8b\x08\x00" + bytes(60), "corrupt or truncated gzip"),
    ("gz-empty", "t.csv.gz", gzip.compress(b""), "gzip file holds no data"),
    ("gz-latin-1", "t.csv.gz", gzip.compress("a,b\n\u00e9,1\n".encode("latin-1")), "not UTF-8"),
    ("parquet-empty", "t.parquet", b"", r"the file is empty \(0 bytes\)"),
    ("parquet-truncated", "t.parquet", lambda d: _parquet_bytes(d)[:-20], "t.parquet"),
    ("parquet-half", "t.parquet", lambda d: _parquet_bytes(d)[:300], "t.parquet"),
    ("parquet-not", "t.parquet", GOOD_CSV.encode(), "t.parquet"),
    ("parquet-duplicate", "t.parquet", _dup_parquet, "column name 'a' appears twice"),
    ("fits-truncated", "t.fits", lambda d: _fits_bytes(d)[:-2000], "damaged file"),
    ("fits-header-cut", "t.fits", lambda d: _fits_bytes(d)[:4000], "t.fits"),
    ("fits-not", "t.fits", GOOD_CSV.encode(), "t.fits"),
    ("fits-duplicate", "t.fits", _dup_fits, "column name 'a' appears twice"),
    ("votable-cut", "t.vot", b'<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE>', "t.vot"),
    ("ecsv-no-header", "t.ecsv", b"a b\n1 2\n", "ECSV header"),
    ("unknown-ending", "t.txt", GOOD_CSV.encode(), r"t.txt"),
]


def _make(tmp_path, name, content):
    data = content(tmp_path) if callable(content) else content
    return write(tmp_path / name, data)


def _spec(tmp_path, table_path, pop_path=None, kind="gmm"):
    if kind == "gmm":
        body = 'features = ["a", "b"]\n[builder]\nname = "gmm"\nn_components = "1-2"\nn_init = 1\n'
    else:
        body = (
            'features = ["a-b", "b"]\n[data.population]\n'
            f'path = "{pop_path}"\n[builder]\nname = "gpz_weights"\nn_components = 2\n'
        )
    text = f'seed = 1\n[data]\npath = "{table_path}"\n{body}[output]\nfigures = []\n'
    return write(tmp_path / "s.toml", text)


#: the commands, each reading the damaged file in one role ({bad}, {good}: file names)
ROLES = {
    "gmm-fit": ["gmm", "fit", "{bad}", "--columns", "a,b", "--out", "out"],
    "gpz-weights-train": ["gpz", "weights", "{bad}", "--pop", "{good}", "--features", "a-b,b"],
    "gpz-weights-pop": ["gpz", "weights", "{good}", "--pop", "{bad}", "--features", "a-b,b"],
    "gpz-divide-table": ["gpz", "divide", "{bad}", "--pop", "{good}", "--features", "a,b"],
    "gpz-divide-train": [
        *("gpz", "divide", "{good}", "--pop", "{good}", "--features", "a,b"),
        *("--weight", "--train", "{bad}", "--out", "div.csv"),
    ],
    "run-gmm-spec": ["run", "s.toml", "--out", "out"],
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("case", "name", "content", "message"), DAMAGED, ids=[c[0] for c in DAMAGED]
)
def test_damaged_table_is_one_error_naming_the_file(tmp_path, role, case, name, content, message):
    bad = _make(tmp_path, name, content)
    good = write(tmp_path / "good.csv", two_blobs())
    if role == "run-gmm-spec":
        _spec(tmp_path, bad.name)
    argv = [a.format(bad=bad.name, good=good.name) for a in ROLES[role]] + ["--quiet"]
    if case == "unknown-ending":
        message = r"t\.txt.*(unknown|format)|(unknown|format).*t\.txt"
    line = assert_refused(tmp_path, argv, 2, message)
    assert bad.name in line, line  # the file is named


# --------------------------------------------------------------------------------------------
# paths that are not table files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("what", ["missing", "folder"])
def test_missing_or_folder_table_names_the_path(tmp_path, role, what):
    good = write(tmp_path / "good.csv", two_blobs())
    if what == "folder":
        (tmp_path / "t.csv").mkdir()
    if role == "run-gmm-spec":
        _spec(tmp_path, "t.csv")
    argv = [a.format(bad="t.csv", good=good.name) for a in ROLES[role]] + ["--quiet"]
    pattern = "t.csv' (does not exist|is not a file|has no Parquet file)"
    assert_refused(tmp_path, argv, 2, pattern)


def test_spec_paths_resolve_from_the_spec_folder_not_the_working_folder(tmp_path):
    (tmp_path / "specs").mkdir()
    write(tmp_path / "t.csv", two_blobs())  # in the working folder, not next to the spec
    _spec(tmp_path, "t.csv").rename(tmp_path / "specs" / "s.toml")
    argv = ["run", "specs/s.toml", "--out", "out", "--quiet"]
    assert_refused(tmp_path, argv, 2, r"\[data\]\.path file '.*specs/t.csv' does not exist")


# --------------------------------------------------------------------------------------------
# what a well-formed but unusable table gives
# --------------------------------------------------------------------------------------------

UNUSABLE = [
    # (case id, CSV text, command extra, message)
    ("text-value", "a,b\n1,2\n3,4\n5,x\n6,7\n", "not numeric.*row 2 holds 'x'|'b'.*row 2"),
    ("text-column", "a,b\n1,u\n3,v\n", r"'b'.*not numeric"),
    ("unknown-column", "a,c\n1,2\n3,4\n", r"'b'.*(did you mean|available).*a, c"),
    ("wrong-case", "a,B\n1,2\n3,4\n", r"'b'.*did you mean 'B'"),
    ("all-missing", "a,b\n1,\n2,\n3,\n", r"\bb\b|no row|missing"),
]


#: failing today: (role, case) -> (owner, exact failure)
UNUSABLE_KNOWN = {}


@pytest.mark.parametrize(("case", "text", "message"), UNUSABLE, ids=[u[0] for u in UNUSABLE])
@pytest.mark.parametrize("role", ["gmm-fit", "gpz-weights-train", "run-gmm-spec"])
def test_unusable_columns_name_the_column_and_row(request, tmp_path, role, case, text, message):
    if (role, case) in UNUSABLE_KNOWN:
        known_failure(request, *UNUSABLE_KNOWN[role, case])
    bad = write(tmp_path / "t.csv", text)
    good = write(tmp_path / "good.csv", two_blobs())
    if role == "run-gmm-spec":
        _spec(tmp_path, bad.name)
    argv = [a.format(bad=bad.name, good=good.name) for a in ROLES[role]] + ["--quiet"]
    argv = [("a,b" if a == "a-b,b" else a) for a in argv]
    assert_refused(tmp_path, argv, 2, message)


# --------------------------------------------------------------------------------------------
# what a good file of every format gives: the same numbers (the other side of the checks)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.ecsv", "t.fits", "t.vot", "t.parquet"])
def test_every_format_gives_the_same_fit(tmp_path, name):
    table = two_blobs()
    write(tmp_path / "ref.csv", table)
    if name == "t.csv.gz":
        write(tmp_path / name, gzip.compress((tmp_path / "ref.csv").read_bytes()))
    else:
        write(tmp_path / name, table)
    args = ["--columns", "a,b", "--n-components", "2", "--n-init", "1", "--seed", "3", "--quiet"]
    for src, out in (("ref.csv", "o_ref"), (name, "o_fmt")):
        code, _, err = run_cli(["gmm", "fit", src, *args, "--out", out], tmp_path)
        assert code == 0, err
    ref = Table.read(tmp_path / "o_ref" / "membership.csv")
    got = Table.read(tmp_path / "o_fmt" / "membership.csv")
    assert got.colnames == ref.colnames
    np.testing.assert_allclose(got["p_c0"], ref["p_c0"], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------------------------
# fuzz: arbitrary CSV text is read faithfully or refused with one line naming the file
# --------------------------------------------------------------------------------------------

_CELL = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " .-+eE\"'#", max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "1e300", "-0", "NaN", '""', '"a,b"']),
)


@st.composite
def _csv_text(draw):
    names = draw(
        st.lists(st.sampled_from(["a", "b", "c", "a_1", "", " a", "b "]), min_size=1, max_size=4)
    )
    rows = draw(st.lists(st.lists(_CELL, min_size=0, max_size=5), min_size=0, max_size=6))
    lines = [",".join(names)] + [",".join(r) for r in rows]
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "\n\n"]))
    return text, names


@given(_csv_text())
def test_fuzzed_csv_is_read_as_written_or_refused(tmp_path_factory, case):
    text, _ = case
    path = tmp_path_factory.mktemp("fuzz") / "t.csv"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        table = read_table(path)
    except DataError as exc:
        event("refused")
        msg = str(exc)
        assert "\n" not in msg and f"'{path}'" in msg, msg
        return
    # read: the header (the first non-blank line, parsed by Python's csv module) gives the
    # names, unrenamed; every other non-blank line is one row
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = next(csv.reader(lines[:1], skipinitialspace=True))
    assert table.colnames == [n.strip() for n in header]
    assert len(set(table.colnames)) == len(table.colnames)
    assert len(table) == len(lines) - 1 >= 1


@given(_csv_text())
def test_fuzzed_csv_through_gmm_fit_never_fails_at_run_time(tmp_path_factory, case):
    text, _ = case
    folder = tmp_path_factory.mktemp("fuzzcli")
    (folder / "t.csv").write_text(text, encoding="utf-8", newline="")
    argv = [
        "gmm",
        "fit",
        "t.csv",
        "--columns",
        "a",
        "--n-components",
        "1",
        "--n-init",
        "1",
        "--seed",
        "1",
        "--out",
        "out",
        "--quiet",
    ]
    code, _, err = run_cli(argv, folder)
    event(f"exit {code}")
    assert "Traceback" not in err
    assert code in (0, 2), err
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.startswith("bayesmix: error: ")]
        assert len(lines) == 1, err
        assert not (folder / "out").exists() or not any((folder / "out").iterdir())
        return
    X, usable = table_to_array(read_table(folder / "t.csv"), ["a"])
    out = read_table(folder / "out" / "membership.csv")
    assert len(out) == len(X)  # every row, in order, scored or with a reason
    np.testing.assert_array_equal(np.asarray(out["a"], float), X[:, 0])
    p, _ = table_to_array(out, ["p_c0"])
    col = out["unscored_reason"]  # all empty: astropy reads a masked (int) column
    missing = np.ma.getmaskarray(col)
    reason = np.array(
        ["" if m else str(v) for v, m in zip(np.ma.getdata(col), missing, strict=True)]
    )
    np.testing.assert_allclose(p[usable, 0], 1.0)  # one component: probability one
    assert np.isnan(p[~usable, 0]).all()
    assert (reason[~usable] != "").all() and (reason[usable] == "").all()


# --------------------------------------------------------------------------------------------
# Parquet folders over Dask (--dask): the same promises as in memory
# --------------------------------------------------------------------------------------------

DASK = [
    "--columns",
    "a,b",
    "--n-components",
    "2",
    "--n-init",
    "1",
    "--seed",
    "2",
    "--dask",
    "--scheduler",
    "synchronous",
    "--quiet",
]


def _parts(folder, table, n=3, *, rename=None):
    folder.mkdir()
    size = -(-len(table) // n)
    for i in range(n):
        part = table[i * size : (i + 1) * size].copy()
        if rename is not None and i == 1:
            part.rename_column(*rename)
        part.write(folder / f"part.{i}.parquet")
    return folder


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DASK_FAULTS = {
    "truncated-part": lambda f: _truncate(f / "part.1.parquet"),
    "empty-part-file": lambda f: (f / "part.1.parquet").write_bytes(b""),
    "not-parquet-part": lambda f: (f / "part.1.parquet").write_text(GOOD_CSV),
}


@pytest.mark.parametrize("fault", DASK_FAULTS)
def test_damaged_parquet_part_over_dask_names_the_file(tmp_path, fault):
    folder = _parts(tmp_path / "parts", two_blobs(90))
    DASK_FAULTS[fault](folder)
    assert_refused(tmp_path, ["gmm", "fit", "parts", *DASK, "--out", "o"], 2, r"part.1.parquet")


def test_parquet_parts_with_other_columns_over_dask_are_named(tmp_path):
    _parts(tmp_path / "parts", two_blobs(90), rename=("b", "c"))
    assert_refused(tmp_path, ["gmm", "fit", "parts", *DASK, "--out", "o"], 2, r"part.1|'b'")


def test_missing_values_over_dask_keep_their_row(tmp_path):
    t = two_blobs(90)
    t["a"][[4, 50]] = np.nan
    t["b"][70] = np.inf
    _parts(tmp_path / "parts", t)
    code, _, err = run_cli(["gmm", "fit", "parts", *DASK, "--out", "o"], tmp_path)
    assert code == 0, err
    out = pq.read_table(tmp_path / "o" / "membership.parquet").to_pandas()  # a folder
    np.testing.assert_array_equal(out["id"], t["id"])  # every row, in order
    reason = out["unscored_reason"].fillna("").to_numpy(dtype=str)
    bad = np.isin(np.arange(90), [4, 50, 70])
    assert (reason[bad] != "").all() and (reason[~bad] == "").all()
    p = out[["p_c0", "p_c1"]].to_numpy(dtype=float)
    assert np.isnan(p[bad]).all()
    np.testing.assert_allclose(p[~bad].sum(axis=1), 1.0)
