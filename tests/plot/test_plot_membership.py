"""plot_membership: coloured scatter, colour bar, unscored rows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from bayesmix.exceptions import DataError
from bayesmix.plot import plot_membership


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_scatter_coloured_with_colorbar(rng):
    x, y, p = rng.normal(size=50), rng.normal(size=50), rng.uniform(size=50)
    fig, ax = plt.subplots()
    out = plot_membership(x, y, p, ax=ax, xlabel="[Fe/H]", ylabel="[Mg/Fe]",
                          colorbar_label="thick-disc probability")
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
