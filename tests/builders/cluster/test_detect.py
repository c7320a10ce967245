"""builders.cluster.detect: the first pass finds clusters by significance, and says when none."""

import math

import numpy as np
import pytest
from astropy.table import Table
from scipy import stats

from bayesmix.builders.cluster import find_center
from bayesmix.builders.cluster.detect import Z_MIN, detect_cluster, lima_significance
from bayesmix.exceptions import DataError
from bayesmix.simulate import ClusterSpec, inject_clusters
from tests._cluster_fits import simulate

DR3_FIELD = ("gaia_field_dr3_ra45_dec0", "gaiadr3_field_ra45_dec0_r0p5.csv.gz")


def _smooth_field(n=6000, seed=0):
    """A cluster-free field: two broad pm Gaussians, exponential parallaxes, uniform cone."""
    g = np.random.default_rng(seed)
    rho = np.degrees(np.arccos(1 - g.random(n) * (1 - math.cos(math.radians(1.0)))))
    th = g.uniform(0, 2 * np.pi, n)
    from bayesmix.sky import from_tangent_plane

    xi = np.degrees(np.tan(np.radians(rho)))
    ra, dec = from_tangent_plane(xi * np.sin(th), xi * np.cos(th), 200.0, 30.0)
    plx_true = g.exponential(0.8, n) + 0.05
    err = g.uniform(0.02, 0.4, n)
    # pm of the field scales with parallax (velocities of ~30 km/s), plus errors
    pm = (
        g.normal([-3.0, -5.0], 1.0, (n, 2))
        + g.normal(0, 30.0 / 4.74, (n, 2)) * plx_true[:, None]
        + g.normal(0, 1, (n, 2)) * err[:, None]
    )
    return Table(
        {
            "source_id": np.arange(n) + 1,
            "ra": np.asarray(ra) % 360,
            "dec": dec,
            "parallax": plx_true + g.normal(0, 1, n) * err,
            "parallax_error": err,
            "pmra": pm[:, 0],
            "pmdec": pm[:, 1],
            "pmra_error": err,
            "pmdec_error": err,
            "phot_g_mean_mag": 14 + 5 * err,
        }
    )


def test_lima_significance_is_the_poisson_likelihood_ratio():
    # Li & Ma (1983) eq. 17 = sqrt(-2 ln lambda) of the on/off Poisson likelihoods
    for n_on, n_off, alpha in ((30, 100, 0.1), (5, 200, 0.01), (50, 40, 0.5), (3, 90, 0.1)):
        b = (n_on + n_off) / (1 + alpha)
        ll0 = stats.poisson.logpmf(n_on, alpha * b) + stats.poisson.logpmf(n_off, b)
        ll1 = stats.poisson.logpmf(n_on, n_on) + stats.poisson.logpmf(n_off, n_off)
        ref = math.copysign(math.sqrt(2 * (ll1 - ll0)), n_on - alpha * n_off)
        np.testing.assert_allclose(lima_significance(n_on, n_off, alpha), ref, rtol=1e-10)


def test_find_center_on_simulated_data():
    t, member = simulate(3)
    c = find_center(t)
    np.testing.assert_allclose(c["pm_center"], [8.0, -4.0], atol=0.15)
    np.testing.assert_allclose(c["sky_center"], [120.0, -20.0], atol=0.1)
    assert c["selected"][member].mean() > 0.5
    assert c["selected"][~member].mean() < 0.01
    assert c["found"] and c["significance"] > Z_MIN
    assert c["message"].startswith("cluster found at pm (")


def test_no_claim_on_smooth_fields():
    # false claims need z >= 5 after the look-elsewhere correction: chance << 1e-3 per field
    for seed in (1, 2, 3):
        d = detect_cluster(_smooth_field(seed=seed), rng=seed)
        assert not d.found, d.message
        assert d.significance < 3.5
        assert d.message.startswith("no significant cluster") and "[builder].center" in d.message


def test_injected_cluster_is_found_in_a_smooth_field():
    field = _smooth_field(seed=4)
    c = ClusterSpec(60, 200.1, 30.1, 0.08, pmra=4.0, pmdec=-9.0, parallax=1.5, pm_dispersion=0.2)
    inj = inject_clusters(field, c, rng=5)
    d = detect_cluster(inj.table, rng=0)
    assert d.found and d.resolved
    assert np.hypot(*(d.pm_center - [4.0, -9.0])) < 0.3
    assert abs(d.parallax - 1.5) < 0.3
    assert np.mean(inj.is_member[d.selected]) > 0.8  # mostly injected members


