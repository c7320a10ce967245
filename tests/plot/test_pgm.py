"""plot.pgm: a hand-drawn-like layout of every builder's model, from the model graph; the old
method warns.

Checked on the layout (no pixels): every node has a symbol, parameters sit above
the per-object plate and observed nodes inside it, every parameter reaches the
data, no edge runs through a node, the figure is at most 3:1.
"""

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesmix.builders import cluster_field, gaussian_mixture, line_outlier
from bayesmix.datasets import load_hogg2010
from bayesmix.plot import plot_pgm
from bayesmix.plot.pgm import SYMBOLS, pgm_layout, symbol
from tests._cluster_fits import simulate, simulate_parallax

# Evaluating D > 2 graphs with PyTensor's default C linker warns that pip-installed
# PyTensor found no BLAS; it is a speed note, not a problem in bayesmix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:PyTensor could not link to a BLAS:UserWarning",
    "ignore::bayesmix.gaia.GaiaColumnWarning",
)


@pytest.fixture(scope="module")
def hogg():
    return load_hogg2010()


@pytest.fixture(scope="module")
def hogg_model(hogg):
    return line_outlier(hogg["x"], hogg["y"], hogg["sigma_y"], ids=hogg["ID"])


def _gaia(seed=5, n=150):
    t, _ = simulate(seed, n=n)
    rng = np.random.default_rng(seed)
    t["radial_velocity"] = rng.normal(20, 5, n)
    t["radial_velocity_error"] = rng.uniform(0.5, 2, n)
    return t


def _models(hogg):
    """Every builder, in each of its structurally different variants."""
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(-2, 1, (15, 2)), rng.normal(2, 0.5, (15, 2))]
    t = _gaia()
    tp, _ = simulate_parallax(3, n=150)
    full = ("ra", "dec", "parallax", "pmra", "pmdec")
    return {
        "line": lambda: line_outlier(hogg["x"], hogg["y"], hogg["sigma_y"]),
        "line_uniform_xerr_scatter": lambda: line_outlier(
            hogg["x"],
            hogg["y"],
            hogg["sigma_y"],
            x_err=hogg["sigma_x"],
            outlier="uniform",
            intrinsic_scatter=True,
        ),
        "gmm": lambda: gaussian_mixture(X, 3),
        "gmm_errors": lambda: gaussian_mixture(X, 2, X_err=np.full((30, 2), 0.1)),
        "cf_pm1d": lambda: cluster_field(t, features=("pmra",), rng=1),
        "cf_pm2d": lambda: cluster_field(t, rng=1),
        "cf_pm2d_free_full": lambda: cluster_field(t, field_fit="free", cluster_cov="full", rng=1),
        "cf_parallax_beta": lambda: cluster_field(tp, features=("parallax",), field="beta"),
        "cf_parallax_edsd": lambda: cluster_field(
            tp, features=("parallax",), field="edsd", zero_point="free"
        ),
        "cf_astrometric": lambda: cluster_field(t, features=("parallax", "pmra", "pmdec"), rng=1),
        "cf_full": lambda: cluster_field(t, features=full, rng=1),
        "cf_full_rv": lambda: cluster_field(t, features=(*full, "radial_velocity"), rng=1),
    }


def _reaches(edges, start, goal):
    todo, seen = [start], set()
    while todo:
        n = todo.pop()
        if n == goal:
            return True
        seen.add(n)
        todo += [c for p, c in edges if p == n and c not in seen]
    return False


def _check_layout(mm):
    lay = pgm_layout(mm)
    kinds, pos, edges = lay["kinds"], lay["positions"], lay["edges"]
    builder = mm.spec["builder"]
    # every node has its own symbol (a new variable needs one in SYMBOLS)
    for n in kinds:
        assert "\\mathrm" not in lay["labels"][n], f"{builder}: no symbol for {n!r}"
    # the builder's parameters are drawn, the sampler's reparameterisations are not
    assert set(mm.var_names) <= set(kinds)
    assert not {n for n in kinds if "packed" in n or n.endswith("_at_pivot")}
    # per-object plate below, parameters above it
    x0, y0, w, h = lay["plate"]
    top = y0 + h
    observed = [n for n, k in kinds.items() if k == "observed"]
    assert observed
    for n, (x, y) in pos.items():
        inside = x0 < x < x0 + w and y0 < y < top
        assert inside == (n in lay["plates"][0]["nodes"]), n
        if n in mm.var_names:
            assert y > top, n
    # the component label between the weights and the data
    obs = observed[0]
    assert ("weights", "__label__") in edges and ("__label__", obs) in edges
    assert ("weights", obs) not in edges
    # every parameter reaches the observed data
    for n in mm.var_names:
        assert _reaches(edges, n, obs), n
    # no edge runs through a node it does not join (node radius 0.4 grid units)
    for a, b in edges:
        p, q = np.array(pos[a]), np.array(pos[b])
        for n, c in pos.items():
            if n in (a, b):
                continue
            c = np.array(c)
            t = np.clip(np.dot(c - p, q - p) / np.dot(q - p, q - p), 0, 1)
            assert np.linalg.norm(p + t * (q - p) - c) > 0.4, f"{a} -> {b} runs through {n}"
    return lay


