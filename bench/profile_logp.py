"""Profile one log-density + gradient call of a cluster_field model (issue 14, step 1).

Where does a logp + gradient call of the 2-D proper-motion ``cluster_field`` model on Blanco 1
(14,785 stars, fixed XD field) spend its time?  Measured per call, in one process:

- ``nutpie cfunc``: the C callback nutpie's sampler calls (``compile_pymc_model(backend=
  "numba")``), timed through ctypes, with numba ``fastmath`` off (what
  ``bayesmix.inference.sample`` uses) and on;
- ``pytensor numba``: the same PyTensor function without nutpie's wrapper, value + gradient
  and value alone;
- ``pytensor C``: the same graph on PyTensor's C backend (``CVM``), with PyTensor's per-Op
  profile (the op-level breakdown the numba backend cannot give, because it compiles the whole
  graph into one function);
- the graph's passes over the stars, each compiled alone with numba: the (1, N, 2, 2)
  ``disp**2 I + X_cov`` and (1, N, 2) ``X - mu`` temporaries;
- numpy: bayesmix's scoring path (``MixtureModel.log_joint`` + logsumexp) and a plain
  vectorised numpy pass computing the same log-likelihood (value only);
- the floor: one numba loop reading every input once.

Usage::

    .venv/bin/python bench/profile_logp.py                  # Blanco 1, 2-D pm
    .venv/bin/python bench/profile_logp.py --calls 300 --repeats 7 --json out.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]


def build_blanco1_pm2d(seed: int = 20200104):
    """The model of models/blanco1_pm2d.toml (Blanco 1, 14,785 stars, fixed XD field)."""
    from bayesmix.builders import cluster_field
    from bayesmix.datasets import load_blanco1

    return cluster_field(
        load_blanco1(),
        features=("pmra", "pmdec"),
        field="gmm",
        correlations=False,
        field_components=3,
        field_fit="xd",
        cluster_cov="isotropic",
        rng=seed,
    )


def timeit(fn, calls: int, repeats: int) -> dict:
    """Per-call wall and CPU time (us) of ``fn()``: min and median over ``repeats`` blocks.

    The CPU time is this thread's (``time.thread_time``), which excludes the time the thread
    waited for a core; on a shared machine it is the steadier of the two.
    """
    fn()
    per, cpu = [], []
    for _ in range(repeats):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        per.append((time.perf_counter() - t0) / calls)
        cpu.append((time.thread_time() - c0) / calls)
    return {
        "min_us": 1e6 * min(per),
        "median_us": 1e6 * float(np.median(per)),
        "cpu_min_us": 1e6 * min(cpu),
        "cpu_median_us": 1e6 * float(np.median(cpu)),
    }


def nutpie_cfunc_timer(mm, fastmath: bool):
    """A zero-argument callable invoking nutpie's compiled logp+gradient C callback."""
    import nutpie
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=fastmath), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t0 = time.perf_counter()
        cm = nutpie.compile_pymc_model(mm.model, backend="numba")
        t_compile = time.perf_counter() - t0
    n = cm.n_dim
    x = np.ascontiguousarray(_initial(cm, mm))
    grad = np.zeros(n)
    lp = np.zeros(1)
    ud = cm.user_data
    f = cm.compiled_logp_func.ctypes
    args = (
        ctypes.c_uint64(n),
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        grad.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        lp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ctypes.c_void_p(ud.ctypes.data),
    )

    def call():
        rc = f(*args)
        if rc != 0:
            raise RuntimeError(f"logp callback returned {rc}")

    call()
    return call, cm, t_compile, float(lp[0]), grad.copy()


def _initial(cm, mm) -> np.ndarray:
    """The model's initial point as nutpie's flat unconstrained vector."""
    ip = mm.model.initial_point()
    names = cm.shape_info[0][: len(mm.model.free_RVs)]
    return np.concatenate([np.atleast_1d(ip[nm]).ravel() for nm in names]).astype(float)


