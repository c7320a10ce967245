"""GPz on tables: feature expressions, the table-level weights and divide, the divide CSV.

:func:`gpz_weights_table` and :func:`gpz_divide_table` take astropy Tables and
feature expressions such as ``"lupt_F606W-lupt_F814W"`` (:func:`parse_feature`,
no ``eval``); they are what ``bayesmix gpz weights|divide`` run.
:func:`write_divide_csv` writes a divide in gpz_pype's CSV layout, atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from bayesmix._files import atomic_write
from bayesmix.exceptions import DataError, FormatError, SpecError
from bayesmix.gpz._options import forwards, keyword_options
from bayesmix.gpz.augment import GPzAugment
from bayesmix.gpz.weights import (
    RATIOS,
    REGULARISERS,
    WEIGHT_OPTIONS,
    check_weight_options,
    weight_diagnostics,
)

__all__ = [
    "CHOICES",
    "MODEL_OPTIONS",
    "feature_matrix",
    "gpz_divide_table",
    "gpz_weights_table",
    "parse_feature",
    "read_divide_csv",
    "write_divide_csv",
]

#: choice sets of the table functions' options (read by bayesmix.spec's registry)
CHOICES = {"ratio": RATIOS, "regularise": REGULARISERS}

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_TERM_RE = re.compile(rf"\s*([+-]?)\s*({_NAME})\s*")


def parse_feature(expr: str, columns: Sequence[str] | None = None) -> list[tuple[int, str]]:
    """Parse a feature expression into signed column terms (no ``eval``).

    Grammar: ``column (('+' | '-') column)*`` with optional spaces, e.g.
    ``"lupt_F160W"``, ``"lupt_F606W-lupt_F814W"``, ``"a + b - c"``.  A column
    name is letters, digits, ``_`` and ``.``, not starting with a digit.  If
    ``columns`` is given and contains the whole expression as a name (e.g. a
    column literally called ``"g-r"``), that column is used.

    Returns
    -------
    list of (sign, column)
        ``sign`` is +1 or -1.

    Raises
    ------
    SpecError
        Empty or malformed expression (the message shows where parsing stopped).
    """
    if not isinstance(expr, str) or not expr.strip():
        raise SpecError(
            f"feature expression must be a non-empty string; got {expr!r}", key="features"
        )
    if columns is not None and expr in columns:
        return [(1, expr)]
    terms: list[tuple[int, str]] = []
    pos = 0
    text = expr
    while pos < len(text):
        m = _TERM_RE.match(text, pos)
        if m is None or (terms and not m.group(1)) or m.end() == pos:
            raise SpecError(
                f"cannot parse feature expression {expr!r} at character {pos}: expected "
                "'column', 'column-column' or 'column+column'",
                key="features",
            )
        sign = -1 if m.group(1) == "-" else 1
        terms.append((sign, m.group(2)))
        pos = m.end()
    return terms


def _is_number_text(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def feature_matrix(
    table,
    features: Sequence[str],
    *,
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    name: str = "table",
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Evaluate feature expressions on an astropy Table.

    Parameters
    ----------
    table : astropy.table.Table (or any mapping of column name -> array)
    features : sequence of str
        Expressions for :func:`parse_feature`, one per feature.
    error_prefix : (str, str), optional
        ``("lupt_", "lupterr_")`` means column ``lupt_X`` has standard deviation
        column ``lupterr_X``.
    errors : mapping of str to str, optional
        Explicit column -> error column map (takes precedence).
    name : str
        Name of the table in error messages.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features)
        Masked values become NaN (and are then rejected by the validators).
    X_err : ndarray of shape (n_rows, n_features) or None
        Quadrature sums of the terms' errors (independent errors assumed), when
        ``error_prefix`` or ``errors`` is given.

    Raises
    ------
    DataError
        An unknown column (the message lists the available ones), or a
        non-numeric value (naming the column and its first bad row).
    SpecError
        No feature, or a feature given twice.
    """
    if isinstance(features, str):
        features = [features]
    if not len(features):
        raise SpecError("'features' must name at least one feature", key="features")
    colnames = list(getattr(table, "colnames", None) or list(table.keys()))
    want_err = error_prefix is not None or errors is not None

    def _column(col: str, expr: str, what: str) -> NDArray[np.float64]:
        if col not in colnames:
            raise DataError(
                f"{what} column {col!r} (in feature {expr!r}) is not in {name}; available: "
                f"{', '.join(colnames)}",
                argument="features",
            )
        c = table[col]
        raw = np.ma.getdata(c)
        try:
            data = np.asarray(raw).astype(np.float64, copy=True)
        except (TypeError, ValueError):
            values = np.asarray(raw).ravel()
            bad = next(i for i, v in enumerate(values) if not _is_number_text(v))
            raise DataError(
                f"{what} column {col!r} of {name} is not numeric: row {bad} holds "
                f"{str(values[bad])!r}",
                argument="features",
                rows=[bad],
            ) from None
        mask = np.ma.getmaskarray(c)
        if mask.any():
            data[mask] = np.nan
        return data

    def _err_name(col: str, expr: str) -> str:
        if errors is not None and col in errors:
            return errors[col]
        if error_prefix is not None and col.startswith(error_prefix[0]):
            return error_prefix[1] + col[len(error_prefix[0]) :]
        raise DataError(
            f"no error column known for {col!r} (in feature {expr!r}); give it in 'errors' or "
            "use a matching 'error_prefix'",
            argument="features",
        )

    seen: dict[str, int] = {}
    for i, expr in enumerate(features):
        key = "".join(str(expr).split())
        if key in seen:
            raise SpecError(
                f"'features' names {expr!r} twice (entries {seen[key]} and {i}): a feature "
                "given twice makes every covariance singular",
                key="features",
            )
        seen[key] = i
    cols, errs = [], []
    for expr in features:
        terms = parse_feature(expr, colnames)
        x = np.zeros(len(table))
        var = np.zeros(len(table))
        for sign, col in terms:
            x = x + sign * _column(col, expr, "feature")
            if want_err:
                var = var + _column(_err_name(col, expr), expr, "error") ** 2
        cols.append(x)
        errs.append(np.sqrt(var))
    X = np.column_stack(cols)
    return X, (np.column_stack(errs) if want_err else None)


