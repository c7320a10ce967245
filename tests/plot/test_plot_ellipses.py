"""plot_ellipses: structure of the drawn artists (Agg backend, no pixels)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Polygon

from bayesmix._geometry import covariance_ellipse
from bayesmix.exceptions import DataError
from bayesmix.plot import plot_ellipses

MEANS = np.array([[0.0, 0.0, 5.0], [1.0, 2.0, -1.0]])
COVS = np.array([np.diag([1.0, 0.5, 2.0]), [[0.3, 0.1, 0.0], [0.1, 0.2, 0.05], [0.0, 0.05, 1.0]]])


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_one_polygon_per_component_and_level():
    fig, ax = plt.subplots()
    out = plot_ellipses(MEANS, COVS, levels=(0.5, 0.68, 0.95), ax=ax, labels=["a", "b"])
    assert out is ax
    patches = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(patches) == 6
    assert sorted(p.bayesmix_level for p in patches) == [0.5, 0.5, 0.68, 0.68, 0.95, 0.95]
    assert all(not p.get_fill() for p in patches)
    assert [p.get_label() for p in patches if p.get_label()] == ["a", "b"]
    assert len(ax.lines) == 2  # the two mean markers


def test_vertices_are_the_computed_ellipse():
    _, ax = plt.subplots()
    plot_ellipses(MEANS, COVS, levels=(0.95,), dims=(2, 0), ax=ax, n_points=50)
    expected = covariance_ellipse(MEANS[1][[2, 0]], COVS[1][np.ix_([2, 0], [2, 0])], 0.95, 50)
    np.testing.assert_allclose(ax.patches[1].get_xy(), expected, rtol=1e-12)


def test_new_figure_when_no_ax():
    ax = plot_ellipses(MEANS[0, :2], COVS[0, :2, :2])
    assert len(ax.patches) == 2
    # the axes' data limits include the ellipses
    xmin, xmax = ax.get_xlim()
    assert xmin < -1.5 and xmax > 1.5


def test_style_and_colors():
    _, ax = plt.subplots()
    plot_ellipses(MEANS, COVS, ax=ax, levels=(0.68,), colors=["red", "blue"], linewidth=3)
    assert ax.patches[0].get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    assert ax.patches[1].get_linewidth() == 3


def test_bad_shapes():
    with pytest.raises(DataError, match="covariances"):
        plot_ellipses(MEANS, COVS[:, :2, :2])
    with pytest.raises(DataError, match="colors"):
        plot_ellipses(MEANS, COVS, colors=["r"])
    with pytest.raises(DataError, match="dims"):
        plot_ellipses(MEANS, COVS, dims=(0, 5))


def test_new_axes_is_not_managed_by_pyplot():
    from bayesmix.plot import new_axes

    before = plt.get_fignums()
    ax = new_axes(figsize=(3, 2))
    plot_ellipses(MEANS, COVS, ax=ax)
    assert plt.get_fignums() == before
    assert tuple(ax.figure.get_size_inches()) == (3, 2)
