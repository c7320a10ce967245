"""Scatter plots coloured by membership probability."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_membership"]


def plot_membership(
    x: ArrayLike,
    y: ArrayLike,
    probability: ArrayLike,
    *,
    ax: Axes | None = None,
    cmap: str = "coolwarm",
    colorbar: bool = True,
    colorbar_label: str = "membership probability",
    xlabel: str | None = None,
    ylabel: str | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    s: float = 6.0,
    **style,
) -> Axes:
    """Scatter two quantities, each point coloured by its membership probability.

    Parameters
    ----------
    x, y : array-like of shape (n_objects,)
        Coordinates (e.g. [Fe/H] and [Mg/Fe]).
    probability : array-like of shape (n_objects,)
        Probability of the component of interest, in [0, 1].  Objects with
        NaN (not scored) are drawn as small grey points labelled "not scored".
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    cmap : str, default "coolwarm"
        Matplotlib colour map.
    colorbar : bool, default True
        Add a colour bar (reachable as ``ax.collections[0].colorbar``).
    colorbar_label, xlabel, ylabel : str, optional
        Axis labels.
    vmin, vmax : float, default 0 and 1
        Colour-scale limits.
    s : float, default 6
        Marker size.
    **style
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    matplotlib.axes.Axes
        The first collection is the coloured scatter.
    """
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    p = np.asarray(probability, dtype=np.float64).reshape(-1)
    if not (xs.shape == ys.shape == p.shape):
        raise DataError(
            f"'x', 'y' and 'probability' must have the same length; got {xs.size}, {ys.size} "
            f"and {p.size}",
            argument="probability",
        )
    finite_p = p[np.isfinite(p)]
    if finite_p.size and (finite_p.min() < -1e-9 or finite_p.max() > 1 + 1e-9):
        raise DataError(
            f"'probability' must lie in [0, 1]; got values in [{finite_p.min():.3g}, "
            f"{finite_p.max():.3g}]",
            argument="probability",
        )
    ax = get_ax(ax)
    ok = np.isfinite(p)
    sc = ax.scatter(xs[ok], ys[ok], c=p[ok], cmap=cmap, vmin=vmin, vmax=vmax, s=s,
                    **{"linewidths": 0, **style})
    if (~ok).any():
        ax.scatter(xs[~ok], ys[~ok], color="0.6", s=s / 2, marker="x", linewidths=0.5,
                   label=f"not scored ({int((~ok).sum())})")
        ax.legend(loc="best")
    if colorbar:
        cb = ax.figure.colorbar(sc, ax=ax)
        cb.set_label(colorbar_label)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax
