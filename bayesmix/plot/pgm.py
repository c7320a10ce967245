"""The probabilistic graphical model (PGM) of a built model, drawn with daft like a hand-drawn one.

:func:`plot_pgm` draws a :class:`~bayesmix.builders.MixtureModel` from its PyMC
graph, so the figure and the model cannot drift apart, but lays it out as one
would by hand: the model's parameters on top (grouped by the mixture component
they describe, the mixing weights between them), the per-object nodes in a
plate below (the observed data shaded, fixed data as points, the marginalised
component label :math:`q_n` between the weights and the data), and LaTeX
symbols from a per-builder table (:data:`SYMBOLS`).  :func:`pgm_layout`
computes what is drawn (and is tested without a plotting backend).  daft is
imported when drawing.

Sampler reparameterisations are not drawn: the nodes are the builder's
parameters (``MixtureModel.var_names``), the observed variables and the data;
a free variable the sampler uses instead (``intercept_at_pivot``, a packed
Cholesky factor) and prior potentials are left out, and a parameter written as
a deterministic of them (``intercept``, ``cov_chol``) is drawn as the random
variable it stands for.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

__all__ = ["SYMBOLS", "pgm_layout", "plot_pgm", "symbol"]

#: LaTeX symbol of each variable, by builder (``MixtureModel.spec["builder"]``) and name;
#: ``"*"`` holds symbols shared by every builder.  Unlisted names are drawn as
#: ``\mathrm{name}``.  The component label ``__label__`` is the marginalised q_n.
SYMBOLS: dict[str, dict[str, str]] = {
    "*": {
        "weights": r"$\mathbf{w}$",
        "__label__": r"$q_n$",
    },
    "line_outlier": {
        "slope": r"$m$",
        "intercept": r"$b$",
        "outlier_mean": r"$\mu_{\rm out}$",
        "outlier_sigma": r"$\sigma_{\rm out}$",
        "intrinsic_scatter": r"$\sigma_{\rm int}$",
        "x": r"$x_n$",
        "y": r"$y_n$",
        "y_err": r"$\sigma_{y,n}$",
        "x_err": r"$\sigma_{x,n}$",
    },
    "gaussian_mixture": {
        "means": r"$\boldsymbol{\mu}_k$",
        "cov_chol": r"$\mathbf{L}_k$",
        "X": r"$\mathbf{x}_n$",
        "X_cov": r"$\mathbf{C}_n$",
    },
    "cluster_field": {
        "cluster_pmra": r"$\mu_{\alpha*}$",
        "cluster_pmdec": r"$\mu_{\delta}$",
        "cluster_parallax": r"$\varpi_{\rm c}$",
        "cluster_radial_velocity": r"$v_{\rm c}$",
        "cluster_pm_dispersion": r"$\sigma_{\mu}$",
        "cluster_parallax_dispersion": r"$\sigma_{\varpi}$",
        "cluster_radial_velocity_dispersion": r"$\sigma_{v}$",
        "cluster_chol": r"$\mathbf{L}_{\rm c}$",
        "cluster_ra": r"$\alpha_{\rm c}$",
        "cluster_dec": r"$\delta_{\rm c}$",
        "cluster_radius": r"$a$",
        "zero_point": r"$\varpi_0$",
        "field_alpha": r"$\alpha_{\rm f}$",
        "field_beta": r"$\beta_{\rm f}$",
        "field_length_scale": r"$L$",
        "field_weights": r"$\mathbf{w}_{\rm f}$",
        "field_means": r"$\boldsymbol{\mu}_{{\rm f},j}$",
        "field_chol": r"$\mathbf{L}_{{\rm f},j}$",
        "X": r"$\mathbf{y}_n$",
        "X_cov": r"$\mathbf{C}_n$",
        "sky_xi": r"$\xi_n$",
        "sky_eta": r"$\eta_n$",
        "field_fixed": r"$p_{\rm f}(\mathbf{y}_n)$",
        "window_lo": r"$r^{\rm lo}_n$",
        "window_hi": r"$r^{\rm hi}_n$",
    },
}

#: secondary plates: dim -> index symbol
_INNER_PLATES = {"component": "k", "field_component": "j"}
_LABEL = "__label__"
#: horizontal distance between parameters (grid units): edges into the observed node pass
#: q_n (one unit above it) at more than a node radius
_STEP = 1.25


def symbol(name: str, builder: str | None = None) -> str:
    """LaTeX label of variable ``name`` of ``builder`` (see :data:`SYMBOLS`)."""
    table = SYMBOLS.get(builder or "", {})
    if name in table:
        return table[name]
    if name in SYMBOLS["*"]:
        return SYMBOLS["*"][name]
    return r"$\mathrm{" + name.replace("_", r"\_") + "}$"


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


def _groups(names: list[str], components) -> dict[str, int]:
    """Component index of each parameter named in exactly one component's description."""
    out: dict[str, int] = {}
    for n in names:
        hits = [
            i
            for i, c in enumerate(components)
            if any(re.search(rf"\b{re.escape(n)}\b", str(v)) for v in dict(c.parameters).values())
        ]
        if len(hits) == 1:
            out[n] = hits[0]
    return out


