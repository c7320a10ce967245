"""Cluster figures: radial profile against the fitted Plummer profile, parallax and distance."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from bayesmix.analysis.figures_data import ParallaxDistance
from bayesmix.analysis.profiles import PlummerProfile, RadialProfile
from bayesmix.exceptions import DataError
from bayesmix.plot._axes import get_ax

__all__ = ["plot_parallax_distance", "plot_radial_profile"]


def plot_radial_profile(
    profile: RadialProfile,
    model: PlummerProfile | None = None,
    *,
    background: float | None = None,
    show_all: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Member surface density against radius, on log-log axes, with the fitted profile.

    Parameters
    ----------
    profile : RadialProfile
        From :func:`bayesmix.analysis.profiles.radial_profile`.
    model : PlummerProfile, optional
        From :func:`bayesmix.analysis.profiles.plummer_profile`: drawn as a
        line (median) and a band.
    background : float, optional
        Field density (objects per deg^2), e.g. expected field stars over the
        footprint's solid angle; a horizontal line.
    show_all : bool, default True
        Also draw all scored objects per deg^2 (members and field).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        Log-log axes; ``ax.get_legend()`` names each element.  Annuli without
        area or members are left out (a log axis cannot show zero).
    """
    if not isinstance(profile, RadialProfile):
        raise DataError(
            "'profile' must be a RadialProfile (from bayesmix.analysis."
            f"profiles.radial_profile); got {type(profile).__name__}",
            argument="profile",
        )
    ax = get_ax(ax)
    pr = profile
    ok = (pr.radius > 0) & (pr.density > 0) & np.isfinite(pr.density)
    lower = np.minimum(pr.density_err[ok], pr.density[ok] * 0.999)  # stay above zero on log
    ax.errorbar(
        pr.radius[ok],
        pr.density[ok],
        yerr=[lower, pr.density_err[ok]],
        marker="o",
        markersize=4,
        linestyle="none",
        capsize=2,
        color="C3",
        label=f"members (sum of p = {pr.members.sum():.1f})",
        zorder=3,
    )
    if show_all:
        ok_all = (pr.radius > 0) & (pr.density_all > 0) & np.isfinite(pr.density_all)
        ax.plot(
            pr.radius[ok_all],
            pr.density_all[ok_all],
            marker="s",
            markersize=3,
            linestyle="none",
            color="0.5",
            label="all stars",
        )
    if model is not None:
        if not isinstance(model, PlummerProfile):
            raise DataError(
                f"'model' must be a PlummerProfile; got {type(model).__name__}", argument="model"
            )
        m_ok = model.radius > 0
        ax.plot(model.radius[m_ok], model.median[m_ok], color="k", label="fitted Plummer profile")
        ax.fill_between(
            model.radius[m_ok],
            model.lower[m_ok],
            model.upper[m_ok],
            color="k",
            alpha=0.2,
            linewidth=0,
            label=f"{100 * model.interval:.0f}% credible band",
        )
    if background is not None:
        ax.axhline(
            float(background),
            color="C0",
            linestyle="--",
            linewidth=1.0,
            label="fitted field density",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("radius from the cluster centre (deg)")
    ax.set_ylabel("surface density (stars per deg$^2$)")
    ax.legend(loc="lower left", fontsize="small")
    return ax


def _interval_text(summary: Mapping[str, float]) -> str:
    """``median [lower, upper]`` with one significant digit more than the spread."""
    spread = max(summary["upper"] - summary["lower"], 1e-300)
    digits = max(0, 1 - int(np.floor(np.log10(spread))))
    return (
        f"{summary['median']:.{digits}f} [{summary['lower']:.{digits}f}, "
        f"{summary['upper']:.{digits}f}]"
    )


def plot_parallax_distance(
    summary: ParallaxDistance,
    *,
    reference: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    label: str = "posterior of the cluster parallax",
) -> Axes:
    """Posterior of the cluster parallax, with its distance on the top axis.

    Parameters
    ----------
    summary : ParallaxDistance
        From :func:`bayesmix.analysis.figures_data.parallax_distance`.
    reference : mapping, optional
        A published value to compare with: ``{"parallax": 4.21, "parallax_error":
        0.02, "label": "Cantat-Gaudin et al. 2020"}`` (mas; error optional).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    label : str
        Legend label of the histogram.

    Returns
    -------
    matplotlib.axes.Axes
        Bottom axis parallax (mas), top axis distance 1000/parallax (pc)
        (``ax.child_axes[0]``); the credible interval is shaded and the title
        gives median and interval of both.
    """
    if not isinstance(summary, ParallaxDistance):
        raise DataError(
            "'summary' must be a ParallaxDistance (from bayesmix.analysis."
            f"figures_data.parallax_distance); got {type(summary).__name__}",
            argument="summary",
        )
    ax = get_ax(ax)
    s = summary
    ax.stairs(s.density, s.edges, fill=True, color="C0", alpha=0.6, label=label)
    ax.axvspan(
        s.parallax["lower"],
        s.parallax["upper"],
        color="C0",
        alpha=0.12,
        label=f"{100 * s.interval:.0f}% credible interval",
    )
    ax.axvline(s.parallax["median"], color="C0", linewidth=1.2, label="median")
    lo, hi = float(s.edges[0]), float(s.edges[-1])
    if reference is not None:
        if "parallax" not in reference:
            raise DataError("'reference' needs a 'parallax' entry (mas)", argument="reference")
        rv = float(reference["parallax"])
        rlabel = str(reference.get("label", "reference"))
        err = reference.get("parallax_error")
        if err is not None:
            ax.axvspan(rv - float(err), rv + float(err), color="C3", alpha=0.15)
        ax.axvline(rv, color="C3", linestyle="--", linewidth=1.2, label=rlabel)
        span = hi - lo
        lo = min(lo, rv - float(err or 0) - 0.1 * span)
        hi = max(hi, rv + float(err or 0) + 0.1 * span)
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("cluster parallax (mas)")
    ax.set_ylabel("posterior density (1/mas)")

    def _inverse(x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, 1000.0 / np.where(x > 0, x, 1.0), np.inf)

    top = ax.secondary_xaxis("top", functions=(_inverse, _inverse))
    top.set_xlabel("distance (pc)")
    p, d = s.parallax, s.distance
    ax.set_title(
        f"parallax {_interval_text(p)} mas, distance {_interval_text(d)} pc",
        fontsize="small",
        pad=28,
    )
    ax.legend(loc="upper left", fontsize="small")
    return ax
