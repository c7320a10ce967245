"""Sky geometry: projection, footprints, Plummer mass in a region (vs scipy quadrature)."""

import math

import numpy as np
import pytest
from scipy import integrate

from bayesmix.components.plummer import Plummer
from bayesmix.exceptions import DataError, SpecError
from bayesmix.sky import Footprint, PlaneRegion, from_tangent_plane, separation, tangent_plane


def _plummer(x, y, c, a):
    r2 = (x - c[0]) ** 2 + (y - c[1]) ** 2
    return 1.0 / (math.pi * a * a) * (1.0 + r2 / (a * a)) ** -2


def _triangle_integral(f, p, q, c):
    """Signed integral of f over the triangle (c, p, q), by scipy in barycentric form."""
    p, q, c = (np.asarray(v, float) for v in (p, q, c))
    e1, e2 = p - c, q - c
    jac = e1[0] * e2[1] - e1[1] * e2[0]

    def g(v, u):
        x, y = c + u * e1 + v * e2
        return f(x, y)

    val, _ = integrate.dblquad(g, 0.0, 1.0, 0.0, lambda u: 1.0 - u, epsabs=1e-13, epsrel=1e-12)
    return jac * val


def _polygon_integral(f, verts, c):
    return sum(
        _triangle_integral(f, verts[i], verts[(i + 1) % len(verts)], c) for i in range(len(verts))
    )


# --------------------------------------------------------------------------------------------
# projection
# --------------------------------------------------------------------------------------------


def test_tangent_plane_round_trip_and_known_values(rng):
    ra0, dec0 = 10.0, -35.0
    ra = ra0 + rng.uniform(-3, 3, 200)
    dec = dec0 + rng.uniform(-3, 3, 200)
    xi, eta, cos_c = tangent_plane(ra, dec, ra0, dec0)
    r2, d2 = from_tangent_plane(xi, eta, ra0, dec0)
    np.testing.assert_allclose(r2, ra, atol=1e-11)
    np.testing.assert_allclose(d2, dec, atol=1e-11)
    # cos c is the cosine of the separation; the radius on the plane is tan(sep)
    sep = separation(ra, dec, ra0, dec0)
    np.testing.assert_allclose(cos_c, np.cos(np.radians(sep)), rtol=1e-13)
    np.testing.assert_allclose(np.hypot(xi, eta), np.degrees(np.tan(np.radians(sep))), rtol=1e-11)
    # due north: xi = 0, eta = degrees(tan(2 deg)); east: xi > 0
    x, y, _ = tangent_plane(ra0, dec0 + 2.0, ra0, dec0)
    assert abs(x) < 1e-12
    np.testing.assert_allclose(y, math.degrees(math.tan(math.radians(2.0))), rtol=1e-13)
    assert tangent_plane(ra0 + 1.0, dec0, ra0, dec0)[0] > 0


def test_tangent_plane_wraps_through_zero():
    xi, _, _ = tangent_plane(np.array([359.5, 0.5]), np.array([-30.0, -30.0]), 0.0, -30.0)
    np.testing.assert_allclose(xi, [-xi[1], xi[1]], rtol=1e-12)


def test_projection_backends_agree():
    import pytensor
    import pytensor.tensor as pt

    ra = np.array([358.0, 0.3, 2.9])
    dec = np.array([-31.0, -29.5, -28.0])
    r0, d0 = pt.dscalar(), pt.dscalar()
    out = tangent_plane(ra, dec, r0, d0, backend="pytensor")
    inv = from_tangent_plane(out[0], out[1], r0, d0, backend="pytensor")
    f = pytensor.function([r0, d0], [*out, *inv])
    got = f(0.9, -30.0)
    want = [
        *tangent_plane(ra, dec, 0.9, -30.0),
        *from_tangent_plane(*tangent_plane(ra, dec, 0.9, -30.0)[:2], 0.9, -30.0),
    ]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------------
# Plummer mass inside a region (exact formulas vs quadrature)
# --------------------------------------------------------------------------------------------

_NONCONVEX = np.array([[0, 0], [3, 0.2], [2.5, 2], [1.0, 1.2], [-0.5, 2.5]], float)


@pytest.mark.parametrize("c", [(1.0, 0.8), (2.0, 1.0), (4.0, 4.0), (0.0, 0.0)])
@pytest.mark.parametrize("a", [0.1, 0.7, 5.0])
def test_polygon_plummer_mass_matches_quadrature(c, a):
    reg = PlaneRegion("polygon", vertices=_NONCONVEX)
    got = float(np.exp(reg.plummer_log_mass(np.array(c), np.array(a))))
    c_in = (1.0, 0.5)  # fan apex inside the polygon, so every triangle is a clean domain
    want = _polygon_integral(lambda x, y: _plummer(x, y, c, a), _NONCONVEX, c_in)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # area by the shoelace formula vs the same fan
    np.testing.assert_allclose(
        reg.area(), _polygon_integral(lambda x, y: 1.0, _NONCONVEX, c_in), rtol=1e-12
    )


