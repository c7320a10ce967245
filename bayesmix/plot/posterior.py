"""Posterior pair plots: arviz_plots' ``plot_pair``, or a simple corner grid without it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bayesmix.exceptions import DataError

__all__ = ["plot_pair", "posterior_columns", "simplex_variables"]


class _InnerLocator(MaxNLocator):
    """MaxNLocator without ticks in the outer 12 % of the axis.

    In a grid of panels the label of a tick at one panel's right edge would run
    into the label at the next panel's left edge.
    """

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        pad = 0.12 * (hi - lo)
        return [t for t in super().__call__() if lo + pad <= t <= hi - pad]


def _tree(fit: Any):
    """Return the DataTree of a Fit (or a DataTree given directly)."""
    return getattr(fit, "idata", fit)


def simplex_variables(fit: Any, var_names: Sequence[str] | None = None) -> dict[str, str]:
    """Posterior variables that sum to 1 over their one dimension (mixing weights).

    The last element of such a variable is 1 minus the others (e.g.
    ``weights[field] = 1 - weights[cluster]``), so a pair plot needs only the
    first ``n - 1``.

    Parameters
    ----------
    fit : Fit or xarray.DataTree
    var_names : sequence of str, optional
        Variables to look at (default: every posterior variable).

    Returns
    -------
    dict of str to str
        Variable name -> the dimension it sums to 1 over, for every variable
        with one non-sample dimension of length >= 2, non-negative values and
        sums within 1e-8 of 1 in every draw.
    """
    post = _tree(fit)["posterior"].to_dataset()
    names = list(post.data_vars) if var_names is None else list(var_names)
    out: dict[str, str] = {}
    for name in names:
        if name not in post:
            continue
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if len(extra) != 1 or da.sizes[extra[0]] < 2:
            continue
        v = np.asarray(da.values, dtype=np.float64)
        if (v >= 0).all() and np.allclose(da.sum(extra[0]).values, 1.0, rtol=0, atol=1e-8):
            out[name] = extra[0]
    return out


def posterior_columns(
    fit: Any, var_names: Sequence[str] | None = None, *, drop_redundant: bool = False
) -> tuple[list[str], np.ndarray]:
    """Flatten posterior draws into labelled columns, e.g. ``weights[inlier]``.

    Parameters
    ----------
    fit : Fit or xarray.DataTree
    var_names : sequence of str, optional
        Variables to include (default: every posterior variable).
    drop_redundant : bool, default False
        Leave out the last element of each :func:`simplex_variables` variable
        (it is 1 minus the others).

    Returns
    -------
    labels : list of str
    draws : ndarray of shape (n_draws_total, n_columns)
        Chains concatenated (chain-major).  Columns constant over draws (such as
        the zero upper triangle of a Cholesky factor) are left out.
    """
    post = _tree(fit)["posterior"].to_dataset()
    names = list(post.data_vars) if var_names is None else list(var_names)
    simplex = simplex_variables(fit, [n for n in names if n in post]) if drop_redundant else {}
    labels: list[str] = []
    cols: list[np.ndarray] = []
    for name in names:
        if name not in post:
            raise DataError(
                f"'var_names' has {name!r}, which is not a posterior variable; available: "
                f"{', '.join(post.data_vars)}",
                argument="var_names",
            )
        da = post[name].transpose("chain", "draw", ...)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        values = np.asarray(da.values, dtype=np.float64).reshape(
            da.sizes["chain"] * da.sizes["draw"], -1
        )
        coord_lists = [list(da[d].values) for d in extra]
        n_cols = values.shape[1] - (1 if name in simplex else 0)
        for j in range(n_cols):
            idx = np.unravel_index(j, [len(c) for c in coord_lists]) if extra else ()
            label = name + (
                "[" + ", ".join(str(coord_lists[i][k]) for i, k in enumerate(idx)) + "]"
                if extra
                else ""
            )
            col = values[:, j]
            if np.ptp(col) == 0:
                continue
            labels.append(label)
            cols.append(col)
    if not cols:
        raise DataError("no non-constant posterior variables to plot", argument="var_names")
    return labels, np.column_stack(cols)


def _without_last_element(tree: Any, names: Sequence[str] | None):
    """Return a posterior-only DataTree whose simplex variables lose their last element.

    The shortened variable gets its own dimension (``<dim>_<name>``), so other
    variables over the same dimension (e.g. ``means`` over ``component``) keep
    all their elements.
    """
    import xarray as xr

    simplex = simplex_variables(tree, names)
    post = tree["posterior"].to_dataset()
    for name, dim in simplex.items():
        short = post[name].isel({dim: slice(0, -1)})
        post = post.drop_vars(name)
        post[name] = short.rename({dim: f"{dim}_{name}"})
    return xr.DataTree.from_dict({"posterior": post})


def _corner(
    labels: Sequence[str], draws: np.ndarray, fig: Figure | None, *, bins: int, max_points: int
) -> Figure:
    n = len(labels)
    if fig is None:
        fig = Figure(figsize=(min(2.2 * n, 14), min(2.2 * n, 14)))
    axes = fig.subplots(n, n, squeeze=False)
    step = max(1, draws.shape[0] // max_points)
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(draws[:, i], bins=bins, histtype="step", color="k")
                ax.set_yticks([])
            else:
                ax.scatter(
                    draws[::step, j], draws[::step, i], s=2, alpha=0.3, color="k", linewidths=0
                )
            # few ticks, slanted, so that neighbouring panels' labels do not collide
            ax.xaxis.set_major_locator(_InnerLocator(3))
            if i != j:
                ax.yaxis.set_major_locator(_InnerLocator(3))
            if i == n - 1:
                ax.set_xlabel(labels[j])
                ax.tick_params(axis="x", labelrotation=45)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
            elif j > 0:
                ax.set_yticklabels([])
    fig.suptitle("posterior (corner grid)")
    return fig


def _n_panels(tree: Any) -> int:
    """Rows of an arviz_plots pair plot of ``tree``: scalar elements over chain and draw."""
    post = tree["posterior"]
    return int(
        sum(
            np.prod([da.sizes[d] for d in da.dims if d not in ("chain", "draw")], dtype=int)
            for da in post.to_dataset().data_vars.values()
        )
    )


def _selected(tree: Any, names: Sequence[str] | None, drop_redundant: bool):
    """Return a posterior-only DataTree of ``names`` (all variables when None)."""
    import xarray as xr

    if drop_redundant:
        tree = _without_last_element(tree, names)
    post = tree["posterior"].to_dataset()
    if names is not None:
        post = post[list(names)]
    return xr.DataTree.from_dict({"posterior": post})


def _arviz_pair(arviz_plots: Any, tree: Any, kwargs: dict) -> Figure:
    """Draw ``tree`` with :func:`arviz_plots.plot_pair`, every variable, a square figure.

    arviz_plots refuses more than ``rcParams["plot.max_subplots"]`` (40) panels,
    i.e. more than 6 variables, so the limit is lifted for this call; with
    fewer than 100 draws per chain its automatic marginal is an ECDF, so the
    diagonal is a histogram then (a KDE otherwise), as in the corner grid.
    """
    import matplotlib.pyplot as plt
    from arviz_base import rc_context

    n = _n_panels(tree)
    post = tree["posterior"]
    n_draws = int(post.sizes.get("draw", 0))
    kwargs = dict(kwargs)
    kwargs.setdefault("marginal_kind", "kde" if n_draws >= 100 else "hist")
    figure_kwargs = dict(kwargs.pop("figure_kwargs", {}))
    side = min(1.8 * n + 1.5, 18.0)
    figure_kwargs.setdefault("figsize", (side, side))
    figure_kwargs.setdefault("figsize_units", "inches")
    before = set(plt.get_fignums())
    try:
        with rc_context(rc={"plot.max_subplots": None}):
            pc = arviz_plots.plot_pair(
                tree, backend="matplotlib", figure_kwargs=figure_kwargs, **kwargs
            )
    except Exception:
        for num in set(plt.get_fignums()) - before:  # a half-drawn figure
            plt.close(num)
        raise
    out = pc.viz["figure"].item()
    _tidy_grid(out, n)
    return out


def _tidy_grid(fig: Figure, n: int) -> None:
    """Label only the outer panels of an ``n x n`` pair grid so that ticks never collide.

    Rows share their y variable, so only the first column keeps y tick labels;
    the diagonal's density axis has no ticks; bottom-row tick labels are slanted.
    """
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or not ax.axison:
            continue
        i, j = spec.rowspan.start, spec.colspan.start
        ax.xaxis.set_major_locator(_InnerLocator(3))
        if i == j:
            ax.set_yticks([])
        else:
            ax.yaxis.set_major_locator(_InnerLocator(3))
            if j > 0:
                ax.tick_params(labelleft=False)
        if i == n - 1:
            ax.tick_params(axis="x", labelrotation=45)
    w, h = fig.get_size_inches()  # margins for the labels: about an inch, whatever the size
    fig.subplots_adjust(
        left=min(1.1 / w, 0.3),
        right=1 - 0.2 / w,
        bottom=min(1.0 / h, 0.3),
        top=1 - 0.2 / h,
        wspace=0.08,
        hspace=0.08,
    )


def plot_pair(
    fit: Any,
    var_names: Sequence[str] | None = None,
    *,
    fig: Figure | None = None,
    kind: str = "auto",
    bins: int = 30,
    max_points: int = 2000,
    detach: bool = False,
    drop_redundant: bool = True,
    **kwargs: Any,
) -> Figure:
    """Pair plot of posterior draws: marginals on the diagonal, pairs below it.

    Every requested variable is drawn (one row and column per scalar element).

    Parameters
    ----------
    fit : Fit or xarray.DataTree
        A sampled model (:func:`bayesmix.sample`) or its results tree.
    var_names : sequence of str, optional
        Posterior variables (default: every variable).  Vector variables give
        one panel per element (e.g. ``weights[inlier]``).
    fig : matplotlib.figure.Figure, optional
        Figure to draw the corner grid on (``kind="corner"`` only; arviz_plots
        makes its own figure).
    kind : {"auto", "arviz", "corner"}, default "auto"
        ``"arviz"``: :func:`arviz_plots.plot_pair` with the matplotlib backend
        (chains coloured; marginals are KDEs, or histograms with fewer than
        100 draws per chain; its 40-panel limit is lifted);
        ``"corner"``: a plain grid drawn here (histograms and scatter; columns
        constant over draws omitted); ``"auto"``: arviz_plots when installed
        and ``fig`` is None, and the corner grid otherwise, when an element
        is constant over the draws (e.g. the zero upper triangle of a
        Cholesky factor) or when arviz_plots fails on these draws (unless
        ``**kwargs`` were given for it: then its error is raised).
    bins : int, default 30
        Histogram bins of the corner grid's marginals.
    max_points : int, default 2000
        At most this many draws per scatter panel of the corner grid (thinned).
    detach : bool, default False
        Remove the figure from pyplot's figure manager (for batch jobs that
        save and discard many figures); the Figure stays usable.
    drop_redundant : bool, default True
        Leave out the last element of each mixing-weight vector
        (:func:`simplex_variables`): with two components ``weights[field]``
        is exactly ``1 - weights[cluster]`` and adds a row and a column of
        nothing.  ``False`` draws every element.
    **kwargs
        Passed to :func:`arviz_plots.plot_pair` (e.g. ``marginal_kind``,
        ``figure_kwargs``).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.get_label()`` says which was drawn: ``"arviz_plots.plot_pair"``,
        ``"corner"``, or ``"corner (<reason>)"`` when ``kind="auto"`` fell
        back to the corner grid.
    """
    if kind not in ("auto", "arviz", "corner"):
        raise DataError(
            f"'kind' must be one of 'arviz', 'auto', 'corner'; got {kind!r}", argument="kind"
        )
    use_arviz = kind == "arviz" or (kind == "auto" and fig is None)
    if use_arviz:
        try:
            import arviz_plots
        except ImportError:
            if kind == "arviz":
                raise
            use_arviz = False
    label = "corner"
    if use_arviz:
        # an unknown name is one DataError whichever way the plot is drawn
        labels, _ = posterior_columns(fit, var_names, drop_redundant=drop_redundant)
        tree = _selected(_tree(fit), var_names, drop_redundant)
        if kind == "auto" and len(labels) < _n_panels(tree):
            label = "corner (columns constant over the draws left out)"
        else:
            try:
                out = _arviz_pair(arviz_plots, tree, kwargs)
            except Exception as exc:  # arviz_plots cannot draw these draws: the corner grid can
                if kind == "arviz" or kwargs:  # arviz_plots was asked for by name or options
                    raise
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                label = f"corner (arviz_plots failed: {reason})"
            else:
                out.set_label("arviz_plots.plot_pair")
                if detach:
                    import matplotlib.pyplot as plt

                    plt.close(out)
                return out
    labels, draws = posterior_columns(fit, var_names, drop_redundant=drop_redundant)
    out = _corner(labels, draws, fig, bins=bins, max_points=max_points)
    out.set_label(label)
    return out
