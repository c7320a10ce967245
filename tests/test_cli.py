"""The `bayesmix` command end to end (subprocesses), exit codes and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from bayesmix import cli
from bayesmix.datasets import load_rave_apogee
from bayesmix.io import read_table

DEMO_FILES = {
    "membership_selected.csv",
    "membership_thin_thick.csv",
    "summary.json",
    "summary.txt",
    "membership_thin_thick.png",
    "membership_selected.png",
    "bic_aic.png",
    "em_history.png",
}
# reduced EM settings so the end-to-end run stays short; the defaults run in `make demo`
FAST = ["--max-components", "3", "--n-init", "1", "--tol", "1e-3"]


def run(*args, cwd, timeout=600):
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:bayesmix"}
    return subprocess.run([sys.executable, "-m", "bayesmix", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("demo")
    proc = run("demo", *FAST, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, proc


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gmm")
    gen = np.random.default_rng(1)
    X = np.vstack([gen.normal(0, 1, (60, 2)), gen.normal(6, 1, (40, 2))])
    t = Table({"source_id": np.arange(100) * 7, "x": X[:, 0], "y": X[:, 1],
               "flag": ["ok"] * 100})
    t["y"][5] = np.nan
    path = folder / "stars.ecsv"
    t.write(path)
    return folder, path


def test_demo_writes_every_file(demo_dir):
    cwd, proc = demo_dir
    out = cwd / "out" / "demo"
    assert {p.name for p in out.iterdir()} == DEMO_FILES
    for name in DEMO_FILES:
        assert (out / name).stat().st_size > 0
    for name in [n for n in DEMO_FILES if n.endswith(".png")]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_demo_tables_keep_every_row(demo_dir):
    cwd, _ = demo_dir
    src = load_rave_apogee()
    for name in ["membership_selected.csv", "membership_thin_thick.csv"]:
        t = read_table(cwd / "out" / "demo" / name)
        assert len(t) == len(src) == 3904
        assert t.colnames[: len(src.colnames)] == src.colnames
        assert list(t["RAVE_OBS_ID"]) == list(src["RAVE_OBS_ID"])
        np.testing.assert_array_equal(t["MgFe"], src["MgFe"])
        p = np.column_stack([t[c] for c in t.colnames if c.startswith("p_")])
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
        assert "component" in t.colnames
    tt = read_table(cwd / "out" / "demo" / "membership_thin_thick.csv")
    assert set(tt["component"]) == {"thin", "thick"}


def test_demo_prints_table_and_model(demo_dir):
    cwd, proc = demo_dir
    assert "BIC" in proc.stdout and "AIC" in proc.stdout
    assert "<- selected" in proc.stdout
    assert "thick:" in proc.stdout and "thin:" in proc.stdout
    assert "wrote 8 files" in proc.stdout
    summary = json.loads((cwd / "out" / "demo" / "summary.json").read_text())
    assert summary["n_rows"] == 3904
    assert summary["selected"]["n_components"] in (1, 2, 3)
    assert summary["thin_thick"]["labels"] == ["thin", "thick"]
    assert summary["explanation"]
    assert summary["settings"]["candidates"] == [1, 2, 3]
    assert (cwd / "out" / "demo" / "summary.txt").read_text() in proc.stdout


def test_demo_refuses_to_overwrite(demo_dir):
    cwd, _ = demo_dir
    out = cwd / "out" / "demo"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    proc = run("demo", *FAST, cwd=cwd)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "already exists" in proc.stderr
    assert "--overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_gmm_fit(small_table):
    folder, path = small_table
    proc = run("gmm", "fit", path.name, "--columns", "x,y", "--n-components", "1-3",
               "--n-init", "2", "--seed", "3", "--out", "res", "--quiet", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    t = read_table(folder / "res" / "membership.csv")
    assert len(t) == 100
    assert t.colnames == ["source_id", "x", "y", "flag", "p_c0", "p_c1", "component",
                          "unscored_reason"]
    assert np.isnan(t["p_c0"][5]) and t["unscored_reason"][5].startswith("missing")
    summary = json.loads((folder / "res" / "summary.json").read_text())
    assert summary["selected"]["n_components"] == 2 and summary["seed"] == 3
    assert summary["n_unscored"] == 1
    for name in ["summary.txt", "bic_aic.png", "em_history.png", "membership.png"]:
        assert (folder / "res" / name).exists()
    # overwrite only when asked
    again = run("gmm", "fit", path.name, "--columns", "x,y", "--n-components", "2",
                "--seed", "3", "--out", "res", cwd=folder)
    assert again.returncode == 2 and "already exists" in again.stderr
    again = run("gmm", "fit", path.name, "--columns", "x,y", "--n-components", "2",
                "--seed", "3", "--out", "res", "--overwrite", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert "seed: 3" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gmm", "fit", "missing.csv", "--columns", "x,y"], "missing.csv' does not exist"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x,z"],
         "unknown column 'z'.*available columns: source_id, x, y, flag"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x,flag"], "'flag'.*not numeric"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--n-components", "0-2"],
         "n-components"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--criterion", "dic"], "criterion"),
        (["gmm", "fit", "stars.ecsv"], "--columns"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--n-components", "200"],
         "usable row"),
        (["demo", "--max-components", "1"], "at least 2"),
        (["demo", "--seed", "-3"], "seed"),
        (["frobnicate"], "invalid choice"),
        ([], "COMMAND"),
        (["gmm"], "choose an action"),
    ],
)
def test_usage_and_data_errors_exit_2(small_table, args, message):
    import re

    folder, _ = small_table
    with_out = len(args) > 1 or args == ["demo"]
    proc = run(*args, "--out", "unused", cwd=folder) if with_out else run(*args, cwd=folder)
    assert proc.returncode == 2, proc.stderr
    assert re.search(message, proc.stderr), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line
    assert "Traceback" not in proc.stderr
    assert not (folder / "unused").exists()


def test_runtime_failure_exit_1_and_debug(monkeypatch, capsys, tmp_path):
    def boom(**kwargs):
        raise RuntimeError("linear algebra\nexploded")

    monkeypatch.setattr("bayesmix.workflows.disc.run_disc_demo", boom)
    code = cli.main(["demo", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "RuntimeError: linear algebra exploded" in err
    with pytest.raises(RuntimeError, match="exploded"):
        cli.main(["--debug", "demo", "--out", str(tmp_path / "o")])
    with pytest.raises(RuntimeError, match="exploded"):
        cli.main(["demo", "--debug", "--out", str(tmp_path / "o")])


def test_help_does_not_import_pymc(tmp_path):
    code = (
        "import sys\n"
        "from bayesmix.cli import main\n"
        "for argv in (['--help'], ['demo', '--help'], ['gmm', 'fit', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "bad = [m for m in ('pymc', 'pytensor', 'matplotlib', 'arviz') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout and "--columns" in proc.stdout


def test_gmm_fit_does_not_import_pymc(small_table):
    folder, path = small_table
    code = (
        "import sys\n"
        "from bayesmix.cli import main\n"
        f"code = main(['gmm', 'fit', {path.name!r}, '--columns', 'x,y', '--n-components', '2',"
        " '--seed', '1', '--out', 'nopymc', '--quiet'])\n"
        "assert code == 0, code\n"
        "assert 'pymc' not in sys.modules and 'pytensor' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=folder, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_console_script_matches_python_m(tmp_path):
    script = Path(sys.executable).parent / "bayesmix"
    if not script.exists():
        pytest.skip("the bayesmix console script is not installed next to this Python")
    a = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    b = run("--version", cwd=tmp_path)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout.startswith("bayesmix ")
    c = subprocess.run([str(script), "gmm", "fit", "nope.csv", "--columns", "a"],
                       capture_output=True, text=True, cwd=tmp_path)
    d = run("gmm", "fit", "nope.csv", "--columns", "a", cwd=tmp_path)
    assert c.returncode == d.returncode == 2
    assert c.stderr == d.stderr


@pytest.mark.slow
def test_demo_with_default_settings(tmp_path):
    """What `make demo` runs: 1..6 components, 4 starts each, the fixed demo seed."""
    proc = run("demo", "--out", "full", cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["settings"]["candidates"] == [1, 2, 3, 4, 5, 6]
    assert summary["seed"] == 20201124
    # BIC falls steeply from 1 to 2 components (two disc sequences) on these data
    bic = [row["bic"] for row in summary["selection"]]
    assert bic[1] < bic[0] - 1000
    assert summary["selected"]["n_components"] >= 2
    assert summary["thin_thick"]["components"]["thick"]["mean"]["MgFe"] > 0.1
