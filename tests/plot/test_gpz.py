"""plot_weighted_histograms: the drawn steps are the densities of numpy's histogram."""

from __future__ import annotations

import numpy as np

from bayesmix.plot import plot_weighted_histograms


def _stairs(ax):
    """Heights and edges of each stairs artist of ``ax``, keyed by its legend label."""
    from matplotlib.patches import StepPatch

    return {
        p.get_label(): (p.get_data().values, p.get_data().edges)
        for p in ax.patches
        if isinstance(p, StepPatch)
    }


def test_plot_weighted_histograms(rng):
    pop = rng.normal(size=(2000, 2))
    train = pop[pop[:, 0] < 0.5]
    w = np.exp(train[:, 0])
    fig = plot_weighted_histograms(pop, train, w, names=["a", "b"], bins=20)
    assert [ax.get_xlabel() for ax in fig.axes] == ["a", "b"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["population", "training", "weighted training"]
    for j, ax in enumerate(fig.axes):
        drawn = _stairs(ax)
        edges = drawn["population"][1]
        assert edges.shape == (21,)
        # independent reference: numpy's histogram over the drawn edges, normalised to unit area
        for name, x, ww in (
            ("population", pop[:, j], None),
            ("training", train[:, j], None),
            ("weighted training", train[:, j], w),
        ):
            counts, _ = np.histogram(x, bins=edges, weights=ww)
            want = counts / counts.sum() / np.diff(edges)
            np.testing.assert_allclose(drawn[name][0], want, rtol=1e-12)
            np.testing.assert_allclose((drawn[name][0] * np.diff(edges)).sum(), 1.0, rtol=1e-12)
    # weighting towards large a moves the training mean of a up
    heights, edges = _stairs(fig.axes[0])["weighted training"]
    centres = 0.5 * (edges[1:] + edges[:-1])
    assert (heights * centres).sum() > (_stairs(fig.axes[0])["training"][0] * centres).sum()


def test_without_weights_two_lines(rng):
    pop = rng.normal(size=(500, 1))
    fig = plot_weighted_histograms(pop, pop[:100], None)
    assert set(_stairs(fig.axes[0])) == {"population", "training"}
    assert fig.axes[0].get_xlabel() == "feature 0"
