"""nutpie models compiled once per machine: numba C callbacks plus a checked record.

nutpie samples a PyMC model through two numba C callbacks (log-density + gradient, and the
expansion of a point to every traced variable).  nutpie compiles them in every process and
never caches them.  :func:`compile_nutpie` does what ``nutpie.compile_pymc_model(model,
backend="numba")`` does, with two caches:

1. **The callbacks** are built from source text generated here and registered under a key
   derived from PyTensor's own cache key of the compiled graph, so numba stores their machine
   code in PyTensor's compile directory (``base_compiledir``/numba).  The stored code of a
   callback is self-contained: PyTensor's graph function it calls is compiled into it.
2. **A record of the compile** (:func:`cache_directory`/``<key>.json``, plain JSON, no
   pickle) under the model's structural key (:func:`~bayesmix.inference.model_key.model_key`:
   graphs, data, names, shapes, library versions): the callbacks' source text and cache keys,
   the sizes and names of the flattened variables, the shared data's names, dtypes and shapes,
   and the starting points.  A later process with a model of the same key loads the two
   callbacks from numba's cache without building, rewriting or compiling any PyTensor graph.

The record is checked before use: the callbacks' source text and cache keys are regenerated
and compared, the shared data must have the recorded names, dtypes and shapes, both callbacks
must load from numba's cache (no compilation), and the loaded callbacks must give, bit for
bit, the log-density, gradient and expansion recorded at three starting points, which the
starting-point function must also reproduce bit for bit.  Any difference, a missing file or
any error falls back to the full compile, which rewrites the record.

Starting points: PyMC's starting-point function (the support point, moved to the
unconstrained space, plus a U(-1, 1) jitter per jittered variable from a PCG64 generator
spawned from ``numpy.random.SeedSequence(seed)``) is compiled by PyTensor.  The record stores
the support point and which spawned generator jitters which variable; the full compile keeps
the record only when this reproduces PyMC's function exactly for three seeds.

Same draws: the loaded callbacks are the same machine code and the starting points are the
same numbers, so a seed gives the same draws through either path (tested in process and
across processes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bayesmix._files import atomic_write
from bayesmix.inference.model_key import KEY_FORMAT, model_key

__all__ = ["CompileResult", "cache_directory", "compile_nutpie", "import_nutpie"]

#: nutpie minor versions whose internal compile helpers this module reuses
_NUTPIE_CACHED = ("0.15", "0.16")
#: seeds of the starting points a record is checked at (nutpie passes 64-bit seeds)
_CHECK_SEEDS = (0, 1, 14291684070785161500)


def _callback_template(signature: str, checks, out_size: str, body: str) -> str:
    """Return a callback's source: check the sizes, read the shared data and ``x``, ``body``."""
    guards = "".join(f"    if {arg} != {size}:\n        return -1\n" for arg, size in checks)
    shared = '    ud = numba.carray(user_data_, (), RECORD)[()]["shared"]\n{extract}\n'
    arrays = f"    x = numba.carray(x_, (N_DIM,))\n    out = numba.carray(out_, ({out_size},))\n"
    return f"\ndef {signature}:\n{guards}" + shared + arrays + body


_LOGP_SRC = _callback_template(
    "bayesmix_nutpie_logp(dim, x_, out_, logp_, user_data_)",
    [("dim", "N_DIM")],
    "N_DIM",
    """    logp = numba.carray(logp_, ())
    logp_val, grad = INNER(x{args})
    logp[()] = logp_val
    out[...] = grad
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(logp_val):
        return 4
    return 0
""",
)

