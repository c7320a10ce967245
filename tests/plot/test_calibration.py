"""plot_reliability, plot_probability_histogram: diagonal, points, counts, legends."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesmix.analysis.figures_data import probability_histogram, reliability_curve
from bayesmix.exceptions import DataError
from bayesmix.plot import plot_probability_histogram, plot_reliability


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_reliability_plot(rng):
    p = rng.uniform(size=2000)
    truth = rng.uniform(size=2000) < p
    c = reliability_curve(p, truth, bins=10)
    fig, ax = plt.subplots()
    out = plot_reliability(c, ax=ax)
    assert out is ax
    diag = ax.lines[0]
    np.testing.assert_allclose(diag.get_xydata(), [[0, 0], [1, 1]])
    pts = ax.lines[1].get_xydata()
    np.testing.assert_allclose(pts[:, 0], c.mean_probability)
    np.testing.assert_allclose(pts[:, 1], c.observed_fraction)
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert ax.get_xlabel() == "predicted membership probability"
    assert "68% interval" in ax.get_ylabel()
    (twin,) = [a for a in fig.axes if a.get_label() == "counts"]
    assert twin.get_yscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "perfectly calibrated" and texts[1].startswith("Brier score")
    fig.canvas.draw()


def test_reliability_several_curves_and_empty_bins(rng):
    p = np.r_[rng.uniform(0, 0.2, 100), rng.uniform(0.8, 1, 100)]
    truth = rng.uniform(size=200) < p
    curves = {
        "injected at 1 deg": reliability_curve(p, truth),
        "injected at 2 deg": reliability_curve(p[::-1], truth),
    }
    ax = plot_reliability(curves, show_counts=False)
    assert len(ax.figure.axes) == 1
    # the middle bins are empty and not drawn
    assert len(ax.lines[1].get_xydata()) == int((curves["injected at 1 deg"].counts > 0).sum())
    assert [t.get_text() for t in ax.get_legend().get_texts()][1:] == list(curves)
    with pytest.raises(DataError, match="ReliabilityCurve"):
        plot_reliability({"a": (p, truth)})


def test_probability_histogram_plot(rng):
    p = rng.beta(0.2, 0.5, 1000)
    p[:3] = np.nan
    h = probability_histogram(p, bins=20)
    fig, ax = plt.subplots()
    assert plot_probability_histogram(h, ax=ax) is ax
    assert ax.get_yscale() == "log" and ax.get_xlim() == (0, 1)
    assert ax.get_xlabel() == "membership probability p(cluster)"
    assert ax.get_ylabel() == "objects per bin"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "997 scored, 3 not scored"
    assert texts[1] == f"{h.n_above} with p > 0.5"
    assert texts[2] == f"expected members (sum of p): {np.nansum(p):.1f}"
    lin = plot_probability_histogram(h, log=False)
    assert lin.get_yscale() == "linear"
    with pytest.raises(DataError, match="ProbabilityHistogram"):
        plot_probability_histogram(p)
