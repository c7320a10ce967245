"""The fused likelihood Op inside a PyMC model, against today's cluster_field graph (issue 14).

Builds the Blanco 1 2-D proper-motion model of ``models/blanco1_pm2d.toml`` twice:

- ``graph``: ``bayesmix.builders.cluster_field`` as it is (PyTensor graph of the components);
- ``fused``: the same priors, initial values and data, with the likelihood as one
  :func:`bayesmix.components.fused_op.fused_mixture_logp` (``pm.Potential``).

It checks that both models have the same log-density and gradient (at the initial point and at
random points of the unconstrained space, relative difference printed), then times nutpie's
compiled log-density + gradient callback of each, interleaved in one process (wall and
thread-CPU time per call), and optionally samples both with ``bayesmix.inference``-like
settings to compare ESS/s and the posterior.

Usage::

    .venv/bin/python bench/fused_prototype.py                       # check + per-call timing
    .venv/bin/python bench/fused_prototype.py --sample --draws 1000  # also sample 4 chains
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

from profile_logp import build_blanco1_pm2d, timeit  # noqa: E402


def fused_model(mm):
    """The builder's 2-D pm model with the likelihood as one fused Op."""
    import pymc as pm
    import pytensor.tensor as pt

    from bayesmix.builders._priors import prior_rv
    from bayesmix.components.fused import FusedLayout
    from bayesmix.components.fused_op import fused_mixture_logp

    pri = mm.spec["priors"]
    # the builder's starting values and transforms (its sampler coordinates), so both models
    # have the same free variables, geometry and starts
    start = {
        rv.name: {
            "initval": mm.model.rvs_to_initial_values.get(rv),
            "default_transform": None,
            "transform": mm.model.rvs_to_transforms.get(rv),
        }
        for rv in mm.model.free_RVs
    }
    layout = FusedLayout((("gaussian",), ("fixed",)), n_features=2, error_cov=True)
    with pm.Model(coords={"component": ["cluster", "field"]}) as model:
        # feature-major copies: the kernel's loops over stars read contiguous memory
        X = pm.Data("X", np.ascontiguousarray(mm.data["X"].T))
        C = pm.Data("X_cov", np.ascontiguousarray(mm.data["X_cov"].transpose(1, 2, 0)))
        f = pm.Data("field_fixed", mm.data["field_fixed"])
        w = prior_rv("weights", pri["weights"], dims="component", **start["weights"])
        mra = prior_rv("cluster_pmra", pri["cluster_pmra"], **start["cluster_pmra"])
        mde = prior_rv("cluster_pmdec", pri["cluster_pmdec"], **start["cluster_pmdec"])
        s = prior_rv(
            "cluster_pm_dispersion",
            pri["cluster_pm_dispersion"],
            **start["cluster_pm_dispersion"],
        )
        pm.Potential(
            "loglik",
            fused_mixture_logp(
                layout,
                pt.log(w),
                X=X,
                error_cov=C,
                mean=pt.stack([mra, mde]),
                cov=pt.square(s) * pt.eye(2),
                fixed=f,
            ),
        )
    return model


def compare_logp(m1, m2, n_points: int, seed: int) -> float:
    """Largest relative difference of logp and gradient between two models (same free vars)."""
    import pymc as pm

    f1 = m1.compile_logp(jacobian=True)
    f2 = m2.compile_logp(jacobian=True)
    g1 = m1.compile_dlogp(jacobian=True)
    g2 = m2.compile_dlogp(jacobian=True)
    ip = m1.initial_point()
    gen = np.random.default_rng(seed)
    worst = 0.0
    for i in range(n_points):
        pt_ = (
            ip
            if i == 0
            else {k: v + gen.normal(scale=0.05, size=np.shape(v)) for k, v in ip.items()}
        )
        a, b = f1(pt_), f2(pt_)
        ga, gb = g1(pt_), g2(pt_)
        worst = max(worst, abs(a - b) / abs(b), float(np.max(np.abs(ga - gb) / np.abs(gb))))
    del pm
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args(argv)
    from profile_logp import nutpie_cfunc_timer

    print(f"load average at start {os.getloadavg()}")
    mm = build_blanco1_pm2d()
    fm = fused_model(mm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        worst = compare_logp(mm.model, fm, 20, 1)
    print(
        f"N = {mm.n_objects}; max relative difference of logp and gradient (20 points): {worst:.2e}"
    )

    class _M:  # nutpie_cfunc_timer takes an object with .model and .model.initial_point
        def __init__(self, model):
            self.model = model

    call_g, *_ = nutpie_cfunc_timer(mm, fastmath=False)
    call_f, cm_f, tc_f, lp_f, _ = nutpie_cfunc_timer(_M(fm), fastmath=False)
    print(f"nutpie compile of the fused model {tc_f:.1f} s")
    res = {"graph": [], "fused": []}
    for _ in range(3):  # interleaved, so both see the same machine load
        res["graph"].append(timeit(call_g, args.calls, args.repeats))
        res["fused"].append(timeit(call_f, args.calls, args.repeats))
    print("| likelihood | wall min us/call | CPU min us/call | CPU median us/call |")
    print("|---|---|---|---|")
    for k, v in res.items():
        print(
            f"| {k} | {min(r['min_us'] for r in v):.1f} | "
            f"{min(r['cpu_min_us'] for r in v):.1f} | "
            f"{np.median([r['cpu_median_us'] for r in v]):.1f} |"
        )
    print(f"load average after timing {os.getloadavg()}")
    if args.sample:
        sample_both(mm, fm, args)
    return 0


def sample_both(mm, fm, args) -> None:
    import arviz_stats
    import nutpie
    import pytensor

    for name, model in (("graph", mm.model), ("fused", fm)):
        with pytensor.config.change_flags(numba__fastmath=False), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cm = nutpie.compile_pymc_model(model, backend="numba")
        for run in ("first", "second"):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            idata = nutpie.sample(
                cm,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                seed=20261122,
                progress_bar=False,
            )
            wall = time.perf_counter() - t0
            post = idata["posterior"].to_dataset()
            post = post.assign(weights=post["weights"].isel({post["weights"].dims[-1]: 0}))
            post = post[["cluster_pmra", "cluster_pmdec", "cluster_pm_dispersion", "weights"]]
            ess = arviz_stats.ess(post, method="bulk")
            steps = float(idata["sample_stats"].to_dataset()["n_steps"].mean())
            m = min(float(ess[k]) for k in post.data_vars)
            means = ", ".join(f"{k} {float(post[k].mean()):.4f}" for k in post.data_vars)
            print(
                f"{name} {run}: {wall:.2f} s, min bulk ESS {m:.0f}, ESS/s {m / wall:.1f}, "
                f"steps/draw {steps:.2f}; {means}; load {load:.1f}->{os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
