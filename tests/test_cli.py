"""The `bayesmix` command end to end (subprocesses), exit codes and one-line errors."""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import bayesmix.inference
from bayesmix import cli
from bayesmix.datasets import load_blanco1
from bayesmix.io import read_table
from bayesmix.workflows.run import posterior_filename

DEMO_FILES = {
    "membership.csv",
    "summary.json",
    "summary.txt",
    posterior_filename(),
    "membership.png",
    "sky.png",
    "cmd.png",
    "pgm.png",
    "pair.png",
}
N_BLANCO1 = 14785
# Cantat-Gaudin et al. (2020), Blanco 1 (DR2): pmra* 18.739, pmdec 2.602 mas/yr.  Tolerance
# 0.1 mas/yr as in tests/builders/test_cluster_field.py (posterior sd ~0.025 mas/yr; the
# published means come from another member list and DR2 has ~0.05 mas/yr systematics).
PUBLISHED_PM = {"cluster_pmra": 18.739, "cluster_pmdec": 2.602}
# reduced sampling so that the end-to-end run stays short; `make demo` uses the spec's 4 x 1000
REDUCED = ["--draws", "100", "--tune", "100", "--chains", "2"]


def run(*args, cwd, timeout=600):
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:bayesmix"}
    return subprocess.run(
        [sys.executable, "-m", "bayesmix", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _printed_cluster_values(stdout):
    """{quantity: posterior mean} from the printed cluster table."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(("cluster_", "n_members")):
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue  # "-": a published value the model does not have
    return out


def check_demo_outputs(out, stdout, *, full=False):
    """Every promised file, the table's rows and the printed cluster summary."""
    assert {p.name for p in out.iterdir()} == DEMO_FILES | ({"full"} if full else set())
    for name in DEMO_FILES:
        assert (out / name).stat().st_size > 0, name
    for name in [n for n in DEMO_FILES if n.endswith(".png")]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    src = load_blanco1()
    t = read_table(out / "membership.csv")
    assert len(t) == len(src) == N_BLANCO1
    assert t.colnames[: len(src.colnames)] == src.colnames
    assert list(t["source_id"]) == list(src["source_id"])  # every row, input order
    np.testing.assert_array_equal(t["pmra"], src["pmra"])
    p = np.asarray(t["p_cluster"])
    np.testing.assert_allclose(p + np.asarray(t["p_field"]), 1.0, rtol=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spec"]["name"] == "blanco1_pm2d" and summary["builder"] == "cluster_field"
    c = summary["cluster"]
    assert c["members"]["n_p_gt_0.5"] == int((p > 0.5).sum())
    assert c["members"]["n_p_gt_0.9"] == int((p > 0.9).sum())
    np.testing.assert_allclose(c["members"]["expected"], p.sum(), rtol=1e-6)
    assert c["compare_to_field"]["cluster"] is True
    assert c["reference"]["cluster_pmra"] == 18.739
    # printed: the cluster table next to the published values, counts, the comparison
    printed = _printed_cluster_values(stdout)
    for name, value in PUBLISHED_PM.items():
        assert abs(printed[name] - value) < 0.1, (name, printed[name])
        assert abs(c["parameters"][name]["mean"] - value) < 0.1
    assert 300 < printed["n_members"] < 410  # 351 of the 381 CG20 members are in the field
    assert "Cantat-Gaudin et al. 2020" in stdout
    assert "18.739" in stdout and "2.602" in stdout and "4.21" in stdout
    assert f"{(p > 0.5).sum()} stars with p(cluster) > 0.5" in stdout
    assert "is there a cluster? yes" in stdout
    assert (out / "summary.txt").read_text() in stdout
    assert f"wrote {len(DEMO_FILES)} files" in stdout
    return summary


def check_full_outputs(out, stdout):
    """The demo's second job: the full model's files, rows, and its printed sky/3-D values."""
    assert {p.name for p in out.iterdir()} == DEMO_FILES
    src = load_blanco1()
    t = read_table(out / "membership.csv")
    assert list(t["source_id"]) == list(src["source_id"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spec"]["name"] == "blanco1_full"
    par = summary["cluster"]["parameters"]
    # CG20: RA 0.853, Dec -29.958 deg, parallax 4.210 mas (240 pc)
    assert abs(par["cluster_ra"]["mean"] - 0.853) < 0.1
    assert abs(par["cluster_dec"]["mean"] + 29.958) < 0.1
    assert abs(par["cluster_parallax"]["mean"] - 4.210) < 0.02
    assert abs(par["cluster_distance_pc"]["mean"] - 237.5) < 5
    assert "cluster_galcen_x_pc" in par and "cluster_galcen_vx_kms" not in par
    assert "the full model (sky + parallax + proper motions)" in stdout
    assert "cluster_radius" in stdout and "cluster_galcen_z_pc" in stdout
    assert f"wrote {len(DEMO_FILES)} files to " in stdout and "full/: membership.csv" in stdout
    return summary


def test_demo_in_process_with_the_cached_blanco1_fit(monkeypatch, capsys, tmp_path):
    """The demo's plumbing on the session's Blanco 1 fit (2 x 300 draws): no sampling here."""
    from tests._cluster_fits import blanco1_fit

    fit = blanco1_fit()
    calls = []

    # the stand-in keeps sample's signature: the spec's [sampler] defaults are read from it
    @functools.wraps(bayesmix.inference.sample)
    def fake_sample(mm, **kwargs):
        calls.append(kwargs)
        return fit

    monkeypatch.setattr("bayesmix.inference.sample", fake_sample)
    out = tmp_path / "demo"
    assert (
        cli.main(
            [
                "demo",
                "--out",
                str(out),
                "--seed",
                "5",
                "--draws",
                "300",
                "--tune",
                "300",
                "--chains",
                "2",
                "--no-full",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert calls == [
        {
            "draws": 300,
            "tune": 300,
            "chains": 2,
            "rng": 5,
            "sampler": "nutpie",
            "target_accept": 0.8,
            "progressbar": False,
        }
    ]
    summary = check_demo_outputs(out, captured.out)
    assert summary["seed"] == 5 and summary["sampler"]["chains"] == 2
    assert "bayesmix/specs/blanco1_pm2d.toml" in captured.out.replace("\\", "/")
    # never replaced unless asked, checked before any fitting
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert cli.main(["demo", "--out", str(out), "--quiet", "--no-full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert len(calls) == 1


@pytest.mark.slow
def test_demo_end_to_end_reduced(tmp_path):
    """`bayesmix demo` in a subprocess, sampling for real with reduced draws."""
    proc = run("demo", *REDUCED, cwd=tmp_path, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    summary = check_demo_outputs(tmp_path / "out" / "demo", proc.stdout, full=True)
    check_full_outputs(tmp_path / "out" / "demo" / "full", proc.stdout)
    assert summary["sampler"]["draws"] == 100 and summary["sampler"]["chains"] == 2
    assert summary["seed"] == 20200104  # the spec's seed
    assert summary["diagnostics"]["divergences"] == 0
    again = run("demo", *REDUCED, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    # the full model's outputs are checked before the first job starts
    for p in (tmp_path / "out" / "demo").iterdir():
        if p.is_file():
            p.unlink()
    again = run("demo", *REDUCED, cwd=tmp_path)
    assert again.returncode == 2 and "full" in again.stderr and "already exists" in again.stderr
    assert not (tmp_path / "out" / "demo" / "membership.csv").exists()


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gmm")
    gen = np.random.default_rng(1)
    X = np.vstack([gen.normal(0, 1, (60, 2)), gen.normal(6, 1, (40, 2))])
    t = Table({"source_id": np.arange(100) * 7, "x": X[:, 0], "y": X[:, 1], "flag": ["ok"] * 100})
    t["y"][5] = np.nan
    path = folder / "stars.ecsv"
    t.write(path)
    return folder, path


def test_gmm_fit(small_table):
    folder, path = small_table
    proc = run(
        "gmm",
        "fit",
        path.name,
        "--columns",
        "x,y",
        "--n-components",
        "1-3",
        "--n-init",
        "2",
        "--seed",
        "3",
        "--out",
        "res",
        "--quiet",
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    t = read_table(folder / "res" / "membership.csv")
    assert len(t) == 100
    assert t.colnames == [
        "source_id",
        "x",
        "y",
        "flag",
        "p_c0",
        "p_c1",
        "component",
        "unscored_reason",
    ]
    assert np.isnan(t["p_c0"][5]) and t["unscored_reason"][5].startswith("missing")
    summary = json.loads((folder / "res" / "summary.json").read_text())
    assert summary["selected"]["n_components"] == 2 and summary["seed"] == 3
    assert summary["n_unscored"] == 1
    for name in ["summary.txt", "bic_aic.png", "em_history.png", "membership.png"]:
        assert (folder / "res" / name).exists()
    # overwrite only when asked
    again = run(
        "gmm",
        "fit",
        path.name,
        "--columns",
        "x,y",
        "--n-components",
        "2",
        "--seed",
        "3",
        "--out",
        "res",
        cwd=folder,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    again = run(
        "gmm",
        "fit",
        path.name,
        "--columns",
        "x,y",
        "--n-components",
        "2",
        "--seed",
        "3",
        "--out",
        "res",
        "--overwrite",
        cwd=folder,
    )
    assert again.returncode == 0, again.stderr
    assert "seed: 3" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gmm", "fit", "missing.csv", "--columns", "x,y"], "missing.csv' does not exist"),
        (
            ["gmm", "fit", "stars.ecsv", "--columns", "x,z"],
            "--columns names column 'z'.*available: source_id, x, y, flag",
        ),
        (["gmm", "fit", "stars.ecsv", "--columns", "x,x"], "--columns names 'x' twice"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x,flag"], "'flag'.*not numeric"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--n-components", "0-2"], "n-components"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--criterion", "dic"], "criterion"),
        (["gmm", "fit", "stars.ecsv"], "--columns"),
        (["gmm", "fit", "stars.ecsv", "--columns", "x", "--n-components", "200"], "usable row"),
        (["demo", "--max-components", "3"], "unrecognized arguments: --max-components"),
        (["demo", "--seed", "-3"], "seed"),
        (["demo", "--draws", "0"], "--draws: must be a positive integer"),
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
    def boom(*args, **kwargs):
        raise RuntimeError("linear algebra\nexploded")

    monkeypatch.setattr("bayesmix.workflows.run.run_spec", boom)
    code = cli.main(["demo", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "RuntimeError: linear algebra exploded" in err
    # --debug (before or after the subcommand) adds the traceback, not another exit code
    for argv in (["--debug", "demo"], ["demo", "--debug"]):
        assert cli.main([*argv, "--out", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and err.rstrip().endswith("RuntimeError: linear algebra exploded")


def test_debug_is_in_every_subcommands_help():
    parser = cli.build_parser()
    for argv in (["run"], ["demo"], ["gmm", "fit"], ["gpz", "weights"], ["gpz", "divide"]):
        sub = parser
        for word in argv:
            sub = next(
                a for a in sub._actions if isinstance(a, type(parser._subparsers._actions[-1]))
            ).choices[word]
        assert "--debug" in sub.format_help(), argv


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
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
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
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=folder, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def test_console_script_matches_python_m(tmp_path):
    script = Path(sys.executable).parent / "bayesmix"
    if not script.exists():
        pytest.skip("the bayesmix console script is not installed next to this Python")
    a = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    b = run("--version", cwd=tmp_path)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout.startswith("bayesmix ")
    c = subprocess.run(
        [str(script), "gmm", "fit", "nope.csv", "--columns", "a"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    d = run("gmm", "fit", "nope.csv", "--columns", "a", cwd=tmp_path)
    assert c.returncode == d.returncode == 2
    assert c.stderr == d.stderr


@pytest.mark.slow
def test_demo_with_default_settings(tmp_path):
    """What `make demo` runs: 4 chains x 1000 draws (1000 tuning), the spec's seed."""
    proc = run("demo", "--out", "full", cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    summary = check_demo_outputs(tmp_path / "full", proc.stdout, full=True)
    full = check_full_outputs(tmp_path / "full" / "full", proc.stdout)
    assert full["diagnostics"]["max_rhat"] < 1.01
    assert summary["sampler"] == {
        "sampler": "nutpie",
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "target_accept": 0.8,
    }
    assert summary["diagnostics"]["max_rhat"] < 1.01
    assert summary["diagnostics"]["divergences"] == 0
