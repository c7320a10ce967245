"""Structural key of a PyMC model: what its compiled log-density and expansion depend on.

:func:`model_key` hashes, in a canonical order, every node of the graphs a nutpie compile
reads: the model's log-density (priors, likelihood, potentials, transforms and their
Jacobians, as ``pymc.Model.logp`` derives them), the expansion to all traced variables
(deterministics, back-transformed values), the free random variables' graphs and initial
values (the starting points), the variables' names, shapes and dims, the data (constants and
shared values, by SHA-256 of their bytes) and the versions of the libraries that turn these
into machine code.  Two models with the same key compile to the same functions; the key
changes when any of these change.  Operations defined outside PyTensor and PyMC (e.g.
:mod:`bayesmix.components.fused_op`) add the SHA-256 of the Python sources in their module's
folder, so editing their implementation changes the key.

A graph element the key cannot describe exactly (an object whose only description is its
memory address, a Python callable in an operation's parameters) makes :func:`model_key`
return ``None``: such a model is never looked up in a cache.
"""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KEY_FORMAT", "model_key"]

#: bump when the key's content or the cached record's layout changes
KEY_FORMAT = 1


class _Unkeyable(Exception):
    """Raised inside the walk when an element has no exact, stable description."""


_LIBRARIES = ("numpy", "scipy", "pytensor", "pymc", "numba", "llvmlite", "nutpie")


def _versions() -> dict[str, str]:
    out = {"python": sys.version}
    for name in _LIBRARIES:
        mod = sys.modules.get(name)
        if mod is None:
            __import__(name)
            mod = sys.modules[name]
        out[name] = str(getattr(mod, "__version__", "?"))
    return out


def _array_digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    if a.dtype.hasobject:
        raise _Unkeyable(f"object array {a.dtype}")
    if a.size:
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


_SOURCE_DIGESTS: dict[str, str] = {}


