"""Benchmark: bayesmix cluster_field (2-D proper motions) vs the notebook recipe (issue 4).

bayesmix side: ``cluster_field(data, features=("pmra", "pmdec"), field="gmm",
field_components=3, field_fit="xd", correlations=True, rng=seed)``, then
``bayesmix.inference.sample`` (nutpie, numba) and ``bayesmix.membership.membership``.

Reference ("hand-written notebook"): a plain PyMC model with the builder's priors
(read from ``spec["priors"]``: weights ~ Dirichlet(1, 1), cluster_pmra/pmdec ~
Normal(centre, 5), cluster_pm_dispersion ~ HalfNormal(1)) and the builder's fixed
extreme-deconvolution field (``spec["field_params"]``), so both sides fit the
identical model.  Cluster: ``pm.MvNormal.dist(mu, disp**2 I + C_n)`` with the batch of
per-star 2x2 error covariances C_n; field: ``pm.Mixture.dist`` of three
``pm.MvNormal.dist(mu_k, V_k + C_n)``; both combined with ``pm.Mixture`` (observed),
plus one ``pm.Deterministic`` of shape (N, 2) holding every star's cluster and field
log-density, sampled with ``pm.sample(nuts_sampler="nutpie")``; membership = mean
over draws of exp(logp_k + ln w_k - logsumexp_j(logp_j + ln w_j)) (scipy logsumexp
over the stored Deterministic).  Same data, priors, initial values (the builder's),
draws, tune, chains, seed and sampler on both sides.  The log-likelihoods of the two
models agree to rounding (checked in each reference run at the initial point).

Data: ``tests/_cluster_fits.simulate`` (Gaia-like: 15 % members at pm (8, -4) mas/yr
with 0.3 mas/yr dispersion in a Plummer sky profile; a non-Gaussian two-Gaussian
field; per-star errors uniform in 0.05-``--err-max`` mas/yr per axis with
|pmra_pmdec_corr| up to 0.8), seeded; ``ra``/``dec`` drive the control field.

Each (tool, N, run) is a subprocess (peak memory = its ru_maxrss).  "cold" uses an
empty PyTensor/numba compile cache, "warm" reuses the one the cold run filled.
ESS/s = min bulk ESS over the cluster parameters (cluster_pmra, cluster_pmdec,
cluster_pm_dispersion, weights[cluster]) / sampler wall time.

Usage::

    python bench/bench_cluster_field.py                          # full run, into RESULTS.md
    python bench/bench_cluster_field.py --sizes 1e3 --chains 2 --draws 200 --tune 200 \\
        --no-append                                             # quick validation
    python bench/bench_cluster_field.py --one bayesmix --n 1000 ...   # (internal) one run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_line_outlier import machine_facts  # noqa: E402

SETTINGS = {  # N -> (chains, draws, tune); the reference stores 8 * chains * draws * N * 2 B
    1000: (4, 1000, 1000),
    10000: (4, 1000, 1000),
    100000: (2, 500, 500),
}
CLUSTER_VARS = ("cluster_pmra", "cluster_pmdec", "cluster_pm_dispersion", "weights")
GOAL_WALL_S = 120.0
RESULTS_MARK = "<!-- issue-4 runs: bench_cluster_field.py inserts new runs above this line -->"


def make_data(n: int, seed: int, err_max: float):
    """Simulated Gaia-like table (dict of columns) and the true member flags."""
    from _cluster_fits import simulate

    return simulate(seed, n=n, err_max=err_max)


def build(table, seed: int):
    from bayesmix.builders import cluster_field

    return cluster_field(
        table,
        features=("pmra", "pmdec"),
        field="gmm",
        field_components=3,
        field_fit="xd",
        correlations=True,
        rng=seed,
    )


def _summaries(post) -> dict:
    """Mean, sd, bulk ESS and MCSE of the mean of the cluster parameters."""
    import arviz_stats

    post = post[list(CLUSTER_VARS)]
    if "component" in post["weights"].dims:
        post = post.assign(weights=post["weights"].isel(component=0))
    else:  # nutpie's automatic dim name
        post = post.assign(weights=post["weights"].isel({post["weights"].dims[-1]: 0}))
    ess = arviz_stats.ess(post, method="bulk")
    mcse = arviz_stats.mcse(post, method="mean")
    return {
        k: {
            "mean": float(post[k].mean()),
            "sd": float(post[k].std(ddof=1)),
            "ess_bulk": float(ess[k]),
            "mcse": float(mcse[k]),
        }
        for k in CLUSTER_VARS
    }


def _mean_steps(idata) -> float:
    """Mean number of gradient evaluations per draw (NUTS tree size, post-warmup)."""
    return float(idata["sample_stats"].to_dataset()["n_steps"].mean())


def run_bayesmix(table, chains, draws, tune, seed):
    from bayesmix.exceptions import DiagnosticsWarning
    from bayesmix.inference import sample
    from bayesmix.membership import membership

    t0 = time.perf_counter()
    mm = build(table, seed)
    t_build = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = sample(mm, draws=draws, tune=tune, chains=chains, rng=seed, progressbar=False)
    t_sample_call = time.perf_counter() - t0 - t_build
    t1 = time.perf_counter()
    ds = membership(fit, quantiles=False)
    t_member = time.perf_counter() - t1
    t2 = time.perf_counter()
    membership(fit)  # default: with the exact 16/50/84 percentiles (a second pass)
    t_member_q = time.perf_counter() - t2
    p = ds["probability"].sel(component="cluster").values
    return {
        "build_s": t_build,
        "compile_and_sample_s": t_sample_call,
        "sampling_s": fit.diagnostics["sampling_time"],
        "membership_s": t_member,
        "membership_quantiles_s": t_member_q,
        "divergences": fit.diagnostics["divergences"],
        "mean_n_steps": _mean_steps(fit.idata),
        "params": _summaries(fit.posterior),
    }, p


def run_reference(table, chains, draws, tune, seed):
    import pymc as pm
    import pytensor.tensor as pt
    from scipy.special import logsumexp

    t0 = time.perf_counter()
    # the same model as bayesmix's: its data arrays, priors, fixed XD field, initial values
    mm = build(table, seed)
    X, C = mm.data["X"], mm.data["X_cov"]
    pri, ff = mm.spec["priors"], mm.spec["field_params"]
    fw, fm, fc = (np.asarray(ff[k]) for k in ("weights", "means", "covs"))
    init = mm.model.initial_point()  # transformed space, for the log-density check
    iv = {rv.name: v for rv, v in mm.model.rvs_to_initial_values.items()}  # builder's initvals
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    coords = {
        "component": ["cluster", "field"],
        "star": np.arange(len(X)),
        "feature": ["pmra", "pmdec"],
    }
    with pm.Model(coords=coords) as model:
        w = pm.Dirichlet("weights", a=np.ones(2), dims="component", initval=iv["weights"])
        mu_a = pm.Normal(
            "cluster_pmra",
            pri["cluster_pmra"]["mu"],
            pri["cluster_pmra"]["sigma"],
            initval=iv["cluster_pmra"],
        )
        mu_d = pm.Normal(
            "cluster_pmdec",
            pri["cluster_pmdec"]["mu"],
            pri["cluster_pmdec"]["sigma"],
            initval=iv["cluster_pmdec"],
        )
        disp = pm.HalfNormal(
            "cluster_pm_dispersion",
            pri["cluster_pm_dispersion"]["sigma"],
            initval=iv["cluster_pm_dispersion"],
        )
        cluster = pm.MvNormal.dist(mu=pt.stack([mu_a, mu_d]), cov=disp**2 * np.eye(2) + C)
        field = pm.Mixture.dist(
            w=fw, comp_dists=[pm.MvNormal.dist(mu=fm[k], cov=fc[k] + C) for k in range(len(fw))]
        )
        pm.Mixture("X", w=w, comp_dists=[cluster, field], observed=X, dims=("star", "feature"))
        pm.Deterministic(
            "logp_components",
            pt.stack([pm.logp(cluster, X), pm.logp(field, X)], axis=-1),
            dims=("star", "component"),
        )
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    idata = pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        nuts_sampler="nutpie",
        progressbar=False,
        model=model,
    )
    t_sample_call = time.perf_counter() - t0
    t1 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    lp = post["logp_components"].values + np.log(post["weights"].values)[..., None, :]
    resp = np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))
    p = resp[..., 0].mean(axis=(0, 1))
    t_member = time.perf_counter() - t1
    div = int(idata["sample_stats"].to_dataset()["diverging"].values.sum())
    # identical model: same log-density at the builder's initial point (not timed)
    lp_check = [float(model.compile_logp()(init)), float(mm.model.compile_logp()(init))]
    return {
        "build_s": t_build,
        "setup_s": t_setup,
        "compile_and_sample_s": t_sample_call,
        "sampling_s": float(idata["posterior"].attrs.get("sampling_time", np.nan)),
        "membership_s": t_member,
        "divergences": div,
        "mean_n_steps": _mean_steps(idata),
        "logp_at_init": lp_check,
        "params": _summaries(post),
    }, p


def one(
    impl: str,
    n: int,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    err_max: float,
    out: Path | None,
) -> dict:
    from bayesmix.gaia import GaiaColumnWarning

    table, member = make_data(n, seed, err_max)
    fn = run_bayesmix if impl == "bayesmix" else run_reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaiaColumnWarning)
        res, p = fn(table, chains, draws, tune, seed)
    res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    res["total_s"] = sum(
        res.get(k, 0.0) for k in ("setup_s", "build_s", "compile_and_sample_s", "membership_s")
    )
    res["ess_per_s"] = min(v["ess_bulk"] for v in res["params"].values()) / res["sampling_s"]
    res["expected_members"] = float(p.sum())
    res["true_members"] = int(member.sum())
    res.update(impl=impl, n=n, chains=chains, draws=draws, tune=tune)
    if out is not None:
        np.save(out, p)
    return res


def spawn(impl: str, n: int, run: str, args, cache: Path, outdir: Path) -> dict:
    chains, draws, tune = settings(n, args)
    out = outdir / f"{impl}_{n}_{run}.npy"
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}")
    cmd = [
        sys.executable,
        __file__,
        "--one",
        impl,
        "--sizes",
        str(n),
        "--seed",
        str(args.seed),
        "--chains",
        str(chains),
        "--draws",
        str(draws),
        "--tune",
        str(tune),
        "--err-max",
        str(args.err_max),
        "--p-out",
        str(out),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {
            "impl": impl,
            "n": n,
            "run": run,
            "error": f"timeout after {args.timeout:.0f} s",
            "process_wall_s": time.perf_counter() - t0,
        }
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {
            "impl": impl,
            "n": n,
            "run": run,
            "error": proc.stderr[-2000:] or "failed",
            "process_wall_s": wall,
        }
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(process_wall_s=wall, run=run, p_file=str(out))
    return res


def settings(n: int, args) -> tuple[int, int, int]:
    c, d, t = SETTINGS.get(n, (4, 1000, 1000))
    return (args.chains or c, args.draws or d, args.tune if args.tune is not None else t)


def fmt_table(rows: list[dict]) -> str:
    out = [
        "| N | impl | run | chains x draws (tune) | process wall s | total s | build s "
        "| compile+sample s | sampling s | membership s | steps/draw | min bulk ESS | ESS/s "
        "| peak RSS GB | div |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            last = r["error"].strip().splitlines()[-1][:100] if r["error"].strip() else "?"
            out.append(f"| {r['n']} | {r['impl']} | {r['run']} | failed: {last} ||||||||||||")
            continue
        ess = min(v["ess_bulk"] for v in r["params"].values())
        build = r["build_s"] + r.get("setup_s", 0.0)
        out.append(
            f"| {r['n']} | {r['impl']} | {r['run']} | {r['chains']} x {r['draws']} ({r['tune']}) "
            f"| {r['process_wall_s']:.1f} | {r['total_s']:.1f} | {build:.2f} "
            f"| {r['compile_and_sample_s']:.1f} | {r['sampling_s']:.1f} "
            f"| {r['membership_s']:.2f} | {r['mean_n_steps']:.1f} | {ess:.0f} "
            f"| {r['ess_per_s']:.1f} "
            f"| {r['peak_rss_gb']:.2f} | {r['divergences']} |"
        )
    return "\n".join(out)


def checks(rows: list[dict]) -> str:
    """Same posterior and memberships on both sides, ratios, and the issue's goals."""
    lines = []
    ok = [r for r in rows if "error" not in r]
    for n in sorted({r["n"] for r in rows}):

        def pick(impl, n=n):
            c = [r for r in ok if r["n"] == n and r["impl"] == impl]
            return next((r for r in c if r["run"] == "warm"), c[-1] if c else None)

        b, ref = pick("bayesmix"), pick("reference")
        if b:
            pb = b["params"]
            lines.append(
                f"- N = {n}, bayesmix ({b['run']}): cluster_pmra {pb['cluster_pmra']['mean']:.3f}"
                f" +- {pb['cluster_pmra']['sd']:.3f}, cluster_pmdec "
                f"{pb['cluster_pmdec']['mean']:.3f} +- {pb['cluster_pmdec']['sd']:.3f}, "
                f"dispersion {pb['cluster_pm_dispersion']['mean']:.3f} +- "
                f"{pb['cluster_pm_dispersion']['sd']:.3f} mas/yr (truth 8, -4, 0.3); expected "
                f"members {b['expected_members']:.0f} (true {b['true_members']}); {b['run']} end "
                f"to end {b['total_s']:.1f} s (build + sample() incl. nutpie's per-process compile"
                f" + membership), {b['total_s'] - b['compile_and_sample_s'] + b['sampling_s']:.1f}"
                f" s without compile; membership with quantiles {b['membership_quantiles_s']:.2f}"
                " s"
            )
            if (n, b["chains"], b["draws"]) == (10000, 4, 1000) and b["run"] == "warm":
                met = "met" if b["total_s"] < GOAL_WALL_S else "**not met**"
                lines.append(
                    f"  - goal: N = 1e4, 4 x 1000, warm, under {GOAL_WALL_S:.0f} s: "
                    f"{met} ({b['total_s']:.1f} s incl. compile; process incl. imports "
                    f"and simulating the data {b['process_wall_s']:.1f} s)"
                )
        if not (b and ref):
            continue
        z = {}
        for k in CLUSTER_VARS:
            x, y = b["params"][k], ref["params"][k]
            z[k] = (x["mean"] - y["mean"]) / np.hypot(x["mcse"], y["mcse"])
        pb_, pr_ = np.load(b["p_file"]), np.load(ref["p_file"])
        d = np.abs(pb_ - pr_)
        flips = int(((pb_ > 0.5) != (pr_ > 0.5)).sum())
        same = max(abs(v) for v in z.values()) < 4 and d.max() < 0.05
        lp = ref["logp_at_init"]
        lines.append(
            f"  - same posterior? {'yes' if same else '**check**'}: difference of means / "
            "combined MCSE "
            + ", ".join(f"{k} {v:+.2f}" for k, v in z.items())
            + f"; membership |dp| max {d.max():.4f}, mean {d.mean():.5f}, {flips} stars on "
            f"different sides of 0.5; model log-density at the initial point {lp[0]:.6f} "
            f"(reference) vs {lp[1]:.6f} (bayesmix)"
        )
        if b["run"] == ref["run"]:
            lines.append(
                f"  - {b['run']}: ESS/s ratio (bayesmix / reference) "
                f"{b['ess_per_s'] / ref['ess_per_s']:.2f} (goal at 1e5: >= 3); peak memory ratio "
                f"{b['peak_rss_gb'] / ref['peak_rss_gb']:.3f} (goal at 1e5: <= 0.1); sampling "
                f"{b['sampling_s']:.1f} s vs {ref['sampling_s']:.1f} s; process wall "
                f"{b['process_wall_s']:.1f} s vs {ref['process_wall_s']:.1f} s"
            )
    return "\n".join(lines)


