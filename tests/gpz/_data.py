"""Shared data for the bayesmix.gpz tests: CANDELS COSMOS selections, simulated samples."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from bayesmix.datasets import load_candels_cosmos
from bayesmix.gpz import feature_matrix

FEATURES = ["lupt_F606W-lupt_F814W", "lupt_F814W-lupt_F125W", "lupt_F160W"]


def weighted_ks(x, w, y):
    """Largest difference between the weighted CDF of x and the empirical CDF of y."""
    grid = np.sort(y)
    order = np.argsort(x)
    cw = np.concatenate([[0.0], np.cumsum(w[order]) / w.sum()])
    fx = cw[np.searchsorted(x[order], grid, side="right")]
    fy = np.arange(1, len(y) + 1) / len(y)
    return float(np.max(np.abs(fx - fy)))


def reference_log_density(gm, center, scale, X):
    """ln p(X) in original units from the fitted parameters, with scipy (independent path)."""
    S = np.diag(scale)
    comps = [
        math.log(w) + multivariate_normal(center + scale * mu, S @ cov @ S).logpdf(X)
        for w, mu, cov in zip(gm.weights_, gm.means_, gm.full_covariances(), strict=True)
    ]
    return logsumexp(np.column_stack(comps), axis=1)


def candels_selection(seed):
    """Population = all 4,830 objects; training = drawn with P(m) = 1/(1+exp((m-23)/0.5))."""
    X, _ = feature_matrix(load_candels_cosmos(), FEATURES)
    rng = np.random.default_rng(seed)
    p_sel = 1.0 / (1.0 + np.exp((X[:, 2] - 23.0) / 0.5))
    sel = rng.uniform(size=len(X)) < p_sel
    return X, sel


def simulated(n_features, seed, n_pop=3000):
    """A population of 3 overlapping blobs and a training sample selected on feature 0."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.0, size=(3, n_features))
    X = centers[rng.integers(0, 3, n_pop)] + rng.normal(size=(n_pop, n_features))
    p_sel = 1.0 / (1.0 + np.exp(X[:, 0] - np.median(X[:, 0])))
    sel = rng.uniform(size=n_pop) < p_sel
    return X, X[sel]


def candels_features(n_extra=0, seed=0):
    """CANDELS features plus ``n_extra`` (<= 10) added ones: the four other colours of the
    bands (+ N(0, 0.05)) and six pure-noise features (scales 1, 1, 0.3, 3, 10, 0.1)."""
    t = load_candels_cosmos()
    X, _ = feature_matrix(t, FEATURES)
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


def soft_selection(X, i):
    """Random soft selection ``i``: logistic in F160W at a seeded percentile (30-60) of the
    population and width (0.3-1.0 mag) -- the issue-17 family."""
    r = np.random.default_rng(1000 + i)
    pct, width = r.uniform(30, 60), r.uniform(0.3, 1.0)
    p = 1.0 / (1.0 + np.exp((X[:, 2] - np.percentile(X[:, 2], pct)) / width))
    return r.uniform(size=len(p)) < p
