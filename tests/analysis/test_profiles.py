"""profiles: radial profiles of members and the fitted Plummer profile, vs brute force and truth."""

import math

import numpy as np
import pytest
from scipy import stats

from bayesmix.analysis.profiles import fitted_radial_profile, plummer_profile, radial_profile
from bayesmix.exceptions import DataError
from bayesmix.sky import Footprint


def _plummer_sample(rng, n, a, r_max):
    """Radii of a Plummer profile truncated at r_max (inverse CDF)."""
    f_max = r_max**2 / (a**2 + r_max**2)
    u = rng.uniform(0, f_max, n)
    return a * np.sqrt(u / (1 - u))


def test_radial_profile_recovers_a_plummer_cluster(rng):
    a, r_max, n = 0.3, 2.0, 4000
    r = _plummer_sample(rng, n, a, r_max)
    phi = rng.uniform(0, 2 * np.pi, n)
    # small angles: tangent-plane offsets are the sky offsets to << 1%
    xi, eta = r * np.cos(phi), r * np.sin(phi)
    from bayesmix.sky import from_tangent_plane

    ra, dec = from_tangent_plane(xi, eta, 120.0, -20.0)
    prof = radial_profile(ra, dec, np.ones(n), center=(120.0, -20.0), edges=np.linspace(0, 1.9, 11))
    np.testing.assert_allclose(prof.area, np.pi * np.diff(prof.edges**2), rtol=1e-12)
    truth = plummer_profile(prof.radius, scale_radius=a, n_members=n)
    f = r_max**2 / (a**2 + r_max**2)
    expected = truth.median / f  # truncated at r_max: normalised over the disc
    # members per annulus vs expectation (chi-square, 10 annuli, false-failure rate 1e-4)
    chi2 = np.sum(((prof.density - expected) / (np.sqrt(expected / prof.area))) ** 2)
    assert chi2 < stats.chi2.ppf(1 - 1e-4, 10) * 1.3  # radius is a mean, not the exact point
    # members counted by a brute-force loop
    rr = np.hypot(xi, eta)
    for b in range(10):
        inb = (rr >= prof.edges[b]) & (rr < prof.edges[b + 1])
        assert prof.members[b] == pytest.approx(inb.sum(), abs=0.5)


def test_radial_profile_areas_clip_to_the_footprint(rng):
    cone = Footprint.parse({"kind": "cone", "ra": 45.0, "dec": 0.0, "radius": 0.5})
    ra = 45.0 + rng.uniform(-0.3, 0.3, 50)
    dec = rng.uniform(-0.3, 0.3, 50)
    prof = radial_profile(
        ra, dec, np.full(50, 0.5), center=(45.0, 0.0), footprint=cone, edges=np.linspace(0, 1.0, 21)
    )
    disc = cone.region()
    assert prof.area.sum() == pytest.approx(disc.area(), rel=2e-3)
    inner = prof.edges[1:] <= disc.radius - 1e-3
    np.testing.assert_allclose(prof.area[inner], np.pi * np.diff(prof.edges**2)[inner], rtol=1e-12)
    assert prof.area[prof.edges[:-1] >= disc.radius].sum() == 0
    box = Footprint.parse({"kind": "box", "ra": [44.0, 46.0], "dec": [-1.0, 0.5]})
    prof = radial_profile(
        ra, dec, np.full(50, 0.5), center=(45.3, 0.1), footprint=box, edges=np.linspace(0, 2.5, 26)
    )
    assert prof.area.sum() == pytest.approx(box.region().area(), rel=3e-3)
    assert prof.members.sum() == pytest.approx(25.0)


