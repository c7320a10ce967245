"""Physical units at the boundary: astropy Quantities, unit-carrying columns, SkyCoord.

Arrays inside bayesmix are plain float64 in fixed units (Gaia's for Gaia
columns: deg, mas, mas/yr, km/s, mag).  What a user hands in may carry units:
an astropy ``Quantity`` (a ``QTable`` column or a value such as
``5 * u.mas / u.yr``), an astropy ``Column`` with a ``unit`` (a FITS, VOTable
or ECSV file read by :func:`bayesmix.io.read_table`) or a ``SkyCoord``.  The
functions here convert such values to the unit a model expects and refuse
units that cannot be converted, naming the argument; values without a unit
are taken to be in the expected unit already.  astropy is imported only when
a value carries a unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "angle_deg",
    "has_unit",
    "sky_position",
    "to_unit",
    "unit_name",
    "values_and_unit",
    "with_value_unit",
]


def _unit(obj: Any) -> Any:
    """Return the astropy unit an object carries, or None (plain numbers, arrays, pandas)."""
    unit = getattr(obj, "unit", None)
    if unit is None:
        return None
    mod = type(unit).__module__ or ""
    return unit if mod.startswith("astropy.units") else None


def has_unit(obj: Any) -> bool:
    """Return whether ``obj`` carries an astropy unit (a Quantity, or a Column with a unit)."""
    return _unit(obj) is not None


def unit_name(obj: Any) -> str | None:
    """Return the unit of ``obj`` as a string (astropy's generic format), or None."""
    unit = _unit(obj)
    return None if unit is None else unit.to_string()


def _fail(message: str, *, name: str | None, key: str | None) -> Exception:
    if key is not None:
        return SpecError(message, key=key)
    return DataError(message, argument=name)


def _plain(obj: Any) -> NDArray[np.float64]:
    """Values as float64 with masked entries NaN (no unit handling)."""
    mask = np.ma.getmaskarray(obj) if np.ma.isMaskedArray(obj) or hasattr(obj, "mask") else None
    values = np.array(getattr(obj, "value", obj), dtype=np.float64)
    if mask is not None and mask.shape == values.shape and mask.any():
        values[mask] = np.nan
    return values


def to_unit(
    obj: Any,
    expected: str,
    *,
    what: str,
    name: str | None = None,
    key: str | None = None,
) -> NDArray[np.float64]:
    """Return ``obj`` as float64 in the unit ``expected`` (masked entries NaN).

    Parameters
    ----------
    obj : array-like, Quantity or astropy Column
        Without a unit its values are taken to be in ``expected`` already.
    expected : str
        The unit the model works in (astropy syntax, e.g. ``"mas / yr"``;
        ``""`` for dimensionless values such as correlation coefficients).
    what : str
        How to name the value in an error (e.g. ``"column 'pmra'"``).
    name, key : str, optional
        The argument (a :class:`DataError`) or spec key (a :class:`SpecError`)
        the value came from.

    Raises
    ------
    DataError or SpecError
        The unit cannot be converted to ``expected`` (e.g. km/s for a proper
        motion) or is a string astropy does not recognise.
    """
    unit = _unit(obj)
    if unit is None:
        return _plain(obj)
    import astropy.units as u

    if isinstance(unit, u.UnrecognizedUnit):
        raise _fail(
            f"{what} has the unit {unit.to_string()!r}, which astropy does not recognise; "
            f"expected {expected or 'no unit'!r} (set the column's unit to None to take its "
            "values as given)",
            name=name,
            key=key,
        )
    target = u.Unit(expected) if expected else u.dimensionless_unscaled
    try:
        scale = unit.to(target)
    except u.UnitsError:
        raise _fail(
            f"{what} is in {unit.to_string() or 'no unit (dimensionless)'!r}, which cannot be "
            f"converted to {target.to_string() or 'dimensionless'!r}",
            name=name,
            key=key,
        ) from None
    values = _plain(obj)
    return values if scale == 1.0 else values * scale


def values_and_unit(obj: Any) -> tuple[NDArray[np.float64], Any]:
    """Return ``(float64 values, unit or None)`` of an array-like, Quantity or Column."""
    return _plain(obj), _unit(obj)


def with_value_unit(
    values: Any,
    related: Mapping[str, Any],
    *,
    name: str,
    power: Mapping[str, int] | None = None,
    expected: str | None = None,
) -> tuple[Any, dict[str, Any], str | None]:
    """Strip one unit from ``values`` and express ``related`` arrays in it.

    For a builder taking values and their errors (``y`` and ``y_err``, ``X`` and
    ``X_cov``): when ``values`` carries a unit, each related array is converted to
    that unit (to its square for ``power[key] = 2``, e.g. covariances) and plain
    related numbers are taken to be in it; when ``values`` has no unit, a related
    array with one is an error (the values' unit is unknown).

    Parameters
    ----------
    values : array-like or Quantity
    related : mapping of str to array-like or Quantity or None
        Argument name -> array (None entries are passed through).
    name : str
        The values' argument name, for errors.
    power : mapping of str to int, optional
        Power of the values' unit each related array is in (default 1).
    expected : str, optional
        The unit the values must be in (a model built with units scoring new
        rows): Quantities are converted to it, plain numbers are taken in it.

    Returns
    -------
    values, related, unit
        Plain arrays (float64 where a unit was stripped, else as given) and the
        values' unit as a string (None without one).

    Raises
    ------
    DataError
        A related unit that does not convert, or a related array with a unit beside
        unit-less values.
    """
    power = dict(power or {})
    unit = _unit(values)
    if unit is None and expected is not None:  # plain numbers: in the model's unit
        import astropy.units as u

        unit = u.Unit(expected)
    elif expected is not None:
        values = to_unit(values, expected, what=f"{name!r}", name=name)
        import astropy.units as u

        unit = u.Unit(expected)
    out: dict[str, Any] = {}
    for key, arr in related.items():
        if arr is None or (unit is None and _unit(arr) is None):
            out[key] = arr
            continue
        if unit is None:
            raise _fail(
                f"{key!r} is in {unit_name(arr)!r} but {name!r} has no unit: give {name!r} as a "
                f"Quantity too, or both as plain numbers in the same unit",
                name=key,
                key=None,
            )
        target = (unit ** power.get(key, 1)).to_string()
        out[key] = to_unit(arr, target, what=f"{key!r}", name=key)
    if unit is None:
        return values, out, None
    return _plain(values), out, unit.to_string()


def angle_deg(value: Any, *, what: str, name: str | None = None, key: str | None = None) -> float:
    """Return an angle in degrees: a number (deg) or an astropy Angle/Quantity."""
    arr = to_unit(value, "deg", what=what, name=name, key=key)
    if arr.ndim != 0:
        raise _fail(f"{what} must be one angle; got shape {arr.shape}", name=name, key=key)
    return float(arr)


def sky_position(
    value: Any, *, what: str, name: str | None = None, key: str | None = None
) -> tuple[float, float]:
    """Return ``(ra, dec)`` in degrees (ICRS) from a SkyCoord or a pair of angles.

    A ``SkyCoord`` in any frame is transformed to ICRS; a pair is ``(ra, dec)``
    as numbers (deg) or angle Quantities.

    Raises
    ------
    DataError or SpecError
        Not one position, or a Dec outside [-90, 90] deg.
    """
    if hasattr(value, "transform_to") and hasattr(value, "frame"):  # SkyCoord
        if not value.isscalar:
            raise _fail(
                f"{what} must be one position; got a SkyCoord of shape {value.shape}",
                name=name,
                key=key,
            )
        icrs = value.icrs
        return float(icrs.ra.deg) % 360.0, float(icrs.dec.deg)
    try:
        pair = not isinstance(value, str | bytes) and len(value) == 2
    except TypeError:
        pair = False
    if not pair:
        raise _fail(
            f"{what} must be a SkyCoord or (ra, dec) in deg; got {value!r}", name=name, key=key
        )
    ra = angle_deg(value[0], what=f"{what} ra", name=name, key=key)
    dec = angle_deg(value[1], what=f"{what} dec", name=name, key=key)
    if not (np.isfinite(ra) and np.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise _fail(
            f"{what} must have a finite ra and a dec in [-90, 90] deg; got ({ra}, {dec})",
            name=name,
            key=key,
        )
    return ra % 360.0, dec
