"""Gaia astrometry in: column conventions, per-star error covariances, unusable rows.

Gaia archive column names are kept verbatim (``source_id``, ``ra``, ``dec``,
``parallax``, ``parallax_error``, ``pmra``, ``pmra_error``, ``pmdec``,
``pmdec_error``, ``pmra_pmdec_corr``, ``parallax_pmra_corr``, ...,
``radial_velocity``, ``radial_velocity_error``).  Other names are mapped with
``columns={"pmra": "PMRA_ICRS", ...}``.  Units are Gaia's: ``ra``/``dec`` in deg
(their errors in mas, ``ra_error`` being sigma of ra*cos(dec)), parallax in mas,
proper motions in mas/yr, radial velocity in km/s (:func:`gaia_unit`).  Columns
that carry a unit (a ``QTable``'s Quantities, the units a FITS, VOTable or ECSV
file declares) are converted to these; a unit that cannot be converted (km/s
for a proper motion) is an error naming the column.  Columns without a unit
are taken to be in Gaia's units.

:func:`gaia_arrays` turns a table (astropy Table, pandas DataFrame or mapping
of columns) into the arrays a model uses: values ``X`` of shape (n_used,
n_features) and error covariances ``X_cov`` of shape (n_used, n_features,
n_features), built as ``C_ij = rho_ij sigma_i sigma_j`` from the errors and the
correlation columns (Lindegren et al. 2021).  A missing correlation column is
taken as 0 with a :class:`GaiaColumnWarning` naming it.  Rows with a missing
(NaN or masked) value in any column the model uses are not fitted; they are
kept in :attr:`GaiaData.reasons` and come back from
:func:`bayesmix.analysis.merge_membership` with NaN probabilities and the reason, and
their count is reported.

This module never imports PyMC.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._deprecation import moved_names
from bayesmix._units import to_unit, values_and_unit
from bayesmix._validate import row_label
from bayesmix.exceptions import DataError

__all__ = [
    "ASTROMETRIC_ORDER",
    "GaiaColumnWarning",
    "GaiaData",
    "UsedRows",
    "column_values",
    "correlation_column",
    "error_column",
    "feature_vector",
    "gaia_arrays",
    "gaia_unit",
    "table_columns",
]

#: Gaia's order of the five astrometric parameters (correlation columns are named
#: ``{a}_{b}_corr`` with ``a`` before ``b`` in this order).
ASTROMETRIC_ORDER = ("ra", "dec", "parallax", "pmra", "pmdec")
_KNOWN = (*ASTROMETRIC_ORDER, "radial_velocity")
#: error unit -> value unit conversion (ra_error, dec_error are in mas; ra, dec in deg)
_ERROR_SCALE = {"ra": 1.0 / 3.6e6, "dec": 1.0 / 3.6e6}
#: units of the other Gaia quantities (and of their ``_error`` columns); see gaia_unit
_UNITS = {"parallax": "mas", "pmra": "mas / yr", "pmdec": "mas / yr", "radial_velocity": "km / s"}


class GaiaColumnWarning(UserWarning):
    """A Gaia column the model would use is absent and a default is assumed."""


def error_column(feature: str) -> str:
    """Gaia name of the standard-error column of ``feature`` (e.g. ``pmra_error``)."""
    return f"{feature}_error"


def correlation_column(a: str, b: str) -> str | None:
    """Gaia name of the correlation column of two astrometric features, or None.

    ``radial_velocity`` is measured independently and has no correlation columns.
    """
    if a not in ASTROMETRIC_ORDER or b not in ASTROMETRIC_ORDER:
        return None
    i, j = sorted((ASTROMETRIC_ORDER.index(a), ASTROMETRIC_ORDER.index(b)))
    return f"{ASTROMETRIC_ORDER[i]}_{ASTROMETRIC_ORDER[j]}_corr"


def table_columns(data: Any) -> dict[str, Any]:
    """Return ``data`` (astropy Table, pandas DataFrame or mapping) as a dict of columns."""
    if hasattr(data, "colnames"):  # astropy Table
        return {name: data[name] for name in data.colnames}
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # pandas DataFrame
        return {str(name): data[name].to_numpy() for name in data.columns}
    if isinstance(data, Mapping):
        return dict(data)
    raise DataError(
        "'data' must be an astropy Table, a pandas DataFrame or a mapping of column name to "
        f"array; got {type(data).__name__}",
        argument="data",
    )


def gaia_unit(name: str) -> str | None:
    """Return the unit bayesmix works in for Gaia column ``name`` (astropy syntax), or None.

    ``ra``/``dec`` (and ``l``/``b``) deg, their errors mas; parallax mas;
    proper motions mas/yr; radial velocity km/s; correlations dimensionless;
    photometry (``phot_*_mag``, ``bp_rp``, ...) mag.  None for other names.
    """
    base = name[: -len("_error")] if name.endswith("_error") else name
    if name.endswith("_corr"):
        return ""
    if base in ("ra", "dec", "l", "b"):
        return "mas" if name.endswith("_error") else "deg"
    if base in _UNITS:
        return _UNITS[base]
    if base.endswith("_mag") or base in ("bp_rp", "bp_g", "g_rp"):
        return "mag"
    return None


def feature_vector(value: Any, features: Sequence[str], *, name: str) -> NDArray[np.float64]:
    """One value per Gaia feature (e.g. a proper-motion centre) in Gaia units.

    Numbers are taken to be in Gaia units; Quantities (a Quantity array in one
    unit, or a sequence of Quantities) are converted feature by feature.

    Raises
    ------
    DataError
        Not one value per feature, or a unit that does not fit its feature.
    """
    features = tuple(features)
    if isinstance(value, list | tuple):
        items = list(value)
    else:
        items = list(value) if getattr(value, "ndim", np.ndim(value)) == 1 else None
    if items is None or len(items) != len(features):
        raise DataError(
            f"{name!r} must have one value per feature {list(features)}; got {value!r}",
            argument=name,
        )
    out = np.empty(len(features))
    for j, (f, v) in enumerate(zip(features, items, strict=True)):
        unit = gaia_unit(f)
        what = f"{name!r} {f}"
        try:
            out[j] = (
                to_unit(v, unit, what=what, name=name)
                if unit is not None
                else values_and_unit(v)[0]
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{what} must be a number; got {v!r}", argument=name) from None
    return out


def column_values(
    col: Any, name: str, n: int | None = None, *, unit: str | None = None
) -> NDArray[np.float64]:
    """Return a table column as float64, masked entries NaN.

    Parameters
    ----------
    col : array-like
        The column (numpy, masked, astropy Column or Quantity, pandas values).
    name : str
        Its name, for error messages.
    n : int, optional
        Required length.
    unit : str, optional
        The unit the values are wanted in (e.g. :func:`gaia_unit`).  A column
        carrying a unit (a Quantity, or a Column read from FITS, VOTable or
        ECSV) is converted to it; one without a unit is taken as given.  None:
        values in their stored unit.

    Raises
    ------
    DataError
        The column is not numeric, not one-dimensional, not of length ``n``, or
        carries a unit that cannot be converted to ``unit``.
    """
    try:
        if unit is None:
            values, _ = values_and_unit(col)
        else:
            values = to_unit(col, unit, what=f"column {name!r}", name="data")
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {name!r} must be numeric: {exc}", argument="data") from None
    if values.ndim != 1:
        raise DataError(
            f"column {name!r} must be one-dimensional; got shape {values.shape}", argument="data"
        )
    if n is not None and values.shape[0] != n:
        raise DataError(
            f"column {name!r} has {values.shape[0]} rows; expected {n}", argument="data"
        )
    return values


class UsedRows:
    """Mixin: which input rows a fit uses, over attributes ``used`` and ``columns``.

    ``used`` (bool, one per input row) and ``columns`` (the input columns,
    every row) are the host's; :class:`GaiaData` and the builders' row record
    (:class:`bayesmix.builders.RowRecord`) answer the same questions with it.
    """

    used: NDArray[np.bool_]
    columns: Mapping[str, Any]

    @property
    def n_rows(self) -> int:
        """Number of input rows."""
        return int(self.used.shape[0])

    @property
    def n_excluded(self) -> int:
        """Number of input rows that are not used (not objects of the model)."""
        return int((~self.used).sum())

    def column(self, name: str) -> NDArray[np.float64]:
        """Values of input column ``name`` for the used rows (in order), as float64."""
        if name not in self.columns:
            raise DataError(f"the table has no column {name!r}", argument="data")
        return column_values(self.columns[name], name)[self.used]


@dataclass(frozen=True, eq=False)
class GaiaData(UsedRows):
    """Arrays for a model, from the usable rows of a Gaia table.

    Attributes
    ----------
    features : tuple of str
        Gaia names of the features, in column order of ``X``.
    X : ndarray of shape (n_used, n_features)
        Values of the usable rows (Gaia units).
    X_cov : ndarray of shape (n_used, n_features, n_features)
        Their error covariances (squared Gaia units of the features; ``ra``/``dec``
        errors converted from mas to deg).
    ids : ndarray of shape (n_used,)
        Ids of the usable rows (``source_id`` when present, else row numbers).
    used : ndarray of bool, shape (n_rows,)
        Which input rows are usable.
    reasons : ndarray of str, shape (n_rows,)
        Empty for usable rows; else why the row is not fitted
        (e.g. ``"missing pmra, pmra_error"``).
    all_ids : ndarray of shape (n_rows,)
        Ids of every input row, in input order.
    columns : dict
        The input columns (every row), for output tables.
    missing_correlations : tuple of str
        Correlation columns that were absent and taken as 0.
    missing_errors : tuple of str
        Error columns that were absent and taken as 0 (``zero_errors``).
    """

    features: tuple[str, ...]
    X: NDArray[np.float64]
    X_cov: NDArray[np.float64]
    ids: NDArray[Any]
    used: NDArray[np.bool_]
    reasons: NDArray[np.str_]
    all_ids: NDArray[Any]
    columns: dict = field(repr=False)
    missing_correlations: tuple[str, ...] = ()
    missing_errors: tuple[str, ...] = ()

    @property
    def reason(self) -> NDArray[np.str_]:
        """Deprecated name of :attr:`reasons`."""
        warnings.warn("GaiaData.reason was renamed GaiaData.reasons", FutureWarning, stacklevel=2)
        return self.reasons


def _check_usable_rows(
    errs: NDArray[np.float64],
    corr: NDArray[np.float64],
    used: NDArray[np.bool_],
    all_ids: NDArray[Any],
    error_names: Sequence[str],
    *,
    zero_errors: bool,
    id_column: str | None,
    reasons: list[list[str]],
) -> NDArray[Any]:
    """Check the usable rows (errors positive, ``|rho| <= 1``, ids unique); their ids."""
    ids_used = all_ids[used]
    idx_used = np.flatnonzero(used)
    bad_err = ~(errs[used] >= 0) if zero_errors else ~(errs[used] > 0)
    if bad_err.any():
        r = int(np.flatnonzero(bad_err.any(axis=1))[0])
        j = int(np.flatnonzero(bad_err[r])[0])
        raise DataError(
            f"'{error_names[j]}' must be "
            f"{'non-negative' if zero_errors else 'positive'}; got "
            f"{errs[idx_used[r], j]} at {row_label(int(idx_used[r]), all_ids)}",
            argument="data",
            rows=[int(idx_used[r])],
        )
    bad_rho = (np.abs(corr[used]) > 1.0).any(axis=(1, 2))
    if bad_rho.any():
        r = int(np.flatnonzero(bad_rho)[0])
        raise DataError(
            f"correlation coefficients must lie in [-1, 1]; {row_label(int(idx_used[r]), all_ids)}"
            f" has {corr[idx_used[r]][np.abs(corr[idx_used[r]]) > 1][0]}",
            argument="data",
            rows=[int(idx_used[r])],
        )
    if not used.any():
        raise DataError(
            "'data' has no usable row: every row misses a value of "
            f"{sorted(set(sum(reasons, [])))}",
            argument="data",
        )
    _, first, counts = np.unique(ids_used, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(np.sort(first[counts > 1])[0])
        raise DataError(
            f"ids in {id_column!r} must be unique; {ids_used[dup]!r} repeats",
            argument="data",
            rows=[int(idx_used[dup])],
        )
    return ids_used


def gaia_arrays(
    data: Any,
    features: Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    id_column: str | None = "source_id",
    correlations: bool = True,
    extra_columns: Sequence[str] = (),
    zero_errors: bool = False,
) -> GaiaData:
    """Values and per-star error covariances of Gaia ``features`` from a table.

    Parameters
    ----------
    data : astropy.table.Table, pandas.DataFrame or mapping of str to array-like
        Gaia-named columns (or names mapped by ``columns``).
    features : sequence of str
        Gaia names among ``ra, dec, parallax, pmra, pmdec, radial_velocity``
        (deg, deg, mas, mas/yr, mas/yr, km/s).  Each needs its ``<name>_error``
        column (mas for ``ra``/``dec``, else the feature's unit).
    columns : mapping of str to str, optional
        Gaia name -> column name in ``data`` for differently named columns, e.g.
        ``{"pmra": "PMRA", "pmra_error": "e_PMRA", "source_id": "Source"}``.
    id_column : str or None, default "source_id"
        Column of object ids; when absent (or None) rows are numbered 0..n-1.
    correlations : bool, default True
        Use the Gaia correlation columns (``pmra_pmdec_corr``, ...).  A missing
        one is taken as 0 with a :class:`GaiaColumnWarning`.  False: all 0,
        silently.
    extra_columns : sequence of str
        Further columns whose missing values also exclude a row.
    zero_errors : bool, default False
        Allow zero measurement errors, and take a missing ``<feature>_error`` column
        as 0 with a :class:`GaiaColumnWarning` naming it (for a model whose intrinsic
        dispersion keeps every covariance positive definite).  False: errors must be
        present and strictly positive.

    Returns
    -------
    GaiaData

    Raises
    ------
    DataError
        Unknown feature, missing value column (or error column without
        ``zero_errors``; the message lists the available columns), negative errors
        (zero ones without ``zero_errors``), correlations outside [-1, 1], duplicate
        ids, or no usable row.

    Warns
    -----
    GaiaColumnWarning
        Naming the correlation columns taken as 0, and the error columns taken as 0
        (``zero_errors``).

    Notes
    -----
    The covariance of star n is ``C_n[i, j] = rho_ij,n sigma_i,n sigma_j,n`` with
    ``rho_ii = 1`` (Lindegren et al. 2021, sect. 2; Gaia DR3 documentation
    ``gaia_source``).  A row is usable when every value, error and correlation it
    needs (and every ``extra_columns`` value) is finite; the others are reported,
    not dropped silently.

    References
    ----------
    Lindegren, L. et al. 2021, A&A 649, A2, "Gaia Early Data Release 3: The
    astrometric solution".
    """
    cols = table_columns(data)
    features = tuple(str(f) for f in features)
    if not features:
        raise DataError("'features' must name at least one column", argument="features")
    for f in features:
        if f not in _KNOWN:
            raise DataError(
                f"'features' has unknown feature {f!r}; choose from {sorted(_KNOWN)}",
                argument="features",
            )
    if len(set(features)) != len(features):
        raise DataError(f"'features' has a repeated name: {features!r}", argument="features")
    cmap = dict(columns or {})
    avail = sorted(cols)

    def name_of(gaia_name: str) -> str:
        return cmap.get(gaia_name, gaia_name)

    def need(gaia_name: str) -> str:
        nm = name_of(gaia_name)
        if nm not in cols:
            raise DataError(
                f"'data' has no column {nm!r}"
                + (f" (Gaia {gaia_name!r})" if nm != gaia_name else "")
                + f"; available columns: {avail}. Name the column in the spec's "
                f'[data.columns] ({gaia_name} = "..."; columns= in Python).',
                argument="data",
            )
        return nm

    n = None
    for c in cols.values():
        n = len(c)
        break
    if not n:
        raise DataError("'data' has no rows", argument="data")

    D = len(features)
    reasons: list[list[str]] = [[] for _ in range(n)]
    missing_any = np.zeros(n, dtype=bool)

    def track(values: NDArray[np.float64], label: str) -> None:
        bad = ~np.isfinite(values)
        if bad.any():
            for i in np.flatnonzero(bad):
                reasons[i].append(label)
            missing_any[bad] = True

    vals = np.empty((n, D))
    errs = np.zeros((n, D))
    no_error: list[str] = []
    for j, f in enumerate(features):
        nm = need(f)
        vals[:, j] = column_values(cols[nm], nm, n, unit=gaia_unit(f))
        track(vals[:, j], nm)
        if zero_errors and name_of(error_column(f)) not in cols:
            no_error.append(name_of(error_column(f)))
            continue
        enm = need(error_column(f))
        errs[:, j] = column_values(cols[enm], enm, n, unit=gaia_unit(error_column(f)))
        errs[:, j] *= _ERROR_SCALE.get(f, 1.0)
        track(errs[:, j], enm)
    if no_error:
        warnings.warn(
            f"error column(s) {no_error} not in the table; taken as 0 (no measurement "
            "error: the model's intrinsic dispersion alone keeps the covariances positive "
            "definite). Name them in [data.columns] if they exist under other names.",
            GaiaColumnWarning,
            stacklevel=2,
        )
    for extra in extra_columns:
        nm = need(extra)
        track(column_values(cols[nm], nm, n, unit=gaia_unit(extra)), nm)

    corr = np.broadcast_to(np.eye(D), (n, D, D)).copy()
    missing_corr = []
    for i in range(D):
        for j in range(i + 1, D):
            cname = correlation_column(features[i], features[j])
            if cname is None or not correlations:
                continue
            if {name_of(error_column(features[k])) for k in (i, j)} & set(no_error):
                continue  # a zero error: the correlation does not matter
            nm = name_of(cname)
            if nm not in cols:
                missing_corr.append(cname)
                continue
            rho = column_values(cols[nm], nm, n, unit=gaia_unit(cname))
            track(rho, nm)
            corr[:, i, j] = corr[:, j, i] = rho
    if missing_corr:
        warnings.warn(
            f"correlation column(s) {missing_corr} not in the table; taken as 0 (uncorrelated "
            "errors). Pass correlations=False to silence this when that is intended.",
            GaiaColumnWarning,
            stacklevel=2,
        )

    all_ids = np.arange(n)
    if id_column is not None and name_of(id_column) in cols:
        all_ids = np.asarray(cols[name_of(id_column)])
        if np.ma.isMaskedArray(all_ids):
            all_ids = np.asarray(all_ids.filled(-1))
    used = ~missing_any
    ids_used = _check_usable_rows(
        errs,
        corr,
        used,
        all_ids,
        [name_of(error_column(f)) for f in features],
        zero_errors=zero_errors,
        id_column=id_column,
        reasons=reasons,
    )
    X_cov = corr[used] * errs[used][:, :, None] * errs[used][:, None, :]
    reason = np.array(["" if not r else "missing " + ", ".join(r) for r in reasons], dtype=str)
    return GaiaData(
        features=features,
        X=np.ascontiguousarray(vals[used]),
        X_cov=np.ascontiguousarray(X_cov),
        ids=ids_used,
        used=used,
        reasons=reason,
        all_ids=all_ids,
        columns=cols,
        missing_correlations=tuple(missing_corr),
        missing_errors=tuple(no_error),
    )


#: moved public name -> where to import it from now
_MOVED = {"merge_membership": "bayesmix.analysis"}
# ``merge_membership`` needs bayesmix.membership, a higher layer: it moved to bayesmix.analysis
__getattr__ = moved_names(__name__, _MOVED)
