"""builders.cluster.detect: the first pass finds the simulated cluster."""

import numpy as np

from bayesmix.builders.cluster import find_center
from tests._cluster_fits import simulate


def test_find_center_on_simulated_data():
    t, member = simulate(3)
    c = find_center(t)
    np.testing.assert_allclose(c["pm_center"], [8.0, -4.0], atol=0.15)
    np.testing.assert_allclose(c["sky_center"], [120.0, -20.0], atol=0.1)
    assert c["selected"][member].mean() > 0.8