def pytensor_functions(mm, mode: str, *, profile: bool = False):
    """Compile (logp, grad) and logp alone over the joined unconstrained vector."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph import clone_replace, rewrite_graph

    model = mm.model
    logp = rewrite_graph(model.logp(), include=["canonicalize", "stabilize"])
    vv = [model.rvs_to_values[v] for v in model.free_RVs]
    grads = pt.concatenate([g.ravel() for g in pt.grad(logp, vv)])
    ip = model.initial_point()
    sizes = [int(np.prod(ip[v.name].shape)) for v in vv]
    joined = pt.vector("x", dtype="float64", shape=(sum(sizes),))
    start = np.cumsum([0] + sizes)
    repl = {
        v: joined[a:b].reshape(ip[v.name].shape)
        for v, a, b in zip(vv, start[:-1], start[1:], strict=True)
    }
    lg, gg = clone_replace([logp, grads], repl)
    with model:
        t0 = time.perf_counter()
        f_both = pm.pytensorf.compile([joined], [lg, gg], mode=mode, profile=profile)
        t_compile = time.perf_counter() - t0
        f_logp = pm.pytensorf.compile([joined], [lg], mode=mode)
    return f_both, f_logp, t_compile


def numpy_paths(mm, values: dict):
    """bayesmix's numpy scoring path and a plain numpy pass (value only)."""
    from scipy.special import logsumexp

    def scoring():
        lj = mm.log_joint({k: np.asarray(v)[None] for k, v in values.items()})
        return float(logsumexp(lj, axis=-2).sum())

    X, C, f = mm.data["X"], mm.data["X_cov"], mm.data["field_fixed"]
    a0, c0, b = C[:, 0, 0].copy(), C[:, 1, 1].copy(), C[:, 0, 1].copy()
    x0, x1 = X[:, 0].copy(), X[:, 1].copy()
    w = np.asarray(values["weights"], float)
    m0, m1 = float(values["cluster_pmra"]), float(values["cluster_pmdec"])
    s2 = float(values["cluster_pm_dispersion"]) ** 2
    lw0, lw1 = math.log(w[0]), math.log(w[1])

    def plain():
        a = a0 + s2
        c = c0 + s2
        det = a * c - b * b
        r0 = x0 - m0
        r1 = x1 - m1
        quad = (c * r0 * r0 - 2.0 * b * r0 * r1 + a * r1 * r1) / det
        lc = lw0 - math.log(2 * math.pi) - 0.5 * np.log(det) - 0.5 * quad
        return float(np.logaddexp(lc, lw1 + f).sum())

    return scoring, plain


def numba_passes(mm, values: dict):
    """Timers for the graph's array-sized temporaries, each compiled alone, and the floor."""
    import numba

    X, C, f = mm.data["X"], mm.data["X_cov"], mm.data["field_fixed"]
    s2 = float(values["cluster_pm_dispersion"]) ** 2
    mu = np.array([float(values["cluster_pmra"]), float(values["cluster_pmdec"])])
    eye = np.eye(2)[None, None]

    @numba.njit
    def add_cov(C, s2, eye):
        return s2 * eye + np.expand_dims(C, 0)

    @numba.njit
    def sub_mean(X, mu):
        return np.expand_dims(X, 0) - mu

    @numba.njit
    def floor(X, C, f):
        s = 0.0
        for n in range(X.shape[0]):
            s += X[n, 0] + X[n, 1] + C[n, 0, 0] + C[n, 1, 1] + C[n, 0, 1] + f[n]
        return s

    return {
        "disp2*I + X_cov, (1, N, 2, 2) temporary": lambda: add_cov(C, s2, eye),
        "X - mu, (1, N, 2) temporary": lambda: sub_mean(X, mu),
        "floor: read X, X_cov, field_fixed once": lambda: floor(X, C, f),
    }


def fused_timer(mm, values: dict):
    """A zero-argument callable running the fused value + gradient kernel on the model's data."""
    from bayesmix.components.fused import FusedLayout, mixture_loglik_grad

    layout = FusedLayout((("gaussian",), ("fixed",)), n_features=2, error_cov=True)
    s = float(values["cluster_pm_dispersion"])
    params = {
        "log_weights": np.log(np.asarray(values["weights"], float)),
        "mean": np.array([[values["cluster_pmra"], values["cluster_pmdec"]]]),
        "cov": s**2 * np.eye(2)[None],
    }
    data = {"X": mm.data["X"], "error_cov": mm.data["X_cov"], "fixed": mm.data["field_fixed"][None]}
    kargs = layout.kernel_arguments(params, data)
    return lambda: mixture_loglik_grad(*kargs)


