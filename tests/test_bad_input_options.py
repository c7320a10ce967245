"""Bad-input battery, part 4: command-line options and output paths (issue 13, items 1, 7).

Bad option values, commands and output paths: exit code 2 and one line naming
the option (or the path), before any fit, nothing written.  Outputs never
replace an input, even with ``--overwrite``.  ``--debug`` is in every
subcommand's help and keeps the exit code.  A write killed with SIGKILL leaves
no output file, and its temporary is removed by the next run (a subprocess:
that is process behaviour).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from _bad_input import assert_refused, known_failure, run_cli, snapshot, two_blobs, write

G = ["gmm", "fit", "t.csv", "--columns", "a,b"]
W = ["gpz", "weights", "t.csv", "--features", "a,b"]
D = ["gpz", "divide", "t.csv", "--features", "a,b"]
LONG = "\u00e9" * 200  # 200 characters, 400 bytes: more than a file name may hold

#: (case id, argv, regex of the error line)
OPTIONS = [
    ("out-is-a-file", [*G, "--out", "afile"], r"'afile' is a file"),
    ("out-under-a-file", [*G, "--out", "afile/sub"], r"'afile' is a file"),
    ("out-empty", [*G, "--out", ""], r"--out"),
    ("out-long", [*G, "--out", LONG], r"--out|too long"),
    ("out-nul", [*G, "--out", "a\x00b"], r"--out"),
    ("out-newline", [*G, "--out", "a\nb"], r"--out"),
    ("gpz-out-folder", [*W, "--out", "."], r"output '.' is a folder"),
    ("gpz-out-format", [*W, "--out", "w.txt"], r"--out.*w.txt|w.txt.*(format|ending)"),
    ("gpz-out-no-ending", [*W, "--out", "w"], r"--out.*'w'|'w'.*(format|ending)"),
    ("gpz-out-long", [*W, "--out", LONG + ".csv"], r"--out|too long"),
    ("gpz-out-under-a-file", [*W, "--out", "afile/w.csv"], r"'afile' is a file"),
    ("gpz-out-is-input", [*W, "--out", "t.csv"], r"'t.csv' already exists"),
    ("gpz-out-is-input-overwrite", [*W, "--out", "t.csv", "--overwrite"], r"t.csv.*input"),
    ("divide-out-is-input", [*D, "--out", "t.csv", "--overwrite"], r"t.csv.*input"),
    ("divide-out-is-pop", [*D, "--pop", "p.csv", "--out", "p.csv", "--overwrite"], r"p.csv.*input"),
    (
        "gmm-out-holds-input",
        ["gmm", "fit", "membership.csv", "--columns", "a,b", "--out", ".", "--overwrite"],
        r"membership.csv.*input",
    ),
    (
        "run-table-is-input",
        ["run", "s_out.toml", "--out", ".", "--overwrite"],
        r"t.csv.*input",
    ),
    ("seed-negative", [*G, "--seed", "-1", "--out", "o"], r"--seed"),
    ("seed-text", [*G, "--seed", "x", "--out", "o"], r"--seed"),
    ("n-components-zero", [*G, "--n-components", "0", "--out", "o"], r"--n-components must be"),
    ("n-components-reversed", [*G, "--n-components", "3-1", "--out", "o"], r"--n-components"),
    ("n-components-text", [*G, "--n-components", "a", "--out", "o"], r"--n-components"),
    ("n-components-open", [*G, "--n-components", "1-", "--out", "o"], r"--n-components"),
    (
        "n-components-too-many",
        [*G, "--n-components", "1000", "--out", "o"],
        r"60 usable row.*1000 components",
    ),
    ("tol-zero", [*G, "--tol", "0", "--out", "o"], r"--tol must be > 0"),
    ("tol-negative", [*G, "--tol", "-1", "--out", "o"], r"--tol must be > 0"),
    ("tol-nan", [*G, "--tol", "nan", "--out", "o"], r"--tol must be finite"),
    ("tol-inf", [*G, "--tol", "inf", "--out", "o"], r"--tol must be finite"),
    ("max-iter-zero", [*G, "--max-iter", "0", "--out", "o"], r"--max-iter"),
    ("n-init-zero", [*G, "--n-init", "0", "--out", "o"], r"--n-init"),
    ("covariance-type", [*G, "--covariance-type", "round", "--out", "o"], r"--covariance-type"),
    ("criterion", [*G, "--criterion", "dic", "--out", "o"], r"--criterion"),
    ("fit-rows-without-dask", [*G, "--fit-rows", "10", "--out", "o"], r"--fit-rows needs"),
    ("fit-rows-zero", [*G, "--fit-rows", "0", "--dask", "--out", "o"], r"--fit-rows"),
    ("scheduler", [*G, "--scheduler", "nonsense", "--out", "o"], r"--scheduler"),
    ("dask-on-csv", [*G, "--dask", "--out", "o"], r"--dask needs a Parquet"),
    ("columns-missing", ["gmm", "fit", "t.csv", "--out", "o"], r"--columns"),
    ("columns-empty", [*G[:-1], "", "--out", "o"], r"--columns must name"),
    ("table-missing", ["gmm", "fit", "--columns", "a,b"], r"TABLE|required"),
    ("threshold-zero", [*D, "--threshold", "0"], r"--threshold must be > 0"),
    ("threshold-one", [*D, "--threshold", "1.5"], r"--threshold must be < 1"),
    ("threshold-nan", [*D, "--threshold", "nan"], r"--threshold must be finite"),
    ("assign", [*D, "--assign", "all"], r"--assign"),
    ("max-weight-negative", [*W, "--max-weight", "-1"], r"--max-weight must be > 0"),
    ("max-weight-zero", [*W, "--max-weight", "0"], r"--max-weight must be > 0"),
    ("max-weight-nan", [*W, "--max-weight", "nan"], r"--max-weight must be finite"),
    ("eta-negative", [*W, "--eta", "-1"], r"--eta must be > 0"),
    ("eta-nan", [*W, "--eta", "nan"], r"--eta must be finite"),
    ("gpz-n-components-zero", [*W, "--n-components", "0"], r"--n-components"),
    ("gpz-n-components-range", [*W, "--n-components", "2-3"], r"--n-components"),
    ("errors-syntax", [*W, "--errors", "x"], r"--errors must look like"),
    ("errors-half", [*W, "--errors", "a:"], r"--errors must look like"),
    ("errors-no-columns", [*W, "--errors", "z_:e_"], r"--errors"),
    ("pop-missing", [*W, "--pop", "nope.csv"], r"--pop.*nope.csv' does not exist"),
    ("train-without-weight", [*D, "--train", "t.csv"], r"--train is used with --weight only"),
    ("train-missing", [*D, "--weight", "--train", "nope.csv"], r"--train.*nope.csv' does not"),
    ("feature-expression", [*W[:-1], "a*b"], r"--features\[0\] cannot parse"),
    ("feature-unknown", [*W[:-1], "a-zz"], r"--features\[0\] names column 'zz'"),
    ("features-empty", [*W[:-1], ""], r"--features must name"),
    ("no-command", [], r"choose a COMMAND"),
    ("unknown-command", ["frobnicate"], r"invalid choice: 'frobnicate'"),
    ("gmm-no-action", ["gmm"], r"choose an action"),
    ("gpz-no-action", ["gpz"], r"choose an action, e.g. '(weights|divide)'"),
    ("unknown-option", [*G, "--colour", "red", "--out", "o"], r"unrecognized arguments"),
]

#: failing today: case -> (owner, exact failure)
KNOWN = {}


@pytest.mark.parametrize(("case", "argv", "message"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_bad_option_is_one_error_naming_it(request, tmp_path, case, argv, message):
    if case in KNOWN:
        known_failure(request, *KNOWN[case])
    write(tmp_path / "t.csv", two_blobs())
    write(tmp_path / "p.csv", two_blobs(seed=3))
    write(tmp_path / "membership.csv", two_blobs())
    write(tmp_path / "afile", "not a folder\n")
    write(
        tmp_path / "s_out.toml",
        'seed = 1\n[data]\npath = "t.csv"\nfeatures = ["a", "b"]\n[builder]\nname = "gmm"\n'
        'n_components = 2\n[output]\ntable = "t.csv"\nfigures = []\n',
    )
    quiet = ["--quiet"] if len(argv) > 2 else []  # bare commands take no options
    assert_refused(tmp_path, [*argv, *quiet], 2, message)


def test_existing_outputs_are_never_replaced_without_overwrite(tmp_path):
    write(tmp_path / "t.csv", two_blobs())
    argv = [*G, "--n-components", "2", "--n-init", "1", "--seed", "1", "--out", "o", "--quiet"]
    code, _, err = run_cli(argv, tmp_path)
    assert code == 0, err
    assert_refused(tmp_path, argv, 2, r"output 'o/membership.csv' already exists; use --overwrite")
    code, _, err = run_cli([*argv, "--overwrite"], tmp_path)
    assert code == 0, err


@pytest.mark.parametrize(
    "command",
    [["run"], ["demo"], ["gmm", "fit"], ["gpz", "weights"], ["gpz", "divide"]],
    ids=lambda c: "-".join(c),
)
def test_debug_is_offered_and_keeps_the_exit_code(tmp_path, command):
    code, out, _ = run_cli([*command, "--help"], tmp_path)
    assert code == 0 and "--debug" in out
    bad = {"run": ["nope.toml"], "demo": ["--draws", "0"]}.get(
        command[0], ["nope.csv", "--columns" if command[0] == "gmm" else "--features", "a"]
    )
    codes = []
    for debug in ([], ["--debug"]):
        code, _, err = run_cli([*command, *bad, *debug], tmp_path)
        codes.append(code)
        assert [ln for ln in err.splitlines() if ln.startswith("bayesmix")][-1].startswith(
            ("bayesmix: error", f"bayesmix {' '.join(command)}: error")
        ), err
    assert codes == [2, 2]


def test_no_output_of_a_failed_run_and_inputs_untouched(tmp_path):
    # a runtime failure (exit 1) inside the fit: nothing written, the input as it was
    from unittest import mock

    from bayesmix.em import GaussianMixture

    write(tmp_path / "t.csv", two_blobs())
    before = snapshot(tmp_path)

    def broken(self, *args, **kwargs):
        raise FloatingPointError("numerical failure injected by the test")

    with mock.patch.object(GaussianMixture, "fit", broken):
        code, _, err = run_cli([*G, "--out", "o", "--quiet"], tmp_path)
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.startswith("bayesmix: ")]
    assert len(lines) == 1 and lines[0].startswith("bayesmix: failed: FloatingPointError"), err
    assert snapshot(tmp_path) == before  # no output folder, no file, no temporary


# --------------------------------------------------------------------------------------------
# process behaviour: a write killed with SIGKILL
# --------------------------------------------------------------------------------------------

_KILLED_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    real_replace, real_link = os.replace, os.link

    def die_before_publishing(real):
        def publish(src, dst, *args, **kwargs):
            if str(dst).endswith("membership.csv"):
                os.kill(os.getpid(), signal.SIGKILL)  # the temporary is written, not moved
            return real(src, dst, *args, **kwargs)
        return publish

    os.replace, os.link = die_before_publishing(real_replace), die_before_publishing(real_link)
    from bayesmix.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_write_leaves_no_output_and_its_temporary_goes(tmp_path):
    write(tmp_path / "t.csv", two_blobs())
    argv = [*G, "--n-components", "2", "--n-init", "1", "--seed", "1", "--out", "o", "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITE, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert "membership.csv" not in names  # no partial output under the real name
    stale = [n for n in names if n.startswith(".membership.csv.")]
    assert stale, names  # the killed process's temporary (a dead pid)
    code, _, err = run_cli(argv, tmp_path)  # the next run: succeeds and cleans up
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert "membership.csv" in names and not [n for n in names if n.startswith(".")], names
    assert os.path.getsize(tmp_path / "o" / "membership.csv") > 0
