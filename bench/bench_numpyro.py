"""bayesmix cluster_field vs a hand-written NumPyro (JAX) model of the same likelihood (issue 14).

Models (Blanco 1, Gaia DR2, bundled as ``bayesmix.datasets.load_blanco1``):

- ``pm2d``: the 2-D proper-motion model of ``models/blanco1_pm2d.toml``: cluster = Gaussian
  (mean ``cluster_pmra``, ``cluster_pmdec``; intrinsic covariance ``cluster_pm_dispersion**2 I``)
  convolved with each star's 2x2 error covariance; field = the builder's extreme-deconvolution
  fit (3 Gaussians) held fixed, its log-density precomputed per star on both sides.
- ``full``: ``models/blanco1_full.toml``: (ra, dec, parallax, pmra, pmdec): cluster = Plummer
  profile on the tangent plane normalised over the footprint (a cone) times a 3-D Gaussian in
  (parallax, pmra, pmdec) with intrinsic covariance diag(plx disp^2, pm disp^2, pm disp^2)
  convolved with each star's 3x3 error covariance; field = uniform on the sky over the
  footprint times the fixed 3-Gaussian XD fit, precomputed per star on both sides.

Data sizes: the real 14,785 stars, or a seeded resampling of its rows (without replacement
below 14,785, with replacement above; ``--data-seed``), so every size has Blanco 1's field,
cluster and error distribution.

The NumPyro side is written the way a careful NumPyro user would: the builder's data arrays
(``X``, ``X_cov``, the fixed field's per-star log-density, tangent-plane coordinates), priors
(read from ``spec["priors"]``) and initial values (the first-pass centre:
``init_to_value``) — so both sides fit the identical posterior — closed-form 2x2 algebra (an
unrolled 3x3 Cholesky factor for the full model), ``jnp.logaddexp`` for the mixture, one
``numpyro.factor``; NUTS with the same target acceptance, ``chain_method="parallel"`` over
``--chains`` XLA host devices (``numpyro.set_host_device_count``), so chains use both cores.
Before sampling the script checks that the NumPyro log-likelihood equals bayesmix's numpy
scoring path at the initial point.

Each (impl, model, N) runs in its own subprocess (peak memory = its ``ru_maxrss``) and samples
twice in that process with different seeds: "first" includes compilation (PyTensor/numba +
nutpie's wrappers, or JAX tracing + XLA), "warm" is the second run.  ESS = min bulk ESS over
the cluster parameters and ``weights[cluster]`` (``arviz_stats.ess`` on both sides); ESS/s =
ESS / wall time of the sampling call.  Load average is recorded before and after each run.

Usage::

    .venv/bin/python bench/bench_numpyro.py --model pm2d --sizes 1e3,14785,1e4,1e5
    .venv/bin/python bench/bench_numpyro.py --model full --sizes 1e4
    .venv/bin/python bench/bench_numpyro.py --model pm2d --sizes 1e3 --chains 2 --draws 200 \\
        --tune 200      # quick check
    .venv/bin/python bench/bench_numpyro.py --impl bayesmix,bayesmix-fused,numpyro  # + fused Op

``bench/issue14_bench.py`` runs the whole comparison (quiet and under load) and appends it to
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

PM2D_VARS = ("cluster_pmra", "cluster_pmdec", "cluster_pm_dispersion", "weights")
FULL_VARS = (
    "cluster_ra",
    "cluster_dec",
    "cluster_radius",
    "cluster_parallax",
    "cluster_pmra",
    "cluster_pmdec",
    "cluster_parallax_dispersion",
    "cluster_pm_dispersion",
    "weights",
)
FEATURES = {"pm2d": ("pmra", "pmdec"), "full": ("ra", "dec", "parallax", "pmra", "pmdec")}
BLANCO1_SEED = 20200104  # the seed of models/blanco1_*.toml (XD field fit)


# --------------------------------------------------------------------------------------------
# data and the bayesmix model (both sides build it: it supplies data arrays, priors, initvals)
# --------------------------------------------------------------------------------------------


def blanco1_table(n: int, seed: int):
    """Blanco 1 (14,785 stars) or a seeded resampling of its rows to ``n`` stars."""
    from bayesmix.datasets import load_blanco1

    t = load_blanco1()
    if n == len(t):
        return t
    gen = np.random.default_rng(seed)
    idx = gen.choice(len(t), size=n, replace=n > len(t))
    out = t[np.sort(idx)]
    # resampled rows repeat source_id; give each row its own id (ids must be unique)
    out["source_id"] = np.arange(1, n + 1, dtype=np.int64)
    return out


def build(model: str, table):
    from bayesmix.builders import cluster_field

    return cluster_field(
        table,
        features=FEATURES[model],
        field="gmm",
        correlations=False,
        field_components=3,
        field_fit="xd",
        rng=BLANCO1_SEED,
    )


def initial_values(mm) -> dict[str, np.ndarray]:
    """The builder's initial values (first-pass centre) by variable name."""
    return {
        rv.name: np.asarray(v, dtype=float)
        for rv, v in mm.model.rvs_to_initial_values.items()
        if v is not None
    }


