"""Figures for bayesmix results (the only subpackage that imports matplotlib or daft).

Every function draws precomputed results (computed in :mod:`bayesmix.analysis`,
:mod:`bayesmix.em` or the fit), takes an optional ``ax`` (or ``fig`` for
multi-panel figures), returns the Axes or Figure it drew on, and never calls
``plt.show()`` or ``savefig``.
"""

from __future__ import annotations

from bayesmix.plot._axes import new_axes
from bayesmix.plot.animation import animate_em, save_animation
from bayesmix.plot.ellipses import plot_ellipses
from bayesmix.plot.em import plot_log_likelihood_history, plot_selection
from bayesmix.plot.membership import plot_cmd, plot_membership, plot_sky

__all__ = [
    "animate_em",
    "new_axes",
    "plot_cmd",
    "plot_ellipses",
    "plot_log_likelihood_history",
    "plot_membership",
    "plot_selection",
    "plot_sky",
    "save_animation",
]

from bayesmix.plot.astrometry import plot_astrometry, plot_zoomed_membership  # noqa: E402
from bayesmix.plot.calibration import (  # noqa: E402
    plot_probability_histogram,
    plot_reliability,
)
from bayesmix.plot.cluster import plot_parallax_distance, plot_radial_profile  # noqa: E402
from bayesmix.plot.gpz import plot_weighted_histograms  # noqa: E402
from bayesmix.plot.pgm import plot_pgm  # noqa: E402
from bayesmix.plot.posterior import plot_pair  # noqa: E402

__all__ += [
    "plot_astrometry",
    "plot_pair",
    "plot_parallax_distance",
    "plot_pgm",
    "plot_probability_histogram",
    "plot_radial_profile",
    "plot_reliability",
    "plot_weighted_histograms",
    "plot_zoomed_membership",
]
