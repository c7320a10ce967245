"""What a membership probability is worth: reliability curves and probability histograms."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from bayesmix.analysis.figures_data import ProbabilityHistogram, ReliabilityCurve
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_probability_histogram", "plot_reliability"]


def plot_reliability(
    curve: ReliabilityCurve | Mapping[str, ReliabilityCurve],
    *,
    ax: Axes | None = None,
    label: str | None = None,
    show_counts: bool = True,
) -> Axes:
    """Observed member fraction against predicted probability, with the diagonal.

    Parameters
    ----------
    curve : ReliabilityCurve or mapping of str to ReliabilityCurve
        From :func:`bayesmix.analysis.figures_data.reliability_curve`; a mapping
        (legend label to curve) draws several, e.g. one per injection set.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    label : str, optional
        Legend label of a single curve (default: its Brier score).
    show_counts : bool, default True
        Draw the objects per bin as grey bars on a logarithmic right-hand axis
        (the first curve's counts).

    Returns
    -------
    matplotlib.axes.Axes
        Limits [0, 1] on both axes; ``ax.lines[0]`` is the diagonal, then one
        error-bar line per curve (empty bins left out).
    """
    curves = dict(curve) if isinstance(curve, Mapping) else {label: curve}
    if not curves:
        raise DataError("'curve' is empty", argument="curve")
    ax = get_ax(ax)
    ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", linewidth=1.0, label="perfectly calibrated")
    first = next(iter(curves.values()))
    for i, (name, c) in enumerate(curves.items()):
        if not isinstance(c, ReliabilityCurve):
            raise DataError(
                f"'curve' must hold ReliabilityCurve records; got {type(c).__name__}",
                argument="curve",
            )
        ok = c.counts > 0
        yerr = np.vstack(
            [c.observed_fraction[ok] - c.lower[ok], c.upper[ok] - c.observed_fraction[ok]]
        )
        text = name if name is not None else f"Brier score {c.brier_score:.3g}"
        ax.errorbar(
            c.mean_probability[ok],
            c.observed_fraction[ok],
            yerr=yerr,
            marker="o",
            markersize=4,
            capsize=2,
            color=f"C{i}",
            label=text,
            zorder=3,
        )
    if show_counts:
        tw = ax.twinx()
        tw.set_label("counts")
        tw.stairs(
            np.maximum(first.counts, 0.5),
            first.edges,
            fill=True,
            color="0.85",
            baseline=0.5,
            zorder=0,
        )
        tw.set_yscale("log")
        tw.set_ylim(0.5, max(float(first.counts.max()), 1.0) * 30)
        tw.set_ylabel("objects per bin", color="0.4")
        tw.tick_params(axis="y", colors="0.4")
        ax.set_zorder(tw.get_zorder() + 1)
        ax.patch.set_visible(False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted membership probability")
    ax.set_ylabel(f"observed member fraction ({100 * first.interval:.0f}% interval)")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_probability_histogram(
    histogram: ProbabilityHistogram,
    *,
    ax: Axes | None = None,
    log: bool = True,
    label: str = "p(cluster)",
    **style,
) -> Axes:
    """Histogram of membership probabilities, with the threshold and member counts.

    Parameters
    ----------
    histogram : ProbabilityHistogram
        From :func:`bayesmix.analysis.figures_data.probability_histogram`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    log : bool, default True
        Logarithmic count axis (most objects sit near 0 or 1).
    label : str, default "p(cluster)"
        Name of the probability on the x axis.
    **style
        Passed to :meth:`matplotlib.axes.Axes.stairs`.

    Returns
    -------
    matplotlib.axes.Axes
        x limits [0, 1]; the legend gives the count above the threshold, the
        expected number of members (sum of probabilities) and the unscored count.
    """
    if not isinstance(histogram, ProbabilityHistogram):
        raise DataError(
            "'histogram' must be a ProbabilityHistogram (from "
            "bayesmix.analysis.figures_data.probability_histogram); got "
            f"{type(histogram).__name__}",
            argument="histogram",
        )
    ax = get_ax(ax)
    h = histogram
    base = 0.5 if log else 0.0
    ax.stairs(
        np.maximum(h.counts, base),
        h.edges,
        fill=True,
        baseline=base,
        **{"color": "C0", "alpha": 0.7, **style},
        label=f"{int(h.counts.sum())} scored"
        + (f", {h.n_unscored} not scored" if h.n_unscored else ""),
    )
    ax.axvline(
        h.threshold,
        color="k",
        linestyle="--",
        linewidth=1.0,
        label=f"{h.n_above} with p > {h.threshold:g}",
    )
    ax.plot([], [], " ", label=f"expected members (sum of p): {h.expected_members:.1f}")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(0.5, max(float(h.counts.max()), 1.0) * 3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"membership probability {label}")
    ax.set_ylabel("objects per bin")
    ax.legend(loc="upper center", fontsize="small")
    return ax
