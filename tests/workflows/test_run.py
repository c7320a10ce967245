"""End-to-end: ``bayesmix run SPEC`` on every models/*.toml, outputs and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from bayesmix.cli import main
from bayesmix.io import read_table
from bayesmix.spec import load_spec, read_data
from bayesmix.workflows.run import output_paths

MODELS = Path(__file__).resolve().parents[2] / "models"
REDUCED = ["--draws", "100", "--tune", "100", "--chains", "2"]


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bayesmix", "run", *args],
        capture_output=True,
        text=True,
        timeout=1200,
    )


def _check_outputs(spec_path: Path, out: Path) -> Table:
    """Every promised file exists; the table has the input's rows, in order, columns intact."""
    spec = load_spec(spec_path)
    paths = output_paths(spec, out)
    for p in paths.values():
        assert p.is_file() and p.stat().st_size > 0, p
    written = {p.name for p in out.iterdir()}
    assert written == {p.name for p in paths.values()}  # no stray temporary files
    data = read_data(spec)
    table = read_table(paths["table"])
    assert len(table) == len(data.table)
    assert table.colnames[: len(data.table.colnames)] == data.table.colnames
    for name in data.table.colnames:
        a, b = np.asarray(data.table[name]), np.asarray(table[name])
        if a.dtype.kind in "fc":
            np.testing.assert_array_equal(a, b)
        else:
            assert [str(v) for v in a] == [str(v) for v in b], name
    assert "unscored_reason" in table.colnames
    col = table["unscored_reason"]  # read back from CSV: empty strings come back masked
    mask = np.ma.getmaskarray(col)
    reasons = np.where(mask, "", np.ma.getdata(col).astype(str))
    summary = json.loads(paths["summary_json"].read_text())
    assert summary["seed"] == spec.seed
    assert paths["summary_txt"].read_text().strip()
    return table, reasons, summary


def test_em_spec_end_to_end(tmp_path):
    spec = MODELS / "thin_thick_disc_em.toml"
    out = tmp_path / "em"
    res = _run_cli(str(spec), "--out", str(out), *REDUCED)
    assert res.returncode == 0, res.stderr
    assert "--draws, --tune, --chains ignored" in res.stderr
    assert "selected by BIC" in res.stdout
    table, reasons, summary = _check_outputs(spec, out)
    assert (reasons == "").all()
    k = summary["selected"]["n_components"]
    p = np.column_stack([np.asarray(table[f"p_c{i}"]) for i in range(k)])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    # a second run refuses to replace the outputs (exit 2, one line), --overwrite replaces them
    again = _run_cli(str(spec), "--out", str(out), "--quiet")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr


