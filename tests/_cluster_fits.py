"""Simulated Gaia-like cluster + field data with known truth, and cached fits (per session)."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from bayesmix.builders import cluster_field
from bayesmix.exceptions import DiagnosticsWarning
from bayesmix.gaia import GaiaColumnWarning
from bayesmix.inference import sample

TRUTH = {
    "cluster_pmra": 8.0,
    "cluster_pmdec": -4.0,
    "cluster_pm_dispersion": 0.3,
    "cluster_parallax": 2.5,
}


def simulate(seed, n=1500, member_fraction=0.15, rho_max=0.8, err_max=0.5, rho_min=0.0):
    """Gaia-like table: Plummer cluster (a = 0.3 deg) in a uniform 2-deg disc of field stars.

    Field proper motions: a non-Gaussian mixture (0.7 N([2, -3], diag(9, 4)) + 0.3
    N([-1, -6], [[25, 10], [10, 16]])) ; parallaxes from a broad field.  Errors
    sigma in [0.05, err_max] mas/yr per axis with |pmra_pmdec_corr| uniform in
    [rho_min, rho_max] and a random sign.
    """
    rng = np.random.default_rng(seed)
    member = rng.random(n) < member_fraction
    nm = int(member.sum())
    pm = np.empty((n, 2))
    pm[member] = rng.normal(
        [TRUTH["cluster_pmra"], TRUTH["cluster_pmdec"]], TRUTH["cluster_pm_dispersion"], (nm, 2)
    )
    nf = n - nm
    a = rng.random(nf) < 0.7
    f = np.where(
        a[:, None],
        rng.multivariate_normal([2, -3], np.diag([9.0, 4.0]), nf),
        rng.multivariate_normal([-1, -6], [[25, 10], [10, 16]], nf),
    )
    pm[~member] = f
    s = rng.uniform(0.05, err_max, (n, 2))
    rho = rng.choice([-1.0, 1.0], n) * rng.uniform(rho_min, rho_max, n)
    C = np.empty((n, 2, 2))
    C[:, 0, 0], C[:, 1, 1] = s[:, 0] ** 2, s[:, 1] ** 2
    C[:, 0, 1] = C[:, 1, 0] = rho * s[:, 0] * s[:, 1]
    obs = pm + np.einsum("nij,nj->ni", np.linalg.cholesky(C), rng.normal(size=(n, 2)))
    # sky: field uniform in a disc of 2 deg, cluster Plummer a = 0.3 deg (truncated at 2)
    r_f = 2.0 * np.sqrt(rng.random(n))
    u = rng.random(n) * (4.0 / (0.09 + 4.0))
    r_c = 0.3 * np.sqrt(u / (1 - u))
    r = np.where(member, r_c, r_f)
    phi = rng.uniform(0, 2 * np.pi, n)
    ra = 120.0 + r * np.cos(phi) / np.cos(np.radians(-20.0))
    dec = -20.0 + r * np.sin(phi)
    plx_err = rng.uniform(0.02, 0.3, n)
    plx_true = np.where(member, TRUTH["cluster_parallax"], rng.gamma(2.0, 0.5, n))
    t = {
        "source_id": np.arange(n) + 1000,
        "ra": ra,
        "dec": dec,
        "pmra": obs[:, 0],
        "pmdec": obs[:, 1],
        "pmra_error": s[:, 0],
        "pmdec_error": s[:, 1],
        "pmra_pmdec_corr": rho,
        "parallax": plx_true + rng.normal(0, plx_err),
        "parallax_error": plx_err,
    }
    return t, member


@functools.cache
def sim_fit(seed=7, correlations=True, rho_max=0.8, err_max=0.5, rho_min=0.0):
    t, member = simulate(seed, rho_max=rho_max, err_max=err_max, rho_min=rho_min)
    with warnings.catch_warnings():
        # 2 x 300 draws for speed (STYLE.md 2.12); R-hat is checked by the tests
        warnings.simplefilter("ignore", DiagnosticsWarning)
        warnings.simplefilter("ignore", GaiaColumnWarning)
        mm = cluster_field(t, correlations=correlations, rng=seed)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=seed, progressbar=False)
    return fit, t, member


@functools.cache
def blanco1_fit():
    from bayesmix.datasets import load_blanco1

    t = load_blanco1()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        warnings.simplefilter("ignore", GaiaColumnWarning)  # DR2 file: no pmra_pmdec_corr
        mm = cluster_field(t, features=("pmra", "pmdec"), rng=1)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=1, progressbar=False)
    return fit


def simulate_parallax(seed, n=800, member_fraction=0.2, L=1.0):
    """Parallaxes: EDSD field (r ~ Gamma(3, L kpc)) + cluster at 2.5 mas (depth 0.05 mas)."""
    rng = np.random.default_rng(seed)
    member = rng.random(n) < member_fraction
    true = np.where(member, rng.normal(2.5, 0.05, n), 1.0 / rng.gamma(3.0, L, n))
    err = rng.uniform(0.02, 0.3, n)
    t = {"source_id": np.arange(n), "parallax": true + rng.normal(0, err), "parallax_error": err}
    return t, member


@functools.cache
def parallax_fit(seed=3, field="edsd"):
    t, member = simulate_parallax(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        mm = cluster_field(t, features=("parallax",), field=field, center=[2.5])
        fit = sample(mm, draws=300, tune=300, chains=2, rng=seed, progressbar=False)
    return fit, t, member


def simulate_clumpy_field(seed, n=2000):
    """As :func:`simulate`, but the field is strongly non-Gaussian near the cluster.

    Field proper motions: 0.65 N([0, 0], 5^2 I) + 0.35 N([6, -2.5], 1.2^2 I), a clump
    2 mas/yr from the cluster; uncorrelated errors.
    """
    t, member = simulate(seed, n=n)
    rng = np.random.default_rng(seed + 100)
    f = ~member
    nf = int(f.sum())
    clump = rng.random(nf) < 0.35
    pm = np.where(
        clump[:, None], rng.normal([6.0, -2.5], 1.2, (nf, 2)), rng.normal([0.0, 0.0], 5.0, (nf, 2))
    )
    s = np.c_[t["pmra_error"], t["pmdec_error"]][f]
    t["pmra"][f] = pm[:, 0] + rng.normal(0, s[:, 0])
    t["pmdec"][f] = pm[:, 1] + rng.normal(0, s[:, 1])
    t["pmra_pmdec_corr"][:] = 0.0
    return t, member


@functools.cache
def full_fit(seed=7):
    """The full (ra, dec, parallax, pmra, pmdec) model on the data of :func:`sim_fit`."""
    t, member = simulate(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosticsWarning)
        warnings.simplefilter("ignore", GaiaColumnWarning)  # no parallax_pm* correlations
        mm = cluster_field(t, features=("ra", "dec", "parallax", "pmra", "pmdec"), rng=seed)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=seed, progressbar=False)
    return fit, t, member
