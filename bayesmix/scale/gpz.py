"""GPz over Dask: lazy cost-sensitive weights and divides of a fitted GPzAugment.

Thin adapters over the public :mod:`bayesmix.gpz` API: each block's rows are
checked (unusable rows keep their place with NaN and a reason), the augment
scores the usable ones, and :func:`bayesmix.gpz.divide.divide_columns` -- the
same rule as :meth:`~bayesmix.gpz.GPzAugment.divide` -- builds the divide.
"""

from __future__ import annotations

import math

import numpy as np

from bayesmix._validate import check_choice
from bayesmix.exceptions import DataError, NotFittedError, SpecError
from bayesmix.gpz import ASSIGN_RULES, GPzAugment
from bayesmix.gpz.divide import check_threshold, divide_columns
from bayesmix.gpz.weights import WEIGHT_OPTIONS
from bayesmix.scale._dask import (
    REASON_COLUMN,
    align,
    as_matrix,
    by_rows,
    check_clash,
    compute,
    empty_frame,
    frame_columns,
    import_dask,
    is_frame,
    reason_strings,
    unusable,
)

__all__ = [
    "check_augment",
    "divide_options",
    "gpz_divide",
    "gpz_weights",
    "weights_block",
]


def check_augment(augment, *, need_train: bool) -> GPzAugment:
    """Return ``augment`` if it is a GPzAugment with the mixtures scoring needs."""
    if not isinstance(augment, GPzAugment):
        raise TypeError(f"'augment' must be a GPzAugment; got {type(augment).__name__}")
    if augment.gmm_pop is None:
        raise NotFittedError(
            "GPzAugment has no population mixture yet; fit it (in memory, or with "
            "bayesmix.scale.fit on its mixtures) before scoring"
        )
    if need_train and augment.gmm_train is None:
        raise NotFittedError(
            "GPz weights need the training mixture: give X_train to the GPzAugment "
            "constructor or call fit_training(X_train) first"
        )
    return augment


def weights_block(Xb, *, augment):
    """Weights of one block's rows under ``augment.weighting_`` (NaN: non-finite feature)."""
    Xb = np.asarray(Xb, dtype=np.float64)
    ok = unusable(Xb, None, None, False) == 0
    out = np.full(Xb.shape[0], np.nan)
    if ok.any():
        Xo = np.ascontiguousarray(Xb[ok])
        out[ok] = by_rows(augment.weights, Xo.shape[0], Xo)
    return out


def _weighting(augment, options: dict) -> None:
    """Make ``augment.weighting_`` the rule of ``options`` (none given: the fitted one)."""
    if options:
        augment.use_weighting(**options)
    elif augment.weighting_ is None:
        raise NotFittedError(
            "GPzAugment has no weighting rule: fit it in memory on the training sample "
            "(augment.fit_weights(X_train)) before scoring blocks"
        )


def _gpz_input(augment, X, columns):
    Xd = as_matrix(X, name="X", columns=columns)
    if Xd.shape[1] != augment.n_features_in_:
        raise DataError(
            f"'X' must have {augment.n_features_in_} feature column(s), like X_pop; got "
            f"{Xd.shape[1]}",
            argument="X",
        )
    return Xd


def gpz_weights(augment, X, *, columns=None, **options):
    """Lazy GPz cost-sensitive weights of a fitted weighting rule, block by block.

    Parameters
    ----------
    augment : GPzAugment
        With both mixtures and (unless ``options`` name a rule that needs no
        training sample) the weighting rule fitted in memory:
        ``augment.fit_weights(X_train)`` -- the rule is fitted on the training
        sample, then applied to every row.
    X : dask.array.Array or dask.dataframe.DataFrame or array-like
        Features of the objects to weight (unscaled, as given to ``augment``).
    columns : sequence of str, optional
        Feature columns of a dataframe ``X``.
    **options
        ``ratio``, ``regularise``, ``max_weight``, ``min_weight``, ``eta``,
        ``ess_floor``: passed to :meth:`bayesmix.gpz.GPzAugment.use_weighting`
        (the fitted rule must have them, or need no training sample); none:
        the fitted rule.

    Returns
    -------
    dask.array.Array of shape (n_objects,)
        Equal to ``augment.weights(X)``; NaN for rows with a non-finite feature.
    """
    _, da = import_dask()
    check_augment(augment, need_train=True)
    _weighting(augment, options)
    Xd = _gpz_input(augment, X, columns)
    return da.map_blocks(
        weights_block,
        Xd,
        drop_axis=1,
        dtype=np.float64,
        meta=np.empty((0,)),
        augment=augment,
    )


