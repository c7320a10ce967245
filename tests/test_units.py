"""Units at the boundary: Quantities, unit-carrying columns, SkyCoord (issue 15.3).

The reference for every conversion is the same data given in Gaia's units
without units: converting must give the same arrays (to rounding).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from bayesmix.datasets import load_ngc6819
from bayesmix.exceptions import DataError, SpecError
from bayesmix.gaia import feature_vector, gaia_arrays, gaia_unit
from bayesmix.io import read_table
from bayesmix.sky import Footprint

FEATURES = ("ra", "dec", "parallax", "pmra", "pmdec")
#: a unit per Gaia column that differs from Gaia's, and the factor to Gaia's unit
OTHER_UNITS = {
    "ra": ("rad", np.pi / 180.0),
    "dec": ("arcmin", 60.0),
    "ra_error": ("uas", 1000.0),
    "dec_error": ("arcsec", 1e-3),
    "parallax": ("uas", 1000.0),
    "parallax_error": ("arcsec", 1e-3),
    "pmra": ("arcsec / yr", 1e-3),
    "pmra_error": ("mas / d", 1.0 / 365.25),
    "pmdec": ("deg / yr", 1.0 / 3.6e6),
    "pmdec_error": ("uas / yr", 1000.0),
}


@pytest.fixture(scope="module")
def ngc6819():
    t = load_ngc6819()
    keep = [c for c in t.colnames if c in OTHER_UNITS or c.endswith("_corr") or c == "source_id"]
    t = Table(t[keep][:400], copy=True)
    for c in t.colnames:
        t[c].unit = None
    return t


def _other_units(t: Table, cls=QTable):
    """The same table with every Gaia quantity in another unit (values rescaled)."""
    out = cls()
    for c in t.colnames:
        if c in OTHER_UNITS:
            unit, factor = OTHER_UNITS[c]
            out[c] = np.asarray(t[c], dtype=float) * factor * u.Unit(unit)
        else:
            out[c] = t[c]
    return out


def test_gaia_unit_names_gaia_units():
    assert gaia_unit("pmra") == gaia_unit("pmdec_error") == "mas / yr"
    assert gaia_unit("ra") == "deg" and gaia_unit("ra_error") == "mas"
    assert gaia_unit("parallax_pmra_corr") == ""
    assert gaia_unit("radial_velocity_error") == "km / s"
    assert gaia_unit("phot_g_mean_mag") == "mag" and gaia_unit("bp_rp") == "mag"
    assert gaia_unit("source_id") is None


@pytest.mark.parametrize("cls", [QTable, Table])
def test_quantities_are_converted_to_gaia_units(ngc6819, cls):
    ref = gaia_arrays(ngc6819, FEATURES)
    got = gaia_arrays(_other_units(ngc6819, cls), FEATURES)
    np.testing.assert_allclose(got.X, ref.X, rtol=1e-12)
    np.testing.assert_allclose(got.X_cov, ref.X_cov, rtol=1e-10, atol=1e-30)
    np.testing.assert_array_equal(got.used, ref.used)


def test_units_from_a_fits_file_are_converted(ngc6819, tmp_path):
    path = tmp_path / "other_units.fits"
    Table(_other_units(ngc6819)).write(path)
    t = read_table(path)
    assert t["pmra"].unit == u.Unit("arcsec / yr")
    ref = gaia_arrays(ngc6819, FEATURES)
    got = gaia_arrays(t, FEATURES)
    np.testing.assert_allclose(got.X, ref.X, rtol=1e-12)
    np.testing.assert_allclose(got.X_cov, ref.X_cov, rtol=1e-10, atol=1e-30)


def test_pandas_frame_equals_table(ngc6819):
    ref = gaia_arrays(ngc6819, FEATURES)
    got = gaia_arrays(ngc6819.to_pandas(), FEATURES)
    np.testing.assert_array_equal(got.X, ref.X)
    np.testing.assert_array_equal(got.all_ids, ref.all_ids)


@pytest.mark.parametrize(
    ("column", "unit"),
    [
        ("pmra", "km / s"),
        ("parallax", "mag"),
        ("ra", "mas / yr"),
        ("pmdec_error", "pc"),
        ("pmra_pmdec_corr", "deg"),
    ],
)
def test_a_unit_that_does_not_fit_is_an_error_naming_the_column(ngc6819, column, unit):
    t = QTable(ngc6819)
    t[column] = np.asarray(ngc6819[column], dtype=float) * u.Unit(unit)
    with pytest.raises(DataError, match=rf"column '{column}' is in '{unit}'.*cannot be converted"):
        gaia_arrays(t, FEATURES)


def test_an_unrecognised_unit_string_is_an_error(ngc6819):
    t = Table(ngc6819, copy=True)
    t["pmra"].unit = u.Unit("mas per fortnight", parse_strict="silent")
    with pytest.raises(DataError, match="column 'pmra' has the unit 'mas per fortnight'"):
        gaia_arrays(t, FEATURES)


def test_feature_vector_converts_per_feature():
    got = feature_vector(
        [1.0 * u.arcsec / u.yr, -2.0, 50.0 * u.uas], ("pmra", "pmdec", "parallax"), name="center"
    )
    np.testing.assert_allclose(got, [1000.0, -2.0, 0.05])
    with pytest.raises(DataError, match="'center' pmra is in 'km / s'"):
        feature_vector([1.0, 2.0] * u.km / u.s, ("pmra", "pmdec"), name="center")
    with pytest.raises(DataError, match="one value per feature"):
        feature_vector([1.0, 2.0, 3.0], ("pmra", "pmdec"), name="center")


def test_footprint_from_skycoord_and_angles():
    ref = Footprint.parse({"kind": "cone", "ra": 56.75, "dec": 24.12, "radius": 2.0})
    assert Footprint.cone(SkyCoord(56.75 * u.deg, 24.12 * u.deg), 2 * u.deg) == ref
    assert Footprint.cone((56.75, 24.12), 120 * u.arcmin) == ref
    # a Galactic SkyCoord is used in ICRS
    gal = SkyCoord(56.75 * u.deg, 24.12 * u.deg).galactic
    fp = Footprint.cone(gal, 2.0)
    assert fp.ra == pytest.approx(56.75, abs=1e-9) and fp.dec == pytest.approx(24.12, abs=1e-9)
    box = Footprint.parse(
        {"kind": "box", "ra": [358.0, 3.8] * u.deg, "dec": [-1800.0, -1740.0] * u.arcmin}
    )
    assert box == Footprint.parse({"kind": "box", "ra": [358.0, 3.8], "dec": [-30.0, -29.0]})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"kind": "cone", "center": (1, 2), "ra": 1, "radius": 1}, "'center' or 'ra' and 'dec'"),
        ({"kind": "cone", "ra": 1, "dec": 2, "radius": 3 * u.km}, "radius is in 'km'"),
        ({"kind": "box", "center": (1, 2), "ra": [1, 2], "dec": [1, 2]}, "for cone footprints"),
        ({"kind": "cone", "center": (1, 95), "radius": 1}, r"dec in \[-90, 90\]"),
        (
            {"kind": "cone", "center": SkyCoord([1, 2] * u.deg, [3, 4] * u.deg), "radius": 1},
            "one position",
        ),
    ],
)
def test_bad_footprints_are_spec_errors(value, message):
    with pytest.raises(SpecError, match=message):
        Footprint.parse(value)


def _cluster_table():
    from tests._cluster_fits import simulate

    return simulate(7)[0]


@pytest.mark.parametrize(
    "hint",
    [
        [1.0, -3.0] * u.mas / u.yr,
        [1e-3, -3e-3] * u.arcsec / u.yr,
        [1.0 * u.mas / u.yr, -3e-6 * u.arcsec / u.yr * 1000],
    ],
)
def test_cluster_center_hint_in_any_proper_motion_unit(hint):
    """A Quantity centre builds the same model as the numbers in mas/yr."""
    from bayesmix.builders import cluster_field

    t = _cluster_table()
    with _no_fail():
        plain = cluster_field(t, features=("pmra", "pmdec"), center=[1.0, -3.0], rng=1)
        quant = cluster_field(t, features=("pmra", "pmdec"), center=hint, rng=1)
    assert quant.spec["center"] == pytest.approx(plain.spec["center"], abs=1e-12)
    assert quant.spec["sky_center"] == pytest.approx(plain.spec["sky_center"], abs=1e-12)
    assert quant.spec["center"] == pytest.approx([1.0, -3.0], abs=1e-12)


def test_cluster_sky_center_from_a_skycoord_in_another_frame():
    from bayesmix.builders import cluster_field

    t = _cluster_table()
    ra, dec = 120.1, -19.9
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg).galactic
    with _no_fail():
        mm = cluster_field(t, features=("pmra", "pmdec"), sky_center=gal, rng=1)
        deg = cluster_field(t, features=("pmra", "pmdec"), sky_center=(ra, dec), rng=1)
    assert mm.spec["sky_center"] == pytest.approx([ra, dec], abs=1e-9)
    assert deg.spec["sky_center"] == pytest.approx([ra, dec], abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"center": [np.nan, 1.0]}, "'center' must be finite"),
        ({"center": [1.0] * u.deg}, "'center' must have one value per feature"),
        ({"center": [1.0, 2.0] * u.deg}, "'center'"),
        ({"center": [1.0, 2.0, 3.0]}, "one value per feature ['pmra', 'pmdec']"),
        ({"sky_center": (10.0, 95.0)}, "'sky_center' must have a finite ra and a dec"),
        ({"sky_center": "somewhere"}, "'sky_center' must be a SkyCoord or (ra, dec)"),
    ],
)
def test_bad_cluster_hints_name_the_argument(kwargs, message):
    from bayesmix.builders import cluster_field

    with pytest.raises(DataError) as info:
        cluster_field(_cluster_table(), features=("pmra", "pmdec"), rng=1, **kwargs)
    assert message in str(info.value)


def _no_fail():
    import contextlib
    import warnings

    ctx = contextlib.ExitStack()
    ctx.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return ctx


def test_line_errors_are_converted_to_their_values_unit():
    """Hogg's data in km and km/s with y errors in m/s: the model the plain numbers build."""
    from bayesmix.builders import line_outlier
    from bayesmix.datasets import load_hogg2010

    t = load_hogg2010()
    x, y, e = (np.asarray(t[c], dtype=float) for c in ("x", "y", "sigma_y"))
    plain = line_outlier(x, y, e)
    quant = line_outlier(x * u.km, y * u.km / u.s, (e * 1000) * u.m / u.s)
    assert plain.spec["units"] == {"x": None, "y": None}
    assert quant.spec["units"] == {"x": "km", "y": "km / s"}
    for k in ("x", "y", "y_err"):
        np.testing.assert_allclose(quant.data[k], plain.data[k], rtol=1e-12)
    # new rows in other units are converted to the model's
    rows, _ = quant.prepare_rows({"x": x * 1000 * u.m, "y": y * u.km / u.s, "y_err": e})
    np.testing.assert_allclose(rows["x"], x, rtol=1e-12)
    with pytest.raises(DataError, match="'y_err' is in 'km / s' but 'y' has no unit"):
        line_outlier(x, y, e * u.km / u.s)
    with pytest.raises(DataError, match="'y_err' is in 'kg', which cannot be converted"):
        line_outlier(x, y * u.km / u.s, e * u.kg)


def test_mixture_errors_and_covariances_are_converted_to_the_data_unit():
    from bayesmix.builders import gaussian_mixture

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    E = np.full((200, 2), 0.1)
    C = np.einsum("nd,de->nde", E**2, np.eye(2))
    plain = gaussian_mixture(X, 2, X_err=E)
    by_err = gaussian_mixture(X * u.km / u.s, 2, X_err=E * 1000 * u.m / u.s)
    by_cov = gaussian_mixture(X * u.km / u.s, 2, X_cov=C * 1e6 * (u.m / u.s) ** 2)
    assert plain.spec["unit"] is None and by_err.spec["unit"] == "km / s"
    for mm in (by_err, by_cov):
        np.testing.assert_allclose(mm.data["X"], plain.data["X"], rtol=1e-12)
        np.testing.assert_allclose(mm.data["X_cov"], plain.data["X_cov"], rtol=1e-12)
    with pytest.raises(DataError, match="'X_cov' is in 'km / s', which cannot be converted"):
        gaussian_mixture(X * u.km / u.s, 2, X_cov=C * u.km / u.s)
    with pytest.raises(DataError, match="'X_err' is in 'km / s' but 'X' has no unit"):
        gaussian_mixture(X, 2, X_err=E * u.km / u.s)
