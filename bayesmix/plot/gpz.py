"""GPz figures: feature histograms of the population against the raw and weighted training set."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from bayesmix._hist import weighted_histograms

__all__ = ["plot_weighted_histograms"]


def plot_weighted_histograms(
    X_pop: ArrayLike,
    X_train: ArrayLike,
    weights: ArrayLike | None,
    *,
    names: Sequence[str] | None = None,
    bins: int = 30,
    fig: Figure | None = None,
) -> Figure:
    """Compare each feature's distribution: population, training sample, weighted training.

    One panel per feature with step histograms (unit area) of the population
    (grey, filled), the unweighted training sample (dashed) and, if ``weights``
    is given, the weighted training sample (solid).  With good weights the
    solid line follows the grey area.

    Parameters
    ----------
    X_pop : array-like of shape (n_pop, n_features)
    X_train : array-like of shape (n_train, n_features)
    weights : array-like of shape (n_train,) or None
        Training weights (e.g. the ``weights`` column of
        :func:`bayesmix.gpz.gpz_weights_table`).
    names : sequence of str, optional
        Feature names for the x labels (default ``feature 0``, ...).
    bins : int, default 30
        Bins per feature, spanning the population's 0.1-99.9 percentiles
        (computed by ``bayesmix._hist.weighted_histograms``).
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (a new, pyplot-free figure when omitted).

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per feature; line labels "population", "training",
        "weighted training".
    """
    hists = weighted_histograms(X_pop, X_train, weights, bins=bins)
    n = len(hists)
    if names is None:
        names = [f"feature {j}" for j in range(n)]
    if fig is None:
        fig = Figure(figsize=(4.0 * n, 3.4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, h, name in zip(axes, hists, names, strict=True):
        ax.stairs(h.population, h.edges, fill=True, color="0.8", label="population")
        ax.stairs(h.training, h.edges, color="C0", linestyle="--", label="training")
        if h.weighted is not None:
            ax.stairs(h.weighted, h.edges, color="C3", label="weighted training")
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    axes[0].legend(loc="best", fontsize="small")
    return fig