def test_plummer_profile_normalisation_and_band():
    a = np.array([0.2, 0.3, 0.4])
    n = np.array([100.0, 120.0, 140.0])
    r = np.linspace(0, 30, 300_001)
    prof = plummer_profile(r, scale_radius=a, n_members=n, interval=0.9)
    # per radius, the median over the three draws of the closed form
    each = n[:, None] / (np.pi * a[:, None] ** 2) / (1 + r**2 / a[:, None] ** 2) ** 2
    np.testing.assert_allclose(prof.median, np.median(each, axis=0), rtol=1e-12)
    closed = each[1]
    # each draw integrates to its number of members over the plane
    np.testing.assert_allclose(np.trapezoid(2 * np.pi * r * each, r, axis=1), n, rtol=1e-3)
    assert (prof.lower <= prof.median).all() and (prof.median <= prof.upper).all()
    # over a cone footprint centred on the cluster: divided by the mass inside it
    cone = Footprint.parse({"kind": "cone", "ra": 45.0, "dec": 0.0, "radius": 1.0})
    prof2 = plummer_profile(
        [0.0, 0.5], scale_radius=0.3, n_members=120, center=(45.0, 0.0), footprint=cone
    )
    R = math.degrees(math.tan(math.radians(1.0)))
    f = R**2 / (0.09 + R**2)
    np.testing.assert_allclose(prof2.median, closed[[0, 5000]] / f, rtol=1e-9)
    with pytest.raises(DataError, match="'center'"):
        plummer_profile([0.1], scale_radius=0.3, n_members=1, footprint=cone)


def _mock_full_fit(rng, n=3000, fraction=0.15, n_draws=200):
    """A fake full-model Fit: simulated sky (Plummer a = 0.3 deg in a 2-deg cone), posterior
    draws near the truth; plumbing only (the builder and sampler are tested elsewhere)."""
    import types

    import xarray as xr

    from tests._cluster_fits import simulate

    t, member = simulate(int(rng.integers(1 << 30)), n=n, member_fraction=fraction)
    fp = Footprint.parse({"kind": "cone", "ra": 120.0, "dec": -20.0, "radius": 2.2})
    xi, eta, _ = fp.project(t["ra"], t["dec"])
    f = member.mean()
    shape = (2, n_draws)
    post = xr.Dataset(
        {
            "cluster_ra": (("chain", "draw"), rng.normal(120.0, 0.005, shape)),
            "cluster_dec": (("chain", "draw"), rng.normal(-20.0, 0.005, shape)),
            "cluster_radius": (("chain", "draw"), rng.normal(0.3, 0.005, shape)),
            "weights": (
                ("chain", "draw", "component"),
                np.stack([np.full(shape, f), np.full(shape, 1 - f)], axis=-1),
            ),
        },
        coords={"component": ["cluster", "field"]},
    )
    model = types.SimpleNamespace(
        spec={"footprint": fp.to_dict()},
        data={"sky_xi": xi, "sky_eta": eta},
        n_objects=n,
        coords={"object": np.arange(n)},
    )
    return types.SimpleNamespace(posterior=post, model=model), member, fp


def test_fitted_radial_profile_matches_simulated_members(rng):

    fit, member, fp = _mock_full_fit(rng)
    profile, model, background = fitted_radial_profile(fit, member.astype(float), n_bins=8)
    assert profile.members.sum() == pytest.approx(member.sum())
    # the fitted profile integrates to the expected members over the footprint
    r = np.linspace(0, fp.region().radius, 20001)
    dens = plummer_profile(
        r, scale_radius=0.3, n_members=member.sum(), center=(120.0, -20.0), footprint=fp
    ).median
    assert np.trapezoid(2 * np.pi * r * dens, r) == pytest.approx(member.sum(), rel=2e-3)
    # members per annulus vs the model at the annulus radius (chi-square, 8 annuli; the
    # evaluation at one radius per annulus adds a few per cent, hence the factor 1.5)
    expected = np.interp(profile.radius, model.radius, model.median)
    ok = profile.area > 0
    chi2 = np.sum((profile.density[ok] - expected[ok]) ** 2 / (expected[ok] / profile.area[ok]))
    assert chi2 < 1.5 * stats.chi2.ppf(1 - 1e-4, ok.sum())
    assert background == pytest.approx((~member).sum() / fp.solid_angle)
