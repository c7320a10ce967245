"""Sphinx extension: API reference pages generated from the package's ``__all__`` lists.

At ``builder-inited`` every public module of :mod:`bayesmix` (no path component
starting with ``_``) gets a page ``api/generated/<module>.rst``: its docstring, a
summary table of everything in its ``__all__``, and the full entry of each public
object whose *home* is that module.  An object's home is the module that defines
it when that module is public, else the public module exporting it that is
closest to where it is defined (``MixtureModel``, defined in
``bayesmix.builders._model``, lives on the ``bayesmix.builders`` page).  Every
object is documented once; a reference through any public path it is exported
under (``bayesmix.sample``, ``bayesmix.inference.sample``) or through its
defining module resolves to that entry (``missing-reference`` handler below), and
a method a class inherits resolves to the base class that defines it.

Because the pages are derived from the package itself, moving a module or a
name does not break the site; a name in ``__all__`` that cannot be imported, or a
public module without ``__all__``, is reported as a warning (an error under -W).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = "bayesmix"


def public_modules(root: str = ROOT) -> list[str]:
    """Names of the public modules of ``root`` (imports every package on the way)."""
    pkg = importlib.import_module(root)
    names = [root]
    for info in pkgutil.walk_packages(pkg.__path__, root + ".", onerror=_import_failed):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts):
            continue
        names.append(info.name)
    return sorted(names)


def _import_failed(name: str) -> None:
    logger.warning("bayesmix_api: cannot import package %s", name)


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj) and hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
        return "function"
    return "data"


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        n += 1
    return n


def collect(modules: list[str]):
    """Return (exports, homes, aliases).

    exports: module -> list of (name, obj, kind) from its ``__all__``;
    homes: key -> documented full name (key identifies the object);
    aliases: every public or defining path -> documented full name.
    """
    exports: dict[str, list] = {}
    by_key: dict[tuple, list[str]] = {}
    objs: dict[tuple, object] = {}
    for modname in modules:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            logger.warning("bayesmix_api: public module %s has no __all__", modname)
            names = []
        rows = []
        for name in names:
            try:
                obj = getattr(mod, name)
            except AttributeError:
                try:  # a submodule named in __all__ (``from pkg import *`` imports it)
                    obj = importlib.import_module(f"{modname}.{name}")
                except ImportError:
                    logger.warning(
                        "bayesmix_api: %s.__all__ names %r, which it does not define", modname, name
                    )
                    continue
            kind = _kind(obj)
            rows.append((name, obj, kind))
            if kind == "module":
                continue
            key = ("obj", id(obj)) if kind != "data" else ("data", name, id(obj))
            by_key.setdefault(key, []).append(modname)
            objs[key] = obj
        exports[modname] = rows
    homes: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for key, mods in by_key.items():
        obj = objs[key]
        name = key[1] if key[0] == "data" else None
        if key[0] == "obj":
            defining = getattr(obj, "__module__", "") or ""
            name = next(n for n, o, _ in exports[mods[0]] if o is obj)
            if defining in mods:
                home = defining
            else:
                home = max(mods, key=lambda m: (_common_prefix(m, defining), -len(m)))
            full = f"{home}.{name}"
            qual = getattr(obj, "__qualname__", name)
            aliases[f"{defining}.{qual}"] = full
        else:
            home = max(mods, key=len)  # data: the deepest module listing it defines it
            full = f"{home}.{name}"
        homes[key] = full
        for m in mods:
            for n, o, _ in exports[m]:
                if o is obj:
                    aliases[f"{m}.{n}"] = full
    return exports, homes, aliases


_DIRECTIVE = {
    "class": "autoclass",
    "exception": "autoexception",
    "function": "autofunction",
    "data": "autodata",
}


def write_pages(outdir: Path, modules: list[str], exports, homes) -> list[str]:
    """Write one reStructuredText page per module; return the page names."""
    outdir.mkdir(parents=True, exist_ok=True)
    pages = []
    for modname in modules:
        lines = [
            modname,
            "=" * len(modname),
            "",
            f".. automodule:: {modname}",
            "   :no-members:",
            "",
        ]
        rows = exports[modname]
        listed = [n for n, _, k in rows if k != "module"]
        submodules = [f"{modname}.{n}" for n, _, k in rows if k == "module"]
        if listed:
            lines += [".. rubric:: Summary", "", ".. autosummary::", "   :nosignatures:", ""]
            lines += [f"   {x}" for x in listed]
            lines += [""]
        if submodules:
            lines += [".. rubric:: Submodules", ""]
            lines += [f"- :mod:`{m}`" for m in submodules] + [""]
        own = []
        for name, obj, kind in rows:
            if kind == "module":
                continue
            key = ("obj", id(obj)) if kind != "data" else ("data", name, id(obj))
            if homes[key] == f"{modname}.{name}":
                own.append((name, kind))
        if own:
            lines += [".. rubric:: Reference", ""]
        for name, kind in own:
            lines += [f".. {_DIRECTIVE[kind]}:: {modname}.{name}"]
            if kind in ("class", "exception"):
                lines += ["   :members:", "   :undoc-members:", "   :show-inheritance:"]
            elif kind == "data":
                lines += ["   :no-value:"]
            lines += [""]
        text = "\n".join(lines)
        path = outdir / f"{modname}.rst"
        if not path.exists() or path.read_text() != text:  # keep mtimes for incremental builds
            path.write_text(text)
        pages.append(modname)
    for stale in outdir.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()
    return pages


def _builder_inited(app) -> None:
    modules = public_modules()
    exports, homes, aliases = collect(modules)
    outdir = Path(app.srcdir) / "api" / "generated"
    write_pages(outdir, modules, exports, homes)
    app.env.bayesmix_api_aliases = aliases


def _missing_reference(app, env, node, contnode):
    """Resolve ``bayesmix.x.y`` through the public path or the defining module."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    aliases = getattr(env, "bayesmix_api_aliases", None) or {}
    candidates = [target]
    mod = node.get("py:module")
    if mod and not target.startswith(ROOT):
        candidates.append(f"{mod}.{target}")
    for cand in list(candidates):
        inherited = _inherited_target(cand)
        if inherited:
            candidates.append(inherited)
    domain = env.get_domain("py")
    for cand in candidates:
        parts = cand.split(".")
        new = cand
        for i in range(len(parts), 1, -1):
            head = ".".join(parts[:i])
            if head in aliases:
                new = ".".join([aliases[head], *parts[i:]])
                break
        if new == target:
            continue
        node = node.deepcopy()
        node["reftarget"] = new
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], new, node, contnode
        )
        if found is not None:
            return found
    return None