def test_every_builder_laid_out_like_a_hand_drawn_pgm(hogg):
    for name, build in _models(hogg).items():
        mm = build()
        _check_layout(mm)
        fig = plot_pgm(mm)
        w, h = fig.get_size_inches()
        assert w / h <= 3.0, f"{name}: aspect {w / h:.2f}"
        plt.close(fig)


def test_line_outlier_pgm(hogg_model):
    lay = _check_layout(hogg_model)
    pos, labels = lay["positions"], lay["labels"]
    # the inlier's parameters left of the weights, the outlier's right; w above q_n above y_n
    assert max(pos["slope"][0], pos["intercept"][0]) < pos["weights"][0]
    assert min(pos["outlier_mean"][0], pos["outlier_sigma"][0]) > pos["weights"][0]
    assert pos["weights"][0] == pos["__label__"][0] == pos["y"][0]
    assert pos["weights"][1] > pos["__label__"][1] > pos["y"][1]
    assert lay["kinds"]["x"] == "data" and lay["kinds"]["y_err"] == "data"
    assert lay["kinds"]["intercept"] == "free"  # drawn as the variable it stands for
    assert labels["slope"] == "$m$" and labels["intercept"] == "$b$"
    assert lay["plates"][0]["label"] == r"$n = 1, \ldots, 20$"
    fig = plot_pgm(hogg_model)
    assert isinstance(fig, matplotlib.figure.Figure)
    texts = _texts(fig)
    assert {"$m$", "$b$", r"$\mathbf{w}$", "$q_n$", "$y_n$", r"$n = 1, \ldots, 20$"} <= texts
    plt.close(fig)


def test_gaussian_mixture_component_plate(rng):
    X = np.r_[rng.normal(-2, 1, (10, 2)), rng.normal(2, 0.5, (10, 2))]
    mm = gaussian_mixture(X, 2)
    lay = _check_layout(mm)
    inner = lay["plates"][1]
    assert inner["nodes"] == ["cov_chol", "means"]
    assert inner["label"] == r"$k = 1, \ldots, 2$"
    assert "weights" not in inner["nodes"]


def test_symbols_and_bare_models(hogg_model):
    for table in SYMBOLS.values():
        for v in table.values():
            assert v.startswith("$") and v.endswith("$")
    assert symbol("slope", "line_outlier") == "$m$"
    assert symbol("weights", "cluster_field") == r"$\mathbf{w}$"
    assert symbol("new_thing", "line_outlier") == r"$\mathrm{new\_thing}$"
    # a bare PyMC model: every named variable with its raw kind and name
    lay = pgm_layout(hogg_model.model)
    kinds = lay["kinds"]
    assert {"slope", "intercept_at_pivot", "y", "x"} <= set(kinds)
    assert kinds["intercept"] == "deterministic" and kinds["intercept_prior"] == "potential"
    assert ("slope", "y") in lay["edges"] and ("x", "y") in lay["edges"]
    assert lay["labels"]["slope"] == "slope"
    assert lay["plates"][0]["label"] == "object n = 1..20"
    fig = plot_pgm(hogg_model.model)
    assert {"slope", "intercept", "y"} <= _texts(fig)
    plt.close(fig)


def _texts(fig):
    return {t.get_text() for ax in fig.axes for t in ax.texts}


def test_mixture_model_pgm_is_a_deprecated_shim(hogg_model):
    with pytest.warns(FutureWarning, match=r"bayesmix\.plot\.plot_pgm"):
        fig = hogg_model.pgm()
    assert _texts(fig) == _texts(plot_pgm(hogg_model))
    plt.close("all")
