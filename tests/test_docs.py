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
    for name in ("sphinx", "numpydoc", "myst_nb", "furo", "sphinx-mathjax-offline"):
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
        "architecture",
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
    # the package map is generated from tests/test_layout.py's LAYERS
    arch = (out / "architecture.html").read_text()
    assert "bayesmix.workflows" in arch and "bayesmix._validate" in arch
    # math is rendered by the MathJax copied into the site, nothing is loaded from a CDN
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    page = (out / "notebooks" / "01_line_with_outliers.html").read_text()
    assert 'src="../_static/mathjax/tex-chtml.js"' in page
    assert "cdn.jsdelivr" not in page


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


# ------------------------------------------------------------------ the architecture page


def _load(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layers_extension():
    pytest.importorskip(
        "sphinx", reason='the docs extra is not installed: pip install -e ".[docs]"'
    )
    return _load(ROOT / "docs" / "_ext" / "bayesmix_layers.py", "bayesmix_layers_under_test")


def test_package_map_is_the_tested_layer_rule():
    """The site's package map reads the LAYERS that tests/test_layout.py enforces, in order."""
    ext = _layers_extension()
    layout = _load(ROOT / "tests" / "test_layout.py", "test_layout_under_test")
    layers = ext.read_layers()
    assert [set(layer) for layer in layers] == layout.LAYERS
    # every module of the package is on the map, and every entry is a module
    assert {m for layer in layers for m in layer} == ext.top_level_modules()
    assert ext.summary("em").startswith("Expectation-maximisation")
    assert ext.summary("__main__") == "python -m bayesmix: the same as the bayesmix command."


def test_architecture_page_describes_every_layer_entry():
    """docs/architecture.md has one paragraph (a definition-list entry) per module of the map."""
    ext = _layers_extension()
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    described = []
    lines = text.splitlines()
    for line, following in zip(lines, lines[1:], strict=False):
        if following.startswith(": "):  # a definition-list term: `name` or `a`, `b`
            described += [n.strip("`") for n in line.split(", ")]
    layers = ext.read_layers()
    layer_of = {m: i for i, layer in enumerate(layers) for m in layer}
    assert sorted(described) == sorted(layer_of)
    order = [layer_of[m] for m in described]
    assert order == sorted(order)  # the paragraphs come in layer order, lowest first
    assert "{bayesmix-layers}" in text