def pgm_layout(mixture_model: Any, *, plate_dim: str = "object") -> dict[str, Any]:
    """Compute what :func:`plot_pgm` draws: nodes, kinds, positions, edges, plates, labels.

    Parameters
    ----------
    mixture_model : MixtureModel or pymc.Model
        A builder's result; a bare PyMC model is drawn with every named
        variable and raw names.
    plate_dim : str, default "object"
        The dim of the per-object plate.

    Returns
    -------
    dict
        ``kinds`` (name -> "free", "observed", "data", "latent"; for a bare
        model also "deterministic" and "potential"), ``positions``
        (name -> (x, y) in grid units, parameters above the plate), ``edges``
        (parent, child), ``plates`` (list of dicts with ``rect`` = (x0, y0, width,
        height), ``label``, ``nodes``), ``labels`` (name -> LaTeX), ``plate``
        and ``plate_size`` (the per-object plate's rectangle and size),
        ``offsets`` (label offsets in points of the data points).
    """
    g = _graph(mixture_model, plate_dim)
    kinds, edges, in_plate = g["kinds"], g["edges"], g["in_plate"]
    pos, offsets, q_x = _plate_positions(g)
    rows, xs, inner = _parameter_columns(g, q_x)
    # heights: q_n at least a unit above the observed node and 1.5 below the first row;
    # a long first row is raised (q_n with it) so that the figure stays within 3:1
    span = (max(xs.values()) - min(xs.values()) + 2.0) if xs else 0.0
    y_first = max(2.5, span / 2.9 - 2.0)
    plate_top = y_first - 1.5
    if _LABEL in kinds:
        pos[_LABEL] = (q_x, plate_top)
    else:
        plate_top, y_first = 0.0, 1.5
    for r, row in enumerate(rows):
        for n in row:
            pos[n] = (xs[n], y_first + 1.2 * r)
    model, bare = g["model"], g["var_names"] is None
    plates = []
    if in_plate:
        px = [pos[n][0] for n in in_plate]
        x0, x1 = min(px) - 0.55, max(max(px) + 0.55, min(px) + 1.9)  # room for the label
        y_low = min(pos[n][1] for n in in_plate)
        size = len(model.coords.get(plate_dim, ()))
        label = f"{plate_dim} n = 1..{size}" if bare else rf"$n = 1, \ldots, {size}$"
        plates.append(
            {
                "rect": (x0, y_low - 0.75, x1 - x0, plate_top - y_low + 1.3),
                "label": label,
                "nodes": sorted(in_plate),
            }
        )
    for d, i_sym in _INNER_PLATES.items():
        members = [n for n, dd in inner.items() if dd == d]
        if members:
            mx = [pos[n][0] for n in members]
            my = [pos[n][1] for n in members]
            rect = (
                min(mx) - 0.5,
                min(my) - 0.8,
                max(max(mx) - min(mx) + 1.0, 2.0),
                max(my) - min(my) + 1.25,
            )
            n_d = len(model.coords.get(d, ()))
            plates.append(
                {"rect": rect, "label": rf"${i_sym} = 1, \ldots, {n_d}$", "nodes": sorted(members)}
            )
    return {
        "kinds": kinds,
        "positions": pos,
        "edges": sorted(edges),
        "plates": plates,
        "plate": plates[0]["rect"] if in_plate else None,
        "plate_size": len(model.coords.get(plate_dim, ())),
        "labels": g["labels"],
        "offsets": offsets,
    }