#: the model options of the table functions: GPzAugment's keyword arguments but the errors
MODEL_OPTIONS = tuple(
    p for p in keyword_options(GPzAugment, keyword_only=True) if not p.name.startswith("X_err")
)


def _split_options(options: Mapping) -> tuple[dict, dict]:
    """Return (model options, checked weighting options) of a table function's ``options``."""
    model = {p.name: options[p.name] for p in MODEL_OPTIONS if p.name in options}
    weighting = check_weight_options(**{p.name: options[p.name] for p in WEIGHT_OPTIONS})
    return model, weighting


def _feature_reader(features, error_prefix, errors):
    """Return ``read(table, name) -> (X, X_err)``: :func:`feature_matrix` of ``features``."""

    def read(table, name: str):
        return feature_matrix(table, features, error_prefix=error_prefix, errors=errors, name=name)

    return read


@forwards(MODEL_OPTIONS, WEIGHT_OPTIONS, leave_out=("threshold",))
def gpz_weights_table(
    pop_table,
    train_table,
    features: Sequence[str],
    *,
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    weights_column: str = "weights",
    augment: GPzAugment | None = None,
    **options,
):
    """Cost-sensitive weights for a training table (what ``bayesmix gpz weights`` runs).

    Parameters
    ----------
    pop_table, train_table : astropy.table.Table
        The photometric population and the spectroscopic training sample.
    features : sequence of str
        Feature expressions (:func:`parse_feature`), e.g.
        ``["lupt_F606W-lupt_F814W", "lupt_F814W-lupt_F125W", "lupt_F160W"]``.
    n_components, n_init, tol, rng, scale, covariance_type
        As for :class:`GPzAugment`, keyword-only.
    ratio, regularise, max_weight, min_weight, eta, ess_floor
        As for :func:`~bayesmix.gpz.weights.check_weight_options` (the
        weighting options, keyword-only).
    error_prefix, errors
        Error columns (:func:`feature_matrix`); given, the mixtures are
        extreme-deconvolution fits.
    weights_column : str, default "weights"
        Name of the new column (gpz_pype's training step reads ``weights``).
    augment : GPzAugment, optional
        An already fitted model to use instead of fitting one.

    Returns
    -------
    table : astropy.table.Table
        A copy of ``train_table`` (all columns, same rows and order) with the
        weights added; ``meta["gpz_weights"]`` holds the options used and
        :func:`weight_diagnostics` (effective sample, held-out divergences and
        ``warnings``, also issued as :class:`~bayesmix.gpz.WeightWarning`).
    augment : GPzAugment
        The fitted model (save it with :meth:`GPzAugment.save`).

    Raises
    ------
    DataError
        Unknown columns, non-finite features, an existing ``weights_column``.
    """
    read = _feature_reader(features, error_prefix, errors)
    Xp, Ep = read(pop_table, "the population table")
    Xt, Et = read(train_table, "the training table")
    if weights_column in train_table.colnames:
        raise DataError(
            f"the training table already has a column {weights_column!r}; choose another "
            "weights_column or remove it",
            argument="weights_column",
        )
    model, o = _split_options(options)
    if augment is None:
        augment = GPzAugment(Xp, Xt, X_err_pop=Ep, X_err_train=Et, **model)
    augment.fit_weights(Xt, Xp, X_err=Et, **o)
    w = augment.weights(Xt)
    out = train_table.copy()
    out[weights_column] = w
    out.meta["gpz_weights"] = {
        "features": list(features),
        "n_components": augment.n_components,
        **o,
        "diagnostics": weight_diagnostics(w, weighting=augment.weighting_),
    }
    return out, augment