def bayesmix_loglik(mm, values: dict) -> float:
    """Sum over stars of the mixture log-likelihood, bayesmix's numpy scoring path."""
    from scipy.special import logsumexp

    vals = {k: np.asarray(values[k], dtype=float)[None] for k in mm.var_names}
    return float(logsumexp(mm.log_joint(vals), axis=-2).sum())


# --------------------------------------------------------------------------------------------
# NumPyro
# --------------------------------------------------------------------------------------------


def _numpyro_prior(name: str, spec: dict):
    import jax.numpy as jnp
    import numpyro.distributions as dist

    kind = spec["dist"]
    if kind == "Normal":
        return dist.Normal(spec["mu"], spec["sigma"])
    if kind == "HalfNormal":
        return dist.HalfNormal(spec["sigma"])
    if kind == "LogNormal":
        return dist.LogNormal(spec["mu"], spec["sigma"])
    if kind == "Dirichlet":
        return dist.Dirichlet(jnp.asarray(spec["a"], dtype=jnp.float64))
    raise ValueError(f"prior {name}: no NumPyro mapping for {kind!r}")


def _gauss2_logp(jnp, X, C, m0, m1, s2):
    a = C[:, 0, 0] + s2
    c = C[:, 1, 1] + s2
    b = C[:, 0, 1]
    det = a * c - b * b
    r0 = X[:, 0] - m0
    r1 = X[:, 1] - m1
    quad = (c * r0 * r0 - 2.0 * b * r0 * r1 + a * r1 * r1) / det
    return -math.log(2.0 * math.pi) - 0.5 * jnp.log(det) - 0.5 * quad


def _gauss3_logp(jnp, X, C, mean, var_diag):
    """3-D Gaussian log-density, covariance C_n + diag(var_diag), unrolled Cholesky."""
    s00 = C[:, 0, 0] + var_diag[0]
    s11 = C[:, 1, 1] + var_diag[1]
    s22 = C[:, 2, 2] + var_diag[2]
    s10, s20, s21 = C[:, 1, 0], C[:, 2, 0], C[:, 2, 1]
    l00 = jnp.sqrt(s00)
    l10 = s10 / l00
    l20 = s20 / l00
    l11 = jnp.sqrt(s11 - l10 * l10)
    l21 = (s21 - l20 * l10) / l11
    l22 = jnp.sqrt(s22 - l20 * l20 - l21 * l21)
    r0, r1, r2 = X[:, 0] - mean[0], X[:, 1] - mean[1], X[:, 2] - mean[2]
    z0 = r0 / l00
    z1 = (r1 - l10 * z0) / l11
    z2 = (r2 - l20 * z0 - l21 * z1) / l22
    logdet = 2.0 * (jnp.log(l00) + jnp.log(l11) + jnp.log(l22))
    return -0.5 * (3.0 * math.log(2.0 * math.pi) + logdet + z0 * z0 + z1 * z1 + z2 * z2)


_GL_T, _GL_W = np.polynomial.legendre.leggauss(256)
_GL_T, _GL_W = _GL_T * math.pi / 2, _GL_W * math.pi / 2


def _disc_plummer_mass(jnp, cx, cy, a2, rho, n_angles=512):
    """Plummer mass inside a disc of radius rho centred at 0 (as bayesmix.sky.PlaneRegion)."""
    rho2 = rho * rho
    d2 = cx * cx + cy * cy
    inside = d2 < rho2
    th = np.arange(n_angles) * (2 * np.pi / n_angles)
    ix = jnp.where(inside, cx, 0.0)
    iy = jnp.where(inside, cy, 0.0)
    bb = ix * np.cos(th) + iy * np.sin(th)
    rr = -bb + jnp.sqrt(bb * bb - (ix * ix + iy * iy) + rho2)
    m_in = jnp.sum(rr * rr / (a2 + rr * rr)) / n_angles
    od2 = jnp.where(inside, 4.0 * rho2, d2)
    od = jnp.sqrt(od2)
    beta = jnp.arctan(rho / jnp.sqrt(od2 - rho2))
    psi = beta * np.sin(_GL_T)
    along = od * jnp.cos(psi)
    root = jnp.sqrt(jnp.maximum(rho2 - od2 * jnp.sin(psi) ** 2, 0.0))
    r2, r1 = along + root, along - root
    diff = r2 * r2 / (a2 + r2 * r2) - r1 * r1 / (a2 + r1 * r1)
    m_out = jnp.sum(diff * (_GL_W * np.cos(_GL_T)) * beta) / (2 * np.pi)
    return jnp.where(inside, m_in, m_out)