def c_profile_table(f_both, x, calls: int) -> list[tuple[str, float, float]]:
    """Per-Op-class share of time of the C-backend function (PyTensor's profiler)."""
    prof = f_both.profile
    for _ in range(calls):
        f_both(x)
    per_op: dict[str, float] = {}
    for node, t in prof.apply_time.items():
        node = node[-1] if isinstance(node, tuple) else node  # (fgraph, node) keys
        key = str(node.op)
        if len(key) > 70:
            key = key[:67] + "..."
        per_op[key] = per_op.get(key, 0.0) + t
    total = sum(per_op.values())
    rows = sorted(per_op.items(), key=lambda kv: -kv[1])
    return [(k, 1e6 * v / prof.fct_callcount, 100 * v / total) for k, v in rows[:12]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-c", action="store_true", help="skip PyTensor's C backend")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from bench_line_outlier import machine_facts

    res: dict = {"machine": machine_facts(), "uptime_start": os.getloadavg()}
    mm = build_blanco1_pm2d()
    N = mm.n_objects
    values = {
        "weights": np.array([0.05, 0.95]),
        "cluster_pmra": 18.73,
        "cluster_pmdec": 2.63,
        "cluster_pm_dispersion": 0.5,
    }
    timings: dict[str, dict] = {}

    call, cm, tc, lp0, g0 = nutpie_cfunc_timer(mm, fastmath=False)
    timings["nutpie cfunc, numba fastmath off (bayesmix default)"] = timeit(
        call, args.calls, args.repeats
    )
    res["nutpie_compile_s"] = tc
    res["logp_at_init"] = lp0
    call_fm, *_ = nutpie_cfunc_timer(mm, fastmath=True)
    timings["nutpie cfunc, numba fastmath on"] = timeit(call_fm, args.calls, args.repeats)
    x = _initial(cm, mm)

    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        fb, fl, _ = pytensor_functions(mm, "NUMBA")
    jb, jl = fb.vm.jit_fn, fl.vm.jit_fn
    sb = [s.get_value(borrow=True) for s in fb.get_shared()]
    sl = [s.get_value(borrow=True) for s in fl.get_shared()]
    timings["pytensor numba jit_fn, logp + grad (no nutpie wrapper)"] = timeit(
        lambda: jb(x, *sb), args.calls, args.repeats
    )
    timings["pytensor numba jit_fn, logp only"] = timeit(
        lambda: jl(x, *sl), args.calls, args.repeats
    )
    if not args.no_c:
        fc, fcl, tcc = pytensor_functions(mm, "CVM", profile=True)
        res["c_compile_s"] = tcc
        fc.trust_input = True
        timings["pytensor C (CVM), logp + grad"] = timeit(lambda: fc(x), args.calls, args.repeats)
        timings["pytensor C (CVM), logp only"] = timeit(lambda: fcl(x), args.calls, args.repeats)
        res["c_profile"] = c_profile_table(fc, x, args.calls)
    timings["fused kernel (bayesmix.components.fused), logp + grad"] = timeit(
        fused_timer(mm, values), args.calls, args.repeats
    )
    for name, fn in numba_passes(mm, values).items():
        timings[name] = timeit(fn, args.calls, args.repeats)
    scoring, plain = numpy_paths(mm, values)
    timings["numpy: bayesmix scoring path (log_joint + logsumexp), value only"] = timeit(
        scoring, max(args.calls // 4, 10), args.repeats
    )
    timings["numpy: plain vectorised pass, value only"] = timeit(plain, args.calls, args.repeats)
    res.update(n_objects=N, timings=timings, uptime_end=os.getloadavg())
    print(f"N = {N}; {res['machine']}")
    print(f"nutpie compile (fresh process, numba cache as found) {res['nutpie_compile_s']:.1f} s")
    print(
        "| what | wall min us/call | wall median | CPU min us/call | CPU median "
        "| ns/star (CPU min) |\n|---|---|---|---|---|---|"
    )
    for k, v in timings.items():
        print(
            f"| {k} | {v['min_us']:.1f} | {v['median_us']:.1f} | {v['cpu_min_us']:.1f} | "
            f"{v['cpu_median_us']:.1f} | {1e3 * v['cpu_min_us'] / N:.1f} |"
        )
    if "c_profile" in res:
        print("\nPyTensor C backend, per-Op time per logp+grad call (top 12):")
        print("| Op | us/call | % |\n|---|---|---|")
        for k, us, pc in res["c_profile"]:
            print(f"| `{k}` | {us:.1f} | {pc:.1f} |")
    print(f"\nload average start {res['uptime_start']}, end {res['uptime_end']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