def test_same_seed_same_detection_and_records():
    t, _ = simulate(5)
    a, b = detect_cluster(t, rng=3), detect_cluster(t, rng=3)
    assert a.significance == b.significance
    np.testing.assert_array_equal(a.selected, b.selected)
    rec = a.to_dict()
    import json

    json.dumps(rec)  # JSON-able
    assert rec["found"] is True and rec["n_selected"] == a.n_selected


def test_without_positions_only_the_astrometry_speaks():
    field = _smooth_field(seed=6)
    inj = inject_clusters(
        field,
        ClusterSpec(80, 200.0, 30.0, 0.1, pmra=-10.0, pmdec=3.0, parallax=2.0, pm_dispersion=0.2),
        rng=1,
    )
    t = inj.table.copy()
    del t["ra"], t["dec"]
    d = detect_cluster(t, rng=0)
    assert d.method == "astrometry" and d.sky_center is None
    assert d.found and np.hypot(*(d.pm_center - [-10.0, 3.0])) < 0.3


def test_bad_input_and_legacy_path():
    with pytest.raises(DataError, match="'pmra' and 'pmdec'"):
        detect_cluster({"ra": np.zeros(50), "dec": np.zeros(50)})
    with pytest.raises(DataError, match="at least 20 rows"):
        detect_cluster({"pmra": np.zeros(5), "pmdec": np.zeros(5)})
    g = np.random.default_rng(0)
    plx = np.r_[g.normal(2.0, 0.02, 100), g.uniform(0, 5, 900)]
    c = find_center({"parallax": plx}, ("parallax",), bandwidth=0.05)
    assert c["detection"] is None and c["found"] and math.isnan(c["significance"])
    assert abs(c["center"][0] - 2.0) < 0.05
    with pytest.raises(DataError, match="no column 'pmra'"):
        find_center({"parallax": plx}, ("pmra",))


def test_real_dr3_field_has_no_cluster_and_an_injection_is_found(shared_data):
    from bayesmix.io import read_table

    field = read_table(shared_data.joinpath(*DR3_FIELD))
    d = detect_cluster(field, rng=0)
    assert not d.found and d.significance < 3.0
    inj = inject_clusters(
        field,
        ClusterSpec(100, 45.1, -0.1, 0.1, pmra=12.0, pmdec=-8.0, parallax=1.0, pm_dispersion=0.3),
        rng=7,
    )
    d = detect_cluster(inj.table, rng=0)
    assert d.found
    assert np.hypot(*(d.pm_center - [12.0, -8.0])) < 0.3
    assert np.mean(inj.is_member[d.selected]) > 0.8


@pytest.mark.slow
def test_pleiades_found_without_hints(shared_data):
    # the old first pass locked onto the field's peak at pm (0.13, -0.89)
    from bayesmix.io import read_table

    t = read_table(
        shared_data / "gaia_pleiades_dr3_cone" / "pleiades_gaiadr3_cone1p5deg_top50000.csv.gz"
    )
    c = find_center(t, ("pmra", "pmdec"))
    assert c["found"] and c["significance"] > 20
    # Cantat-Gaudin et al. 2020: (20.077, -45.503) mas/yr, 7.346 mas; the Pleiades'
    # internal pm dispersion is ~1.5 mas/yr, so 0.5 mas/yr is a first-pass tolerance
    np.testing.assert_allclose(c["pm_center"], [20.077, -45.503], atol=0.5)
    assert abs(c["detection"].parallax - 7.346) < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dr2", "dr3"])
def test_blanco1_found_at_the_published_values(shared_data, name):
    from bayesmix.io import read_table

    path = {
        "dr2": ("gaia_blanco1_dr2_field", "blanco1_gaiadr2_G18_field.csv.gz"),
        "dr3": ("gaia_blanco1_dr3_field", "blanco1_gaiadr3_G17_field.csv.gz"),
    }[name]
    d = detect_cluster(read_table(shared_data.joinpath(*path)), rng=0)
    assert d.found and d.significance > 20
    np.testing.assert_allclose(d.pm_center, [18.739, 2.602], atol=0.15)  # CG20
    assert abs(d.parallax - 4.210) < 0.05
    from bayesmix.sky import separation

    assert separation(*d.sky_center, 0.853, -29.958) < 0.1
