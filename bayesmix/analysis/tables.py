"""Output tables of a fit: every input row, in input order, with its membership columns.

:func:`merge_membership` joins a :func:`bayesmix.membership.membership` result to the
rows a model recorded (:attr:`bayesmix.builders.MixtureModel.rows`, or a
:class:`bayesmix.gaia.GaiaData`); :func:`membership_table` does both steps for a
sampled fit.  Rows that were not fitted keep their place, with NaN probabilities and
the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesmix.exceptions import DataError
from bayesmix.membership import membership, to_table

__all__ = ["membership_table", "merge_membership"]


def merge_membership(rows: Any, probabilities: Any, *, keep_columns: bool = True):
    """Output table: every input row, in input order, with membership columns added.

    Parameters
    ----------
    rows : bayesmix.builders.RowRecord or bayesmix.gaia.GaiaData
        The rows the model was fitted to: a model's
        :attr:`~bayesmix.builders.MixtureModel.rows`, or a :class:`~bayesmix.gaia.GaiaData`
        from :func:`~bayesmix.gaia.gaia_arrays` (anything with ``used``, ``reasons``,
        ``all_ids``, ``ids``, ``columns``, ``n_rows`` and ``n_excluded``).
    probabilities : xarray.Dataset
        Output of :func:`bayesmix.membership.membership` over the fitted rows.
    keep_columns : bool, default True
        Keep the input columns (else, or when the rows have no columns, only an
        ``object`` column of row ids before the new columns).

    Returns
    -------
    astropy.table.Table
        Input columns, then ``p_<label>`` (and ``p_<label>_sd``, quantiles) for each
        component, NaN for rows not fitted, and ``excluded_reason`` (empty when
        fitted).  ``meta["n_excluded"]`` counts the rows not fitted, ``meta["n_fitted"]``
        the others.

    Raises
    ------
    DataError
        ``probabilities`` misses a fitted row.
    """
    from astropy.table import Table

    out = Table()
    if keep_columns and rows.columns:
        for name, col in rows.columns.items():
            out[name] = col
    else:
        out["object"] = rows.all_ids
    probs = to_table(probabilities)
    order = {k: i for i, k in enumerate(np.asarray(probs["object"]).tolist())}
    where = np.array([order.get(k, -1) for k in np.asarray(rows.ids).tolist()])
    if (where < 0).any():
        raise DataError(
            "'probabilities' does not cover every fitted object", argument="probabilities"
        )
    idx_used = np.flatnonzero(rows.used)
    for name in probs.colnames:
        if name == "object":
            continue
        full = np.full(rows.n_rows, np.nan)
        full[idx_used] = np.asarray(probs[name])[where]
        out[name] = full
    out["excluded_reason"] = rows.reasons
    out.meta["n_excluded"] = rows.n_excluded
    out.meta["n_fitted"] = int(np.asarray(rows.used).sum())
    return out


def membership_table(fit: Any, *, keep_columns: bool = True, quantiles: bool = False):
    """Every input row with ``p_<component>`` (NaN + reason for rows not fitted).

    Parameters
    ----------
    fit : Fit
        A sampled model; its :attr:`~bayesmix.builders.MixtureModel.rows` says
        which input rows were fitted (for :func:`~bayesmix.builders.cluster_field`
        the columns ``p_cluster`` and ``p_field``).
    keep_columns : bool, default True
        Keep the input table's columns (a model built from arrays has none: an
        ``object`` column of ids is written instead).
    quantiles : bool, default False
        Add the 16/50/84th percentiles over draws.

    Returns
    -------
    astropy.table.Table
        Input rows in input order; ``meta["n_excluded"]`` rows carry NaN and
        ``excluded_reason``.
    """
    ds = membership(fit, quantiles=quantiles)
    return merge_membership(fit.model.rows, ds, keep_columns=keep_columns)
