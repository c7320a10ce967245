"""CPU per log-density + gradient call of the builders' models, as nutpie calls them (issue 14).

For each model below, the builder's ``MixtureModel`` is compiled the way
``bayesmix.inference.sample`` compiles it (nutpie's numba backend, ``fastmath`` off) and
nutpie's C callback (log-density and gradient over the unconstrained vector) is called in a
loop at the initial point: per-call thread CPU time (``time.thread_time``, which excludes
waiting for a core on a shared machine) and wall time, min and median over ``--repeats``
blocks of ``--calls`` calls.  The log-density at the initial point is printed too, so runs
of different code (``PYTHONPATH`` pointing at another tree) can be checked to build the same
model.

Models (bundled data, the settings of the spec files in ``models/``):

- ``pm2d``: Blanco 1, 14,785 stars, proper motions, fixed 3-Gaussian XD field;
- ``full``: Blanco 1, (ra, dec, parallax, pmra, pmdec), Plummer sky profile;
- ``edsd``: Blanco 1 parallaxes with the EDSD field (96-node quadrature per star);
- ``astrometric``: NGC 6819 (821 stars), (parallax, pmra, pmdec) with full 3x3 errors;
- ``gmm``: RAVE x APOGEE (3,904 stars), 2-component Gaussian mixture in [Mg/Fe], [Fe/H];
- ``hogg``: Hogg, Bovy & Lang's 20 points, line + Gaussian outliers;
- ``line1e4``: 10,000 simulated points, line with x and y errors, correlated (rho_xy).

Usage::

    .venv/bin/python bench/bench_builder_logp.py                      # this tree
    PYTHONPATH=/tmp/old_tree .venv/bin/python bench/bench_builder_logp.py --label before
    .venv/bin/python bench/bench_builder_logp.py --models pm2d,hogg --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE))  # after PYTHONPATH: bayesmix comes from the tree being measured

from profile_logp import nutpie_cfunc_timer, timeit  # noqa: E402

BLANCO1_SEED = 20200104


def _blanco1(**kw):
    from bayesmix.builders import cluster_field
    from bayesmix.datasets import load_blanco1

    return cluster_field(load_blanco1(), correlations=False, **kw)


def _line1e4():
    from bayesmix.builders import line_outlier

    gen = np.random.default_rng(14)
    n = 10_000
    x_true = gen.uniform(0, 10, n)
    x_err, y_err = gen.uniform(0.05, 0.3, n), gen.uniform(0.2, 1.0, n)
    rho = gen.uniform(-0.5, 0.5, n)
    y = 2.0 * x_true + 1.0
    out = gen.random(n) < 0.1
    y[out] = gen.normal(10, 10, out.sum())
    ex = gen.normal(size=n)
    ey = rho * ex + np.sqrt(1 - rho**2) * gen.normal(size=n)
    return line_outlier(x_true + x_err * ex, y + y_err * ey, y_err, x_err=x_err, rho_xy=rho)


MODELS = {
    "pm2d": lambda: _blanco1(features=("pmra", "pmdec"), rng=BLANCO1_SEED),
    "full": lambda: _blanco1(features=("ra", "dec", "parallax", "pmra", "pmdec"), rng=BLANCO1_SEED),
    "edsd": lambda: _blanco1(
        features=("parallax",),
        field="edsd",
        zero_point=-0.029,
        priors={
            "cluster_parallax": {"dist": "Normal", "mu": 4.21, "sigma": 0.1},
            "cluster_parallax_dispersion": {"dist": "HalfNormal", "sigma": 0.1},
        },
    ),
    "astrometric": lambda: _ngc6819(),
    "gmm": lambda: _gmm(),
    "hogg": lambda: _hogg(),
    "line1e4": _line1e4,
}


def _ngc6819():
    from bayesmix.builders import cluster_field
    from bayesmix.datasets import load_ngc6819

    return cluster_field(load_ngc6819(), features=("parallax", "pmra", "pmdec"), rng=1)


def _gmm():
    from bayesmix.builders import gaussian_mixture
    from bayesmix.datasets import load_rave_apogee

    t = load_rave_apogee()
    X = np.column_stack([np.asarray(t["MgFe"], float), np.asarray(t["FeH"], float)])
    return gaussian_mixture(X, 2, labels=["thin", "thick"])


def _hogg():
    from bayesmix.builders import line_outlier
    from bayesmix.datasets import load_hogg2010

    t = load_hogg2010()
    return line_outlier(t["x"], t["y"], t["sigma_y"], ids=t["ID"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--label", default="")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import bayesmix

    rows = []
    for name in args.models.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mm = MODELS[name]()
        call, cm, t_compile, lp, _ = nutpie_cfunc_timer(mm, fastmath=False)
        calls = max(5, min(args.calls, int(2e6 / max(mm.n_objects, 1))))
        load0 = os.getloadavg()[0]
        r = timeit(call, calls, args.repeats)
        row = {
            "label": args.label,
            "model": name,
            "n_objects": mm.n_objects,
            "n_dim": int(cm.n_dim),
            "logp_at_start": lp,
            "compile_s": t_compile,
            "load": (load0, os.getloadavg()[0]),
            "bayesmix": str(Path(bayesmix.__file__).parent),
            **r,
        }
        rows.append(row)
        print(
            f"{args.label} {name}: N {mm.n_objects}, logp(start) {lp:.6f}, CPU min "
            f"{r['cpu_min_us']:.1f} us, median {r['cpu_median_us']:.1f} us, wall min "
            f"{r['min_us']:.1f} us; load {load0:.2f} -> {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
