"""Shared, cached Bayesian fits for tests (compiled once per session).

pytest session fixtures defined in a test module are not shared between test
modules without editing the common conftest, so the fits are built by cached
functions here and wrapped by thin fixtures in each test module.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from bayesmix.builders import gaussian_mixture, line_outlier
from bayesmix.datasets import load_hogg2010
from bayesmix.exceptions import DiagnosticsWarning
from bayesmix.inference import sample

HOGG_SEED = 2010


@functools.cache
def hogg_table():
    return load_hogg2010()


@functools.cache
def hogg_fit():
    """Line + Gaussian outlier fit to all 20 points of Hogg et al. (2010) Table 1."""
    t = hogg_table()
    mm = line_outlier(t["x"], t["y"], t["sigma_y"], ids=t["ID"])
    # 4 x 1000 draws and target_accept=0.95: with the default 0.8 the broad outlier
    # component gives a few divergences per 4000 draws on these 20 points
    return sample(
        mm, draws=1000, tune=1000, chains=4, rng=HOGG_SEED, progressbar=False, target_accept=0.95
    )


def simulate_line(seed, n=150, outlier_fraction=0.2):
    """Line + outlier data with known truth (slope 1.5, intercept -2, outliers N(5, 6^2))."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    y_err = rng.uniform(0.2, 0.6, n)
    is_out = rng.random(n) < outlier_fraction
    y = 1.5 * x - 2.0 + rng.normal(0, y_err)
    y[is_out] = rng.normal(5.0, np.sqrt(6.0**2 + y_err[is_out] ** 2))
    truth = {
        "slope": 1.5,
        "intercept": -2.0,
        "outlier_mean": 5.0,
        "outlier_sigma": 6.0,
        "weights": np.array([1 - outlier_fraction, outlier_fraction]),
        "is_outlier": is_out,
    }
    return x, y, y_err, truth


RECOVERY_SEEDS = (11, 12, 13)


@functools.cache
def line_recovery_fit(seed):
    x, y, y_err, truth = simulate_line(seed)
    mm = line_outlier(x, y, y_err)
    with warnings.catch_warnings():
        # short chains for test speed: ESS may fall below 400; R-hat is checked by the tests
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = sample(
            mm, draws=500, tune=500, chains=2, rng=seed, progressbar=False, target_accept=0.9
        )
    return fit, truth


def simulate_gm2d(seed, n=200):
    """Two 2-D Gaussians observed with correlated per-object errors (known truth)."""
    rng = np.random.default_rng(seed)
    means = np.array([[-2.0, 0.0], [2.0, 1.0]])
    covs = np.array([[[0.5, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.6]]])
    w = np.array([0.4, 0.6])
    z = rng.random(n) < w[1]
    X_true = np.where(
        z[:, None],
        rng.multivariate_normal(means[1], covs[1], n),
        rng.multivariate_normal(means[0], covs[0], n),
    )
    sd = rng.uniform(0.1, 0.4, (n, 2))
    rho = rng.uniform(-0.5, 0.5, n)
    X_cov = np.empty((n, 2, 2))
    X_cov[:, 0, 0] = sd[:, 0] ** 2
    X_cov[:, 1, 1] = sd[:, 1] ** 2
    X_cov[:, 0, 1] = X_cov[:, 1, 0] = rho * sd[:, 0] * sd[:, 1]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(X_cov), rng.normal(size=(n, 2)))
    return X_true + noise, X_cov, {"means": means, "covs": covs, "weights": w, "labels": z}


@functools.cache
def gm2d_fit(seed=5):
    X, X_cov, truth = simulate_gm2d(seed)
    mm = gaussian_mixture(X, 2, X_cov=X_cov)
    with warnings.catch_warnings():
        # 2 x 300 draws for speed (see STYLE.md 2.12); R-hat is checked by the tests
        warnings.simplefilter("ignore", DiagnosticsWarning)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=seed, progressbar=False)
    return fit, truth
