"""Draw the example figures of docs/figures.md from a short Blanco 1 fit (about 3 minutes).

    .venv/bin/python docs/figures/make_figures.py

Fits the 2-D proper-motion and the full model of the bundled Blanco 1 field
(2 chains x 300 draws, seed 1) and writes the PNG files next to this script.
The documentation build does not run it; the PNG files are committed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bayesmix.analysis.figures_data import (
    cluster_astrometry,
    parallax_distance,
    probability_histogram,
    reliability_curve,
)
from bayesmix.analysis.profiles import fitted_radial_profile
from bayesmix.builders import cluster_field, line_outlier
from bayesmix.datasets import load_blanco1, load_hogg2010
from bayesmix.inference import sample
from bayesmix.membership import membership
from bayesmix.plot import (
    plot_astrometry,
    plot_pair,
    plot_parallax_distance,
    plot_pgm,
    plot_probability_histogram,
    plot_radial_profile,
    plot_reliability,
)
from bayesmix.workflows.bayes import pair_variables

HERE = Path(__file__).resolve().parent


def _fit(table, features):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = cluster_field(table, features=features, correlations=False, rng=1)
        fit = sample(mm, draws=300, tune=300, chains=2, rng=1, progressbar=False)
    p = membership(fit, quantiles=False)["probability"].sel(component="cluster").values
    return mm, fit, p


def _save(fig: Figure, name: str) -> None:
    fig.savefig(HERE / name, dpi=90 if name.startswith("pgm") else 72)


def main() -> None:
    """Fit, draw and write every example figure."""
    # PGMs (no sampling): the Hogg et al. line with outliers and the full cluster model
    h = load_hogg2010()
    _save(plot_pgm(line_outlier(h["x"], h["y"], h["sigma_y"])), "pgm_line_outlier.png")
    t = load_blanco1()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = cluster_field(
            t, features=("ra", "dec", "parallax", "pmra", "pmdec"), correlations=False, rng=1
        )
    _save(plot_pgm(full), "pgm_cluster_field_full.png")
    # 2-D proper motions: the planes zoomed on the cluster, probabilities
    mm, fit, p = _fit(t, ("pmra", "pmdec"))
    ca = cluster_astrometry(fit, p)
    fig = plot_astrometry(
        t["pmra"], t["pmdec"], p, parallax=t["parallax"], cluster_mean=ca.mean, cluster_cov=ca.cov
    )
    _save(fig, "astrometry.png")
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    plot_probability_histogram(probability_histogram(p), ax=fig.add_subplot())
    _save(fig, "probability_histogram.png")
    # full model: the pair plot a run draws (its default variables), radial profile, distance
    mm, fit, p = _fit(t, ("ra", "dec", "parallax", "pmra", "pmdec"))
    _save(plot_pair(fit, pair_variables(fit, mm), detach=True), "pair.png")
    profile, model, background = fitted_radial_profile(fit, p)
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    plot_radial_profile(profile, model, background=background, ax=fig.add_subplot())
    _save(fig, "radial_profile.png")
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    plot_parallax_distance(
        parallax_distance(fit.posterior["cluster_parallax"].values),
        reference={"parallax": 4.210, "label": "Cantat-Gaudin et al. 2020"},
        ax=fig.add_subplot(),
    )
    _save(fig, "parallax_distance.png")
    # reliability: a calibrated toy (truth drawn with the stated probabilities)
    rng = np.random.default_rng(1)
    q = rng.beta(0.3, 0.3, 5000)
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    plot_reliability(reliability_curve(q, rng.uniform(size=q.size) < q), ax=fig.add_subplot())
    _save(fig, "reliability.png")


if __name__ == "__main__":
    main()
