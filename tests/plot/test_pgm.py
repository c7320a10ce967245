"""plot.pgm: the PGM layout follows the model graph; daft draws it; the old method warns."""

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesmix.builders import cluster_field, gaussian_mixture, line_outlier
from bayesmix.datasets import load_hogg2010
from bayesmix.plot import plot_pgm
from bayesmix.plot.pgm import pgm_layout
from tests._cluster_fits import simulate

# Evaluating D > 2 graphs with PyTensor's default C linker warns that pip-installed
# PyTensor found no BLAS; it is a speed note, not a problem in bayesmix.
pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")


@pytest.fixture(scope="module")
def hogg_model():
    hogg = load_hogg2010()
    return line_outlier(hogg["x"], hogg["y"], hogg["sigma_y"], ids=hogg["ID"])


def _texts(fig):
    return {t.get_text() for ax in fig.axes for t in ax.texts}


def test_pgm(hogg_model):
    lay = pgm_layout(hogg_model.model)
    kinds = lay["kinds"]
    assert kinds["y"] == "observed"
    assert kinds["slope"] == "free"
    assert kinds["x"] == "data" and kinds["y_err"] == "data"
    assert kinds["intercept"] == "deterministic"
    assert ("slope", "y") in lay["edges"] and ("x", "y") in lay["edges"]
    # the plate holds exactly the per-object nodes
    x0, y0, w, h = lay["plate"]
    for name, (px, py) in lay["positions"].items():
        inside = x0 < px < x0 + w and y0 < py < y0 + h
        assert inside == (name in {"x", "y", "y_err"}), name
    assert lay["plate_size"] == 20
    fig = plot_pgm(hogg_model)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert {"slope", "y", "weights"} <= _texts(fig)
    assert "object n = 1..20" in _texts(fig)
    plt.close(fig)


def test_pgm_generic(rng):
    X = np.r_[rng.normal(-2, 1, (5, 2)), rng.normal(2, 0.5, (5, 2))]
    mm = gaussian_mixture(X, 2, X_err=np.full((10, 2), 0.1))
    lay = pgm_layout(mm.model)
    assert lay["kinds"]["X"] == "observed" and lay["kinds"]["X_cov"] == "data"
    assert ("means", "X") in lay["edges"]
    fig = plot_pgm(mm)
    assert {"X", "means", "weights"} <= _texts(fig)
    plt.close(fig)
    # a bare PyMC model draws the same nodes
    fig = plot_pgm(mm.model)
    assert {"X", "means", "weights"} <= _texts(fig)
    plt.close(fig)


def test_pgm_draws_cluster_field():
    t, _ = simulate(5, n=100)
    mm = cluster_field(t)
    fig = plot_pgm(mm)
    assert {"X", "X_cov", "field_fixed", "weights", "cluster_pmra"} <= _texts(fig)
    plt.close(fig)


def test_mixture_model_pgm_is_a_deprecated_shim(hogg_model):
    with pytest.warns(FutureWarning, match=r"bayesmix\.plot\.plot_pgm"):
        fig = hogg_model.pgm()
    assert _texts(fig) == _texts(plot_pgm(hogg_model))
    plt.close("all")