def numpyro_model_fn(model: str, mm):
    """(model function, its data kwargs, log-likelihood function of a values dict)."""
    import jax.numpy as jnp
    import numpyro

    pri = mm.spec["priors"]
    X = jnp.asarray(mm.data["X"])
    C = jnp.asarray(mm.data["X_cov"])
    field = jnp.asarray(mm.data["field_fixed"])
    data = {"X": X, "C": C, "field": field}
    if model == "pm2d":

        def loglik(v, X, C, field, **_):
            lc = _gauss2_logp(
                jnp, X, C, v["cluster_pmra"], v["cluster_pmdec"], v["cluster_pm_dispersion"] ** 2
            )
            lw = jnp.log(v["weights"])
            return jnp.sum(jnp.logaddexp(lw[0] + lc, lw[1] + field))

        names = PM2D_VARS
    else:
        from bayesmix.sky import Footprint

        fp = Footprint.parse(mm.spec["footprint"])
        if fp.kind != "cone":
            raise ValueError("the NumPyro full model is written for a cone footprint")
        rho = math.degrees(math.tan(math.radians(float(fp.radius))))
        ra0, dec0 = fp.tangent_point
        zp = float(mm.spec["zero_point"])
        data.update(xi=jnp.asarray(mm.data["sky_xi"]), eta=jnp.asarray(mm.data["sky_eta"]))
        deg = math.pi / 180.0

        def loglik(v, X, C, field, xi, eta):
            # cluster centre on the tangent plane (gnomonic projection at the footprint centre)
            a_ = (v["cluster_ra"] - ra0) * deg
            d_ = v["cluster_dec"] * deg
            cd, sd = jnp.cos(d_), jnp.sin(d_)
            cos_c = math.sin(dec0 * deg) * sd + math.cos(dec0 * deg) * cd * jnp.cos(a_)
            xc = cd * jnp.sin(a_) / cos_c / deg
            yc = (math.cos(dec0 * deg) * sd - math.sin(dec0 * deg) * cd * jnp.cos(a_)) / cos_c / deg
            a2 = v["cluster_radius"] ** 2
            r2 = (xi - xc) ** 2 + (eta - yc) ** 2
            sky = (
                -math.log(math.pi)
                - jnp.log(a2)
                - 2.0 * jnp.log1p(r2 / a2)
                - jnp.log(_disc_plummer_mass(jnp, xc, yc, a2, rho))
            )
            mean = (v["cluster_parallax"] + zp, v["cluster_pmra"], v["cluster_pmdec"])
            sp2 = v["cluster_parallax_dispersion"] ** 2
            sm2 = v["cluster_pm_dispersion"] ** 2
            lc = _gauss3_logp(jnp, X, C, mean, (sp2, sm2, sm2)) + sky
            lw = jnp.log(v["weights"])
            return jnp.sum(jnp.logaddexp(lw[0] + lc, lw[1] + field))

        names = FULL_VARS

    def fn(**kw):
        v = {nm: numpyro.sample(nm, _numpyro_prior(nm, pri[nm])) for nm in names}
        numpyro.factor("loglik", loglik(v, **kw))

    return fn, data, loglik


def run_numpyro(model: str, mm, chains, draws, tune, seeds, target_accept, chain_method):
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, init_to_value

    fn, data, loglik = numpyro_model_fn(model, mm)
    init = {k: jnp.asarray(v) for k, v in initial_values(mm).items()}
    check = (float(loglik(init, **data)), bayesmix_loglik(mm, initial_values(mm)))
    kernel = NUTS(fn, target_accept_prob=target_accept, init_strategy=init_to_value(values=init))
    # jit_model_args: the data are arguments of the compiled function, not constants folded
    # into it, so the second run reuses the compiled sampler
    mcmc = MCMC(
        kernel,
        num_warmup=tune,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
        jit_model_args=True,
    )
    runs = []
    for seed in seeds:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), extra_fields=("num_steps", "diverging"), **data)
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        wall = time.perf_counter() - t0
        extra = mcmc.get_extra_fields(group_by_chain=True)
        post = {k: np.asarray(v) for k, v in samples.items()}
        runs.append(
            {
                "sampling_s": wall,
                "load_before": load0,
                "load_after": os.getloadavg()[0],
                "mean_n_steps": float(np.mean(np.asarray(extra["num_steps"]))),
                "divergences": int(np.sum(np.asarray(extra["diverging"]))),
                "params": summaries(post),
            }
        )
    return {"loglik_check": check, "runs": runs}


