"""plot_radial_profile, plot_parallax_distance: log axes, model band, distance axis."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesmix.analysis.figures_data import parallax_distance
from bayesmix.analysis.profiles import plummer_profile, radial_profile
from bayesmix.exceptions import DataError
from bayesmix.plot import plot_parallax_distance, plot_radial_profile
from bayesmix.sky import from_tangent_plane


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_radial_profile_plot(rng):
    n = 800
    u = rng.uniform(0, 0.97, n)
    r = 0.3 * np.sqrt(u / (1 - u))
    phi = rng.uniform(0, 2 * np.pi, n)
    ra, dec = from_tangent_plane(r * np.cos(phi), r * np.sin(phi), 10.0, 40.0)
    p = rng.uniform(0.5, 1, n)
    prof = radial_profile(ra, dec, p, center=(10.0, 40.0))
    model = plummer_profile(
        np.geomspace(0.01, 2, 50), scale_radius=rng.normal(0.3, 0.01, 100), n_members=p.sum()
    )
    fig, ax = plt.subplots()
    out = plot_radial_profile(prof, model, background=5.0, ax=ax)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "radius from the cluster centre (deg)"
    assert "per deg" in ax.get_ylabel()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:4] == [
        "all stars",
        "fitted Plummer profile",
        "68% credible band",
        "fitted field density",
    ]
    assert any(t.startswith("members (sum of p") for t in texts)
    y0, y1 = ax.get_ylim()
    ok = prof.density > 0
    assert y0 <= prof.density[ok].min() and y1 >= prof.density[ok].max()
    fig.canvas.draw()
    with pytest.raises(DataError, match="RadialProfile"):
        plot_radial_profile(r)


def test_parallax_distance_plot(rng):
    s = parallax_distance(rng.normal(4.21, 0.01, 2000))
    fig, ax = plt.subplots()
    out = plot_parallax_distance(
        s, reference={"parallax": 4.21, "parallax_error": 0.005, "label": "CG20"}, ax=ax
    )
    assert out is ax
    assert ax.get_xlabel() == "cluster parallax (mas)"
    (top,) = ax.child_axes
    assert top.get_xlabel() == "distance (pc)"
    x0, x1 = ax.get_xlim()
    assert x0 < 4.2 < x1 and x1 - x0 < 0.2
    assert ax.get_ylim()[0] == 0
    assert "distance 237" in ax.get_title()
    assert "CG20" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig.canvas.draw()
    with pytest.raises(DataError, match="'parallax' entry"):
        plot_parallax_distance(s, reference={"value": 4.2})
