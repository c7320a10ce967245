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


def _grid(fig):
    """The visible panels of a pair figure keyed by (row, column)."""
    out = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if ax.get_visible() and ax.axison and spec is not None:
            out[spec.rowspan.start, spec.colspan.start] = ax
    return out


def _eight(rng, n_chains=1, n_draws=50):
    """A full-cluster-like posterior: 7 scalar parameters and two mixing weights."""
    names = [
        "cluster_ra",
        "cluster_dec",
        "cluster_radius",
        "cluster_parallax",
        "cluster_pmra",
        "cluster_pmdec",
        "cluster_pm_dispersion",
    ]
    shape = (n_chains, n_draws)
    data = {n: (("chain", "draw"), rng.normal(i, 1 + i, size=shape)) for i, n in enumerate(names)}
    w = rng.uniform(0.02, 0.03, shape)
    data["weights"] = (("chain", "draw", "component"), np.stack([w, 1 - w], -1))
    post = xr.Dataset(data, coords={"component": ["cluster", "field"]})
    return names + ["weights"], xr.DataTree.from_dict({"posterior": post})


def test_pair_draws_every_requested_variable(rng):
    """8 rows (arviz_plots alone stops at 6: 40 panels), one chain of 50 draws."""
    names, tree = _eight(rng)
    fig = plot_pair(tree, names, detach=True)
    assert fig.get_label() == "arviz_plots.plot_pair"
    grid = _grid(fig)
    assert set(grid) == {(i, j) for i in range(8) for j in range(i + 1)}  # lower triangle
    bottom = [grid[7, j].get_xlabel().replace("\n", " ") for j in range(8)]
    assert bottom == names[:-1] + ["weights cluster"]  # weights[field] = 1 - weights[cluster]
    w, h = fig.get_size_inches()
    assert w == h
    # fewer than 100 draws: the diagonal is a unit-area histogram (arviz would draw an ECDF)
    post = tree["posterior"]
    for j, name in enumerate(names[:-1]):
        (line,) = grid[j, j].get_lines()
        edges, y = line.get_xdata(), line.get_ydata()  # a step line: edges, heights + last
        v = post[name].values.ravel()
        want, _ = np.histogram(v, bins=edges, density=True)
        np.testing.assert_allclose(y[:-1], want, rtol=1e-9)
        assert np.sum(y[:-1] * np.diff(edges)) == pytest.approx(1.0, rel=1e-9)
    # the corner grid draws the same rows
    fig = plot_pair(tree, names, kind="corner")
    assert [ax.get_xlabel() for ax in fig.axes[-8:]] == names[:-1] + ["weights[cluster]"]


def test_pair_marginal_is_a_kde_with_many_draws(rng):
    names, tree = _eight(rng, n_chains=2, n_draws=200)
    fig = plot_pair(tree, names[:2], detach=True)
    grid = _grid(fig)
    assert set(grid) == {(0, 0), (1, 0), (1, 1)}
    for j in range(2):
        lines = grid[j, j].get_lines()
        assert len(lines) == 1  # one density of the chains pooled
        for line in lines:
            x, y = line.get_xdata(), line.get_ydata()
            assert len(x) > 50 and np.trapezoid(y, x) == pytest.approx(1.0, abs=0.05)


def test_pair_falls_back_to_the_corner_grid(rng, monkeypatch):
    import arviz_plots

    names, tree = _eight(rng)
    post = tree["posterior"].to_dataset()
    post["zero"] = xr.zeros_like(post["cluster_ra"])
    const = xr.DataTree.from_dict({"posterior": post})
    fig = plot_pair(const, ["cluster_ra", "zero", "cluster_dec"], detach=True)
    assert fig.get_label() == "corner (columns constant over the draws left out)"
    assert [ax.get_xlabel() for ax in fig.axes[-2:]] == ["cluster_ra", "cluster_dec"]

    def broken(*args, **kwargs):
        plt.figure()  # a half-drawn figure is closed, not left in pyplot
        raise ValueError("cannot draw this\nsecond line")

    monkeypatch.setattr(arviz_plots, "plot_pair", broken)
    n_open = len(plt.get_fignums())
    fig = plot_pair(tree, names[:3], detach=True)
    assert fig.get_label() == "corner (arviz_plots failed: cannot draw this)"
    assert len(plt.get_fignums()) == n_open
    assert [ax.get_xlabel() for ax in fig.axes[-3:]] == names[:3]
    with pytest.raises(ValueError, match="cannot draw"):
        plot_pair(tree, names[:3], kind="arviz")
    with pytest.raises(ValueError, match="cannot draw"):  # options for arviz_plots: its error
        plot_pair(tree, names[:3], marginal_kind="kde")


# moved from tests/workflows/test_run.py (they test plot functions), adapted
def _tree_with_constant(rng, n_chains=2, n_draws=50):
    post = xr.Dataset(
        {
            "slope": (("chain", "draw"), rng.normal(size=(n_chains, n_draws))),
            "weights": (
                ("chain", "draw", "component"),
                rng.dirichlet([3, 1], size=(n_chains, n_draws)),
            ),
            "zero": (("chain", "draw"), np.zeros((n_chains, n_draws))),
        },
        coords={
            "chain": np.arange(n_chains),
            "draw": np.arange(n_draws),
            "component": ["inlier", "outlier"],
        },
    )
    return xr.DataTree.from_dict({"posterior": post})


def test_plot_pair_arviz_and_corner(rng):
    from bayesmix.exceptions import DataError

    tree = _tree_with_constant(rng)
    labels, draws = posterior_columns(tree)
    assert labels == ["slope", "weights[inlier]", "weights[outlier]"]  # constant 'zero' left out
    assert draws.shape == (100, 3)
    w = tree["posterior"]["weights"].transpose("chain", "draw", "component").values
    np.testing.assert_array_equal(draws[:, 1:], w.reshape(100, 2))  # chain-major
    fig = plot_pair(tree, ["slope", "weights"], kind="corner", drop_redundant=False)
    assert fig.get_label() == "corner"
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6  # lower triangle and diagonal of a 3 x 3 grid
    assert [ax.get_xlabel() for ax in fig.axes[-3:]] == labels
    fig = plot_pair(tree, ["slope", "weights"], kind="corner")  # drop_redundant by default
    assert [ax.get_xlabel() for ax in fig.axes[-2:]] == labels[:2]
    fig = plot_pair(tree, ["slope", "weights"], detach=True)
    assert fig.get_label() == "arviz_plots.plot_pair"
    assert fig.number not in plt.get_fignums()
    assert len(_grid(fig)) == 3  # slope and weights[inlier]
    for kind in ("corner", "auto", "arviz"):
        with pytest.raises(DataError, match="not a posterior variable"):
            plot_pair(tree, ["slop"], kind=kind)
