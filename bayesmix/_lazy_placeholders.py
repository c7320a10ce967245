"""Keep other packages' lazy-import placeholders from importing JAX into every bayesmix process.

``arviz_base`` (imported by PyMC) registers *lazy* modules for ``jax`` and ``numpyro`` in
:data:`sys.modules` when they are installed (``lazy_loader.load``): placeholders that import
the real package on their first attribute access.  Two libraries bayesmix uses then touch
them without needing them: astropy's configuration (``inspect.getmodule`` reads ``__file__``
of every module in :data:`sys.modules`) and matplotlib's array conversion
(``sys.modules["jax"].Array``).  Each access imports JAX and NumPyro, ~0.8 s of a fresh
``bayesmix run`` of Hogg's 20 points (4.5 s instead of 5.3 s measured on the bench machine;
bench/RESULTS.md), for a conversion function (``arviz_base.from_numpyro``) bayesmix never
calls.

:func:`install` (called when :mod:`bayesmix` is imported) replaces each placeholder in the
module that made it by a proxy that imports the real package through the normal import
system on first attribute access, and removes the placeholder from :data:`sys.modules`, so
nothing that scans the modules loads JAX while ``from_numpyro`` still works.  It acts at once
when ``arviz_base.io_numpyro`` is already imported, otherwise right after its import (a
one-shot import hook that removes itself).  A placeholder that has already been loaded, or
that the owning module no longer refers to, is left alone.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

__all__ = ["OnDemandModule", "install", "release"]

#: module that creates the placeholders -> the placeholder names it binds
OWNERS = {"arviz_base.io_numpyro": ("jax", "numpyro")}

#: class of an unloaded ``importlib.util.LazyLoader`` module (it changes class once loaded)
_LAZY_CLASS = getattr(importlib.util, "_LazyModule", None)


class OnDemandModule(types.ModuleType):
    """Stand-in for a module not imported yet: imports it on first attribute access."""

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self.__name__), attr)


def _is_unloaded_placeholder(module: object) -> bool:
    return _LAZY_CLASS is not None and type(module) is _LAZY_CLASS


def release(owner: str) -> list[str]:
    """Swap the unloaded placeholders bound in module ``owner``; return the names swapped."""
    mod = sys.modules.get(owner)
    swapped: list[str] = []
    if mod is None:
        return swapped
    for name in OWNERS.get(owner, ()):
        placeholder = sys.modules.get(name)
        if not _is_unloaded_placeholder(placeholder):
            continue
        if getattr(mod, name, None) is not placeholder:
            continue
        setattr(mod, name, OnDemandModule(name))
        del sys.modules[name]
        swapped.append(name)
    return swapped


class _ReleaseAfterImport(importlib.abc.MetaPathFinder):
    """One-shot finder: lets the normal finders load ``owner``, then calls :func:`release`."""

    def __init__(self, owners):
        self.owners = set(owners)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.owners:
            return None
        self.owners.discard(fullname)
        if not self.owners and self in sys.meta_path:
            sys.meta_path.remove(self)
        # find the real spec with the other finders
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_release(module, _exec=exec_module, _name=fullname):
            _exec(module)
            release(_name)

        # a per-spec wrapper object, so the shared loader instance is not modified
        spec.loader = _WrappedLoader(loader, exec_then_release)
        return spec


class _WrappedLoader(importlib.abc.Loader):
    def __init__(self, loader, exec_module):
        self._loader = loader
        self._exec = exec_module

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._exec(module)

    def __getattr__(self, attr):
        return getattr(self._loader, attr)


def install() -> None:
    """Release the placeholders now, or right after their owner is imported."""
    pending = []
    for owner in OWNERS:
        if owner in sys.modules:
            release(owner)
        else:
            pending.append(owner)
    if pending and not any(isinstance(f, _ReleaseAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _ReleaseAfterImport(pending))
