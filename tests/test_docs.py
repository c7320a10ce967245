"""The documentation site builds with warnings as errors (slow: about a minute).

A broken cross-reference in a docstring (``:func:`bayesmix.no_such_name```), a
public module without ``__all__``, a page left out of every table of contents or
a malformed docstring fails the build, and so this test.  Needs the ``docs``
extra (``pip install -e ".[docs]"``).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for name in ("sphinx", "numpydoc", "myst_nb", "furo"):
        pytest.importorskip(
            name, reason='the docs extra is not installed: pip install -e ".[docs]"'
        )
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-n",
        "-q",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        str(ROOT / "docs"),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"sphinx failed:\n{proc.stderr[-6000:]}"
    for page in (
        "index",
        "getting_started",
        "figures",
        "api/index",
        "citation",
        "changelog",
        "notebooks/02_cluster_membership_gaia",
    ):
        assert (out / f"{page}.html").is_file(), page
    api = (out / "api" / "generated" / "bayesmix.plot.html").read_text()
    assert "plot_zoomed_membership" in api
    # the API pages are generated from the package: one per public module
    assert (out / "api" / "generated" / "bayesmix.em.html").is_file()
