"""The probabilistic graphical model (PGM) of a built model, drawn with daft.

:func:`plot_pgm` draws a :class:`~bayesmix.builders.MixtureModel`'s PyMC graph,
so the figure and the model cannot drift apart; :func:`pgm_layout` computes
the node kinds, grid positions, edges and plate box it draws (and is tested
without a plotting backend).  daft is imported when drawing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pgm_layout", "plot_pgm"]


def _node_kinds(model) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for v in model.data_vars:
        kinds[v.name] = "data"
    for v in model.free_RVs:
        kinds[v.name] = "free"
    for v in model.observed_RVs:
        kinds[v.name] = "observed"
    for v in model.deterministics:
        kinds[v.name] = "deterministic"
    for v in model.potentials:
        kinds[v.name] = "potential"
    return kinds


def pgm_layout(model, *, plate_dim: str = "object") -> dict[str, Any]:
    """Compute node kinds, grid positions, edges and the plate box of ``model``.

    Rows are graph depths (roots on top); within a row nodes are sorted by
    name, and nodes over ``plate_dim`` are put in columns to the right of all
    other nodes so that the plate never encloses a node outside it.
    """
    from pymc.model_graph import ModelGraph

    graph = ModelGraph(model).make_compute_graph()
    kinds = _node_kinds(model)
    names = [n for n in kinds if n in graph or any(n in p for p in graph.values())]
    parents = {n: sorted(p for p in graph.get(n, ()) if p in kinds) for n in names}
    depth: dict[str, int] = {}

    def _depth(n: str, seen: tuple = ()) -> int:
        if n not in depth:
            ps = [p for p in parents[n] if p not in seen]
            depth[n] = 0 if not ps else 1 + max(_depth(p, (*seen, n)) for p in ps)
        return depth[n]

    for n in names:
        _depth(n)
    dims = model.named_vars_to_dims
    in_plate = {n for n in names if plate_dim in (dims.get(n) or ())}
    rows: dict[int, list[str]] = {}
    for n in sorted(names):
        rows.setdefault(depth[n], []).append(n)
    n_out = max((sum(n not in in_plate for n in r) for r in rows.values()), default=0)
    pos = {}
    for d, row in rows.items():
        outside = [n for n in row if n not in in_plate]
        inside = [n for n in row if n in in_plate]
        for i, n in enumerate(outside):
            pos[n] = (float(i), -float(d))
        for i, n in enumerate(inside):
            pos[n] = (float(n_out + i), -float(d))
    plate = None
    if in_plate:
        xs = [pos[n][0] for n in in_plate]
        ys = [pos[n][1] for n in in_plate]
        plate = (min(xs) - 0.5, min(ys) - 0.5, max(xs) - min(xs) + 1.0, max(ys) - min(ys) + 1.0)
    edges = [(p, n) for n in names for p in parents[n]]
    return {
        "kinds": {n: kinds[n] for n in names},
        "positions": pos,
        "edges": edges,
        "plate": plate,
        "plate_size": len(model.coords.get(plate_dim, ())),
    }


def plot_pgm(mixture_model: Any, *, plate_dim: str = "object", **kwargs: Any):
    """Draw a built model as a probabilistic graphical model with daft.

    Random variables are open circles, observed variables shaded, data and
    other fixed quantities small points, deterministics dashed and potentials
    (extra log-density terms) rectangles; variables over ``plate_dim`` sit in a
    plate.  The layout follows the model graph (:func:`pgm_layout`): each
    node's row is one below its deepest parent.

    Parameters
    ----------
    mixture_model : MixtureModel or pymc.Model
        A builder's result (its ``model`` is drawn) or a PyMC model.
    plate_dim : str, default "object"
        The dim whose variables are drawn inside the plate.
    **kwargs
        Passed to :class:`daft.PGM` (e.g. ``dpi``, ``node_unit``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import daft

    model = getattr(mixture_model, "model", mixture_model)

    lay = pgm_layout(model, plate_dim=plate_dim)
    scale_x = max(2.2, max((0.22 * len(n) + 1.0 for n in lay["kinds"]), default=2.2))
    pgm = daft.PGM(**kwargs)
    for name, kind in lay["kinds"].items():
        x, y = lay["positions"][name]
        x *= scale_x
        aspect = max(1.0, 0.22 * len(name) + 0.4)
        if kind == "data":
            pgm.add_node(name, name, x, y, fixed=True, offset=(0, 8))
        elif kind == "observed":
            pgm.add_node(name, name, x, y, observed=True, aspect=aspect)
        elif kind == "deterministic":
            pgm.add_node(name, name, x, y, aspect=aspect, plot_params={"linestyle": "--"})
        elif kind == "potential":
            pgm.add_node(name, name, x, y, aspect=aspect, shape="rectangle")
        else:
            pgm.add_node(name, name, x, y, aspect=aspect)
    for a, b in lay["edges"]:
        pgm.add_edge(a, b)
    if lay["plate"] is not None:
        x0, y0, w, h = lay["plate"]
        h += 0.3  # room for the plate label below the lowest node
        y0 -= 0.3
        pgm.add_plate(
            [x0 * scale_x + 0.1 * scale_x, y0, w * scale_x - 0.2 * scale_x, h],
            label=f"{plate_dim} n = 1..{lay['plate_size']}",
            position="bottom right",
        )
    # daft computes edge slopes as dy/dx and divides by zero for vertical
    # edges; the result (an infinite slope) is what it wants, so silence it
    with np.errstate(divide="ignore", invalid="ignore"):
        ax = pgm.render()
    return ax.figure
