"""Benchmark: bayesmix line_outlier vs the notebook recipe (issue 3).

The reference is the recipe users write by hand: ``pm.Mixture`` of two
``pm.Normal.dist`` components, one ``pm.Deterministic`` per component holding the
per-object log-density, sampled with ``pm.sample(nuts_sampler="nutpie")``, then
membership probabilities from the stored draws with ``np.logaddexp`` (weights
included here, so both sides compute the same quantity).  Both sides use the
same data, priors, draws, tune, chains, seed and sampler (nutpie).

Each configuration runs in its own subprocess (peak memory = ru_maxrss of that
process).  "cold" runs use an empty PyTensor/numba compile cache; "warm" runs
reuse the cache the cold run filled.

Usage::

    python bench/bench_line_outlier.py                     # all N, append to RESULTS.md
    python bench/bench_line_outlier.py --n 20 1000 --no-append
    python bench/bench_line_outlier.py --one bayesmix --n 1000 ...   # (internal) one run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETTINGS = {  # N -> (chains, draws, tune)
    20: (4, 1000, 1000),
    1000: (4, 1000, 1000),
    10000: (4, 1000, 1000),
    100000: (2, 500, 500),
}


def make_data(n: int, seed: int = 0):
    """Hogg et al. Table 1 for n = 20, else Hogg-like simulated data (20 % outliers)."""
    if n == 20:
        from bayesmix.datasets import load_hogg2010

        t = load_hogg2010()
        return (
            np.asarray(t["x"], float),
            np.asarray(t["y"], float),
            np.asarray(t["sigma_y"], float),
        )
    rng = np.random.default_rng(seed)
    x = rng.uniform(50, 300, n)
    y_err = rng.uniform(10, 40, n)
    y = 2.24 * x + 34 + rng.normal(0, y_err)
    out = rng.random(n) < 0.2
    y[out] = rng.normal(450, np.sqrt(150**2 + y_err[out] ** 2))
    return x, y, y_err


def _ess_per_s(idata, seconds):
    import arviz_stats

    post = idata["posterior"].to_dataset()[["slope", "intercept"]]
    ess = arviz_stats.ess(post, method="bulk")
    return {k: float(ess[k]) / seconds for k in ("slope", "intercept")}, {
        k: float(ess[k]) for k in ("slope", "intercept")
    }


def run_bayesmix(x, y, y_err, chains, draws, tune, seed):
    import warnings

    from bayesmix.builders import line_outlier
    from bayesmix.exceptions import DiagnosticsWarning
    from bayesmix.inference import sample
    from bayesmix.membership import membership

    t0 = time.perf_counter()
    mm = line_outlier(x, y, y_err)
    t_build = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = sample(mm, draws=draws, tune=tune, chains=chains, rng=seed, progressbar=False)
    t_sample_call = time.perf_counter() - t0 - t_build
    t1 = time.perf_counter()
    ds = membership(fit)
    t_member = time.perf_counter() - t1
    t2 = time.perf_counter()
    ds_noq = membership(fit, quantiles=False)
    t_member_noq = time.perf_counter() - t2
    total = time.perf_counter() - t0
    sampling = fit.diagnostics["sampling_time"]
    ess_s, ess = _ess_per_s(fit.idata, sampling)
    return {
        "build_s": t_build,
        "compile_and_sample_s": t_sample_call,
        "sampling_s": sampling,
        "membership_s": t_member,
        "membership_no_quantiles_s": t_member_noq,
        "total_s": total,
        "ess_per_s": ess_s,
        "ess": ess,
        "divergences": fit.diagnostics["divergences"],
        "p_outlier_mean": float(ds["probability"].sel(component="outlier").mean()),
        "check": float(ds_noq["probability"].sum()),
    }


def run_reference(x, y, y_err, chains, draws, tune, seed):
    import pymc as pm

    from bayesmix.builders import line_outlier

    t0 = time.perf_counter()
    # same priors as bayesmix's defaults (read from its spec), on slope and intercept
    pri = line_outlier(x, y, y_err).spec["priors"]
    with pm.Model() as model:
        slope = pm.Normal("slope", pri["slope"]["mu"], pri["slope"]["sigma"])
        intercept = pm.Normal("intercept", pri["intercept"]["mu"], pri["intercept"]["sigma"])
        w = pm.Dirichlet("weights", a=np.ones(2))
        om = pm.Normal("outlier_mean", pri["outlier_mean"]["mu"], pri["outlier_mean"]["sigma"])
        osig = pm.HalfNormal("outlier_sigma", pri["outlier_sigma"]["sigma"])
        inl = pm.Normal.dist(slope * x + intercept, y_err)
        out = pm.Normal.dist(om, pm.math.sqrt(osig**2 + y_err**2))
        pm.Mixture("y", w=w, comp_dists=[inl, out], observed=y)
        pm.Deterministic("logp_inlier", pm.logp(inl, y))
        pm.Deterministic("logp_outlier", pm.logp(out, y))
    t_build = time.perf_counter() - t0
    idata = pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        nuts_sampler="nutpie",
        progressbar=False,
        model=model,
    )
    t_sample_call = time.perf_counter() - t0 - t_build
    t1 = time.perf_counter()
    post = idata["posterior"].to_dataset()
    lw = np.log(post["weights"].values)
    lp_in = post["logp_inlier"].values + lw[..., 0, None]
    lp_out = post["logp_outlier"].values + lw[..., 1, None]
    p_out = np.exp(lp_out - np.logaddexp(lp_in, lp_out)).mean(axis=(0, 1))
    t_member = time.perf_counter() - t1
    total = time.perf_counter() - t0
    sampling = float(idata["posterior"].attrs.get("sampling_time", np.nan))
    ess_s, ess = _ess_per_s(idata, sampling)
    div = int(idata["sample_stats"].to_dataset()["diverging"].values.sum())
    return {
        "build_s": t_build,
        "compile_and_sample_s": t_sample_call,
        "sampling_s": sampling,
        "membership_s": t_member,
        "total_s": total,
        "ess_per_s": ess_s,
        "ess": ess,
        "divergences": div,
        "p_outlier_mean": float(p_out.mean()),
    }


def one(impl: str, n: int, seed: int) -> dict:
    chains, draws, tune = SETTINGS[n]
    x, y, y_err = make_data(n)
    fn = run_bayesmix if impl == "bayesmix" else run_reference
    res = fn(x, y, y_err, chains, draws, tune, seed)
    res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    res.update(impl=impl, n=n, chains=chains, draws=draws, tune=tune)
    return res


def spawn(impl: str, n: int, seed: int, cache: Path, timeout: float) -> dict:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}")
    cmd = [sys.executable, __file__, "--one", impl, "--n", str(n), "--seed", str(seed)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"impl": impl, "n": n, "error": proc.stderr[-2000:], "process_wall_s": wall}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    return res


def machine_facts() -> str:
    import nutpie
    import pymc
    import pytensor

    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"PyMC {pymc.__version__}, PyTensor {pytensor.__version__}, nutpie "
        f"{nutpie.__version__}; load average at start {load[0]:.1f} (machine shared "
        "with other jobs)"
    )


def fmt_table(rows: list[dict]) -> str:
    out = [
        "| N | impl | run | chains x draws (tune) | total wall s | build s | compile+sample s "
        "| sampling s | membership s | ESS/s slope | ESS/s intercept | peak RSS GB | div |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            out.append(
                f"| {r['n']} | {r['impl']} | {r['run']} | failed: "
                f"{r['error'].strip().splitlines()[-1][:80]} |||||||||"
            )
            continue
        out.append(
            f"| {r['n']} | {r['impl']} | {r['run']} | {r['chains']} x {r['draws']} ({r['tune']}) "
            f"| {r['process_wall_s']:.1f} | {r['build_s']:.2f} | {r['compile_and_sample_s']:.1f} "
            f"| {r['sampling_s']:.1f} | {r['membership_s']:.2f} | {r['ess_per_s']['slope']:.0f} "
            f"| {r['ess_per_s']['intercept']:.0f} | {r['peak_rss_gb']:.2f} | {r['divergences']} |"
        )
    return "\n".join(out)


def ratios(rows: list[dict]) -> str:
    lines = []
    by = {(r["n"], r["impl"], r["run"]): r for r in rows if "error" not in r}
    for n in sorted({r["n"] for r in rows}):
        b, ref = by.get((n, "bayesmix", "warm")), by.get((n, "reference", "warm"))
        if not (b and ref):
            continue
        lines.append(
            f"- N = {n}: ESS/s ratio (bayesmix / reference) slope "
            f"{b['ess_per_s']['slope'] / ref['ess_per_s']['slope']:.2f}, intercept "
            f"{b['ess_per_s']['intercept'] / ref['ess_per_s']['intercept']:.2f}; peak memory "
            f"ratio {b['peak_rss_gb'] / ref['peak_rss_gb']:.2f}; warm wall time "
            f"{b['process_wall_s']:.1f} s vs {ref['process_wall_s']:.1f} s (process, incl. "
            "imports)"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", choices=["bayesmix", "reference"])
    ap.add_argument("--n", type=int, nargs="+", default=sorted(SETTINGS))
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--impl", nargs="+", default=["bayesmix", "reference"])
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--json", type=Path, help="also write raw results here")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.n[0], args.seed)))
        return 0
    facts = machine_facts()
    start = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for n in args.n:
        for impl in args.impl:
            with tempfile.TemporaryDirectory() as cache:
                for run in ("cold", "warm"):
                    r = spawn(impl, n, args.seed, Path(cache), args.timeout)
                    r["run"] = run
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    text = (
        f"\n## Issue 3: line + outlier vs notebook recipe\n\n"
        f"Command: `python bench/bench_line_outlier.py {' '.join(argv or sys.argv[1:])}`"
        f"\n\nDate: {start}. Machine: {facts}.\n\n" + fmt_table(rows) + "\n\n" + ratios(rows) + "\n"
    )
    print(text)
    if not args.no_append:
        with open(HERE / "RESULTS.md", "a") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
