"""plot_pair / posterior_columns: simplex weights without their redundant last element."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from bayesmix.plot import plot_pair
from bayesmix.plot.posterior import posterior_columns, simplex_variables


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _tree(rng, n_chains=2, n_draws=60):
    w = rng.dirichlet([3, 1], size=(n_chains, n_draws))
    fw = rng.dirichlet([1, 1, 1], size=(n_chains, n_draws))
    post = xr.Dataset(
        {
            "slope": (("chain", "draw"), rng.normal(size=(n_chains, n_draws))),
            "weights": (("chain", "draw", "component"), w),
            "means": (("chain", "draw", "component"), rng.normal(size=(n_chains, n_draws, 2))),
            "field_weights": (("chain", "draw", "field_component"), fw),
            # non-negative, one dim, but not summing to 1: kept whole
            "sigma": (("chain", "draw", "component"), rng.uniform(1, 2, (n_chains, n_draws, 2))),
        },
        coords={
            "chain": np.arange(n_chains),
            "draw": np.arange(n_draws),
            "component": ["cluster", "field"],
            "field_component": [0, 1, 2],
        },
    )
    return xr.DataTree.from_dict({"posterior": post})


def test_simplex_variables(rng):
    tree = _tree(rng)
    assert simplex_variables(tree) == {"weights": "component", "field_weights": "field_component"}
    assert simplex_variables(tree, ["slope", "weights"]) == {"weights": "component"}


def test_posterior_columns_drop_the_redundant_weight(rng):
    tree = _tree(rng)
    full, _ = posterior_columns(tree, ["weights", "means"])
    assert full == ["weights[cluster]", "weights[field]", "means[cluster]", "means[field]"]
    labels, draws = posterior_columns(
        tree, ["weights", "means", "field_weights", "sigma"], drop_redundant=True
    )
    assert labels == [
        "weights[cluster]",
        "means[cluster]",
        "means[field]",
        "field_weights[0]",
        "field_weights[1]",
        "sigma[cluster]",
        "sigma[field]",
    ]
    w = tree["posterior"]["weights"].values.reshape(-1, 2)
    np.testing.assert_array_equal(draws[:, 0], w[:, 0])


def test_pair_plots_without_weights_field(rng):
    tree = _tree(rng)
    fig = plot_pair(tree, ["slope", "weights"], kind="corner", drop_redundant=True)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3  # a 2 x 2 grid: slope and weights[cluster]
    assert [ax.get_xlabel() for ax in fig.axes[-2:]] == ["slope", "weights[cluster]"]
    fig = plot_pair(tree, ["slope", "weights", "means"], drop_redundant=True, detach=True)
    assert fig.get_label() == "arviz_plots.plot_pair"
    labels = " ".join(ax.get_xlabel() for ax in fig.axes).replace("\n", " ")
    assert "weights field" not in labels and "weights cluster" in labels
    assert "means field" in labels  # other variables over 'component' keep every element
    assert len(fig.axes) == 16  # slope, weights[cluster], means[cluster], means[field]
