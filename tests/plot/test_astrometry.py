"""plot_zoomed_membership, plot_astrometry: zoomed limits, members on top, whole-field inset."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bayesmix.analysis.figures_data import zoom_window
from bayesmix.exceptions import DataError
from bayesmix.plot import plot_astrometry, plot_zoomed_membership


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _field(rng, n_field=4000, n_members=300):
    """A wide field (sd 30 mas/yr) and a compact cluster at (18.7, 2.6), like Blanco 1."""
    pm = np.vstack([rng.normal(0, 30, (n_field, 2)), rng.normal([18.7, 2.6], 0.4, (n_members, 2))])
    plx = np.r_[rng.gamma(2, 0.5, n_field), rng.normal(4.2, 0.1, n_members)]
    p = np.r_[rng.uniform(0, 0.05, n_field), rng.uniform(0.8, 1.0, n_members)]
    return pm, plx, p


def test_zoomed_on_the_cluster_with_members_on_top_and_an_inset(rng):
    pm, _, p = _field(rng)
    p[3] = np.nan
    fig, ax = plt.subplots()
    out = plot_zoomed_membership(
        pm[:, 0], pm[:, 1], p, ax=ax, xlabel="pmra (mas/yr)", ylabel="pmdec (mas/yr)"
    )
    assert out is ax
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    # the window holds the cluster and is far narrower than the field (sd 30 mas/yr)
    assert x0 < 18.7 < x1 and y0 < 2.6 < y1
    assert x1 - x0 < 10 and y1 - y0 < 10
    members = pm[4000:]
    shown = (
        (members[:, 0] > x0) & (members[:, 0] < x1) & (members[:, 1] > y0) & (members[:, 1] < y1)
    )
    assert shown.mean() > 0.97
    sc = ax.collections[0]
    # drawn in increasing probability: the likely members last, on top
    assert np.all(np.diff(sc.get_array()) >= 0)
    assert len(sc.get_offsets()) == len(p) - 1  # the unscored star is a grey cross
    assert ax.get_xlabel() == "pmra (mas/yr)" and ax.get_ylabel() == "pmdec (mas/yr)"
    (inset,) = ax.child_axes
    assert inset.get_label() == "whole field"
    ix0, ix1 = inset.get_xlim()
    assert ix0 < -40 and ix1 > 40  # the inset spans the field
    rect = [a for a in inset.patches if isinstance(a, Rectangle) and a.get_label() == "zoomed"]
    assert rect and rect[0].get_width() == pytest.approx(x1 - x0)
    assert len(inset.collections[1].get_offsets()) == int((np.nan_to_num(p) > 0.5).sum())
    fig.canvas.draw()  # renders without error


def test_given_window_fitted_ellipses_and_no_inset(rng):
    pm, _, p = _field(rng)
    w = zoom_window(pm, p, center=[18.7, 2.6], scale=1.0, n_sigma=3)
    ax = plot_zoomed_membership(
        pm[:, 0],
        pm[:, 1],
        p,
        window=w,
        inset=False,
        cluster_mean=[18.7, 2.6],
        cluster_cov=np.eye(2) * 0.2,
    )
    assert ax.get_xlim() == pytest.approx(w.xlim) and ax.get_ylim() == pytest.approx(w.ylim)
    assert not ax.child_axes
    assert len(ax.patches) == 2  # 68 and 95 per cent ellipses
    assert ax.get_legend().get_texts()[0].get_text() == "fitted cluster (68, 95%)"
    ax2 = plot_zoomed_membership(pm[:, 0], pm[:, 1], p, inset="lower left")
    b = ax2.child_axes[0].get_position()  # in figure coordinates: left-bottom of the parent
    a = ax2.get_position()
    assert b.x0 < (a.x0 + a.x1) / 2 and b.y0 < (a.y0 + a.y1) / 2
    with pytest.raises(DataError, match="'inset'"):
        plot_zoomed_membership(pm[:, 0], pm[:, 1], p, inset="middle")
    with pytest.raises(DataError, match="same length"):
        plot_zoomed_membership(pm[:, 0], pm[:5, 1], p)


def test_astrometry_figure_pm_and_parallax_panels(rng):
    pm, plx, p = _field(rng)
    fig = plot_astrometry(
        pm[:, 0],
        pm[:, 1],
        p,
        parallax=plx,
        cluster_mean=[18.7, 2.6, 4.2],
        cluster_cov=np.diag([0.16, 0.16, 0.01]),
    )
    assert isinstance(fig, Figure)
    pm_ax, plx_ax = fig.axes[:2]
    assert pm_ax.get_title() == "proper motions" and plx_ax.get_title() == "parallax"
    assert plx_ax.get_ylabel() == "parallax (mas)" and plx_ax.get_xlabel() == "pmra (mas/yr)"
    y0, y1 = plx_ax.get_ylim()
    assert y0 < 4.2 < y1 and y1 - y0 < 8  # zoomed around the cluster's parallax
    assert pm_ax.get_aspect() == 1.0  # one unit on both pm axes
    fig.canvas.draw()
    only_pm = plot_astrometry(pm[:, 0], pm[:, 1], p)
    assert len([a for a in only_pm.axes if a.get_title() == "proper motions"]) == 1
    # a pm-only fit with parallaxes shown: ellipses on the pm panel only
    fig2 = plot_astrometry(
        pm[:, 0], pm[:, 1], p, parallax=plx, cluster_mean=[18.7, 2.6], cluster_cov=np.eye(2) * 0.16
    )
    assert len(fig2.axes[0].patches) == 2 and not fig2.axes[1].patches
    with pytest.raises(DataError, match="'cluster_mean' must have shape"):
        plot_astrometry(pm[:, 0], pm[:, 1], p, cluster_mean=[18.7])
    with pytest.raises(DataError, match="same features"):
        plot_astrometry(pm[:, 0], pm[:, 1], p, cluster_mean=[18.7, 2.6], cluster_cov=np.eye(3))
