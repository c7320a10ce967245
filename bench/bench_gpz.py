"""Benchmark: GPz fit + weights + divide, bayesmix vs the gpz_pype recipe on scikit-learn (issue 5).

Workload (same for both): a population of 1e6 objects x 3 features (an
overlapping 12-blob mixture, like two colours and a magnitude) and a training
sample of 1e4 drawn from it with a probability falling with the third feature
(like spectroscopic completeness); 10 components, full covariances, n_init=3,
tol=1e-3, robust scaling (median / IQR) fitted on the population.  Timed
together: fitting both mixtures, weights of the training sample, divide of the
population (threshold 0.5).

- bayesmix: ``GPzAugment(X_pop, X_train, n_components=10, n_init=3)``,
  ``calc_weights(X_train)`` (exact ratio, log space, clip 100),
  ``divide(X_pop)`` (the astropy Table with index/best/m*/unassigned).
- reference: gpz_pype's ``GMMbasic`` recipe written from its description
  (gpz_pype/gmm.py by K. J. Duncan): scikit-learn ``RobustScaler`` on the
  population; ``GaussianMixture(n_components=10, n_init=3,
  covariance_type="full", tol=1e-3, random_state=0)`` fitted to population and
  training sample; weights ``(exp(score_samples_pop) + eta) /
  (exp(score_samples_train) + eta)`` with eta = 1e-3 clipped at 100; divide
  ``predict_proba(pop) > 0.5`` into boolean columns.

Each tool runs in its own subprocess with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
removed from the environment (they force an older OpenBLAS kernel here, see
bench_em.py).  bayesmix's numba kernels are loaded/compiled by a small warm-up
fit before timing (reported separately).  The iteration counts differ because
the initialisations differ (scikit-learn runs k-means, bayesmix k-means++
seeds); both are reported, with the best restart's mean log-likelihood per
object on the population as a check that both reach fits of the same quality.

Run:  python bench/bench_gpz.py [--quick]

Issue 17 (``--weights``): weighted vs unweighted binned KL divergence, effective
sample size and held-out divergence of every weighting rule over 10 seeded soft
selections of the real CANDELS COSMOS sample (bundled), at D = 3 and with 10
added colour/noise features (D = 13), plus a colour-window stress test.

Run:  python bench/bench_gpz.py --weights [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

N_POP, N_TRAIN, D, K, N_INIT = 1_000_000, 10_000, 3, 10, 3


def make_data(n_pop, n_train, seed=0):
    rng = np.random.default_rng(seed)
    n_blobs = 12
    centres = rng.normal(scale=1.5, size=(n_blobs, D))
    A = rng.normal(scale=0.3, size=(n_blobs, D, D)) + 0.6 * np.eye(D)
    labels = rng.integers(0, n_blobs, size=n_pop)
    X = centres[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n_pop, D)))
    m = X[:, 2]
    p_sel = 1.0 / (1.0 + np.exp((m - np.percentile(m, 30)) / (0.3 * m.std())))
    idx = rng.choice(n_pop, size=n_train, replace=False, p=p_sel / p_sel.sum())
    return X, X[np.sort(idx)]


def run_bayesmix(n_pop, n_train):
    from bayesmix.gpz import GPzAugment

    X_pop, X_train = make_data(n_pop, n_train)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GPzAugment(X_pop[:5000], X_train[:2000], n_components=K).divide(X_pop[:5000])
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    aug = GPzAugment(X_pop, X_train, n_components=K, n_init=N_INIT, tol=1e-3, rng=0)
    t_fit = time.perf_counter() - t0
    w = aug.calc_weights(X_train, max_weight=100)
    t_w = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        div = aug.divide(X_pop, threshold=0.5)
    t_all = time.perf_counter() - t0
    return {
        "tool": "bayesmix",
        "warmup_s": warm,
        "fit_s": t_fit,
        "weights_s": t_w - t_fit,
        "divide_s": t_all - t_w,
        "total_s": t_all,
        "n_iter_pop": aug.gmm_pop.n_iter_,
        "n_iter_train": aug.gmm_train.n_iter_,
        "loglik_pop": aug.gmm_pop.lower_bound_,
        "unassigned_fraction": div.meta["unassigned_fraction"],
        "median_weight": float(np.median(w)),
    }


def run_sklearn(n_pop, n_train):
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import RobustScaler

    X_pop, X_train = make_data(n_pop, n_train)
    eta, max_weight, threshold = 1e-3, 100.0, 0.5
    t0 = time.perf_counter()
    scaler = RobustScaler().fit(X_pop)
    Xp, Xt = scaler.transform(X_pop), scaler.transform(X_train)
    settings = dict(n_components=K, n_init=N_INIT, covariance_type="full", tol=1e-3, random_state=0)
    gmm_pop = GaussianMixture(**settings).fit(Xp)
    gmm_train = GaussianMixture(**settings).fit(Xt)
    t_fit = time.perf_counter() - t0
    w = (np.exp(gmm_pop.score_samples(Xt)) + eta) / (np.exp(gmm_train.score_samples(Xt)) + eta)
    w[w > max_weight] = max_weight
    t_w = time.perf_counter() - t0
    prob = gmm_pop.predict_proba(Xp)
    best = np.argmax(prob, axis=1)
    member = {f"m{k}": prob[:, k] > threshold for k in range(K)}
    t_all = time.perf_counter() - t0
    unassigned = ~np.column_stack(list(member.values())).any(axis=1)
    return {
        "tool": "sklearn (gpz_pype recipe)",
        "fit_s": t_fit,
        "weights_s": t_w - t_fit,
        "divide_s": t_all - t_w,
        "total_s": t_all,
        "n_iter_pop": int(gmm_pop.n_iter_),
        "n_iter_train": int(gmm_train.n_iter_),
        "loglik_pop": float(gmm_pop.lower_bound_),  # same scaled space as bayesmix
        "unassigned_fraction": float(unassigned.mean()),
        "median_weight": float(np.median(w)),
        "best_check": int(best[0]),
    }


def run_in_subprocess(tool, n_pop, n_train):
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); import bench_gpz as b; "
        f"print(json.dumps(b.run_{tool}({n_pop}, {n_train})))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ issue 17: weights
CANDELS_FEATURES = ["lupt_F606W-lupt_F814W", "lupt_F814W-lupt_F125W", "lupt_F160W"]
#: name -> calc_weights options (the first is the old default, the last the new one)
WEIGHTINGS = {
    "exact ratio, clip 100 (old default)": {"ratio": "mixture", "regularise": "none"},
    "exact ratio, clip 20": {"ratio": "mixture", "regularise": "none", "max_weight": 20},
    "gpz_pype eta = 1e-3": {"eta": 1e-3},
    "mixture ratio, auto clip": {"ratio": "mixture", "regularise": "auto"},
    "classifier, no clip": {"ratio": "classifier", "regularise": "none"},
    "classifier, auto clip (default)": {},
}


def candels_features(n_extra: int = 0, seed: int = 0):
    """The CANDELS COSMOS features, plus ``n_extra`` (<= 10) colour/noise features.

    The extras: the four other colours of the bands (each + N(0, 0.05) so that
    no feature is an exact combination of others) and six pure-noise features
    of scales 1, 1, 0.3, 3, 10 and 0.1, seeded.
    """
    from bayesmix.datasets import load_candels_cosmos
    from bayesmix.gpz import feature_matrix

    t = load_candels_cosmos()
    X, _ = feature_matrix(t, CANDELS_FEATURES)
    r = np.random.default_rng(seed)
    m = {b: np.asarray(t[f"lupt_{b}"], float) for b in ("F606W", "F814W", "F125W", "F160W")}
    cols = [
        m["F606W"] - m["F125W"],
        m["F606W"] - m["F160W"],
        m["F814W"] - m["F160W"],
        m["F125W"] - m["F160W"],
    ]
    cols = [c + r.normal(0, 0.05, len(c)) for c in cols]
    cols += [r.normal(0, sd, len(X)) for sd in (1, 1, 0.3, 3, 10, 0.1)]
    return np.column_stack([X, *cols[:n_extra]])


def soft_selection(X, i: int, kind: str = "magnitude"):
    """Selection ``i`` (seeded): logistic in F160W at a random percentile (30-60) and width
    (0.3-1.0 mag) -- or, ``kind="colour"``, a Gaussian window in F814W-F125W times a
    magnitude logistic (a selection no log-quadratic ratio describes exactly)."""
    r = np.random.default_rng(1000 + i)
    pct, width = r.uniform(30, 60), r.uniform(0.3, 1.0)
    m0 = np.percentile(X[:, 2], pct)
    p = 1.0 / (1.0 + np.exp((X[:, 2] - m0) / width))
    if kind == "colour":
        c = X[:, 1]
        lo, hi = np.percentile(c, [15, 85])
        c1, c2 = r.uniform(lo, hi, 2)
        s = 0.15 * (hi - lo)
        p = p * np.maximum(np.exp(-0.5 * ((c - c1) / s) ** 2), np.exp(-0.5 * ((c - c2) / s) ** 2))
        p = np.clip(p / np.percentile(p, 99), 0, 1)
    sel = r.uniform(size=len(p)) < p
    return sel, pct, width


def weights_study(n_extra: int, n_components: int, kind: str = "magnitude", n_sel: int = 10):
    """Per selection and weighting: KL ratio (weighted / unweighted), ESS, held-out KL."""
    from bayesmix.gpz import GPzAugment, kl_score, weight_diagnostics

    X = candels_features(n_extra)
    rows = []
    for i in range(n_sel):
        sel, pct, width = soft_selection(X, i, kind)
        Xt = X[sel]
        raw = kl_score(X, Xt)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aug = GPzAugment(X, Xt, n_components=n_components, rng=i)
        for name, opts in WEIGHTINGS.items():
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # counted below, from the diagnostics
                w = aug.calc_weights(Xt, X, **opts)
            dt = time.perf_counter() - t0
            d = weight_diagnostics(w, weighting=aug.weighting_)
            rows.append(
                {
                    "selection": i,
                    "percentile": pct,
                    "width": width,
                    "n_train": int(sel.sum()),
                    "weighting": name,
                    "kl_raw": raw,
                    "kl_ratio": kl_score(X, Xt, w)[1] / raw,
                    "ess": d["ess_fraction"],
                    "held_out_ratio": d["held_out_divergence_weighted"]
                    / d["held_out_divergence_unweighted"],
                    "not_one": float(np.mean(np.abs(w / w.mean() - 1) > 0.1)),
                    "level": aug.weighting_.level,
                    "warned": bool(d["warnings"]),
                    "seconds": dt,
                }
            )
        print(f"  selection {i}: {int(sel.sum())} of {len(X)}, KL {raw:.3f}", flush=True)
    return rows


def weights_table(rows, title: str) -> None:
    print(f"\n{title}\n")
    print(
        "| weighting | worst KL ratio | mean KL ratio | selections with ratio <= 0.5 | "
        "min ESS | mean ESS | mean held-out KL ratio | weights not ~1 | runs warned | s/fit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in WEIGHTINGS:
        r = [x for x in rows if x["weighting"] == name]
        kl = np.array([x["kl_ratio"] for x in r])
        ess = np.array([x["ess"] for x in r])
        ho = np.array([x["held_out_ratio"] for x in r])
        print(
            f"| {name} | {kl.max():.3f} | {kl.mean():.3f} | {int(np.sum(kl <= 0.5))}/{len(r)} | "
            f"{ess.min():.2f} | {ess.mean():.2f} | {ho.mean():.3f} | "
            f"{np.mean([x['not_one'] for x in r]):.2f} | {sum(x['warned'] for x in r)} | "
            f"{np.mean([x['seconds'] for x in r]):.2f} |"
        )


def weights_main(quick: bool) -> None:
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"# GPz weights (issue 17), {time.strftime('%Y-%m-%d %H:%M')}; uptime: {up}")
    n = 3 if quick else 10
    studies = [
        (0, 10, "magnitude", "D = 3, K = 10 (defaults), 10 magnitude selections"),
        (10, 10, "magnitude", "D = 13 (3 + 4 noisy colours + 6 noise), K = 10, same selections"),
        (0, 4, "magnitude", "D = 3, K = 4 (the issue's setting)"),
        (0, 10, "colour", "D = 3, K = 10, colour-window x magnitude selections (stress test)"),
    ]
    for n_extra, K, kind, title in studies[:2] if quick else studies:
        weights_table(weights_study(n_extra, K, kind, n), title)
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nuptime after: {up}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1e5 population (smoke test)")
    ap.add_argument("--weights", action="store_true", help="the issue-17 weights study instead")
    args = ap.parse_args()
    if args.weights:
        weights_main(args.quick)
        return
    n_pop = 100_000 if args.quick else N_POP
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; population {n_pop} x {D}, "
        f"training {N_TRAIN}, K={K}, n_init={N_INIT}; cores {os.cpu_count()}"
    )
    print(
        "uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    )
    results = []
    for tool in ("bayesmix", "sklearn"):
        r = run_in_subprocess(tool, n_pop, N_TRAIN)
        results.append(r)
        print(json.dumps(r), flush=True)
    print(
        "uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    )
    ours, ref = results
    print()
    print(
        "| tool | fit (s) | weights (s) | divide (s) | total (s) | EM iterations pop / train "
        "(best restart) | mean log-lik pop | unassigned |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['tool']} | {r['fit_s']:.2f} | {r['weights_s']:.3f} | {r['divide_s']:.2f} | "
            f"{r['total_s']:.2f} | {r['n_iter_pop']} / {r['n_iter_train']} | "
            f"{r['loglik_pop']:.4f} | {r['unassigned_fraction']:.3f} |"
        )
    print(
        f"\nspeed-up (total): {ref['total_s'] / ours['total_s']:.1f}x; bayesmix warm-up "
        f"(numba cache load + small fit) {ours['warmup_s']:.1f} s, not included"
    )


if __name__ == "__main__":
    main()
