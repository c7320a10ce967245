"""The documentation site builds with warnings as errors (slow: about half a minute).

A broken cross-reference in a docstring (``:func:`bayesmix.no_such_name```), a
public module without ``__all__``, a page left out of every table of contents or
a malformed docstring fails the build, and so this test.  Needs the ``docs``
extra (``pip install -e ".[docs]"``).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sphinx(src: Path, out: Path, doctrees: Path) -> subprocess.CompletedProcess:
    for name in ("sphinx", "numpydoc", "myst_nb", "furo"):
        pytest.importorskip(
            name, reason='the docs extra is not installed: pip install -e ".[docs]"'
        )
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
        "-D",
        "nb_execution_mode=off",  # the notebooks run in tests/test_notebooks.py
        "-d",
        str(doctrees),
        str(src),
        str(out),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    out = tmp_path / "html"
    proc = _sphinx(ROOT / "docs", out, tmp_path / "doctrees")
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


@pytest.mark.slow
def test_a_broken_reference_fails_the_build(tmp_path):
    """The gate itself: the site's configuration turns an unknown public name into an error."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "docs" / "conf.py", src / "conf.py")
    shutil.copytree(ROOT / "docs" / "_ext", src / "_ext")
    (src / "index.md").write_text(
        "# test\n\n{func}`bayesmix.plot.plot_sky` and {func}`bayesmix.sample` resolve; "
        "{func}`bayesmix.plot.no_such_function` does not.\n\n"
        "```{toctree}\n:glob:\n\napi/generated/*\n```\n"
    )
    proc = _sphinx(src, tmp_path / "html", tmp_path / "doctrees")
    assert proc.returncode != 0
    missing = [line for line in proc.stderr.splitlines() if "target not found" in line]
    assert any("bayesmix.plot.no_such_function" in line for line in missing), proc.stderr[-3000:]
    assert not any("plot_sky" in line or "bayesmix.sample" in line for line in missing)
