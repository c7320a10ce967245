"""arviz_base's lazy jax/numpyro placeholders no longer import JAX in a bayesmix process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import types

import pytest

from bayesmix import _lazy_placeholders as lp


def _lazy(name: str) -> types.ModuleType:
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


@pytest.fixture
def heavy(tmp_path, monkeypatch):
    """A module ``bm_heavy`` that counts its executions, and an owner binding a placeholder."""
    (tmp_path / "bm_heavy.py").write_text(
        "import builtins\nbuiltins.BM_HEAVY_RUNS = getattr(builtins, 'BM_HEAVY_RUNS', 0) + 1\n"
        "VALUE = 42\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(lp.OWNERS, "bm_owner", ("bm_heavy",))
    owner = types.ModuleType("bm_owner")
    monkeypatch.setitem(sys.modules, "bm_owner", owner)
    import builtins

    monkeypatch.setattr(builtins, "BM_HEAVY_RUNS", 0, raising=False)
    yield owner
    sys.modules.pop("bm_heavy", None)


def test_release_swaps_an_unloaded_placeholder_for_an_on_demand_import(heavy):
    import builtins

    heavy.bm_heavy = _lazy("bm_heavy")
    assert lp.release("bm_owner") == ["bm_heavy"]
    assert "bm_heavy" not in sys.modules
    # scanning the modules as inspect.getmodule does touches nothing
    for m in list(sys.modules.values()):
        hasattr(m, "__file__")
    assert builtins.BM_HEAVY_RUNS == 0
    # the owner still reaches the module, imported once the normal way
    assert heavy.bm_heavy.VALUE == 42
    assert builtins.BM_HEAVY_RUNS == 1
    assert sys.modules["bm_heavy"].VALUE == 42
    assert heavy.bm_heavy.VALUE == 42
    assert builtins.BM_HEAVY_RUNS == 1


def test_release_leaves_loaded_or_foreign_placeholders_alone(heavy):
    import builtins

    placeholder = _lazy("bm_heavy")
    heavy.bm_heavy = object()  # the owner no longer refers to the placeholder
    assert lp.release("bm_owner") == []
    assert sys.modules["bm_heavy"] is placeholder
    heavy.bm_heavy = placeholder
    assert placeholder.VALUE == 42  # loaded now
    assert lp.release("bm_owner") == []
    assert sys.modules["bm_heavy"] is placeholder
    assert builtins.BM_HEAVY_RUNS == 1
    assert lp.release("not_imported_owner") == []


SCRIPT = """
import sys, inspect
{first}
import astropy.table
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
fig, ax = plt.subplots()
ax.plot(np.arange(3), np.arange(3))
inspect.getmodule(plt.plot)
print("jax" in sys.modules, "numpyro" in sys.modules)
import arviz_base.io_numpyro as io
print(io.jax.numpy.zeros(2).shape == (2,), type(sys.modules["jax"]).__name__)
"""


@pytest.mark.parametrize(
    "first",
    ["import bayesmix\nimport pymc, arviz_base", "import pymc, arviz_base\nimport bayesmix"],
    ids=["before", "after"],
)
def test_pymc_astropy_matplotlib_do_not_import_jax(first):
    pytest.importorskip("jax")
    pytest.importorskip("numpyro")
    pytest.importorskip("lazy_loader")
    code = textwrap.dedent(SCRIPT).format(first=first)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout.split("\n")
    assert out[0] == "False False"
    # arviz's numpyro converter still reaches JAX, imported once as a normal module
    assert out[1] == "True module"


def test_without_bayesmix_the_placeholders_do_import_jax():
    """The reference: what the module above prevents does happen without it."""
    pytest.importorskip("jax")
    pytest.importorskip("numpyro")
    code = "import sys, pymc, arviz_base, astropy.table\nprint('jax._src' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    ).stdout.strip()
    assert out == "True"
