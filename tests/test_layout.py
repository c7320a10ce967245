"""The package keeps its layout rules (issue 11): sizes, layers, no cycles, no private imports.

Read from the source with ``ast`` (nothing is imported), so the rules hold for
lazy imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "bayesmix"

#: layers, lowest first; a module may import from its own layer or lower ones
LAYERS = [
    {
        "exceptions",
        "_validate",
        "_random",
        "_files",
        "_deprecation",
        "_units",
        "_lazy_placeholders",
    },
    {"components", "io", "gaia", "sky", "_geometry", "_hist", "datasets", "specs", "testing"},
    {"em", "builders"},
    {"inference", "membership", "gpz", "simulate"},
    {"analysis", "scale"},
    {"spec"},
    {"plot"},
    {"workflows"},
    {"cli", "__main__"},
]
#: known exceptions to the layer rule, each with its reason
LAYER_EXCEPTIONS = {
    # MixtureModel.pgm() is a deprecated shim for bayesmix.plot.plot_pgm (README names it)
    ("bayesmix/builders/_model.py", "bayesmix.plot.pgm"),
}
MAX_MODULE_LINES = 900
MAX_FUNCTION_CODE_LINES = 150
DRAWING = ("matplotlib", "daft")


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


MODULES = list(_modules())


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(top: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    return None


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for sub in node.body:
                out |= {id(n) for n in ast.walk(sub)}
    return out


def _walk(tree: ast.Module):
    """Every node except those only seen by type checkers."""
    skip = _type_checking_nodes(tree)
    return (n for n in ast.walk(tree) if id(n) not in skip)


def _imports(module: str, tree: ast.Module):
    """(imported module, names, line) of every bayesmix import, relative ones resolved."""
    for node in _walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("bayesmix"):
                yield node.module, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("bayesmix"):
                    yield a.name, [], node.lineno


def _code_lines(node: ast.AST, source_lines: list[str]) -> int:
    """Lines of a function that are neither blank, comments nor its docstring."""
    doc = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    n = 0
    for i in range(node.lineno, node.end_lineno + 1):
        text = source_lines[i - 1].strip()
        if text and not text.startswith("#") and i not in doc:
            n += 1
    return n


def test_every_module_has_a_layer():
    missing = sorted({_top(m) for m, _, _ in MODULES if _top(m) and _layer(_top(m)) is None})
    assert not missing, f"add these to LAYERS: {missing}"


def test_module_sizes():
    big = [
        (str(p.relative_to(PKG.parent)), n)
        for _, p, _ in MODULES
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, big


def test_function_sizes():
    long = []
    for _, path, tree in MODULES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(node, lines)
                if n > MAX_FUNCTION_CODE_LINES:
                    long.append((f"{path.relative_to(PKG.parent)}:{node.name}", n))
    assert not long, long


def test_layers_import_only_downward():
    bad = []
    for module, path, tree in MODULES:
        here = _layer(_top(module))
        if here is None:
            continue
        for target, _, line in _imports(module, tree):
            there = _layer(_top(target))
            where = str(path.relative_to(PKG.parent))
            if there is not None and there > here and (where, target) not in LAYER_EXCEPTIONS:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for module, path, tree in MODULES:
        for target, names, line in _imports(module, tree):
            if target == module:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} {target}: {private}")
    assert not bad, "\n".join(bad)


def test_only_plot_draws():
    bad = []
    for module, path, tree in MODULES:
        if _top(module) == "plot":
            continue
        for node in _walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in DRAWING for n in names):
                bad.append(f"{path.relative_to(PKG.parent)}:{node.lineno}")
    assert not bad, bad


def test_no_import_cycles_at_module_level():
    """Module-level imports between bayesmix modules form no cycle (lazy imports may)."""
    names = {m for m, _, _ in MODULES}
    graph: dict[str, set[str]] = {m: set() for m in names}
    for module, _, tree in MODULES:
        for node in tree.body:
            targets = []
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("bayesmix")
            ):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("bayesmix")]
            for t in targets:
                if t in names and t != module:
                    graph[module].add(t)
    # a package's __init__ importing its own submodules is how packages work: leave those out
    for m in graph:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t) :] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


@pytest.mark.parametrize(
    "module", sorted(m for m, _, _ in MODULES if not m.split(".")[-1].startswith("_"))
)
def test_public_modules_have_all(module):
    tree = next(t for m, _, t in MODULES if m == module)
    if module.endswith("__main__"):
        return
    assert any(
        isinstance(n, (ast.Assign, ast.AnnAssign))
        and any(
            getattr(t, "id", None) == "__all__"
            for t in getattr(n, "targets", [n.target] if hasattr(n, "target") else [])
        )
        for n in tree.body
    ), f"{module} has no __all__"
