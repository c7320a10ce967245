"""Astrometric planes zoomed on the cluster, the whole field in an inset."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

from bayesmix._validate import check_same_length
from bayesmix.analysis.figures_data import ZoomWindow, robust_limits, zoom_window
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax
from bayesmix.plot.ellipses import plot_ellipses
from bayesmix.plot.membership import plot_membership

__all__ = ["plot_astrometry", "plot_zoomed_membership"]

#: inset boxes (x0, y0, width, height in axes fractions) by corner; room is left on the
#: left and at the bottom for the inset's own tick labels, and at the top for its title
_CORNERS = {
    "upper right": (0.62, 0.56, 0.35, 0.35),
    "upper left": (0.11, 0.56, 0.35, 0.35),
    "lower left": (0.11, 0.09, 0.35, 0.35),
    "lower right": (0.62, 0.09, 0.35, 0.35),
}


def _corners_by_load(x: np.ndarray, y: np.ndarray, p: np.ndarray, w: ZoomWindow) -> list[str]:
    """Corners of the window, emptiest first (objects counted, likely members 20 times)."""
    (x0, x1), (y0, y1) = w.xlim, w.ylim
    u = (x - x0) / (x1 - x0)
    v = (y - y0) / (y1 - y0)
    weight = 1.0 + 19.0 * np.where(np.isfinite(p), p, 0.0)
    load = {}
    for name, (a, b, dw, dh) in _CORNERS.items():
        inside = (u >= a - 0.1) & (u <= a + dw) & (v >= b - 0.08) & (v <= b + dh + 0.08)
        load[name] = float(weight[inside].sum())
    return sorted(_CORNERS, key=lambda k: (load[k], list(_CORNERS).index(k)))


def plot_zoomed_membership(
    x: ArrayLike,
    y: ArrayLike,
    probability: ArrayLike,
    *,
    window: ZoomWindow | None = None,
    cluster_mean: ArrayLike | None = None,
    cluster_cov: ArrayLike | None = None,
    ax: Axes | None = None,
    inset: bool | str = True,
    threshold: float = 0.5,
    xlabel: str | None = None,
    ylabel: str | None = None,
    colorbar_label: str = "p(cluster)",
    cmap: str = "coolwarm",
    s: float | None = None,
    square: bool = True,
) -> Axes:
    """Scatter a plane zoomed on the cluster, likely members on top, the whole field inset.

    The main Axes shows the window where the cluster is (from
    :func:`bayesmix.analysis.figures_data.zoom_window` when not given), every
    object coloured by its membership probability and drawn in increasing
    probability so members are on top.  The inset shows the whole field
    (robust limits), likely members in red over grey, and a rectangle
    marking the zoomed window.  With ``cluster_mean`` and ``cluster_cov`` the
    fitted cluster's 68 and 95 per cent ellipses are drawn.

    Parameters
    ----------
    x, y : array-like of shape (n_objects,)
        Coordinates, e.g. pmra and pmdec (mas/yr).
    probability : array-like of shape (n_objects,)
        Cluster membership probability in [0, 1] (NaN: not scored, grey crosses).
    window : ZoomWindow, optional
        Limits of the main Axes.  Default ``zoom_window`` of the data around
        ``cluster_mean`` (spread from ``cluster_cov``) or the likely members.
    cluster_mean : array-like of shape (2,), optional
        Fitted cluster mean in this plane.
    cluster_cov : array-like of shape (2, 2), optional
        Fitted cluster covariance in this plane (intrinsic, or intrinsic plus a
        typical error); draws its ellipses.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    inset : bool or str, default True
        Draw the whole-field inset; a corner name (``"upper right"``,
        ``"upper left"``, ``"lower left"``, ``"lower right"``) places it there,
        True picks the corner covering the fewest objects.
    threshold : float, default 0.5
        Likely members (red in the inset) have ``probability > threshold``.
    xlabel, ylabel, colorbar_label : str, optional
        Labels.
    cmap : str, default "coolwarm"
        Colour map of the probability.
    s : float, optional
        Marker size of the main Axes (default 30 below 200 objects in the
        window, else 8).
    square : bool, default True
        Same half-width on both axes of the default window (for axes in one
        unit, like proper motions); False for, e.g., pmra against parallax.

    Returns
    -------
    matplotlib.axes.Axes
        The main Axes; ``ax.collections[0]`` is the coloured scatter, the inset
        is ``ax.child_axes[0]`` (label ``"whole field"``).
    """
    xs, ys, p = check_same_length(
        {"x": x, "y": y, "probability": probability}, argument="probability"
    )
    if inset not in (True, False) and inset not in _CORNERS:
        raise DataError(
            f"'inset' must be True, False or one of {sorted(_CORNERS)}; got {inset!r}",
            argument="inset",
        )
    X = np.column_stack([xs, ys])
    if window is None:
        scale = None
        if cluster_cov is not None:
            scale = np.sqrt(np.diag(np.asarray(cluster_cov, dtype=np.float64).reshape(2, 2)))
        window = zoom_window(
            X, p, center=cluster_mean, scale=scale, threshold=threshold, square=square
        )
    ax = get_ax(ax)
    ok = np.isfinite(xs) & np.isfinite(ys)
    order = np.flatnonzero(ok)[np.argsort(np.where(np.isfinite(p[ok]), p[ok], -1.0), kind="stable")]
    if s is None:
        s = 30.0 if window.n_inside < 200 else 8.0
    plot_membership(
        xs[order],
        ys[order],
        p[order],
        ax=ax,
        xlabel=xlabel,
        ylabel=ylabel,
        colorbar_label=colorbar_label,
        cmap=cmap,
        s=s,
    )
    corners = _corners_by_load(xs, ys, p, window)
    if inset not in (True, False):
        corners.remove(str(inset))
        corners.insert(0, str(inset))
    if cluster_mean is not None and cluster_cov is not None:
        plot_ellipses(
            np.asarray(cluster_mean, dtype=np.float64).reshape(1, 2),
            np.asarray(cluster_cov, dtype=np.float64).reshape(1, 2, 2),
            ax=ax,
            colors=["k"],
            labels=["fitted cluster (68, 95%)"],
            linewidth=1.0,
        )
        # the legend goes to the emptiest corner the inset does not take
        ax.legend(loc=corners[1] if inset else corners[0], fontsize="small")
    ax.set_xlim(*window.xlim)
    ax.set_ylim(*window.ylim)
    if square:
        ax.set_aspect("equal", adjustable="box")
    if inset:
        _whole_field_inset(ax, xs[ok], ys[ok], p[ok], window, corners[0], threshold)
    return ax


def _whole_field_inset(
    ax: Axes, x, y, p, window: ZoomWindow, corner: str, threshold: float
) -> Axes:
    """Draw the whole field in an inset of ``ax`` with the zoom window outlined."""
    ins = ax.inset_axes(_CORNERS[corner])
    ins.set_label("whole field")
    member = np.isfinite(p) & (p > threshold)
    ins.scatter(x[~member], y[~member], s=1.0, color="0.6", linewidths=0, rasterized=True)
    ins.scatter(x[member], y[member], s=2.0, color="C3", linewidths=0, label=f"p > {threshold:g}")
    ins.set_xlim(*robust_limits(x))
    ins.set_ylim(*robust_limits(y))
    (x0, x1), (y0, y1) = window.xlim, window.ylim
    ins.add_patch(
        Rectangle(
            (x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="k", linewidth=1.0, label="zoomed"
        )
    )
    ins.tick_params(labelsize="x-small", length=2, pad=1)
    ins.set_title("whole field", fontsize="x-small", pad=2)
    ins.patch.set_alpha(0.9)
    return ins


def plot_astrometry(
    pmra: ArrayLike,
    pmdec: ArrayLike,
    probability: ArrayLike,
    *,
    parallax: ArrayLike | None = None,
    cluster_mean: ArrayLike | None = None,
    cluster_cov: ArrayLike | None = None,
    threshold: float = 0.5,
    fig: Figure | None = None,
) -> Figure:
    """Proper-motion plane (and parallax against pmra) zoomed on the cluster.

    One panel per plane, each drawn by :func:`plot_zoomed_membership`: (pmra,
    pmdec), and with ``parallax`` also (pmra, parallax).

    Parameters
    ----------
    pmra, pmdec : array-like of shape (n_objects,)
        Proper motions (mas/yr).
    probability : array-like of shape (n_objects,)
        Cluster membership probability (NaN: not scored).
    parallax : array-like of shape (n_objects,), optional
        Parallaxes (mas); adds the second panel.
    cluster_mean : array-like of shape (2,) or (3,), optional
        Fitted cluster mean (pmra, pmdec[, parallax]) in mas/yr and mas
        (``ClusterAstrometry.mean`` of
        :func:`bayesmix.analysis.figures_data.cluster_astrometry`).
    cluster_cov : array-like of shape (2, 2) or (3, 3), optional
        Fitted cluster covariance in the same order (intrinsic plus the median
        error covariance, ``ClusterAstrometry.cov``); draws ellipses and sets
        the windows.  Without the parallax entries the parallax panel is zoomed
        on the likely members alone.
    threshold : float, default 0.5
        Likely members have ``probability > threshold``.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (a new, pyplot-free figure when omitted).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes`` starts with the panels (pm plane first); colour bars and
        insets follow.
    """
    n_panels = 1 if parallax is None else 2
    mean = None if cluster_mean is None else np.asarray(cluster_mean, dtype=np.float64)
    cov = None if cluster_cov is None else np.asarray(cluster_cov, dtype=np.float64)
    for name, arr, ndim in (("cluster_mean", mean, 1), ("cluster_cov", cov, 2)):
        if arr is not None and (
            arr.ndim != ndim
            or arr.shape[0] not in (2, 3)
            or (ndim == 2 and arr.shape[1] != arr.shape[0])
        ):
            raise DataError(
                f"'{name}' must have shape {(2,) * ndim} (pmra, pmdec) or {(3,) * ndim} "
                f"(pmra, pmdec, parallax); got {arr.shape}",
                argument=name,
            )
    if mean is not None and cov is not None and mean.shape[0] != cov.shape[0]:
        raise DataError(
            f"'cluster_mean' {mean.shape} and 'cluster_cov' {cov.shape} must describe the "
            "same features",
            argument="cluster_cov",
        )
    with_plx = mean is not None and cov is not None and mean.shape[0] == 3
    if fig is None:
        fig = Figure(figsize=(6.5 * n_panels, 5.5), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    plot_zoomed_membership(
        pmra,
        pmdec,
        probability,
        ax=axes[0],
        threshold=threshold,
        cluster_mean=None if mean is None else mean[:2],
        cluster_cov=None if cov is None else cov[:2, :2],
        xlabel="pmra (mas/yr)",
        ylabel="pmdec (mas/yr)",
    )
    axes[0].set_title("proper motions")
    if parallax is not None:
        idx = [0, 2]
        plot_zoomed_membership(
            pmra,
            parallax,
            probability,
            ax=axes[1],
            threshold=threshold,
            cluster_mean=mean[idx] if with_plx else None,
            cluster_cov=cov[np.ix_(idx, idx)] if with_plx else None,
            xlabel="pmra (mas/yr)",
            ylabel="parallax (mas)",
            square=False,
        )
        axes[1].set_title("parallax")
    return fig
