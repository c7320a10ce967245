"""Figures of EM fits: log-likelihood history and BIC/AIC model selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_log_likelihood_history", "plot_selection"]


def plot_log_likelihood_history(
    model, ax: Axes | None = None, *, label: str | None = None, **style
) -> Axes:
    """Plot the mean log-likelihood per object against the EM iteration.

    Parameters
    ----------
    model : fitted GaussianMixture or XDGaussianMixture, or a sequence of float, or a mapping
        A fitted model (its ``log_likelihood_history_`` is drawn, labelled with
        ``n_components`` and convergence), the history itself, or a mapping of
        legend label to model/history to compare several fits on one Axes.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    label : str, optional
        Legend label (single model only).
    **style
        Passed to :meth:`matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
        One line per history; x is the iteration (1-based), y the mean
        log-likelihood per object.
    """
    ax = get_ax(ax)
    items = list(model.items()) if isinstance(model, Mapping) else [(label, model)]
    named = False
    for name, m in items:
        hist = getattr(m, "log_likelihood_history_", m)
        if name is None and hasattr(m, "log_likelihood_history_"):
            k = getattr(m, "n_components", None)
            conv = getattr(m, "converged_", None)
            name = f"K = {k}" + (
                "" if conv is None else (" (converged)" if conv else " (not converged)")
            )
        y = np.asarray(hist, dtype=np.float64).reshape(-1)
        if y.size == 0:
            raise DataError(
                "the log-likelihood history is empty; was the model fitted?", argument="model"
            )
        x = np.arange(1, y.size + 1)
        ax.plot(x, y, marker="o" if y.size <= 30 else None, markersize=3, label=name, **style)
        named = named or name is not None
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per object")
    if named:
        ax.legend()
    return ax


def _get(result, key: str):
    table = result.table if hasattr(result, "table") else result
    if key not in table:
        raise DataError(
            f"the selection table has no {key!r} column; it has {sorted(table)}",
            argument="selection_result",
        )
    return np.asarray(table[key], dtype=np.float64)


def plot_selection(
    selection_result, ax: Axes | None = None, *, criteria: Sequence[str] = ("bic", "aic"), **style
) -> Axes:
    """Plot BIC and AIC against the number of components, marking the chosen model.

    Parameters
    ----------
    selection_result : SelectionResult or mapping
        The result of :func:`bayesmix.em.select_n_components` (its ``table``
        with ``n_components``, ``bic``, ``aic``; ``criterion`` and
        ``best_n_components`` mark the choice), or such a table itself.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    criteria : sequence of str, default ("bic", "aic")
        Which columns to draw.
    **style
        Passed to :meth:`matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
        One line per criterion (labelled ``BIC``/``AIC``) and a star at the
        minimum of each; the selected model's star is filled and labelled.
    """
    ax = get_ax(ax)
    n = _get(selection_result, "n_components")
    chosen_crit = getattr(selection_result, "criterion", None)
    best_n = getattr(selection_result, "best_n_components", None)
    for i, crit in enumerate(criteria):
        y = _get(selection_result, crit)
        color = f"C{i}"
        ax.plot(n, y, marker="o", color=color, label=crit.upper(), **style)
        j = int(np.nanargmin(y))
        selected = chosen_crit == crit
        ax.plot(
            [n[j]],
            [y[j]],
            marker="*",
            markersize=16,
            linestyle="none",
            markerfacecolor=color if selected else "none",
            markeredgecolor=color,
            label=(
                f"selected: K = {int(best_n if best_n is not None else n[j])} (min {crit.upper()})"
                if selected
                else None
            ),
        )
    ax.set_xlabel("number of components")
    ax.set_ylabel("information criterion (lower is better)")
    ax.set_xticks(n)
    ax.legend()
    return ax
