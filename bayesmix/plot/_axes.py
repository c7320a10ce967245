"""Shared helper: the Axes to draw on."""

from __future__ import annotations


def get_ax(ax=None):
    """Return ``ax``, or the Axes of a new pyplot figure when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots()
    return new_ax