@forwards(MODEL_OPTIONS, WEIGHT_OPTIONS)
def gpz_divide_table(
    pop_table,
    table,
    features: Sequence[str],
    *,
    train_table=None,
    assign: str = "threshold",
    return_density: bool = False,
    weight: bool = False,
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    augment: GPzAugment | None = None,
    **options,
):
    """Divide a table into mixture samples (what ``bayesmix gpz divide`` runs).

    Parameters
    ----------
    pop_table : astropy.table.Table
        The population whose mixture defines the components.
    table : astropy.table.Table
        The objects to divide (usually the training table, as in gpz_pype's guide).
    features : sequence of str
        Feature expressions (:func:`parse_feature`).
    train_table : astropy.table.Table, optional
        Training sample for the weights; needed with ``weight=True``
        (pass ``table`` again when dividing the training table itself).
    n_components, threshold, n_init, tol, rng, scale, covariance_type
        As for :class:`GPzAugment`, keyword-only.
    assign, return_density, weight
        As for :meth:`GPzAugment.divide`.
    ratio, regularise, max_weight, min_weight, eta, ess_floor
        As for :func:`~bayesmix.gpz.weights.check_weight_options` (the
        weighting options, keyword-only); the weighting rule is fitted on
        ``train_table``, as in :func:`gpz_weights_table`.
    error_prefix, errors
        Error columns (:func:`feature_matrix`); given, extreme deconvolution is
        used and memberships account for each object's errors.
    augment : GPzAugment, optional
        An already fitted model to use instead of fitting one.

    Returns
    -------
    divide : astropy.table.Table
        gpz_pype's divide layout (``index, best, m0.., [p0..], [weights],
        unassigned``), one row per row of ``table`` in order; write it with
        :func:`write_divide_csv`.
    augment : GPzAugment
    """
    read = _feature_reader(features, error_prefix, errors)
    Xp, Ep = read(pop_table, "the population table")
    X, E = read(table, "the table to divide")
    if weight and train_table is None and (augment is None or augment.gmm_train is None):
        raise SpecError("weight=True needs 'train_table' (the training sample)", key="train_table")
    model, o = _split_options(options)
    Xt = Et = None
    if weight and train_table is not None:
        Xt, Et = read(train_table, "the training table")
    if augment is None:
        augment = GPzAugment(Xp, Xt, X_err_pop=Ep, X_err_train=Et, **model)
    if Xt is not None:  # the weighting rule is fitted on the training sample
        augment.fit_weights(Xt, Xp, X_err=Et, **o)
    div = augment.divide(
        X,
        weight=weight,
        threshold=model["threshold"],
        return_density=return_density,
        assign=assign,
        X_err=E if augment.uses_errors_ else None,
        **o,
    )
    div.meta["features"] = list(features)
    return div, augment


# ------------------------------------------------------------------------ CSV in/out
def write_divide_csv(table, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Write a divide table as CSV in gpz_pype's layout, atomically.

    The header is ``index,best,m0,...`` (then any ``p*``, ``weights``,
    ``unassigned`` columns); booleans are written ``True``/``False``, as
    astropy's ``ascii.csv`` writer does for gpz_pype's own divide output, so
    ``Table.read(path, format="ascii.csv")`` (gpz_pype's reader) gives the same
    columns and types as for a gpz_pype file.  Table ``meta`` is not written.
    Read it back with booleans restored by :func:`read_divide_csv`.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    out = table.copy(copy_data=True)
    out.meta.clear()
    # Subnormal floats (e.g. p = 1e-319 far from a component) make CSV readers warn about
    # lost precision; they are written as 0, which is what they are at double precision.
    tiny = np.finfo(np.float64).tiny
    for name in out.colnames:
        col = np.asarray(out[name])
        if col.dtype.kind == "f":
            sub = (col != 0) & (np.abs(col) < tiny)
            if sub.any():
                out[name] = np.where(sub, 0.0, col)

    def write(tmp: str) -> None:
        out.write(tmp, format="ascii.csv", overwrite=True)

    atomic_write(path, write, overwrite=overwrite)


def read_divide_csv(path: str | os.PathLike):
    """Read a divide CSV (bayesmix's or gpz_pype's) with ``m*``/``unassigned`` as booleans.

    Returns
    -------
    astropy.table.Table
    """
    from astropy.table import Table

    t = Table.read(os.fspath(path), format="ascii.csv")
    for name in t.colnames:
        if re.fullmatch(r"m\d+|unassigned", name) and t[name].dtype.kind in "US":
            vals = np.asarray(t[name]).astype(str)
            bad = ~np.isin(vals, ["True", "False"])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise FormatError(
                    f"{path}: column {name!r} must hold True/False; row {i} has {vals[i]!r}"
                )
            t[name] = vals == "True"
    return t