@pytest.mark.parametrize("c", [(0.0, 0.0), (0.3, -0.2), (0.9, 0.1), (1.05, 0.0), (2.0, 0.5)])
@pytest.mark.parametrize("a", [0.05, 0.4, 3.0])
def test_disc_plummer_mass_matches_quadrature(c, a):
    rho = 1.0
    reg = PlaneRegion("disc", (0.0, 0.0), rho)
    got = float(np.exp(reg.plummer_log_mass(np.array(c), np.array(a))))

    def f(r, phi):
        return _plummer(r * np.cos(phi), r * np.sin(phi), c, a) * r

    want, _ = integrate.dblquad(f, 0, 2 * np.pi, 0, rho, epsabs=1e-13, epsrel=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_plummer_log_mass_backends_agree():
    import pytensor
    import pytensor.tensor as pt

    c, a = pt.dvector(), pt.dscalar()
    for reg in (PlaneRegion("polygon", vertices=_NONCONVEX), PlaneRegion("disc", (0.1, 0), 1.2)):
        f = pytensor.function([c, a], reg.plummer_log_mass(c, a, backend="pytensor"))
        for cc, aa in (([1.0, 0.8], 0.3), ([0.2, 0.1], 2.0)):
            np.testing.assert_allclose(
                f(np.array(cc), aa), reg.plummer_log_mass(np.array(cc), np.array(aa)), rtol=1e-12
            )


def test_plummer_log_mass_batched_over_draws():
    reg = PlaneRegion("polygon", vertices=_NONCONVEX)
    cs = np.array([[1.0, 0.8], [2.0, 1.0], [0.5, 0.5]])
    As = np.array([0.1, 0.7, 2.0])
    got = reg.plummer_log_mass(cs, As)
    want = [reg.plummer_log_mass(c, np.array(a)) for c, a in zip(cs, As, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-14)


# --------------------------------------------------------------------------------------------
# footprints
# --------------------------------------------------------------------------------------------

_BOX = Footprint("box", (358.0, 3.8), (-32.5, -27.5))
_CONE = Footprint("cone", 45.0, 0.0, 0.5)


def _over_box(fp, f):
    lo = fp.ra[0]
    return integrate.dblquad(
        lambda dec, ra: f(ra, dec) * math.cos(math.radians(dec)),
        lo,
        lo + fp.ra_span,
        fp.dec[0],
        fp.dec[1],
        epsabs=1e-13,
        epsrel=1e-12,
    )[0]


def _over_cone(fp, f):
    # polar coordinates on the tangent plane: the cone is the disc of radius tan(rho)
    R = math.degrees(math.tan(math.radians(fp.radius)))
    ra0, dec0 = fp.tangent_point

    def g(r, phi):  # f given per deg^2 of plane -> integrate r dr dphi
        ra, dec = from_tangent_plane(r * np.cos(phi), r * np.sin(phi), ra0, dec0)
        return f(ra, dec) * r

    return integrate.dblquad(g, 0, 2 * np.pi, 0, R, epsabs=1e-13, epsrel=1e-12)[0]


def test_solid_angles():
    np.testing.assert_allclose(_BOX.solid_angle, _over_box(_BOX, lambda ra, dec: 1.0), rtol=1e-12)
    np.testing.assert_allclose(
        _CONE.solid_angle,
        2 * math.pi * (1 - math.cos(math.radians(0.5))) * (180 / math.pi) ** 2,
        rtol=1e-14,
    )
    # a small cone is close to a flat disc
    np.testing.assert_allclose(_CONE.solid_angle, math.pi * 0.25, rtol=1e-4)


@pytest.mark.parametrize("fp", [_BOX, _CONE], ids=["box", "cone"])
def test_field_density_is_normalised_over_the_footprint(fp):
    # field_logp is per deg^2 of tangent plane: integrate over the sky with dA = dOmega/cos^3 c
    def dens_per_sky(ra, dec):
        _, _, cc = fp.project(ra, dec)
        return np.exp(fp.field_logp(ra, dec)) / cc**3

    if fp.kind == "box":
        total = _over_box(fp, dens_per_sky)
    else:
        total = _over_cone(fp, lambda ra, dec: np.exp(fp.field_logp(ra, dec)))
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)


@pytest.mark.parametrize("fp", [_BOX, _CONE], ids=["box", "cone"])
def test_plummer_normalised_over_the_footprint(fp):
    reg = fp.region(n_per_edge=512)
    comp = Plummer(region=reg)
    c, a = np.array([[0.3, -0.2]]), np.array([0.7 if fp.kind == "box" else 0.15])

    def dens(ra, dec):
        xi, eta, _ = fp.project(np.atleast_1d(ra), np.atleast_1d(dec))
        return float(
            np.exp(
                comp.logp(
                    np.column_stack([xi, eta]),
                    {"center": c * (0.2 if fp.kind == "cone" else 1), "radius": a},
                )
            )[0]
        )

    if fp.kind == "box":

        def per_sky(ra, dec):
            _, _, cc = fp.project(ra, dec)
            return dens(ra, dec) / cc**3

        total = _over_box(fp, per_sky)
        rtol = 1e-8  # chords along the constant-Dec edges
    else:
        total = _over_cone(fp, dens)
        rtol = 1e-9
    np.testing.assert_allclose(total, 1.0, rtol=rtol)


def test_box_outline_area_matches_projected_box():
    reg = _BOX.region()
    ra0, dec0 = _BOX.tangent_point

    def inv_cos3(ra, dec):
        return 1.0 / tangent_plane(ra, dec, ra0, dec0)[2] ** 3

    np.testing.assert_allclose(reg.area(), _over_box(_BOX, inv_cos3), rtol=3e-8)


def test_contains_and_wrap():
    assert _BOX.contains([359.0, 1.0, 3.8, 4.0, 0.0], [-30, -30, -30, -30, -33]).tolist() == [
        True,
        True,
        True,
        False,
        False,
    ]
    np.testing.assert_allclose(_BOX.tangent_point, (0.9, -30.0), atol=1e-12)
    assert _CONE.contains([45.0, 45.6], [0.2, 0.0]).tolist() == [True, False]


def test_from_data_recognises_cones_and_boxes(rng):
    n = 20000
    r = 0.5 * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    ra, dec = from_tangent_plane(r * np.cos(phi), r * np.sin(phi), 45.0, 0.0)
    fp = Footprint.from_data(ra, dec)
    assert fp.kind == "cone"
    np.testing.assert_allclose(fp.radius, 0.5, rtol=2e-3)
    np.testing.assert_allclose(fp.tangent_point, (45.0, 0.0), atol=5e-3)
    # an RA/Dec box through RA = 0, uniform on the sphere
    ra = (358.0 + 5.8 * rng.random(n)) % 360.0
    s = rng.uniform(math.sin(math.radians(-32.5)), math.sin(math.radians(-27.5)), n)
    dec = np.degrees(np.arcsin(s))
    fp = Footprint.from_data(ra, dec)
    assert fp.kind == "box"
    np.testing.assert_allclose([fp.ra[0], fp.ra[1] + 360.0], [358.0, 363.8], atol=2e-3)
    np.testing.assert_allclose(fp.dec, (-32.5, -27.5), atol=2e-3)


def test_footprint_parse_and_errors():
    fp = Footprint.parse({"kind": "box", "ra": [358, 3.8], "dec": [-32.5, -27.5]})
    assert Footprint.parse(fp.to_dict()) == fp
    assert Footprint.parse(_CONE.to_dict()) == _CONE
    with pytest.raises(SpecError, match="radius"):
        Footprint.parse({"kind": "cone", "ra": 1, "dec": 2})
    with pytest.raises(SpecError, match="unknown footprint key 'radus'"):
        Footprint.parse({"kind": "cone", "ra": 1, "dec": 2, "radus": 1})
    with pytest.raises(SpecError, match="'cone' or 'box'"):
        Footprint.parse({"kind": "polygon", "ra": [1], "dec": [2]})
    with pytest.raises(SpecError, match="dec lo < hi"):
        Footprint("box", (1.0, 2.0), (3.0, 2.0))
    with pytest.raises(DataError, match="at least 3"):
        Footprint.from_data([1.0], [2.0])


@pytest.mark.parametrize("kind", ["disc", "polygon"])
@pytest.mark.parametrize("cc", [(0.2, 0.1), (1.6, 0.4)])
def test_plummer_log_mass_gradient_finite_and_correct(kind, cc):
    import pytensor
    import pytensor.tensor as pt

    reg = (
        PlaneRegion("disc", (0.0, 0.0), 1.2)
        if kind == "disc"
        else PlaneRegion("polygon", vertices=_NONCONVEX)
    )
    c, a = pt.dvector(), pt.dscalar()
    out = reg.plummer_log_mass(c, a, backend="pytensor")
    f = pytensor.function([c, a], pt.grad(out, [c, a]))
    g_c, g_a = f(np.array(cc), 0.4)
    h = 1e-6

    def val(c_, a_):
        return float(reg.plummer_log_mass(np.asarray(c_, float), np.array(a_)))

    num_c = [
        (val(np.add(cc, e * h), 0.4) - val(np.subtract(cc, e * h), 0.4)) / (2 * h)
        for e in np.eye(2)
    ]
    num_a = (val(cc, 0.4 + h) - val(cc, 0.4 - h)) / (2 * h)
    np.testing.assert_allclose(g_c, num_c, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_a, num_a, rtol=1e-6, atol=1e-8)
