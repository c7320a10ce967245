"""Deprecated names that moved: one module ``__getattr__`` that warns and forwards.

A module whose public names moved sets
``__getattr__ = moved_names(__name__, {"old": "new.module:new_name", ...})``: reading
an old name warns :class:`FutureWarning` naming the new place and returns the object
from there (imported on demand, so a lower layer may point at a higher one).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names"]


def moved_names(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` resolving ``moved`` names with a FutureWarning.

    Parameters
    ----------
    module : str
        The deprecated module's name (``__name__``), for the messages.
    moved : mapping of str to str
        Old name -> ``"package.module"`` (same name) or ``"package.module:new_name"``.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562 module attribute hook
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, new = moved[name].partition(":")
        new = new or name
        warnings.warn(f"{module}.{name} moved; use {target}.{new}", FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(target), new)

    return __getattr__
