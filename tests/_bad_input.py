"""Shared checks of the bad-input battery (``tests/test_bad_input*.py``, issue 13).

Every case runs the ``bayesmix`` command in process (:func:`bayesmix.cli.main`,
as a user's shell would, warnings shown rather than raised) or the Python API,
and checks the promise of issue 13: the exit code (0 ok, 1 runtime failure,
2 usage, spec or data error), exactly one ``bayesmix: error:`` line naming the
argument, key, path or row, no traceback, and the folder afterwards exactly as
before (no input changed, no output, partial file or temporary left behind).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import re
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from astropy.table import Table

from bayesmix.cli import main

__all__ = [
    "SEED",
    "FittingStarted",
    "assert_refused",
    "known_failure",
    "no_fitting",
    "run_cli",
    "snapshot",
    "two_blobs",
    "write",
]

SEED = 20261122
PREFIX = {1: "bayesmix: failed: ", 2: "bayesmix: error: "}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too) -> hash of its bytes."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``bayesmix argv`` in ``cwd`` in this process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("default")  # as in a user's shell: shown, not raised
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


class FittingStarted(AssertionError):
    """Raised by :func:`no_fitting` when a command starts a fit it should have refused."""


@contextlib.contextmanager
def no_fitting():
    """Make any EM fit or NUTS sampling raise :class:`FittingStarted` (refusals come first).

    The runners look ``bayesmix.inference.sample`` up at call time, and every EM
    fit (GMM, XD, GPz mixtures, BIC/AIC selection) goes through the two
    estimators' ``fit``.
    """
    import bayesmix.inference
    from bayesmix.em import GaussianMixture, XDGaussianMixture

    def refusing(fn):
        @functools.wraps(fn)  # the signature stays (runners read sample's defaults)
        def refuse(*args, **kwargs):
            raise FittingStarted("fitting started before the input was refused")

        return refuse

    with contextlib.ExitStack() as stack:
        sample = refusing(bayesmix.inference.sample)
        stack.enter_context(mock.patch.object(bayesmix.inference, "sample", sample))
        for cls in (GaussianMixture, XDGaussianMixture):
            stack.enter_context(mock.patch.object(cls, "fit", refusing(cls.fit)))
        yield


def assert_refused(
    cwd: Path, argv: list[str], code: int, pattern: str, *, before_fit: bool = True
) -> str:
    """Run the command; check the exit code, the one error line and that nothing changed.

    Returns the error line.  ``pattern`` is a regular expression searched in it
    (the argument, key, path or row it must name).  With ``before_fit`` (the
    default for exit code 2) no fit or sampling may start (:func:`no_fitting`).
    """
    before = snapshot(cwd)
    with no_fitting() if before_fit and code == 2 else contextlib.nullcontext():
        got, _, err = run_cli(argv, cwd)
    assert "fitting started before" not in err, f"refused only after fitting: {err}"
    assert "Traceback" not in err, err
    lines = [
        ln for ln in err.splitlines() if ln.startswith(("bayesmix: error", "bayesmix: failed"))
    ]
    usage = [ln for ln in err.splitlines() if ln.startswith("bayesmix ") and ": error: " in ln]
    lines += usage  # argparse: "bayesmix gmm fit: error: ..."
    assert got == code, f"exit {got}, expected {code}: {err}"
    assert len(lines) == 1, f"expected one error line, got {lines}: {err}"
    if not usage:
        assert lines[0].startswith(PREFIX[code]), lines[0]
    assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    assert "chr() arg" not in lines[0] and "available columns: ." not in lines[0]
    assert snapshot(cwd) == before, "files changed, appeared or vanished"
    return lines[0]


def two_blobs(n: int = 60, seed: int = SEED) -> Table:
    """A small table: ``id`` and two well separated 2-D Gaussian groups in ``a``, ``b``."""
    rng = np.random.default_rng(seed)
    half = n // 2
    return Table(
        {
            "id": np.arange(n),
            "a": np.r_[rng.normal(0, 1, half), rng.normal(6, 1, n - half)],
            "b": np.r_[rng.normal(0, 1, half), rng.normal(-4, 1, n - half)],
        }
    )


def write(path: Path, content: bytes | str | Table) -> Path:
    """Write bytes, text or a table (its format from the name) to ``path``."""
    if isinstance(content, Table):
        fmt = "votable" if path.suffix == ".vot" else None
        content.write(path, overwrite=True, format=fmt)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def known_failure(request, owner: str, what: str) -> None:
    """Mark the running case ``xfail(strict=True)``: a failure in code ``owner`` owns.

    Strict, so the case turns red (XPASS) the moment the fix lands and the mark
    must go.  ``what`` is the exact failure (command, expected, got).
    """
    request.applymarker(pytest.mark.xfail(strict=True, reason=f"issue 13 [{owner}]: {what}"))