def _inherited_target(target: str) -> str | None:
    """``pkg.Class.method`` -> ``base_module.Base.method`` when the class inherits it."""
    parts = target.split(".")
    if len(parts) < 3 or parts[0] != ROOT:
        return None
    for i in range(len(parts) - 2, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:-1]:
            obj = getattr(obj, attr, None)
        if not inspect.isclass(obj):
            return None
        name = parts[-1]
        for base in obj.__mro__[1:]:
            if name in vars(base) and name not in vars(obj):
                return f"{base.__module__}.{base.__qualname__}.{name}"
        return None
    return None


def _process_bases(app, name, obj, options, bases) -> None:
    """Replace base classes that are private and not exported by their own bases."""
    aliases = getattr(app.env, "bayesmix_api_aliases", None) or {}

    def public(base) -> list:
        mod = getattr(base, "__module__", "") or ""
        path = f"{mod}.{getattr(base, '__qualname__', '')}"
        private = mod.startswith(ROOT) and any(p.startswith("_") for p in mod.split("."))
        if private and path not in aliases:
            return [b for parent in base.__bases__ for b in public(parent)]
        return [base]

    keep: list = []
    for base in bases:
        keep += [b for b in public(base) if b not in keep]
    bases[:] = keep


def setup(app):
    """Register the page generator, the alias resolver and the base-class filter."""
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-bases", _process_bases)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
