"""Covariance ellipses of fitted Gaussian components."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Polygon
from numpy.typing import ArrayLike

from bayesmix._geometry import covariance_ellipse, marginal_2d
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_ellipses"]

_LINESTYLES = ("-", "--", ":", "-.")


def plot_ellipses(
    means: ArrayLike,
    covariances: ArrayLike,
    *,
    levels: Sequence[float] = (0.68, 0.95),
    dims: tuple[int, int] = (0, 1),
    ax: Axes | None = None,
    colors: Sequence | None = None,
    labels: Sequence[str] | None = None,
    n_points: int = 200,
    **style,
) -> Axes:
    """Draw the confidence ellipses of Gaussian components.

    Parameters
    ----------
    means : array-like of shape (n_components, n_features)
        Component means (``model.means_``).
    covariances : array-like of shape (n_components, n_features, n_features)
        Full covariance matrices (``model.full_covariances()``).
    levels : sequence of float, default (0.68, 0.95)
        Enclosed probabilities of the 2-D marginal, one ellipse each; drawn
        with solid, dashed, dotted, ... lines in this order.
    dims : tuple of two ints, default (0, 1)
        Features shown on the x and y axes.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    colors : sequence of colours, optional
        One colour per component; default the property cycle ``C0, C1, ...``.
    labels : sequence of str, optional
        Legend label per component (attached to its first ellipse).
    n_points : int, default 200
        Points per ellipse.
    **style
        Passed to :class:`matplotlib.patches.Polygon` (e.g. ``linewidth``, ``alpha``).

    Returns
    -------
    matplotlib.axes.Axes
        One unfilled Polygon patch per component and level is added, with a
        ``+`` marker at each mean.

    Notes
    -----
    The points drawn are computed (and tested) by the private helper
    ``bayesmix._geometry.covariance_ellipse``.
    """
    m = np.asarray(means, dtype=np.float64)
    c = np.asarray(covariances, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    if c.ndim == 2:
        c = c[None, :, :]
    k, d = m.shape
    if c.shape != (k, d, d):
        raise DataError(
            f"'covariances' must have shape {(k, d, d)} to match 'means' {m.shape}; got {c.shape}",
            argument="covariances",
        )
    if colors is not None and len(colors) != k:
        raise DataError(
            f"'colors' needs {k} entries (one per component); got {len(colors)}", argument="colors"
        )
    if labels is not None and len(labels) != k:
        raise DataError(
            f"'labels' needs {k} entries (one per component); got {len(labels)}", argument="labels"
        )
    ax = get_ax(ax)
    style = {"fill": False, "linewidth": 1.5, **style}
    for i in range(k):
        mean2, cov2 = marginal_2d(m[i], c[i], dims)
        color = colors[i] if colors is not None else f"C{i % 10}"
        for j, level in enumerate(levels):
            pts = covariance_ellipse(mean2, cov2, level, n_points)
            patch = Polygon(
                pts,
                closed=True,
                edgecolor=color,
                linestyle=_LINESTYLES[j % len(_LINESTYLES)],
                label=(labels[i] if labels is not None and j == 0 else None),
                **style,
            )
            patch.bayesmix_level = float(level)  # for tests and callers inspecting the figure
            ax.add_patch(patch)
        ax.plot([mean2[0]], [mean2[1]], marker="+", color=color, markersize=10, linestyle="none")
    ax.autoscale_view()
    return ax
