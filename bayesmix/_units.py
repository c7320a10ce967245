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

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix.exceptions import DataError, SpecError

__all__ = ["angle_deg", "has_unit", "sky_position", "to_unit", "unit_name", "values_and_unit"]


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