def divide_options(augment, options: dict) -> dict:
    """Check the divide options (``weight``, ``threshold``, ... as for ``GPzAugment.divide``)."""
    weight = bool(options.get("weight", False))
    threshold = options.get("threshold")
    threshold = augment.threshold if threshold is None else check_threshold(threshold)
    assign = check_choice(options.get("assign", "threshold"), name="assign", choices=ASSIGN_RULES)
    if weight:
        names = [p.name for p in WEIGHT_OPTIONS]
        _weighting(augment, {k: options[k] for k in names if options.get(k) is not None})
    return {
        "weight": weight,
        "threshold": threshold,
        "return_density": bool(options.get("return_density", False)),
        "assign": assign,
    }


def _divide_arrays(augment, Xb, Eb, opts) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Divide columns and reason codes for one block of raw features."""
    Xb = np.asarray(Xb, dtype=np.float64)
    code = unusable(Xb, Eb, None, False)
    ok = code == 0
    Xo = np.ascontiguousarray(Xb[ok])
    m = Xo.shape[0]
    K = augment.gmm_pop.n_components
    log_resp, weights = np.empty((0, K)), (np.empty(0) if opts["weight"] else None)
    if m:
        Eo = None if Eb is None else np.asarray(Eb, dtype=np.float64)[ok]
        log_resp = by_rows(lambda x, e: augment.log_membership(x, X_err=e), m, Xo, Eo)
        if opts["weight"]:
            weights = by_rows(augment.weights, m, Xo)
    cols = divide_columns(
        log_resp,
        threshold=opts["threshold"],
        assign=opts["assign"],
        return_density=opts["return_density"],
        weights=weights,
        scored=ok,
    )
    return cols, code


def _divide_column_types(K: int, *, return_density: bool, weight: bool) -> dict[str, str]:
    cols = {"index": "int64", "best": "int64"}
    cols.update({f"m{k}": "bool" for k in range(K)})
    if return_density:
        cols.update({f"p{k}": "float64" for k in range(K)})
    if weight:
        cols["weights"] = "float64"
    cols["unassigned"] = "bool"
    cols[REASON_COLUMN] = "str"
    return cols


def _divide_partition(pdf, augment, feature_cols, err_cols, opts, start, keep_input):
    import pandas as pd

    Xb = pdf[feature_cols].to_numpy(dtype=np.float64)
    Eb = None if err_cols is None else pdf[err_cols].to_numpy(dtype=np.float64)
    cols, code = _divide_arrays(augment, Xb, Eb, opts)
    start = int(start)
    new = {
        "index": np.arange(start, start + len(pdf), dtype=np.int64),
        **cols,
        REASON_COLUMN: reason_strings(code),
    }
    frame = pd.DataFrame(new, index=pdf.index)
    frame[REASON_COLUMN] = frame[REASON_COLUMN].astype("str")
    if keep_input:
        return pd.concat([pdf, frame], axis=1)
    return frame


def _divide_frame(augment, X, opts, new_cols, columns, error_columns, keep_input):
    """Return the lazy divide of a dataframe, its partitions kept."""
    import dask.dataframe as dd
    import pandas as pd

    dask, _ = import_dask()
    feats = frame_columns(X, columns, "X")
    if len(feats) != augment.n_features_in_:
        raise DataError(
            f"'X' must have {augment.n_features_in_} feature column(s), like X_pop; got "
            f"{len(feats)}",
            argument="X",
        )
    errs = None if error_columns is None else frame_columns(X, error_columns, "X")
    if keep_input:
        check_clash(X.columns, new_cols)
    # The partitions are fixed once by to_delayed (dask's optimiser may otherwise fuse
    # partitions differently for different column selections) and counted, so that
    # ``index`` is the global row number.
    sel = X if keep_input else X[feats + (errs or [])]
    parts = list(sel.to_delayed())
    lengths = compute(*[dask.delayed(len)(p) for p in parts])
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
    meta = empty_frame(new_cols, X._meta.index)
    if keep_input:
        meta = pd.concat([X._meta, meta], axis=1)
    fn = dask.delayed(_divide_partition, pure=True)
    aug_d = dask.delayed(augment, pure=True)
    out = [
        fn(p, aug_d, feats, errs, opts, int(offsets[i]), keep_input) for i, p in enumerate(parts)
    ]
    return dd.from_delayed(out, meta=meta, verify_meta=False)


def _divide_array(augment, X, X_err, opts, new_cols, columns):
    """Return the lazy divide of a Dask array: one partition per row chunk."""
    import dask.dataframe as dd
    import pandas as pd

    dask, _ = import_dask()
    Xd = _gpz_input(augment, X, columns)
    Ed = align(X_err, Xd, name="X_err", ndim=2)
    if any(math.isnan(c) for c in Xd.chunks[0]):
        Xd = Xd.compute_chunk_sizes()
    offsets = np.concatenate([[0], np.cumsum(Xd.chunks[0])]).astype(np.int64)
    D = Xd.shape[1]
    feats = [f"_x{j}" for j in range(D)]
    errs = None if Ed is None else [f"_e{j}" for j in range(D)]

    def to_frame(xb, eb, start):
        data = {f: xb[:, j] for j, f in enumerate(feats)}
        if eb is not None:
            data.update({f: eb[:, j] for j, f in enumerate(errs)})
        pdf = pd.DataFrame(data, index=pd.RangeIndex(start, start + xb.shape[0]))
        return _divide_partition(pdf, augment, feats, errs, opts, start, False)

    xb = Xd.to_delayed().ravel()
    eb = [None] * len(xb) if Ed is None else Ed.to_delayed().ravel()
    fn = dask.delayed(to_frame, pure=True)
    parts = [fn(x, e, int(offsets[i])) for i, (x, e) in enumerate(zip(xb, eb, strict=True))]
    meta = empty_frame(new_cols, pd.RangeIndex(0))
    return dd.from_delayed(
        parts, meta=meta, divisions=tuple(offsets[:-1]) + (offsets[-1] - 1,), verify_meta=False
    )


def gpz_divide(
    augment,
    X,
    *,
    weight: bool = False,
    threshold: float | None = None,
    return_density: bool = False,
    assign: str = "threshold",
    X_err=None,
    columns=None,
    error_columns=None,
    keep_input: bool = False,
    **weighting,
):
    """Lazy GPz divide into mixture samples, partition by partition.

    Parameters
    ----------
    augment : GPzAugment
        With the population mixture fitted (and the training mixture for
        ``weight=True``).
    X : dask.dataframe.DataFrame or dask.array.Array
        Features (unscaled).  A dataframe's ``columns`` (default every numeric
        column) are used and its partitions kept; a Dask array gives one
        partition per row chunk.
    weight, threshold, return_density, assign
        As for :meth:`bayesmix.gpz.GPzAugment.divide`.
    X_err : dask array of shape (n_objects, n_features), optional
        Feature standard deviations (XD mixtures only) when ``X`` is an array.
    columns, error_columns : sequence of str, optional
        Feature and error columns when ``X`` is a dataframe.
    keep_input : bool, default False
        Keep the input columns (dataframe input) before the divide columns.
    **weighting
        The weighting rule of the ``weights`` column, as for :func:`gpz_weights`.

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``index`` (global row number), ``best``, ``m0..m{K-1}``,
        ``p0..p{K-1}`` (with ``return_density``), ``weights`` (with ``weight``),
        ``unassigned``, as from ``divide``, plus ``unscored_reason`` (empty
        string for scored rows).  Rows that could not be scored have
        ``best = -1``, no ``m`` set, NaN ``p``/``weights`` and
        ``unassigned = True``.  The input's index and partitions are kept.

    Notes
    -----
    ``divide`` warns (``DivideWarning``) about empty or small mixture samples;
    over a lazy catalogue the counts are only known after computing, so no
    warning is given here: sum the ``m`` columns (or pass the computed columns
    to :func:`bayesmix.gpz.divide.divide_summary` and
    :func:`~bayesmix.gpz.divide.warn_divide`).  ``index`` needs each
    partition's row offset: for a dataframe, one pass counts the rows of every
    partition (a first pass over the data).
    """
    check_augment(augment, need_train=weight)
    opts = divide_options(
        augment,
        {
            "weight": weight,
            "threshold": threshold,
            "return_density": return_density,
            "assign": assign,
            **weighting,
        },
    )
    if (X_err is not None or error_columns is not None) and not augment.uses_errors_:
        raise SpecError(
            "'X_err' needs extreme-deconvolution mixtures (errors given to the constructor)",
            key="X_err",
        )
    K = augment.gmm_pop.n_components
    new_cols = _divide_column_types(K, return_density=return_density, weight=weight)
    if is_frame(X):
        return _divide_frame(augment, X, opts, new_cols, columns, error_columns, keep_input)
    return _divide_array(augment, X, X_err, opts, new_cols, columns)
