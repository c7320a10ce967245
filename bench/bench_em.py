"""Benchmark: bayesmix EM vs scikit-learn GaussianMixture and astroML XDGMM (issue 2).

Every (tool, configuration) runs in its own subprocess so that peak memory is
measured cleanly: peak RSS during the fit minus RSS just before it (data and
initial parameters already in memory).  Both tools start from the same data
and the same initial parameters and run a fixed number of EM iterations
(tol = 0); the figure is seconds per iteration.  Our numba kernels are
compiled (or loaded from cache) by a warm-up fit on a small slice first; the
cold compile time is reported separately.

Run:  python bench/bench_em.py [--quick]   (results printed as a Markdown table)
For a fair reference, run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
(they force an older OpenBLAS kernel on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

GMM_CONFIGS = [(10_000, 2, 4), (100_000, 3, 8), (1_000_000, 3, 8), (100_000, 10, 10)]
XD_CONFIGS = [(1_000, 2, 3), (10_000, 2, 3)]


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    A = rng.normal(scale=0.4, size=(k, d, d)) + np.eye(d)
    X = centres[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n, d)))
    # initial parameters: k-means++-like picks, unit-ish covariances, equal weights
    means = X[rng.choice(n, k, replace=False)]
    cov = np.repeat(np.cov(X.T).reshape(1, d, d), k, axis=0)
    weights = np.full(k, 1.0 / k)
    return X, weights, means, cov


def make_xd_data(n, d, k, seed=0):
    X, w, m, c = make_data(n, d, k, seed)
    rng = np.random.default_rng(seed + 1)
    err = rng.uniform(0.2, 1.0, size=(n, d))
    S = np.zeros((n, d, d))
    S[:, np.arange(d), np.arange(d)] = err**2
    return X + err * rng.normal(size=X.shape), S, w, m, c


def rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_one(tool, n, d, k, iters):
    warnings.simplefilter("ignore")
    out = {"tool": tool, "n": n, "d": d, "k": k, "iters": iters}
    if tool in ("bayesmix", "sklearn"):
        X, w, m, c = make_data(n, d, k)
    else:
        X, S, w, m, c = make_xd_data(n, d, k)
    if tool == "bayesmix":
        from bayesmix.em import GaussianMixture

        t0 = time.perf_counter()
        GaussianMixture(k, init=dict(weights=w, means=m, covariances=c), max_iter=1, tol=0).fit(
            X[:5000]
        )
        out["warmup_s"] = time.perf_counter() - t0
        base = rss_bytes()
        t0 = time.perf_counter()
        gm = GaussianMixture(k, init=dict(weights=w, means=m, covariances=c), max_iter=iters, tol=0)
        gm.fit(X)
        out["seconds"] = time.perf_counter() - t0
        out["lower_bound"] = gm.lower_bound_
    elif tool == "sklearn":
        from sklearn.mixture import GaussianMixture as SK

        base = rss_bytes()
        t0 = time.perf_counter()
        sk = SK(
            k,
            weights_init=w,
            means_init=m,
            precisions_init=np.linalg.inv(c),
            max_iter=iters,
            tol=0,
        ).fit(X)
        out["seconds"] = time.perf_counter() - t0
        out["lower_bound"] = sk.lower_bound_
    elif tool == "bayesmix_xd":
        from bayesmix.em import XDGaussianMixture

        t0 = time.perf_counter()
        XDGaussianMixture(
            k, init=dict(weights=w, means=m, covariances=c), max_iter=1, tol=0, reg_covar=0.0
        ).fit(X[:500], X_cov=S[:500])
        out["warmup_s"] = time.perf_counter() - t0
        base = rss_bytes()
        t0 = time.perf_counter()
        # reg_covar=0: astroML's XDGMM does not regularise, so both follow the same iterates
        xd = XDGaussianMixture(
            k, init=dict(weights=w, means=m, covariances=c), max_iter=iters, tol=0, reg_covar=0.0
        ).fit(X, X_cov=S)
        out["seconds"] = time.perf_counter() - t0
        out["lower_bound"] = xd.score(X, X_cov=S)  # mean log L at the final parameters
    elif tool == "astroml_xd":
        from astroML.density_estimation import XDGMM

        base = rss_bytes()
        xd = XDGMM(k, max_iter=iters, tol=0.0)
        xd.alpha, xd.mu, xd.V = w.copy(), m.copy(), c.copy()
        t0 = time.perf_counter()
        for _ in range(iters):  # what one iteration of XDGMM.fit does: an EM step + logL
            xd._EMstep(X, S)
            logL = xd.logL(X, S)
        out["seconds"] = time.perf_counter() - t0
        out["lower_bound"] = float(logL) / n  # mean log L at the final parameters
    else:
        raise ValueError(tool)
    out["peak_extra_MiB"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    ) / 2**20
    out["s_per_iter"] = out["seconds"] / iters
    print(json.dumps(out))


def spawn(tool, n, d, k, iters):
    res = subprocess.run(
        [sys.executable, __file__, "--one", tool, str(n), str(d), str(k), str(iters)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def cold_compile_seconds():
    """Time the first fit in a fresh process with numba's cache disabled (true cold start)."""
    code = (
        "import time, numpy as np, warnings; warnings.simplefilter('ignore');"
        "t=time.perf_counter(); from bayesmix.em import GaussianMixture, XDGaussianMixture;"
        "r=np.random.default_rng(0);"
        "[(GaussianMixture(2, rng=0).fit(X).predict_proba(X),"
        " XDGaussianMixture(2, rng=0, max_iter=2).fit(X, X_err=0*X).predict_proba(X, X_err=0*X))"
        " for X in (r.normal(size=(500, 2)), r.normal(size=(70000, 2)))];"
        "print(time.perf_counter()-t)"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=f"/tmp/bayesmix-bench-nocache-{os.getpid()}")
    cold = float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    warm = float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    return cold, warm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.one:
        tool, n, d, k, iters = args.one
        run_one(tool, int(n), int(d), int(k), int(iters))
        return
    print(
        f"# bench_em  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
        f"python {platform.python_version()}  cores {os.cpu_count()}  "
        f"load {os.getloadavg()[0]:.2f}  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
    )
    cold, warm = cold_compile_seconds()
    print(
        f"first fit in a fresh process: cold (no numba cache) {cold:.1f} s, with cache {warm:.1f} s"
    )
    print()
    print(
        "| N | D | K | iters | bayesmix s/iter | sklearn s/iter | speed-up | "
        "bayesmix peak MiB | sklearn peak MiB | lower bound (ours / sklearn) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, d, k in GMM_CONFIGS:
        if args.quick and n > 100_000:
            continue
        iters = 20 if n <= 100_000 else 10
        a = spawn("bayesmix", n, d, k, iters)
        b = spawn("sklearn", n, d, k, iters)
        print(
            f"| {n:.0e} | {d} | {k} | {iters} | {a['s_per_iter']:.4f} | {b['s_per_iter']:.4f} | "
            f"{b['s_per_iter'] / a['s_per_iter']:.1f}x | {a['peak_extra_MiB']:.0f} | "
            f"{b['peak_extra_MiB']:.0f} | {a['lower_bound']:.10f} / {b['lower_bound']:.10f} |",
            flush=True,
        )
    print()
    print(
        "| N | D | K | iters | bayesmix XD s/iter | astroML XDGMM s/iter | speed-up | "
        "bayesmix peak MiB | astroML peak MiB | lower bound (ours / astroML) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, d, k in XD_CONFIGS:
        iters = 10
        a = spawn("bayesmix_xd", n, d, k, iters)
        b = spawn("astroml_xd", n, d, k, iters)
        print(
            f"| {n:.0e} | {d} | {k} | {iters} | {a['s_per_iter']:.5f} | {b['s_per_iter']:.4f} | "
            f"{b['s_per_iter'] / a['s_per_iter']:.0f}x | {a['peak_extra_MiB']:.0f} | "
            f"{b['peak_extra_MiB']:.0f} | {a['lower_bound']:.10f} / {b['lower_bound']:.10f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