def _graph(mixture_model: Any, plate_dim: str) -> dict[str, Any]:
    """Nodes drawn, their kinds, labels and edges, and which sit in the per-object plate."""
    from pymc.model_graph import ModelGraph

    model = getattr(mixture_model, "model", mixture_model)
    builder = (getattr(mixture_model, "spec", None) or {}).get("builder")
    var_names = getattr(mixture_model, "var_names", None)
    graph = ModelGraph(model).make_compute_graph()
    raw = _node_kinds(model)
    names = [n for n in raw if n in graph or any(n in p for p in graph.values())]
    parents = {n: {p for p in graph.get(n, ()) if p in raw} for n in names}
    if var_names is None:  # a bare model: every named variable as it is
        shown = set(names)
        kinds = {n: raw[n] for n in shown}
    else:  # deterministic parameters are drawn as the random variables they stand for
        shown = set(var_names) | {n for n in names if raw[n] in ("observed", "data")}
        kinds = {n: ("free" if raw[n] in ("free", "deterministic") else raw[n]) for n in shown}

    def effective(n: str, seen: frozenset = frozenset()) -> set[str]:
        out: set[str] = set()
        for p in parents.get(n, ()):
            if p not in seen:
                out |= {p} if p in shown else effective(p, seen | {n})
        return out

    edges: set[tuple[str, str]] = set()
    for n in shown:
        if raw[n] == "deterministic" and var_names is not None:
            continue  # a reparameterised parameter: no edges from what it is computed from
        edges |= {(p, n) for p in effective(n)}
    dims = model.named_vars_to_dims
    in_plate = {n for n in shown if plate_dim in (dims.get(n) or ())}
    observed = sorted(n for n in in_plate if kinds[n] == "observed")
    if "weights" in shown and len(observed) == 1 and ("weights", observed[0]) in edges:
        kinds[_LABEL] = "latent"
        in_plate.add(_LABEL)
        edges.discard(("weights", observed[0]))
        edges |= {("weights", _LABEL), (_LABEL, observed[0])}
    return {
        "model": model,
        "var_names": var_names,
        "components": getattr(mixture_model, "components", ()) or (),
        "kinds": kinds,
        "labels": {n: n if var_names is None else symbol(n, builder) for n in kinds},
        "edges": edges,
        "in_plate": in_plate,
        "observed": observed,
        "dims": dims,
        "order": {n: i for i, n in enumerate(list(var_names or ()) + list(raw))},
    }


def _plate_positions(g: dict[str, Any]):
    """Observed nodes in a row at height 0, data points on a half circle below them.

    Each data point's edge is a radius of the circle, so no edge runs through another
    point.  Returns positions, label offsets (points) and the x of the observed node.
    """
    kinds, in_plate, observed, order = g["kinds"], g["in_plate"], g["observed"], g["order"]
    pos: dict[str, tuple[float, float]] = {}
    data = sorted((n for n in in_plate if kinds[n] == "data"), key=lambda n: order[n])
    others = sorted(n for n in in_plate if kinds[n] not in ("data", "observed") and n != _LABEL)
    bottom = observed + others
    for i, n in enumerate(bottom):
        pos[n] = (i - (len(bottom) - 1) / 2, 0.0)
    q_x = pos[observed[0]][0] if observed else 0.0
    offsets: dict[str, tuple[float, float]] = {}
    if data:
        angles = [math.pi] if len(data) == 1 else np.linspace(math.pi, 2 * math.pi, len(data))
        radius = 1.0 + 0.15 * max(len(data) - 3, 0)
        for n, a in zip(data, angles, strict=True):
            c, s = math.cos(a), math.sin(a)
            pos[n] = (q_x + radius * c, radius * s)
            offsets[n] = (0.0, 6.0) if s > -0.3 else (12.0 * c, -14.0)
    return pos, offsets, q_x


