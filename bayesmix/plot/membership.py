"""Scatter plots coloured by membership probability: any two columns, the sky, a CMD."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike

from bayesmix._validate import check_same_length
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_cmd", "plot_membership", "plot_sky"]


def _check_lengths(**arrays: np.ndarray) -> None:
    sizes = {k: v.size for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        names = list(sizes)
        raise DataError(
            f"{', '.join(repr(n) for n in names[:-1])} and {names[-1]!r} must have the same "
            f"length; got {', '.join(str(v) for v in sizes.values())}",
            argument=names[-1],
        )


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
    arrays = {"x": x, "y": y, "probability": probability}
    xs, ys, p = check_same_length(arrays, argument="probability")
    finite_p = p[np.isfinite(p)]
    if finite_p.size and (finite_p.min() < -1e-9 or finite_p.max() > 1 + 1e-9):
        raise DataError(
            f"'probability' must lie in [0, 1]; got values in [{finite_p.min():.3g}, "
            f"{finite_p.max():.3g}]",
            argument="probability",
        )
    ax = get_ax(ax)
    ok = np.isfinite(p)
    sc = ax.scatter(
        xs[ok], ys[ok], c=p[ok], cmap=cmap, vmin=vmin, vmax=vmax, s=s, **{"linewidths": 0, **style}
    )
    if (~ok).any():
        ax.scatter(
            xs[~ok],
            ys[~ok],
            color="0.6",
            s=s / 2,
            marker="x",
            linewidths=0.5,
            label=f"not scored ({int((~ok).sum())})",
        )
        ax.legend(loc="best")
    if colorbar:
        cb = ax.figure.colorbar(sc, ax=ax)
        cb.set_label(colorbar_label)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax


def plot_sky(
    ra: ArrayLike,
    dec: ArrayLike,
    probability: ArrayLike,
    *,
    center: tuple[float, float] | None = None,
    ax: Axes | None = None,
    colorbar_label: str = "p(cluster)",
    cmap: str = "coolwarm",
    s: float = 6.0,
    **style,
) -> Axes:
    """Sky map (RA, Dec in degrees) coloured by membership, probable members on top.

    Right ascension grows to the left (east), is drawn continuously across 0/360
    deg (ticks show it modulo 360), and one degree of RA is drawn ``cos(Dec)``
    as long as one degree of Dec, so the map is not stretched.

    Parameters
    ----------
    ra, dec : array-like of shape (n_objects,)
        Positions in degrees.
    probability : array-like of shape (n_objects,)
        Membership probability in [0, 1]; NaN (not scored) is drawn grey.
        Objects with a non-finite position are left out.
    center : tuple of float, optional
        (ra, dec) of the cluster centre in degrees, marked with a cross; also the
        RA around which the map is unwrapped (default: the circular mean RA).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    colorbar_label, cmap, s, **style
        As in :func:`plot_membership`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter

    a = np.asarray(ra, dtype=np.float64).reshape(-1)
    d = np.asarray(dec, dtype=np.float64).reshape(-1)
    p = np.asarray(probability, dtype=np.float64).reshape(-1)
    _check_lengths(ra=a, dec=d, probability=p)
    ok = np.isfinite(a) & np.isfinite(d)
    if center is not None:
        ra0, dec0 = float(center[0]), float(center[1])
    elif ok.any():
        rad = np.radians(a[ok])
        ra0 = float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360.0)
        dec0 = float(np.median(d[ok]))
    else:
        ra0, dec0 = 0.0, 0.0
    x = ra0 + ((a - ra0 + 180.0) % 360.0 - 180.0)  # continuous across RA = 0
    # objects without a position cannot be drawn; the rest in increasing probability
    order = np.flatnonzero(ok)[np.argsort(np.where(np.isfinite(p[ok]), p[ok], -1.0), kind="stable")]
    ax = plot_membership(
        x[order],
        d[order],
        p[order],
        ax=ax,
        xlabel="RA (deg)",
        ylabel="Dec (deg)",
        colorbar_label=colorbar_label,
        cmap=cmap,
        s=s,
        **style,
    )
    if center is not None:
        ax.plot(
            [ra0],
            [dec0],
            marker="+",
            color="k",
            markersize=14,
            mew=1.5,
            ls="none",
            label="cluster centre",
        )
        ax.legend(loc="best", fontsize="small")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v % 360.0:g}"))
    ax.set_aspect(1.0 / max(np.cos(np.radians(dec0)), 1e-3), adjustable="datalim")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    return ax


def plot_cmd(
    colour: ArrayLike,
    magnitude: ArrayLike,
    probability: ArrayLike,
    *,
    threshold: float = 0.5,
    ax: Axes | None = None,
    xlabel: str = "BP - RP (mag)",
    ylabel: str = "G (mag)",
    colorbar_label: str = "p(cluster)",
    cmap: str = "viridis_r",
    s: float = 10.0,
    **style,
) -> Axes:
    """Colour-magnitude diagram: probable members coloured by probability over the field.

    Objects with ``probability > threshold`` are drawn on top, coloured by their
    probability (colour bar from ``threshold`` to 1); every other object,
    including those not scored, is a small grey point.  Magnitudes grow
    downwards.

    Parameters
    ----------
    colour, magnitude : array-like of shape (n_objects,)
        E.g. Gaia ``bp_rp`` and ``phot_g_mean_mag``.
    probability : array-like of shape (n_objects,)
        Membership probability in [0, 1] (NaN: not scored).
    threshold : float, default 0.5
        Probable members have ``probability > threshold``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    xlabel, ylabel, colorbar_label : str
        Labels.
    cmap : str, default "viridis_r"
        Colour map of the members.
    s : float, default 10
        Marker size of the members (the field's is a third of it).
    **style
        Passed to :meth:`matplotlib.axes.Axes.scatter` for the members.

    Returns
    -------
    matplotlib.axes.Axes
        ``collections[0]`` is the field, ``collections[1]`` the members.
    """
    c = np.asarray(colour, dtype=np.float64).reshape(-1)
    m = np.asarray(magnitude, dtype=np.float64).reshape(-1)
    p = np.asarray(probability, dtype=np.float64).reshape(-1)
    _check_lengths(colour=c, magnitude=m, probability=p)
    if not 0.0 <= threshold < 1.0:
        raise DataError(f"'threshold' must lie in [0, 1), got {threshold!r}", argument="threshold")
    ax = get_ax(ax)
    member = np.isfinite(p) & (p > threshold)
    ax.scatter(
        c[~member],
        m[~member],
        color="0.75",
        s=s / 3,
        linewidths=0,
        zorder=1,
        label=f"p <= {threshold:g} or not scored ({int((~member).sum())})",
    )
    order = np.argsort(p[member], kind="stable")
    sc = ax.scatter(
        c[member][order],
        m[member][order],
        c=p[member][order],
        cmap=cmap,
        vmin=threshold,
        vmax=1.0,
        s=s,
        zorder=2,
        **{"linewidths": 0.3, "edgecolors": "k", **style},
        label=f"p > {threshold:g} ({int(member.sum())})",
    )
    cb = ax.figure.colorbar(sc, ax=ax)
    cb.set_label(colorbar_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.legend(loc="best", fontsize="small", markerscale=1.5)
    return ax
