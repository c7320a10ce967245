"""R-hat / bulk ESS / tail ESS: bayesmix.inference.convergence vs arviz_stats (issue 14.4).

Two costs, each in fresh processes (``--repeats`` of them), with ``uptime`` before and after:

- import: what ``import arviz_stats`` adds to a process that already holds what a
  ``bayesmix run`` has imported by the time it summarises (PyMC, nutpie through
  ``import_nutpie``, xarray; with and without scipy.stats), against
  ``import bayesmix.inference.convergence`` (numpy only: already imported with
  ``bayesmix.inference``, so ~0), wall time with ``time.perf_counter``;
- compute: the three diagnostics over every variable of a posterior (``--posterior``, a
  netCDF results tree or posterior, e.g. a Hogg run's ``posterior.nc``; plus synthetic AR(1)
  posteriors of 4 x 1000 draws with 10, 100 and 2000 elements), arviz_stats's three calls
  (``rhat``, ``ess`` bulk, ``ess`` tail at 5/95 %) vs ``posterior_diagnostics``; first call
  and best of 5, and the largest relative difference between the two.

Run (after a Hogg run): ``.venv/bin/python bench/bench_convergence.py --posterior
out/hogg2010_line_outliers/posterior.nc``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

PRE_IMPORTS = """
import pymc, xarray{extra}
from bayesmix.inference.compiled import import_nutpie
import_nutpie()
"""

IMPORT_CODE = (
    PRE_IMPORTS
    + """
import json, sys, time
t0 = time.perf_counter()
import {module}
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "arviz_stats_loaded": "arviz_stats" in sys.modules}}))
"""
)

COMPUTE_CODE = """
import json, sys, time, warnings
import numpy as np, xarray as xr
t0 = time.perf_counter()
import arviz_stats as azs
t_import = time.perf_counter() - t0
from bayesmix.inference.convergence import TAIL_PROB, posterior_diagnostics

def posterior(path, n_elem):
    if path:
        try:
            return xr.open_datatree(path)["posterior"].to_dataset().load()
        except Exception:
            return xr.open_dataset(path).load()
    rng = np.random.default_rng(n_elem)
    e = rng.normal(size=(4, 1000, n_elem))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    for t in range(1, 1000):
        x[:, t] = 0.6 * x[:, t - 1] + e[:, t]
    return xr.Dataset({{"a": (("chain", "draw", "k"), x)}})

def arviz(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (azs.rhat(ds), azs.ess(ds, method="bulk"),
                azs.ess(ds, method="tail", prob=TAIL_PROB))

def ours(ds):
    return posterior_diagnostics(ds)

def timed(fn, ds):
    t0 = time.perf_counter(); out = fn(ds); first = time.perf_counter() - t0
    best = min(_t(fn, ds) for _ in range(5))
    return out, first, best

def _t(fn, ds):
    t0 = time.perf_counter(); fn(ds); return time.perf_counter() - t0

ds = posterior({path!r}, {n_elem})
order = {order!r}
res = {{}}
for name in order:
    res[name] = timed(arviz if name == "arviz_stats" else ours, ds)
a, o = res["arviz_stats"][0], res["bayesmix"][0]
worst = 0.0
for var in ds.data_vars:
    extra = [d for d in ds[var].dims if d not in ("chain", "draw")]
    for ref, key in zip(a, ("r_hat", "ess_bulk", "ess_tail")):
        r = np.asarray(ref[var].transpose(*extra).values, float)
        g = np.asarray(o[str(var)][key], float)
        ok = np.isfinite(r)
        assert np.array_equal(ok, np.isfinite(g))
        if ok.any():
            worst = max(worst, float(np.max(np.abs(g[ok] - r[ok]) / np.abs(r[ok]))))
n_elem = sum(int(np.prod([ds.sizes[d] for d in ds[v].dims if d not in ("chain", "draw")]))
             for v in ds.data_vars)
print(json.dumps({{"elements": n_elem, "shape": [ds.sizes["chain"], ds.sizes["draw"]],
                  "worst_rel_diff": worst,
                  **{{f"{{k}}_first_s": v[1] for k, v in res.items()}},
                  **{{f"{{k}}_best_s": v[2] for k, v in res.items()}}}}))
"""


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posterior", help="netCDF posterior (e.g. a Hogg run's posterior.nc)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    print("before:", _uptime())
    # a Hogg run has imported scipy.stats (Siegel's line, bayesmix.plot) before it summarises
    for extra in ("", ", scipy.stats"):
        for module in ("arviz_stats", "bayesmix.inference.convergence"):
            code = IMPORT_CODE.format(module=module, extra=extra)
            secs = sorted(_run(code)["seconds"] for _ in range(args.repeats))
            print(
                f"import {module} after pymc, xarray, nutpie{extra}: "
                f"median {secs[len(secs) // 2]:.3f} s, all {[round(v, 3) for v in secs]}"
            )
    cases = [(args.posterior, 0)] if args.posterior else []
    cases += [(None, n) for n in (10, 100, 2000)]
    for path, n_elem in cases:
        for order in (("arviz_stats", "bayesmix"), ("bayesmix", "arviz_stats")):
            res = _run(COMPUTE_CODE.format(path=path, n_elem=n_elem, order=order))
            print(json.dumps({"posterior": path or f"AR(1) x {n_elem}", **res}))
    print("after:", _uptime())


if __name__ == "__main__":
    main()
