"""plot_membership, plot_sky, plot_cmd: coloured scatters, colour bars, unscored rows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from bayesmix.exceptions import DataError
from bayesmix.plot import plot_cmd, plot_membership, plot_sky


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_scatter_coloured_with_colorbar(rng):
    x, y, p = rng.normal(size=50), rng.normal(size=50), rng.uniform(size=50)
    fig, ax = plt.subplots()
    out = plot_membership(
        x, y, p, ax=ax, xlabel="[Fe/H]", ylabel="[Mg/Fe]", colorbar_label="thick-disc probability"
    )
    assert out is ax
    sc = ax.collections[0]
    assert isinstance(sc, PathCollection)
    np.testing.assert_allclose(sc.get_array(), p)
    np.testing.assert_allclose(sc.get_offsets(), np.column_stack([x, y]))
    assert sc.get_clim() == (0.0, 1.0)
    assert sc.colorbar is not None
    assert sc.colorbar.ax.get_ylabel() == "thick-disc probability"
    assert len(fig.axes) == 2  # the plot and its colour bar
    assert ax.get_xlabel() == "[Fe/H]" and ax.get_ylabel() == "[Mg/Fe]"


def test_no_colorbar_and_new_figure(rng):
    ax = plot_membership([0, 1], [1, 0], [0.2, 0.9], colorbar=False, cmap="viridis")
    assert ax.collections[0].colorbar is None
    assert len(ax.figure.axes) == 1
    assert ax.collections[0].get_cmap().name == "viridis"


def test_unscored_points_drawn_grey():
    ax = plot_membership([0, 1, 2], [0, 1, 2], [0.5, np.nan, 1.0])
    assert len(ax.collections[0].get_offsets()) == 2
    assert len(ax.collections[1].get_offsets()) == 1
    assert ax.get_legend().get_texts()[0].get_text() == "not scored (1)"


def test_bad_input():
    with pytest.raises(DataError, match="same length"):
        plot_membership([0, 1], [0, 1], [0.5])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        plot_membership([0, 1], [0, 1], [0.5, 1.5])


def test_sky_map_wraps_ra_and_puts_members_on_top():
    ra = np.array([359.0, 359.5, 0.5, 1.0, np.nan])
    dec = np.array([-30.0, -29.0, -31.0, -30.0, -30.0])
    p = np.array([0.9, 0.1, np.nan, 0.5, 0.2])
    fig, ax = plt.subplots()
    out = plot_sky(ra, dec, p, center=(0.0, -30.0), ax=ax)
    assert out is ax
    sc = ax.collections[0]
    # continuous across RA = 0, drawn in increasing probability (members last, on top)
    np.testing.assert_allclose(sc.get_offsets()[:, 0], [-0.5, 1.0, 359.0 - 360.0])
    np.testing.assert_allclose(sc.get_array(), [0.1, 0.5, 0.9])
    assert len(ax.collections[1].get_offsets()) == 1  # the unscored star, grey
    assert ax.xaxis_inverted()  # east to the left
    assert ax.get_xlabel() == "RA (deg)" and ax.get_ylabel() == "Dec (deg)"
    assert ax.xaxis.get_major_formatter()(-0.5, 0) == "359.5"
    np.testing.assert_allclose(ax.get_aspect(), 1 / np.cos(np.radians(30.0)))
    assert any(t.get_text() == "cluster centre" for t in ax.get_legend().get_texts())
    # without a centre: unwrapped around the circular mean RA, no marker
    ax2 = plot_sky(ra[:4], dec[:4], p[:4])
    assert np.ptp(ax2.collections[0].get_offsets()[:, 0]) < 3
    with pytest.raises(DataError, match="'ra', 'dec' and 'probability' must have the same"):
        plot_sky([1.0], [2.0, 3.0], [0.5])


def test_cmd_highlights_members_over_grey_field(rng):
    colour, mag = rng.uniform(0, 3, 100), rng.uniform(8, 18, 100)
    p = rng.uniform(size=100)
    p[:5] = np.nan
    fig, ax = plt.subplots()
    out = plot_cmd(colour, mag, p, ax=ax)
    assert out is ax
    field, members = ax.collections[0], ax.collections[1]
    is_member = np.isfinite(p) & (p > 0.5)
    assert len(members.get_offsets()) == is_member.sum()
    assert len(field.get_offsets()) == 100 - is_member.sum()
    np.testing.assert_allclose(np.sort(members.get_array()), np.sort(p[is_member]))
    assert members.get_clim() == (0.5, 1.0) and members.colorbar is not None
    assert ax.yaxis_inverted()  # bright stars at the top
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [
        f"p <= 0.5 or not scored ({100 - is_member.sum()})",
        f"p > 0.5 ({is_member.sum()})",
    ]
    ax2 = plot_cmd(colour, mag, p, threshold=0.9)
    assert len(ax2.collections[1].get_offsets()) == (np.nan_to_num(p) > 0.9).sum()
    with pytest.raises(DataError, match="threshold"):
        plot_cmd(colour, mag, p, threshold=1.0)