_EXPAND_SRC = _callback_template(
    "bayesmix_nutpie_expand(dim, expanded, x_, out_, user_data_)",
    [("dim", "N_DIM"), ("expanded", "N_EXPANDED")],
    "N_EXPANDED",
    """    (values,) = INNER(x{args})
    out[...] = values
    return 0
""",
)


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_nutpie` produced and how.

    Attributes
    ----------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
    source : {"record", "compiled", "nutpie"}
        ``"record"``: loaded through a checked record (no PyTensor graph built);
        ``"compiled"``: full compile, callbacks cached by numba; ``"nutpie"``: nutpie's own
        compile (a nutpie version this module does not know, or no PyTensor cache key).
    key : str or None
        The model's structural key (None when it has none).
    note : str
        Why no record was used or written, when that happened ("" otherwise).
    """

    compiled: Any
    source: str
    key: str | None
    note: str = ""


def import_nutpie():
    """Import nutpie without importing all of arviz; return the module.

    nutpie's ``sample`` module imports ``arviz`` only to call ``arviz.from_dict`` and
    ``arviz.dict_to_dataset``, which are :mod:`arviz_base`'s functions (the same objects).
    Importing ``arviz`` also imports ``arviz_stats`` and ``arviz_plots`` (with
    ``matplotlib.pyplot``): about 2 s, half of ``import nutpie``.  While nutpie is imported,
    ``sys.modules["arviz"]`` is a stand-in holding those two functions (any other attribute
    imports the real arviz); the stand-in is removed right after, so every other
    ``import arviz`` gets the real package.  Only for the nutpie versions this module knows.
    """
    import importlib
    import importlib.metadata
    import sys
    import types

    if "nutpie" in sys.modules or "arviz" in sys.modules:
        return importlib.import_module("nutpie")
    version = importlib.metadata.version("nutpie")
    if ".".join(version.split(".")[:2]) not in _NUTPIE_CACHED:
        return importlib.import_module("nutpie")
    import arviz_base

    stand_in = types.ModuleType("arviz", "bayesmix stand-in while nutpie is imported")
    stand_in.from_dict = arviz_base.from_dict
    stand_in.dict_to_dataset = arviz_base.dict_to_dataset

    def __getattr__(name):  # noqa: N807 (PEP 562 module attribute hook)
        return getattr(importlib.import_module("arviz"), name)

    stand_in.__getattr__ = __getattr__
    sys.modules["arviz"] = stand_in
    try:
        return importlib.import_module("nutpie")
    finally:
        if sys.modules.get("arviz") is stand_in:
            del sys.modules["arviz"]


def cache_directory() -> Path:
    """Folder of the compile records: ``bayesmix_nutpie`` in PyTensor's ``base_compiledir``."""
    import pytensor

    return Path(pytensor.config.base_compiledir) / "bayesmix_nutpie"


def _hex(a) -> list[str]:
    return [float(v).hex() for v in np.asarray(a, dtype=np.float64).ravel()]


def _unhex(values, shape=None) -> np.ndarray:
    out = np.array([float.fromhex(v) for v in values], dtype=np.float64)
    return out if shape is None else out.reshape(shape)


# ---------------------------------------------------------------------------------------------
# the two C callbacks


def _callback_source(kind: str, keys: list[str], ndims: list[int]) -> str:
    lines = []
    for i, (k, nd) in enumerate(zip(keys, ndims, strict=True)):
        shape = "(" + "".join(f"sh{i}[{d}], " for d in range(nd)) + ")"
        lines.append(f'    sh{i} = ud["shape"]["{k}"]')
        lines.append(
            f'    a{i} = numba.carray(address_as_void_pointer(ud["data"]["{k}"]), {shape}, DT{i})'
        )
    args = "".join(f", a{i}" for i in range(len(keys)))
    return (_LOGP_SRC if kind == "logp" else _EXPAND_SRC).format(
        extract="\n".join(lines), args=args
    )


def _callback_key(kind, inner_key, n_dim, n_expanded, meta, descr, src) -> str:
    import numba
    import nutpie

    return hashlib.sha256(
        repr(
            (
                kind,
                inner_key,
                int(n_dim),
                int(n_expanded),
                meta,
                descr,
                nutpie.__version__,
                numba.__version__,
                src,
            )
        ).encode()
    ).hexdigest()


def _not_compiled(*args):
    raise RuntimeError("a cached nutpie callback was called from Python")


def _callback(kind, inner, keys, shared_data, user_data, n_dim, n_expanded, src, key):
    """Return the C callback of ``src``: from numba's cache under ``key``, else compiled.

    ``inner=None`` means: load only; a cache miss then fails (numba cannot type the call).
    """
    import numba
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    ptr = numba.types.CPointer(numba.types.double)
    if kind == "logp":
        sig = numba.types.int64(numba.types.uint64, ptr, ptr, ptr, numba.types.voidptr)
    else:
        sig = numba.types.int64(
            numba.types.uint64, numba.types.uint64, ptr, ptr, numba.types.voidptr
        )
    env = {
        "__name__": __name__,
        "numba": numba,
        "np": np,
        "INNER": _not_compiled if inner is None else inner,
        "RECORD": user_data.dtype,
        "N_DIM": n_dim,
        "N_EXPANDED": n_expanded,
        "address_as_void_pointer": address_as_void_pointer,
    }
    env.update({f"DT{i}": shared_data[k].dtype for i, k in enumerate(keys)})
    func = compile_numba_function_src(src, f"bayesmix_nutpie_{kind}", global_env=env, cache_key=key)
    return numba.cfunc(sig, cache=True)(func)


def _call_logp(cfunc, x, user_data) -> tuple[int, float, np.ndarray]:
    import ctypes

    x = np.ascontiguousarray(x, dtype=np.float64)
    grad, logp = np.zeros_like(x), np.zeros(())
    p = ctypes.POINTER(ctypes.c_double)
    rc = cfunc.ctypes(
        x.size, x.ctypes.data_as(p), grad.ctypes.data_as(p), logp.ctypes.data_as(p),
        user_data.ctypes.data,
    )  # fmt: skip
    return int(rc), float(logp), grad


def _call_expand(cfunc, x, n_expanded, user_data) -> tuple[int, np.ndarray]:
    import ctypes

    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.zeros(n_expanded)
    p = ctypes.POINTER(ctypes.c_double)
    rc = cfunc.ctypes(
        x.size, n_expanded, x.ctypes.data_as(p), out.ctypes.data_as(p), user_data.ctypes.data
    )
    return int(rc), out


# ---------------------------------------------------------------------------------------------
# starting points


def _starting_point_fn(names, shapes, base, jitter, n_rngs):
    """PyMC's starting-point function from its record: ``seed -> {name: value}``."""

    def point(seed):
        spawned = np.random.SeedSequence(seed).spawn(n_rngs) if n_rngs else []
        out = {}
        for name, shape in zip(names, shapes, strict=True):
            value = base[name]
            if name in jitter:
                rng = np.random.Generator(np.random.PCG64(spawned[jitter[name]]))
                value = value + rng.uniform(-1.0, 1.0, size=shape)
            out[name] = np.asarray(value, dtype=np.float64)
        return out

    return point


def _starting_point_record(model, jitter_rvs, names, shapes, pymc_fn) -> dict | str:
    """Record of PyMC's starting-point function, or why it cannot be reproduced."""
    from pymc.initial_point import make_initial_point_fn

    if jitter_rvs:
        base_fn = make_initial_point_fn(
            model=model, jitter_rvs=set(), default_strategy="support_point",
            return_transformed=True,
        )  # fmt: skip
        base = base_fn(0)
    else:
        base = pymc_fn(0)
    base = {n: np.asarray(base[n], dtype=np.float64) for n in names}
    jittered = [model.rvs_to_values[rv].name for rv in model.free_RVs if rv in jitter_rvs]
    n_rngs = len(jittered)
    # which spawned generator jitters which variable: the one that reproduces PyMC's values
    jitter: dict[str, int] = {}
    points = [pymc_fn(s) for s in _CHECK_SEEDS]
    for name, shape in zip(names, shapes, strict=True):
        if name not in jittered:
            continue
        found = [
            j
            for j in range(n_rngs)
            if all(
                np.array_equal(
                    base[name]
                    + np.random.Generator(
                        np.random.PCG64(np.random.SeedSequence(s).spawn(n_rngs)[j])
                    ).uniform(-1.0, 1.0, size=shape),
                    np.asarray(p[name], dtype=np.float64),
                )
                for s, p in zip(_CHECK_SEEDS, points, strict=True)
            )
        ]
        if len(found) != 1:
            return f"starting points of {name!r} not reproduced"
        jitter[name] = found[0]
    replica = _starting_point_fn(names, shapes, base, jitter, n_rngs)
    for s, p in zip(_CHECK_SEEDS, points, strict=True):
        r = replica(s)
        if not all(np.array_equal(r[n], np.asarray(p[n], dtype=np.float64)) for n in names):
            return "starting points not reproduced"
    return {
        "names": list(names),
        "shapes": [list(map(int, s)) for s in shapes],
        "base": {n: _hex(base[n]) for n in names},
        "jitter": jitter,
        "n_rngs": n_rngs,
    }


# ---------------------------------------------------------------------------------------------
# the full compile


def _shared_arrays(logp_pt, expand_pt):
    """Shared variables of both functions: ``{var: key}`` and ``{key: read-only copy}``."""
    shared_data: dict[str, np.ndarray] = {}
    shared_keys: dict[Any, str] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var not in shared_keys:
            # deterministic names, so the record layout is the same in every process
            shared_keys[var] = k = f"shared{len(shared_data)}"
            shared_data[k] = np.array(var.get_value(), order="C", copy=True)
            shared_data[k].flags.writeable = False
    return shared_keys, shared_data


class _Callbacks(NamedTuple):
    """The compiled callbacks and the shared data they read (what nutpie's model holds)."""

    cfuncs: dict[str, Any]
    shared_keys: dict[Any, str]
    shared_data: dict[str, np.ndarray]
    user_data: Any
    n_dim: int
    n_expanded: int


def _callback_id(kind, keys, shared_data, inner_key, n_dim, n_expanded, descr) -> tuple[str, str]:
    """Return the source and the cache key of callback ``kind`` reading shared ``keys``."""
    src = _callback_source(kind, keys, [shared_data[k].ndim for k in keys])
    meta = [(k, shared_data[k].dtype.str, shared_data[k].ndim) for k in keys]
    return src, _callback_key(kind, inner_key, n_dim, n_expanded, meta, descr, src)


def _point_check(cb: _Callbacks, start_fn, seed: int, expected: dict | None = None) -> dict:
    """Return the check record of the callbacks at the starting point of ``seed``.

    With ``expected`` (a recorded check) raise :class:`_Mismatch` at the first
    difference; the point is compared before the callbacks read it.
    """
    x = start_fn(seed)
    got = {"seed": seed, "point": _hex(x)}
    if expected is not None:
        _require(got["point"] == expected["point"], "starting point")
    rc, logp, grad = _call_logp(cb.cfuncs["logp"], x, cb.user_data)
    erc, expanded = _call_expand(cb.cfuncs["expand"], x, cb.n_expanded, cb.user_data)
    got.update(rc=[rc, erc], logp=float(logp).hex(), grad=_hex(grad), expanded=_hex(expanded))
    if expected is not None:
        _require(got["rc"] == expected["rc"], "callback return codes")
        _require(got["logp"] == expected["logp"] and got["grad"] == expected["grad"], "logp")
        _require(got["expanded"] == expected["expanded"], "expansion")
    return got


def _nutpie_model(model, cb: _Callbacks, start_fn, shape_info, repar, pt_fns=(None, None)):
    """Return nutpie's CompiledPyMCModel of ``model`` from its callbacks and starting points.

    ``pt_fns``: the PyTensor logp and expand functions, when there is a graph.
    """
    from nutpie import compile_pymc as cp

    names, _, shapes = shape_info
    dims, coords = cp._prepare_dims_and_coords(model, shape_info, repar)
    return cp.CompiledPyMCModel(
        _n_dim=cb.n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(names, shapes, strict=True)},
        compiled_logp_func=cb.cfuncs["logp"],
        compiled_expand_func=cb.cfuncs["expand"],
        initial_point_func=start_fn,
        shared_data=cb.shared_data,
        shared_var_keys=cb.shared_keys,
        user_data=cb.user_data,
        n_expanded=cb.n_expanded,
        shape_info=shape_info,
        logp_func=pt_fns[0],
        expand_func=pt_fns[1],
        reparameterized_names=repar,
    )


def _full_compile(model, jitter_rvs, key):
    """Compile as nutpie does, callbacks cached by numba; return ``(compiled, record|note)``."""
    import nutpie
    from nutpie import compile_pymc as cp
    from pymc.initial_point import make_initial_point_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    pymc_fn = make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=jitter_rvs,
        return_transformed=True,
    )  # fmt: skip
    n_dim, n_expanded, logp_pt, expand_pt, initial_point_fn, shape_info, repar = cp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=cp._wrap_with_lock(pymc_fn), var_names=None,
    )  # fmt: skip
    fns = {"logp": logp_pt.vm.jit_fn, "expand": expand_pt.vm.jit_fn}
    inner_keys = {k: CACHED_SRC_FUNCTIONS.get(f.py_func) for k, f in fns.items()}
    if None in inner_keys.values():
        compiled = nutpie.compile_pymc_model(model, backend="numba", jitter_rvs=jitter_rvs)
        return compiled, None, "nutpie: PyTensor gave the graph no cache key"
    shared_keys, shared_data = _shared_arrays(logp_pt, expand_pt)
    user_data = cp.make_user_data(shared_keys, shared_data)
    descr = str(user_data.dtype.descr)
    callbacks, cfuncs = {}, {}
    for kind, pt_fn in (("logp", logp_pt), ("expand", expand_pt)):
        keys = [shared_keys[v] for v in pt_fn.get_shared()]
        src, ckey = _callback_id(
            kind, keys, shared_data, inner_keys[kind], n_dim, n_expanded, descr
        )
        cfuncs[kind] = _callback(
            kind, fns[kind], keys, shared_data, user_data, n_dim, n_expanded, src, ckey
        )
        callbacks[kind] = {"keys": keys, "inner_key": inner_keys[kind], "src": src, "key": ckey}
    names, slices, shapes = shape_info
    cb = _Callbacks(cfuncs, shared_keys, shared_data, user_data, n_dim, n_expanded)
    compiled = _nutpie_model(model, cb, initial_point_fn, shape_info, repar, (logp_pt, expand_pt))
    if key is None:
        return compiled, None, ""
    n_free = len(model.free_RVs)
    start = _starting_point_record(model, jitter_rvs, names[:n_free], shapes[:n_free], pymc_fn)
    if isinstance(start, str):
        return compiled, None, start
    unnamed = [v for v in shared_keys if v.name is None]
    if unnamed:
        return compiled, None, "an unnamed shared variable"
    checks = [_point_check(cb, initial_point_fn, seed) for seed in _CHECK_SEEDS]
    record = {
        "format": KEY_FORMAT,
        "key": key,
        "n_dim": int(n_dim),
        "n_expanded": int(n_expanded),
        "names": list(names),
        "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [list(map(int, s)) for s in shapes],
        "reparameterized": list(repar),
        "shared": [
            {
                "key": k,
                "name": v.name,
                "dtype": shared_data[k].dtype.str,
                "shape": list(shared_data[k].shape),
            }
            for v, k in shared_keys.items()
        ],  # fmt: skip
        "user_data": descr,
        "callbacks": callbacks,
        "start": start,
        "checks": checks,
    }
    return compiled, record, ""


# ---------------------------------------------------------------------------------------------
# loading a record


class _Mismatch(Exception):
    pass


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise _Mismatch(what)


def _load(model, key: str, shared_vars: dict, record: dict):
    """Build the compiled model from a checked record; raise _Mismatch when anything differs."""
    from nutpie import compile_pymc as cp

    _require(record.get("format") == KEY_FORMAT and record.get("key") == key, "key")
    n_dim, n_expanded = record["n_dim"], record["n_expanded"]
    free_names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    rest = [v.name for v in model.unobserved_value_vars if v.name not in free_names]
    names = record["names"]
    _require(names == free_names + rest, "variable names")
    shared_keys, shared_data = {}, {}
    for entry in record["shared"]:
        var = shared_vars.get(entry["name"])
        _require(var is not None, f"shared variable {entry['name']!r}")
        value = np.array(var.get_value(borrow=True), order="C", copy=True)
        _require(
            value.dtype.str == entry["dtype"] and list(value.shape) == entry["shape"],
            f"dtype/shape of {entry['name']!r}",
        )
        value.flags.writeable = False
        shared_keys[var], shared_data[entry["key"]] = entry["key"], value
    user_data = cp.make_user_data(shared_keys, shared_data)
    descr = str(user_data.dtype.descr)
    _require(descr == record["user_data"], "user data layout")
    cfuncs = {}
    for kind in ("logp", "expand"):
        rec = record["callbacks"][kind]
        keys = rec["keys"]
        src, ckey = _callback_id(
            kind, keys, shared_data, rec["inner_key"], n_dim, n_expanded, descr
        )
        _require(src == rec["src"] and ckey == rec["key"], f"{kind} callback source")
        try:
            cfuncs[kind] = _callback(
                kind, None, keys, shared_data, user_data, n_dim, n_expanded, src, ckey
            )
        except Exception as exc:  # a cache miss cannot compile without the graph
            raise _Mismatch(f"{kind} callback not in numba's cache") from exc
        _require(cfuncs[kind].cache_hits == 1, f"{kind} callback not in numba's cache")
    start = record["start"]
    shapes = [tuple(s) for s in start["shapes"]]
    base = {n: _unhex(start["base"][n], s) for n, s in zip(start["names"], shapes, strict=True)}
    point_fn = _starting_point_fn(start["names"], shapes, base, start["jitter"], start["n_rngs"])
    flat_fn = cp._wrap_with_lock(
        cp._rv_dict_to_flat_array_wrapper(point_fn, names=start["names"], shapes=shapes)
    )
    cb = _Callbacks(cfuncs, shared_keys, shared_data, user_data, n_dim, n_expanded)
    for check in record["checks"]:
        _point_check(cb, flat_fn, check["seed"], expected=check)
    all_shapes = [tuple(s) for s in record["shapes"]]
    shape_info = (names, [slice(a, b) for a, b in record["slices"]], all_shapes)
    # nutpie's numba sampler does not use the PyTensor functions: none without the graph
    return _nutpie_model(model, cb, flat_fn, shape_info, record["reparameterized"])


def _write_record(path: Path, record: dict) -> str:
    text = json.dumps(record, indent=1, sort_keys=True)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write, overwrite=True)
    except OSError as exc:  # a read-only or full compile directory: sample anyway
        return f"record not written: {exc}"
    return ""


def compile_nutpie(model, *, jitter_rvs=None, use_records: bool = True) -> CompileResult:
    """Compile a PyMC model for nutpie's numba backend, cached across processes.

    Parameters
    ----------
    model : pymc.Model
    jitter_rvs : set of TensorVariable, optional
        Free variables whose starting points get a U(-1, 1) jitter (default: all, as nutpie).
    use_records : bool, default True
        Look up and write the compile record (see the module docstring); False always
        compiles in full (the callbacks are still cached by numba).

    Returns
    -------
    CompileResult
        ``compiled`` samples exactly like ``nutpie.compile_pymc_model(model,
        backend="numba", jitter_rvs=jitter_rvs)`` (same arguments, return codes, starting
        points and draws).

    Notes
    -----
    Call with numba's ``fastmath`` off (as :func:`bayesmix.inference.sample` does): the key
    includes the flag, and fastmath code loaded from a cache differs from fresh code.
    """
    nutpie = import_nutpie()
    if jitter_rvs is None:
        jitter_rvs = set(model.free_RVs)
    if ".".join(nutpie.__version__.split(".")[:2]) not in _NUTPIE_CACHED:
        compiled = nutpie.compile_pymc_model(model, backend="numba", jitter_rvs=jitter_rvs)
        return CompileResult(compiled, "nutpie", None, f"nutpie {nutpie.__version__}")
    key, shared_vars, note = None, {}, "records off"
    if use_records:
        jittered = sorted(rv.name for rv in jitter_rvs)
        try:
            key, found = model_key(model, extra={"jitter": jittered, "checks": _CHECK_SEEDS})
        except Exception as exc:  # noqa: BLE001 - no key: compile as nutpie does
            key, found = None, f"{type(exc).__name__}: {exc}"
        if key is None:
            note = f"no model key: {found}"
        else:
            shared_vars = found
    if key is not None:
        path = cache_directory() / f"{key}.json"
        if path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                return CompileResult(_load(model, key, shared_vars, record), "record", key)
            except Exception as exc:  # noqa: BLE001 - any doubt about a record: compile in full
                note = f"record not used ({type(exc).__name__}: {exc})"
        else:
            note = "no record yet"
    compiled, record, why = _full_compile(model, jitter_rvs, key)
    source = "nutpie" if why.startswith("nutpie:") else "compiled"
    if record is not None:
        why = _write_record(cache_directory() / f"{key}.json", record)
    return CompileResult(compiled, source, key, "; ".join(w for w in (note, why) if w))
