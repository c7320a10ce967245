"""Reading a spec's data: paths, Parquet folders and globs, and the one column check."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from bayesmix.exceptions import DataError, SpecError
from bayesmix.spec import (
    available_builders,
    check_columns,
    check_spec_columns,
    load_spec,
    parquet_files,
    read_data,
)

EM_SPEC = (
    'seed = 1\n[data]\npath = "{path}"\nfeatures = ["a", "b"]\n'
    '[builder]\nname = "gmm"\nn_components = 1\n'
)


def test_paths_resolve_from_the_spec_folder(tmp_path):
    (tmp_path / "data").mkdir()
    Table({"a": [1.0, 2.0, np.nan], "b": [3.0, 4.0, 5.0]}).write(
        tmp_path / "data" / "t.csv", format="ascii.csv"
    )
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        EM_SPEC.format(path="data/t.csv").replace("[builder]", 'select = "b >= 4"\n[builder]')
    )
    spec = load_spec(spec_file)
    assert spec.data.source.path == (tmp_path / "data" / "t.csv").resolve()
    data = read_data(spec)
    np.testing.assert_array_equal(data.selected, [False, True, True])
    # unknown columns are found before any fitting, with their key path
    spec_file.write_text(spec_file.read_text().replace('"a", "b"', '"a", "c"'))
    with pytest.raises(DataError, match=r"\[data\]\.features names column 'c'.*available"):
        read_data(load_spec(spec_file))
    spec_file.write_text(spec_file.read_text().replace('"b >= 4"', '"b > 99"'))
    with pytest.raises(DataError, match=r"\[data\]\.select keeps none of the 3 rows"):
        read_data(load_spec(spec_file))


def test_check_columns_on_tables_frames_and_names():
    pd = pytest.importorskip("pandas")
    table = Table({"pmra": [1.0], "pmdec": [2.0]})
    frame = table.to_pandas()
    for given in (table, frame, ["pmra", "pmdec"], ("pmra", "pmdec")):
        check_columns(given, ["pmra", "pmdec"], key="[data].features", source="t.csv")
        with pytest.raises(DataError) as info:
            check_columns(given, ["pmra", "pmdcc"], key="[data].features", source="t.csv")
        assert str(info.value) == (
            "[data].features names column 'pmdcc', which is not in t.csv; did you mean "
            "'pmdec'? (available: pmra, pmdec)"
        )
        assert info.value.argument == "[data].features"
    dd = pytest.importorskip("dask.dataframe")
    lazy = dd.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}), npartitions=1)
    check_columns(lazy, ["x"], key="[data].ids", source="p")
    check_columns(lazy._meta, ["x"], key="[data].ids", source="p")
    with pytest.raises(DataError, match=r"^\[data\]\.ids names column 'y', which is not in p"):
        check_columns(lazy.columns, ["y"], key="[data].ids", source="p")


def test_check_spec_columns_names_every_key(tmp_path):
    Table({"a": [1.0, 2.0], "b": [3.0, 4.0], "id": [1, 2]}).write(tmp_path / "t.csv")
    text = EM_SPEC.format(path="t.csv").replace("[data]\n", '[data]\nids = "id"\n')
    (tmp_path / "s.toml").write_text(text + '[output]\nscatter = ["a", "b"]\n')
    spec = load_spec(tmp_path / "s.toml")
    check_spec_columns(spec, ["a", "b", "id"])
    with pytest.raises(DataError, match=r"^\[data\]\.ids names column 'id'"):
        check_spec_columns(spec, ["a", "b"])
    with pytest.raises(DataError, match=r"^\[data\]\.features names column 'b'"):
        check_spec_columns(spec, ["a", "id"])


def _parquet_parts(folder, frame, rows=4):
    folder.mkdir()
    for i, start in enumerate(range(0, len(frame), rows)):
        frame.iloc[start : start + rows].to_parquet(folder / f"part.{i:02d}.parquet")


def test_parquet_folders_and_globs_load_and_read_every_row(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=10), "b": rng.normal(size=10)})
    _parquet_parts(tmp_path / "parts", frame)
    (tmp_path / "parts" / "README.txt").write_text("not a table")
    for path in ("parts", "parts/part.*.parquet", str(tmp_path / "parts")):
        (tmp_path / "s.toml").write_text(EM_SPEC.format(path=path))
        spec = load_spec(tmp_path / "s.toml")
        assert spec.data.source.format == "parquet"
        assert [p.name for p in spec.data.source.files] == [
            "part.00.parquet",
            "part.01.parquet",
            "part.02.parquet",
        ]
        assert parquet_files(spec.data.source.path) == list(spec.data.source.files)
        table = read_data(spec).table
        np.testing.assert_array_equal(table["a"], frame["a"])  # every row, in file order
        np.testing.assert_array_equal(table["b"], frame["b"])


def test_parquet_paths_that_match_nothing_are_spec_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "s.toml").write_text(EM_SPEC.format(path="empty"))
    with pytest.raises(SpecError, match=r"^\[data\]\.path folder '.*empty' has no Parquet file"):
        load_spec(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(EM_SPEC.format(path="parts/*.parquet"))
    with pytest.raises(SpecError, match=r"^\[data\]\.path glob '.*' has no Parquet file"):
        load_spec(tmp_path / "s.toml")


def test_parquet_parts_must_share_their_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    (tmp_path / "parts").mkdir()
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_parquet(tmp_path / "parts" / "p0.parquet")
    pd.DataFrame({"a": [1.0], "c": [2.0]}).to_parquet(tmp_path / "parts" / "p1.parquet")
    (tmp_path / "s.toml").write_text(EM_SPEC.format(path="parts"))
    with pytest.raises(DataError, match=r"Parquet files of '.*parts' do not share their columns"):
        read_data(load_spec(tmp_path / "s.toml"))


CLUSTER = """
seed = 5
[data]
path = "stars.csv"
ids = "source_id"
[builder]
name = "cluster_field"
features = ["pmra", "pmdec"]
field = "gmm"
"""


def test_cluster_figures_default_off_and_need_their_columns(tmp_path):
    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    from bayesmix.datasets import load_blanco1

    t = load_blanco1()[:200]
    t.remove_column("bp_rp")
    t.write(tmp_path / "stars.csv")
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(CLUSTER)
    assert load_spec(spec_path).output.figures == ("pgm", "membership", "pair")
    spec_path.write_text(CLUSTER + '[output]\nfigures = ["sky", "cmd"]\n')
    with pytest.raises(
        DataError,
        match=r"figure 'cmd' needs column 'bp_rp', which is not in stars.csv; map it in "
        r"\[data.columns\]",
    ):
        read_data(load_spec(spec_path))
    check_spec_columns(load_spec(spec_path), t, figures=False)  # runners that skip figures
    # mapped through [data.columns] like every Gaia name
    t["colour"] = load_blanco1()[:200]["bp_rp"]
    t.write(tmp_path / "stars.csv", overwrite=True)
    spec_path.write_text(
        CLUSTER + '[data.columns]\nbp_rp = "colour"\n[output]\nfigures = ["sky", "cmd"]\n'
    )
    read_data(load_spec(spec_path))


GPZ_SPEC = """
seed = 4
[data]
path = "divide.csv"
features = ["a-b", "b"]
[data.population]
path = "pop.csv"
[data.training]
path = "train.csv"
select = "b > 0"
[builder]
name = "gpz_divide"
weight = true
"""


def test_gpz_training_table_is_read_selected_and_checked(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("divide.csv", "pop.csv", "train.csv"):
        Table({"a": rng.normal(size=6), "b": np.arange(6.0) - 2}).write(tmp_path / name)
    (tmp_path / "s.toml").write_text(GPZ_SPEC)
    data = read_data(load_spec(tmp_path / "s.toml"))
    train = Table.read(tmp_path / "train.csv")
    np.testing.assert_array_equal(data.training["a"], train["a"][train["b"] > 0])
    assert len(data.table) == 6 and len(data.population) == 6  # [data] keeps every row
    (tmp_path / "s.toml").write_text(GPZ_SPEC.replace('"b > 0"', '"b > 9"'))
    with pytest.raises(DataError, match=r"^\[data.training\]\.select keeps none of the 6 rows"):
        read_data(load_spec(tmp_path / "s.toml"))
    Table({"a": [1.0], "c": [2.0]}).write(tmp_path / "train.csv", overwrite=True)
    (tmp_path / "s.toml").write_text(GPZ_SPEC.replace('select = "b > 0"\n', ""))
    with pytest.raises(
        DataError,
        match=r"^\[data\]\.features\[0\] names column 'b', which "
        r"is not in train.csv",
    ):
        read_data(load_spec(tmp_path / "s.toml"))


def test_unreadable_tables_name_their_spec_key(tmp_path):
    (tmp_path / "t.csv").write_text("a,a\n1,2\n")
    (tmp_path / "s.toml").write_text(EM_SPEC.format(path="t.csv"))
    with pytest.raises(DataError, match=r"t.csv': column name 'a' appears twice") as info:
        read_data(load_spec(tmp_path / "s.toml"))
    assert info.value.argument == "[data].path"
    for name in ("divide.csv", "pop.csv"):
        Table({"a": [1.0, 2.0], "b": [3.0, 4.0]}).write(tmp_path / name)
    (tmp_path / "train.csv").write_bytes(b"")
    (tmp_path / "s.toml").write_text(GPZ_SPEC)
    with pytest.raises(DataError, match=r"train.csv': the file is empty") as info:
        read_data(load_spec(tmp_path / "s.toml"))
    assert info.value.argument == "[data.training].path"