def write_results(text: str) -> None:
    path = HERE / "RESULTS.md"
    cur = path.read_text() if path.exists() else ""
    if RESULTS_MARK in cur:
        cur = cur.replace(RESULTS_MARK, text.strip("\n") + "\n\n" + RESULTS_MARK, 1)
    else:
        cur += "\n" + text
    path.write_text(cur)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", choices=["bayesmix", "reference"])
    ap.add_argument(
        "--sizes", default="1e3,1e4,1e5", help="comma-separated N (default 1e3,1e4,1e5)"
    )
    ap.add_argument("--chains", type=int, help="override the per-N default (4; 2 at 1e5)")
    ap.add_argument("--draws", type=int, help="override the per-N default (1000; 500 at 1e5)")
    ap.add_argument("--tune", type=int, help="override the per-N default (1000; 500 at 1e5)")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--err-max", type=float, default=1.0, help="largest pm error (mas/yr)")
    ap.add_argument("--impl", default="bayesmix,reference")
    ap.add_argument(
        "--runs",
        default="cold,warm",
        help="cold,warm (default): a fresh compile cache per tool and N, filled by the cold run",
    )
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--no-append", action="store_true", help="do not write bench/RESULTS.md")
    ap.add_argument("--json", type=Path, help="also write raw results here")
    ap.add_argument("--p-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.one:
        chains, draws, tune = settings(sizes[0], args)
        print(
            json.dumps(
                one(args.one, sizes[0], args.seed, chains, draws, tune, args.err_max, args.p_out)
            )
        )
        return 0
    facts = machine_facts()
    start = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    with tempfile.TemporaryDirectory() as outdir:
        for n in sizes:
            for impl in args.impl.split(","):
                with tempfile.TemporaryDirectory() as cache:
                    for run in args.runs.split(","):
                        r = spawn(impl, n, run, args, Path(cache), Path(outdir))
                        rows.append(r)
                        print(json.dumps(r), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        summary = checks(rows)
    end = datetime.datetime.now(datetime.UTC).strftime("%H:%M UTC")
    load = os.getloadavg()
    text = (
        f"\n### Issue 4 run, {start}\n\n"
        f"Command: `python bench/bench_cluster_field.py {' '.join(argv or sys.argv[1:])}`"
        f"\n\n{start} to {end}. Machine: {facts}; load average at the end {load[0]:.1f}.\n\n"
        + fmt_table(rows)
        + "\n\n"
        + summary
        + "\n"
    )
    print(text)
    if not args.no_append:
        write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
