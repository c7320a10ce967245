"""Sphinx extension: the package map, generated from the layer rule that the tests enforce.

The directive ``bayesmix-layers`` (MyST: a ```` ```{bayesmix-layers} ```` fence) draws a
table of bayesmix's top-level modules and subpackages grouped by layer, lowest
first, each with the first line of its docstring.  The layers are read from
``LAYERS`` in ``tests/test_layout.py`` (the list the layout test checks every
import against), by parsing that file, not importing it: the map on the site is
the rule the code is tested against, and a module added to a layer appears here
without editing the page.  A module of the package that no layer lists, or a
layer entry with no module, is a warning (an error under ``-W``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
LAYOUT_TEST = REPO / "tests" / "test_layout.py"
PACKAGE = REPO / "bayesmix"


def read_layers(path: Path = LAYOUT_TEST) -> list[list[str]]:
    """Return ``LAYERS`` of ``tests/test_layout.py``: module names per layer, in source order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "LAYERS" for t in targets):
            return [[ast.literal_eval(e) for e in layer.elts] for layer in node.value.elts]
    raise ValueError(f"{path}: no LAYERS assignment")


def module_file(name: str, package: Path = PACKAGE) -> Path | None:
    """Return the file of top-level module ``name`` (``<name>.py`` or ``<name>/__init__.py``)."""
    for p in (package / f"{name}.py", package / name / "__init__.py"):
        if p.is_file():
            return p
    return None


def summary(name: str, package: Path = PACKAGE) -> str:
    """First line of the docstring of top-level module ``name`` ('' when it has none)."""
    path = module_file(name, package)
    if path is None:
        return ""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    # plain text: ``code`` and :role:`target` lose their markup
    first = re.sub(r":\w+:`~?([^`]+)`", r"\1", first)
    return first.replace("``", "")


def top_level_modules(package: Path = PACKAGE) -> set[str]:
    """Every top-level module and subpackage of the package."""
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in package.glob("*/__init__.py")}
    return names


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text, text)


class LayersDirective(Directive):
    """``.. bayesmix-layers::`` -- the package map table."""

    has_content = False

    def run(self):
        """Return the table node (warnings for modules missing from the layers)."""
        layers = read_layers()
        listed = {m for layer in layers for m in layer}
        for name in sorted(top_level_modules() - listed):
            logger.warning("bayesmix-layers: bayesmix.%s is in no layer of %s", name, LAYOUT_TEST)
        for name in sorted(listed - top_level_modules()):
            logger.warning("bayesmix-layers: layer entry %r is not a module of bayesmix", name)
        table = nodes.table(classes=["bayesmix-layers"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (8, 22, 70):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in ("layer", "module", "what it holds"):
            row += nodes.entry("", nodes.paragraph(text=title))
        head += row
        body = nodes.tbody()
        group += body
        for i, layer in enumerate(layers, start=1):
            for j, name in enumerate(layer):
                row = nodes.row()
                row += nodes.entry("", nodes.paragraph(text=str(i) if j == 0 else ""))
                row += nodes.entry("", nodes.paragraph("", "", _literal(f"bayesmix.{name}")))
                row += nodes.entry("", nodes.paragraph(text=summary(name)))
                body += row
        return [table]


def setup(app):
    """Register the ``bayesmix-layers`` directive."""
    app.add_directive("bayesmix-layers", LayersDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