def _parameter_columns(g: dict[str, Any], q_x: float):
    """Rows of parameters (by distance from the plate) and their x positions.

    In the row next to the plate the weights sit above q_n, component 0's parameters
    to their left and the others (shared ones first, inner-plate ones last) to their
    right; with one side empty the row is split evenly around the weights.
    """
    kinds, edges, in_plate, order = g["kinds"], g["edges"], g["in_plate"], g["order"]
    glob = [n for n in kinds if n not in in_plate]
    level: dict[str, int] = {}

    def lev(n: str, seen: frozenset = frozenset()) -> int:
        if n not in level:
            children = [c for p, c in edges if p == n and c not in seen and c not in in_plate]
            level[n] = 1 + max((lev(c, seen | {n}) for c in children), default=0)
        return level[n]

    for n in glob:
        lev(n)
    group = _groups(glob, g["components"])
    inner = {
        n: d
        for n in glob
        for d in (g["dims"].get(n) or ())
        if d in _INNER_PLATES and not n.endswith("weights")
    }

    def order_key(n: str) -> tuple:
        k = group.get(n)
        slot = 0 if k == 0 else (1 if k is None else 1 + k)
        return (n in inner, inner.get(n, ""), slot, order.get(n, 0), n)

    rows = [
        sorted((n for n in glob if level[n] == lv), key=order_key)
        for lv in sorted(set(level.values()))
    ]
    xs: dict[str, float] = {}
    for row in rows:
        anchor = "weights" if "weights" in row and _LABEL in kinds else None
        if anchor is None:
            for i, n in enumerate(row):
                xs[n] = q_x + _STEP * (i - (len(row) - 1) / 2)
            continue
        rest = [n for n in row if n != anchor]
        lhs = [n for n in rest if group.get(n) == 0 and n not in inner]
        rhs = [n for n in rest if n not in lhs]
        if not lhs and not any(n in inner for n in rhs):
            lhs, rhs = rhs[: len(rhs) // 2], rhs[len(rhs) // 2 :]
        elif not rhs:
            lhs, rhs = lhs[: (len(lhs) + 1) // 2], lhs[(len(lhs) + 1) // 2 :]
        for i, n in enumerate(lhs):
            xs[n] = q_x - _STEP * (len(lhs) - i)
        xs[anchor] = q_x
        for j, n in enumerate(rhs):
            xs[n] = q_x + _STEP * (1 + j)
    return rows, xs, inner


def plot_pgm(mixture_model: Any, *, plate_dim: str = "object", **kwargs: Any):
    """Draw a built model as a probabilistic graphical model with daft.

    Parameters above, per-object nodes in a plate below; random variables are
    open circles, observed variables shaded, fixed data small points; vector
    parameters over the mixture components (``means``, ``cov_chol``) sit in a
    plate of their own.  Labels are LaTeX symbols from :data:`SYMBOLS`.

    Parameters
    ----------
    mixture_model : MixtureModel or pymc.Model
        A builder's result (a bare PyMC model is drawn with raw names).
    plate_dim : str, default "object"
        The dim of the per-object plate.
    **kwargs
        Passed to :class:`daft.PGM` (e.g. ``dpi``).

    Returns
    -------
    matplotlib.figure.Figure
        Width at most about three times the height.
    """
    import daft

    lay = pgm_layout(mixture_model, plate_dim=plate_dim)
    pgm = daft.PGM(**{"node_unit": 0.8, "grid_unit": 1.6, **kwargs})
    for name, kind in lay["kinds"].items():
        x, y = lay["positions"][name]
        label = lay["labels"][name]
        if kind == "data":
            pgm.add_node(name, label, x, y, fixed=True, offset=lay["offsets"].get(name, (0, 6)))
        else:
            # raw names (bare models) need wide nodes; symbols fit in a circle
            aspect = max(1.0, 0.1 * len(re.sub(r"\\[a-zA-Z]+|[${}\\]", "", label)) + 0.2)
            style = {"observed": kind == "observed", "aspect": aspect}
            if kind == "deterministic":
                style["plot_params"] = {"linestyle": "--"}
            elif kind == "potential":
                style["shape"] = "rectangle"
            pgm.add_node(name, label, x, y, **style)
    for a, b in lay["edges"]:
        pgm.add_edge(a, b)
    for plate in lay["plates"]:
        pgm.add_plate(list(plate["rect"]), label=plate["label"], position="bottom right")
    # daft computes edge slopes as dy/dx and divides by zero for vertical
    # edges; the result (an infinite slope) is what it wants, so silence it
    with np.errstate(divide="ignore", invalid="ignore"):
        ax = pgm.render()
    return ax.figure