def _source_digest(cls: type) -> str:
    """SHA-256 of the ``.py`` files in the folder of the module defining ``cls``."""
    mod = sys.modules.get(cls.__module__)
    path = getattr(mod, "__file__", None)
    if path is None:
        raise _Unkeyable(f"no source file for {cls.__module__}")
    folder = Path(path).resolve().parent
    key = str(folder)
    if key not in _SOURCE_DIGESTS:
        h = hashlib.sha256()
        for p in sorted(folder.glob("*.py")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
        _SOURCE_DIGESTS[key] = h.hexdigest()
    return _SOURCE_DIGESTS[key]


def _third_party(cls: type) -> bool:
    top = cls.__module__.split(".")[0]
    return top not in ("pytensor", "pymc", "numpy", "builtins")


class _Walker:
    """Canonical text of a set of PyTensor graphs, one line per variable and node."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.lines: list[str] = []
        self.shared: dict[str, Any] = {}

    def canon(self, obj: Any, depth: int = 0) -> str:
        from pytensor.graph.basic import Variable
        from pytensor.graph.fg import FunctionGraph

        if depth > 20:
            raise _Unkeyable("nesting too deep")
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return f"{type(obj).__name__}:{obj!r}"
        if isinstance(obj, np.ndarray):
            return f"array:{_array_digest(obj)}"
        if isinstance(obj, (np.generic, np.dtype)):
            return f"{type(obj).__name__}:{obj!r}"
        if isinstance(obj, (tuple, list)):
            inner = ",".join(self.canon(v, depth + 1) for v in obj)
            return f"{type(obj).__name__}({inner})"
        if isinstance(obj, (set, frozenset)):
            return "set(" + ",".join(sorted(self.canon(v, depth + 1) for v in obj)) + ")"
        if isinstance(obj, dict) or type(obj).__name__ == "frozendict":
            items = sorted(
                (self.canon(k, depth + 1), self.canon(v, depth + 1)) for k, v in obj.items()
            )
            return "dict(" + ",".join(f"{k}:{v}" for k, v in items) + ")"
        if isinstance(obj, Variable):
            return f"var:{self.variable(obj)}"
        if isinstance(obj, FunctionGraph):
            return "fgraph:" + self.subgraph(obj.inputs, obj.outputs)
        cls = type(obj)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if _third_party(cls):
            name += f"@{_source_digest(cls)}"
        props = getattr(obj, "__props__", None)
        if props is not None:
            parts = [f"{p}={self.canon(getattr(obj, p), depth + 1)}" for p in props]
            # inner graphs of OpFromGraph-like operations
            for attr in ("fgraph",):
                inner = getattr(obj, attr, None)
                if inner is not None and attr not in props:
                    parts.append(f"{attr}={self.canon(inner, depth + 1)}")
            return f"{name}({';'.join(parts)})"
        if isinstance(obj, types.FunctionType):
            return f"function {self._code(obj.__code__)} " + self.canon(
                [c.cell_contents for c in obj.__closure__ or ()], depth + 1
            )
        if isinstance(obj, types.MethodType):
            return f"method {obj.__func__.__qualname__} of " + self.canon(obj.__self__, depth + 1)
        if isinstance(obj, type):
            return f"class {obj.__module__}.{obj.__qualname__}"
        state = getattr(obj, "__dict__", None)
        if state is not None and not callable(obj) and type(obj).__repr__ is object.__repr__:
            return f"{name}{self.canon(dict(state), depth + 1)}"
        text = repr(obj)
        if " at 0x" in text or " object at " in text:
            raise _Unkeyable(f"{name} has no stable description")
        return f"{name}:{text}"

    def _code(self, code: types.CodeType) -> str:
        h = hashlib.sha256(code.co_code)
        for c in code.co_consts:
            h.update((self._code(c) if isinstance(c, types.CodeType) else self.canon(c)).encode())
        h.update(repr((code.co_names, code.co_varnames)).encode())
        return f"{code.co_qualname}:{h.hexdigest()}"

    def subgraph(self, inputs, outputs) -> str:
        """Digest of an inner graph (its own numbering)."""
        sub = _Walker()
        for i, v in enumerate(inputs):
            sub.ids[v] = -(i + 1)
            sub.lines.append(f"in{i}:{v.type}")
        sub.walk(outputs)
        return hashlib.sha256("\n".join(sub.lines).encode()).hexdigest()

    def variable(self, v) -> int:
        if v in self.ids:
            return self.ids[v]
        self.walk([v])
        return self.ids[v]

    def _root(self, v) -> str:
        from pytensor.compile.sharedvalue import SharedVariable
        from pytensor.graph.basic import Constant

        if isinstance(v, Constant):
            data = v.data
            d = (
                _array_digest(np.asarray(data))
                if isinstance(data, np.ndarray | np.generic | float | int)
                else self.canon(data)
            )
            return f"const {v.type} {d}"
        if isinstance(v, SharedVariable):
            value = v.get_value(borrow=True)
            if isinstance(value, np.random.Generator):
                # the state moves with every draw; the starting points reseed their own
                return f"rng {v.type}"
            if isinstance(value, np.ndarray):
                digest = _array_digest(value)
            else:
                raise _Unkeyable(f"shared variable {v.name!r} holds a {type(value).__name__}")
            if v.name is None:
                raise _Unkeyable("unnamed shared variable")
            if v.name in self.shared and self.shared[v.name] is not v:
                raise _Unkeyable(f"two shared variables named {v.name!r}")
            self.shared[v.name] = v
            return f"shared {v.name!r} {v.type} {digest}"
        return f"input {v.name!r} {v.type}"

    def walk(self, outputs) -> None:
        from pytensor.graph.traversal import toposort

        for node in toposort([o for o in outputs if o not in self.ids]):
            for v in node.inputs:
                if v not in self.ids and v.owner is None:
                    self.ids[v] = len(self.ids)
                    self.lines.append(f"v{self.ids[v]} {self._root(v)}")
            ins = ",".join(str(self.ids[v]) for v in node.inputs)
            outs = []
            for o in node.outputs:
                self.ids[o] = len(self.ids)
                outs.append(f"{self.ids[o]}:{o.type}:{o.name!r}")
            self.lines.append(f"{self.canon(node.op)}({ins})->{' '.join(outs)}")
        for o in outputs:
            if o not in self.ids:  # a root output
                self.ids[o] = len(self.ids)
                self.lines.append(f"v{self.ids[o]} {self._root(o)}")


def model_key(model, *, extra: Any = ()) -> tuple[str, dict[str, Any]] | tuple[None, str]:
    """Return ``(key, shared)`` for ``model``, or ``(None, reason)`` when it has no key.

    Parameters
    ----------
    model : pymc.Model
    extra : JSON-able, optional
        Further settings the compiled result depends on (e.g. the jittered variables).

    Returns
    -------
    key : str or None
        64 hexadecimal digits.
    shared : dict of str to SharedVariable, or str
        The model's shared variables by name (what the compiled functions read), or the
        reason there is no key.
    """
    w = _Walker()
    try:
        text = _key_text(w, model, extra)
    except _Unkeyable as exc:
        return None, str(exc)
    return hashlib.sha256(text.encode()).hexdigest(), w.shared


def _key_text(w: _Walker, model, extra: Any) -> str:
    """Return the canonical text :func:`model_key` hashes (raises _Unkeyable)."""
    import pytensor

    free = list(model.free_RVs)
    values = [model.rvs_to_values[v] for v in free]
    w.lines.append("free " + ",".join(f"{v.name}->{model.rvs_to_values[v].name}" for v in free))
    w.lines.append("transforms " + ",".join(w.canon(model.rvs_to_transforms.get(v)) for v in free))
    w.lines.append(
        "initvals " + ",".join(w.canon(model.rvs_to_initial_values.get(v)) for v in free)
    )
    w.lines.append("dims " + w.canon(dict(model.named_vars_to_dims)))
    coords = {k: None if v is None else [str(x) for x in v] for k, v in model.coords.items()}
    w.lines.append("coords " + w.canon(coords))
    w.lines.append(f"check_bounds {model.check_bounds}")
    w.walk([*free, *values])
    w.lines.append("logp")
    w.walk([model.logp()])
    w.lines.append("expand")
    w.walk(list(model.unobserved_value_vars))
    w.lines.append("extra " + w.canon(extra))
    cfg = pytensor.config
    settings = {
        "floatX": cfg.floatX,
        "fastmath": cfg.numba__fastmath,
        "optimizer": cfg.optimizer,
        "including": cfg.optimizer_including,
        "excluding": cfg.optimizer_excluding,
        "requiring": cfg.optimizer_requiring,
    }
    w.lines.append("config " + w.canon(settings))
    w.lines.append(f"format {KEY_FORMAT} " + w.canon(_versions()))
    return "\n".join(w.lines)
