"""Execute every notebook in notebooks/ (slow): a cell that raises fails the test.

Each notebook runs in its own temporary working directory, so nothing is written into
the repository; the notebooks read only bundled data (``bayesmix.datasets``).  The
kernel is ``python3``: jupyter_client starts a kernelspec whose command is ``python``
with the interpreter running the tests (``sys.executable``), i.e. the project's venv.
"""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 900  # seconds per cell; cold PyMC/nutpie compilation on a busy machine


def test_notebooks_found():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_clean(path):
    """Committed without outputs (small repository) and reading only bundled data."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs; strip them before committing"
    source = "\n".join(c.source for c in code)
    assert "shared/" not in source and "shared\\" not in source, (
        f"{path.name} reads from ../shared; use bayesmix.datasets"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    before = sorted(path.parent.iterdir())
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and the traceback
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert sorted(path.parent.iterdir()) == before  # nothing written next to the notebooks