# --------------------------------------------------------------------------------------------
# bayesmix
# --------------------------------------------------------------------------------------------


def run_bayesmix(model: str, mm, chains, draws, tune, seeds, target_accept):
    from bayesmix.exceptions import DiagnosticsWarning
    from bayesmix.inference import sample

    runs = []
    for seed in seeds:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DiagnosticsWarning)
            fit = sample(
                mm,
                draws=draws,
                tune=tune,
                chains=chains,
                rng=seed,
                progressbar=False,
                target_accept=target_accept,
            )
        wall = time.perf_counter() - t0
        post = fit.posterior
        stats = fit.idata["sample_stats"].to_dataset()
        arrays = {
            k: np.asarray(post[k].transpose("chain", "draw", ...).values) for k in post.data_vars
        }
        runs.append(
            {
                "sampling_s": fit.diagnostics["sampling_time"],
                "sample_call_s": wall,
                "load_before": load0,
                "load_after": os.getloadavg()[0],
                "mean_n_steps": float(stats["n_steps"].mean()),
                "divergences": int(fit.diagnostics["divergences"]),
                "params": summaries(arrays),
            }
        )
    return {"runs": runs}


def fused_variant(model: str, mm):
    """The builder's model with the likelihood as one fused Op (``bench/fused_prototype.py``).

    Only the 2-D pm model has a fused prototype until the builders use the fused Op; the
    returned MixtureModel is the builder's with its PyMC model replaced.  Also returns the
    largest relative difference of log-density and gradient between the two models at the
    initial point and 3 random points (the same posterior to rounding).
    """
    import dataclasses

    if model != "pm2d":
        raise ValueError("bayesmix-fused: the fused prototype covers the pm2d model only")
    sys.path[:0] = [str(HERE)]
    from fused_prototype import compare_logp, fused_model

    fused = fused_model(mm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worst = compare_logp(mm.model, fused, n_points=4, seed=0)
    return dataclasses.replace(mm, model=fused), {"fused_vs_graph_max_rel": worst}


# --------------------------------------------------------------------------------------------
# shared
# --------------------------------------------------------------------------------------------


def summaries(post: dict[str, np.ndarray]) -> dict:
    """Mean, sd, bulk ESS and MCSE of the cluster parameters; arrays are (chain, draw, ...)."""
    import arviz_stats
    import xarray as xr

    ds = {}
    for k, v in post.items():
        if k == "weights":
            ds[k] = xr.DataArray(v[..., 0], dims=("chain", "draw"))
        elif k.startswith("cluster_") and v.ndim == 2:
            ds[k] = xr.DataArray(v, dims=("chain", "draw"))
    ds = xr.Dataset(ds)
    ess = arviz_stats.ess(ds, method="bulk")
    mcse = arviz_stats.mcse(ds, method="mean")
    return {
        k: {
            "mean": float(ds[k].mean()),
            "sd": float(ds[k].std(ddof=1)),
            "ess_bulk": float(ess[k]),
            "mcse": float(mcse[k]),
        }
        for k in ds.data_vars
    }


def one(args) -> dict:
    from bayesmix.gaia import GaiaColumnWarning

    n = int(float(args.sizes))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        mm = build(args.model, blanco1_table(n, args.data_seed))
    t_build = time.perf_counter() - t0
    seeds = [args.seed, args.seed + 1]
    extra = {}
    if args.one == "bayesmix-fused":
        mm, extra = fused_variant(args.model, mm)
    if args.one == "numpyro":
        res = run_numpyro(
            args.model,
            mm,
            args.chains,
            args.draws,
            args.tune,
            seeds,
            args.target_accept,
            args.chain_method,
        )
    else:
        res = run_bayesmix(
            args.model, mm, args.chains, args.draws, args.tune, seeds, args.target_accept
        )
    res.update(extra)
    res.update(
        impl=args.one,
        model=args.model,
        n=n,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        build_s=t_build,
        peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    )
    return res


def spawn(impl: str, n: int, args) -> dict:
    env = dict(os.environ)
    if impl == "numpyro":
        # one XLA host device per chain, so chain_method="parallel" runs chains concurrently
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.chains}"
        ).strip()
        env["JAX_ENABLE_X64"] = "1"
    cmd = [
        sys.executable,
        __file__,
        "--one",
        impl,
        "--model",
        args.model,
        "--sizes",
        str(n),
        "--seed",
        str(args.seed),
        "--data-seed",
        str(args.data_seed),
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--tune",
        str(args.tune),
        "--target-accept",
        str(args.target_accept),
        "--chain-method",
        args.chain_method,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {
            "impl": impl,
            "n": n,
            "model": args.model,
            "error": proc.stderr[-3000:],
            "process_wall_s": wall,
        }
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    return res


def min_ess(params: dict) -> float:
    return min(v["ess_bulk"] for v in params.values())


def report(rows: list[dict]) -> str:
    out = [
        "| model | N | impl | run | chains x draws (tune) | sampling s | steps/draw "
        "| min bulk ESS | ESS/s | peak RSS GB | div | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            last = r["error"].strip().splitlines()[-1][:120] if r["error"].strip() else "?"
            out.append(f"| {r['model']} | {r['n']} | {r['impl']} | failed: {last} |||||||||")
            continue
        for label, run in zip(("first", "warm"), r["runs"], strict=False):
            ess = min_ess(run["params"])
            out.append(
                f"| {r['model']} | {r['n']} | {r['impl']} | {label} | {r['chains']} x "
                f"{r['draws']} ({r['tune']}) | {run['sampling_s']:.2f} | "
                f"{run['mean_n_steps']:.1f} | {ess:.0f} | {ess / run['sampling_s']:.1f} | "
                f"{r['peak_rss_gb']:.2f} | {run['divergences']} | "
                f"{run['load_before']:.1f}/{run['load_after']:.1f} |"
            )
    lines = ["\n".join(out), ""]
    ok = [r for r in rows if "error" not in r]
    for model, n in sorted({(r["model"], r["n"]) for r in ok}):
        here = [r for r in ok if r["n"] == n and r["model"] == model]
        p = next((r for r in here if r["impl"] == "numpyro"), None)
        if p:
            lc = p["loglik_check"]
            lines.append(
                f"- {model}, N = {n}: log-likelihood at the initial point, NumPyro "
                f"{lc[0]:.6f} vs bayesmix {lc[1]:.6f}"
            )
        for b in (r for r in here if r["impl"].startswith("bayesmix") and p):
            lines.append("  - " + compare(b, p))
    return "\n".join(lines)


def ess_per_s(run: dict) -> float:
    return min_ess(run["params"]) / run["sampling_s"]


def compare(b: dict, p: dict) -> str:
    """One line: warm ESS/s ratio and posterior agreement of a bayesmix row with NumPyro's."""
    bw, pw = b["runs"][-1], p["runs"][-1]
    ratio = ess_per_s(bw) / ess_per_s(pw)
    z = {
        k: (bw["params"][k]["mean"] - pw["params"][k]["mean"])
        / math.hypot(bw["params"][k]["mcse"], pw["params"][k]["mcse"])
        for k in bw["params"]
    }
    means = ", ".join(
        f"{k} {bw['params'][k]['mean']:.4f} / {pw['params'][k]['mean']:.4f}" for k in bw["params"]
    )
    fused = b.get("fused_vs_graph_max_rel")
    note = "" if fused is None else f" (fused vs graph log-density max rel. diff {fused:.1e})"
    return (
        f"warm ESS/s ratio {b['impl']} / NumPyro: **{ratio:.2f}x**{note}; posterior means "
        f"({b['impl']} / NumPyro): {means}; difference / combined MCSE: "
        + ", ".join(f"{k} {v:+.2f}" for k, v in z.items())
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(FEATURES), default="pm2d")
    ap.add_argument("--sizes", default="14785")
    ap.add_argument(
        "--impl", default="bayesmix,numpyro", help="comma list of bayesmix, bayesmix-fused, numpyro"
    )
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--data-seed", type=int, default=14)
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--chain-method", default="parallel")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args)))
        return 0
    rows = []
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        for impl in args.impl.split(","):
            r = spawn(impl, n, args)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(
        f"Command: `python bench/bench_numpyro.py {' '.join(argv or sys.argv[1:])}`; load "
        f"average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