SMALL_EM = """
seed = 7
[data]
path = "small.csv"
features = ["a", "b"]
select = "keep == 'yes'"
[builder]
name = "gmm"
n_components = "1-2"
n_init = 1
"""


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(3)
    n = 120
    a = np.concatenate([rng.normal(0, 1, n // 2), rng.normal(6, 1, n // 2)])
    b = a + rng.normal(0, 0.5, n)
    a[5] = np.nan
    keep = np.where(np.arange(n) % 10 == 9, "no", "yes")
    Table({"id": np.arange(n) + 1000, "a": a, "b": b, "keep": keep}).write(
        tmp_path / "small.csv", format="ascii.csv"
    )
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL_EM)
    return spec


def test_small_em_reasons_and_overwrite(small, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    table, reasons, summary = _check_outputs(small, out)
    assert reasons[5] == "missing or non-finite value in a, b"
    assert reasons[9] == "excluded by [data].select" and reasons[19] == reasons[9]
    assert np.isnan(table["p_c0"][5]) and np.isnan(table["p_c0"][9])
    assert np.isfinite(table["p_c0"][0])
    assert summary["unscored_reasons"] == {
        "excluded by [data].select": 12,
        "missing or non-finite value in a, b": 1,
    }
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["run", str(small), "--out", str(out), "--quiet", "--overwrite", "--seed", "8"]) == 0
    )
    assert json.loads((out / "summary.json").read_text())["seed"] == 8


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            ("n_init = 1", "n_init = 0"),
            r"^bayesmix: error: \[builder\]\.n_init must be >= 1, "
            r"got 0 \(see|^bayesmix: error: \[builder\]\.n_init must",
        ),
        (("n_init = 1", "n_inits = 1"), r"\[builder\] has unknown key 'n_inits'"),
        (('"a", "b"', '"a", "bb"'), r"\[data\]\.features names column 'bb'.*did you mean 'b'"),
        (('"a", "b"', '"a", "keep"'), r"column 'keep' .* is not numeric"),
        (
            ('path = "small.csv"', 'path = "nope.csv"'),
            r"\[data\]\.path file .*nope.csv' does "
            r"not exist",
        ),
        (("seed = 7", "seed = 7\n[sampler]\ndraws = 5"), r"\[sampler\] does not apply"),
    ],
)
def test_bad_specs_and_data_are_one_line_errors(small, tmp_path, capsys, edit, match):
    small.write_text(SMALL_EM.replace(*edit))
    out = tmp_path / "o"
    assert main(["run", str(small), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayesmix: error: ")
    assert __import__("re").search(match, err), err
    assert not out.exists()  # nothing written, nothing fitted


def test_usage_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "spec file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["run", str(MODELS / "hogg2010_line_outliers.toml"), "--draws", "0"])
    assert info.value.code == 2
    assert "--draws" in capsys.readouterr().err


def test_bad_bayesian_data_is_a_one_line_error(tmp_path, capsys):
    Table({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 2.0, 2.5, 4.0], "e": [0.1, -0.2, 0.1, 0.1]}).write(
        tmp_path / "line.csv", format="ascii.csv"
    )
    spec = tmp_path / "line.toml"
    spec.write_text(
        'seed = 1\n[data]\npath = "line.csv"\n[data.columns]\nx = "x"\ny = "y"\n'
        'y_err = "e"\n[builder]\nname = "line_outlier"\n'
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "y_err" in err and "row 1" in err


def test_small_gpz_divide_in_process(tmp_path, capsys):
    from bayesmix.datasets import load_candels_cosmos

    load_candels_cosmos()[::8].write(tmp_path / "cc.csv", format="ascii.csv")
    spec = tmp_path / "div.toml"
    spec.write_text(
        (MODELS / "gpz_divide_candels_cosmos.toml")
        .read_text()
        .replace('dataset = "candels_cosmos"', 'path = "cc.csv"')
        .replace("n_components = 4", "n_components = 2")
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    table, reasons, summary = _check_outputs(spec, tmp_path / "o")
    assert set(table.colnames[-6:]) == {"m0", "m1", "p0", "p1", "unassigned", "unscored_reason"}
    np.testing.assert_allclose(np.asarray(table["p0"]) + np.asarray(table["p1"]), 1.0, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [p.stem for p in sorted(MODELS.glob("*.toml")) if p.stem != "thin_thick_disc_em"],
)
def test_every_spec_end_to_end(tmp_path, name):
    """Every spec finishes a quick look (1 chain x 50 draws) and writes every output."""
    spec = MODELS / f"{name}.toml"
    out = tmp_path / name
    res = _run_cli(str(spec), "--out", str(out), "--draws", "50", "--tune", "50", "--chains", "1")
    assert res.returncode == 0, res.stderr
    table, reasons, summary = _check_outputs(spec, out)
    s = load_spec(spec)
    if s.kind == "bayes":
        assert summary["sampler"]["draws"] == 50 and summary["sampler"]["chains"] == 1
        for lab in summary["components"]:
            assert f"p_{lab}" in table.colnames
        ok = reasons == ""
        p = np.column_stack([np.asarray(table[f"p_{lab}"]) for lab in summary["components"]])
        np.testing.assert_allclose(p[ok].sum(axis=1), 1.0, rtol=1e-9)
        assert np.isnan(p[~ok]).all()
        post = output_paths(s, out)["posterior"]
        import xarray as xr

        if post.name.endswith(".nc"):
            tree = xr.open_datatree(post)
        else:
            import zarr

            tree = xr.open_datatree(zarr.storage.ZipStore(post, mode="r"), engine="zarr")
        assert tree["posterior"].sizes["draw"] == 50
        text = (out / "summary.txt").read_text()
        assert "R-hat" in text and "1 chain x 50 draws" in text
        assert not [w for w in summary["warnings"] if w.startswith("FigureWarning")]


def test_builder_errors_are_mapped_to_spec_keys(tmp_path, capsys):
    spec = tmp_path / "hogg.toml"
    spec.write_text(
        (MODELS / "hogg2010_line_outliers.toml").read_text()
        + '\n[priors.slop]\ndist = "Normal"\nsigma = 1\n'
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("bayesmix: error: [priors].slop: ") and "unknown variable" in err
    assert not (tmp_path / "o").exists()


def test_unknown_pair_vars_fail_before_sampling(tmp_path, capsys):
    spec = tmp_path / "hogg.toml"
    spec.write_text(
        (MODELS / "hogg2010_line_outliers.toml")
        .read_text()
        .replace('pair_vars = ["slope", "intercept", "weights"]', 'pair_vars = ["slope", "slop"]')
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayesmix: error: [output].pair_vars[1] must name a model variable")
    assert not (tmp_path / "o").exists()


def test_cluster_field_builder_errors_name_the_key(tmp_path, capsys):
    from bayesmix.spec import available_builders

    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    spec = tmp_path / "c.toml"
    spec.write_text(
        (MODELS / "blanco1_pm2d.toml")
        .read_text()
        .replace('features = ["pmra", "pmdec"]', 'features = ["pmra", "parallax"]')
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayesmix: error: [builder].features: ")


# ------------------------------------------------------------------ figures the run draws
