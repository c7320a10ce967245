"""Shared helpers: the Axes to draw on."""

from __future__ import annotations

from matplotlib.axes import Axes

__all__ = ["get_ax", "new_axes"]


def get_ax(ax: Axes | None = None) -> Axes:
    """Return ``ax``, or the Axes of a new pyplot figure when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots()
    return new_ax


def new_axes(*, figsize: tuple[float, float] = (6.0, 4.5)) -> Axes:
    """Return the Axes of a new figure that is not managed by pyplot.

    For batch work (the command line, scripts writing many files): the figure
    needs no GUI backend, is never shown, and is freed with its last reference.
    Save it with ``ax.figure.savefig(...)`` or :func:`bayesmix.io.write_figure`.

    Parameters
    ----------
    figsize : tuple of float, default (6, 4.5)
        Width and height in inches.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize).add_subplot()
