"""Parquet in, Parquet out: score a catalogue partition by partition with Dask.

What ``bayesmix gmm fit --dask`` and ``bayesmix gpz ... --dask`` call.  Input
columns are kept, in order, followed by the new ones; rows keep their order and
partitions; every output has ``unscored_reason``.  The output folder is
written atomically (``bayesmix._files.atomic_write_folder``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesmix._files import atomic_write_folder, check_outputs
from bayesmix._validate import check_choice
from bayesmix.em.blocks import check_model
from bayesmix.exceptions import DataError, SpecError
from bayesmix.gpz.weights import check_eta, check_weight_bounds
from bayesmix.scale._dask import (
    REASON_COLUMN,
    check_clash,
    frame_columns,
    import_dask,
    reason_strings,
    scheduler_context,
    unusable,
)
from bayesmix.scale.em import score_block
from bayesmix.scale.gpz import check_augment, gpz_divide, weights_block

__all__ = ["WHAT", "score_parquet"]

#: what :func:`score_parquet` computes (sorted)
WHAT = ("gpz_divide", "gpz_weights", "predict_proba", "score_samples")


def _proba_names(est) -> list[str]:
    names = [f"p_{k}" for k in range(est.n_components)]
    if est.background:
        names.append("p_background")
    return names


def _score_partition(pdf, obj, what, feature_cols, err_cols, opts):
    import pandas as pd

    Xb = pdf[feature_cols].to_numpy(dtype=np.float64)
    Eb = None if err_cols is None else pdf[err_cols].to_numpy(dtype=np.float64)
    if what == "gpz_weights":
        code = unusable(Xb, None, None, False)
        vals = {"weights": weights_block(Xb, augment=obj, **opts)}
    else:
        lse, lr, code = score_block(
            obj, Xb, Eb, None, want="resp" if what == "predict_proba" else "lse"
        )
        if what == "predict_proba":
            p = np.exp(lr)
            vals = {name: p[:, j] for j, name in enumerate(_proba_names(obj))}
        else:
            vals = {"log_density": lse}
    frame = pd.DataFrame(vals, index=pdf.index)
    frame[REASON_COLUMN] = pd.Series(reason_strings(code), index=pdf.index, dtype="str")
    return pd.concat([pdf, frame], axis=1)


def _mapped(ddf, obj, what, feats, errs, opts, new):
    """``map_partitions`` of :func:`_score_partition` with its meta (new float columns)."""
    check_clash(ddf.columns, new)
    meta = ddf._meta.copy()
    for c in new[:-1]:
        meta[c] = np.array([], dtype=np.float64)
    meta[REASON_COLUMN] = meta.index.to_series().astype("str")
    return ddf.map_partitions(_score_partition, obj, what, feats, errs, opts, meta=meta)


def _em_output(ddf, estimator, what, feats, errs, options):
    check_model(estimator, fitted=True)
    if errs is not None and not estimator.uses_errors:
        raise SpecError("'error_columns' need an XDGaussianMixture", key="error_columns")
    if len(feats) != estimator.n_features_in_:
        raise DataError(
            f"'columns' must name {estimator.n_features_in_} feature(s) (as in the fit); got "
            f"{len(feats)}",
            argument="columns",
        )
    if options:
        raise SpecError(f"unknown option(s) {sorted(options)} for what={what!r}", key="options")
    new = (_proba_names(estimator) if what == "predict_proba" else ["log_density"]) + [
        REASON_COLUMN
    ]
    return _mapped(ddf, estimator, what, feats, errs, {}, new), new


def _weights_output(ddf, augment, feats, options):
    check_augment(augment, need_train=True)
    unknown = set(options) - {"max_weight", "min_weight", "eta"}
    if unknown:
        raise SpecError(
            f"unknown option(s) {sorted(unknown)} for what='gpz_weights'", key="options"
        )
    mw, mn = check_weight_bounds(options.get("max_weight", 100), options.get("min_weight"))
    opts = {"max_weight": mw, "min_weight": mn, "eta": check_eta(options.get("eta"))}
    new = ["weights", REASON_COLUMN]
    return _mapped(ddf, augment, "gpz_weights", feats, None, opts, new), new


def _divide_output(ddf, augment, feats, errs, options):
    allowed = {"weight", "threshold", "max_weight", "min_weight", "eta", "return_density", "assign"}
    unknown = set(options) - allowed
    if unknown:
        raise SpecError(f"unknown option(s) {sorted(unknown)} for what='gpz_divide'", key="options")
    out = gpz_divide(augment, ddf, columns=feats, error_columns=errs, keep_input=True, **options)
    return out, [c for c in out.columns if c not in set(ddf.columns)]


def score_parquet(
    estimator_or_augment,
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    columns: Sequence[str],
    what: str = "predict_proba",
    error_columns: Sequence[str] | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    blocksize: int | str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score a Parquet catalogue with Dask and write Parquet, partition by partition.

    Parameters
    ----------
    estimator_or_augment : GaussianMixture, XDGaussianMixture or GPzAugment
        Fitted.  ``what="predict_proba"|"score_samples"`` need an EM model,
        ``"gpz_weights"|"gpz_divide"`` a ``GPzAugment``.
    in_path : path
        A Parquet file, directory or glob (anything ``dask.dataframe.read_parquet``
        reads).
    out_path : path
        Output Parquet directory (one ``part.N.parquet`` per input partition).
    columns : sequence of str
        Feature columns, in the model's feature order.
    what : {"gpz_divide", "gpz_weights", "predict_proba", "score_samples"}
        New columns: ``p_0..p_{K-1}`` (+ ``p_background``); ``log_density``;
        ``weights``; the divide columns (``index``, ``best``, ``m*``, ...).
        Every output also has ``unscored_reason`` ("" for scored rows).
    error_columns : sequence of str, optional
        Feature standard deviations (XD models), in the order of ``columns``.
    scheduler : str, optional
        As for :func:`bayesmix.scale.scheduler_context`: None (the active
        scheduler), a name, or a scheduler address connected to for this call.
    overwrite : bool, default False
        Replace an existing ``out_path``.
    blocksize : int or str, optional
        Passed to ``read_parquet`` (``"256MiB"``, ...) to split large files.
    **options
        Passed on: ``max_weight``, ``min_weight``, ``eta`` (GPz weights);
        ``weight``, ``threshold``, ``return_density``, ``assign`` (divide).

    Returns
    -------
    dict
        ``path``, ``n_rows``, ``n_unscored``, ``n_partitions``, ``columns``
        (the new ones).

    Raises
    ------
    FileExistsError
        ``out_path`` exists and ``overwrite`` is False.
    DataError
        Unknown columns, or a new column name already in the input.

    Notes
    -----
    The output is written to a temporary folder next to ``out_path`` and
    renamed into place when complete.
    """
    import dask.dataframe as dd

    dask, _ = import_dask()
    what = check_choice(what, name="what", choices=WHAT)
    check_outputs([out_path], overwrite=overwrite, folders=[os.fspath(out_path)])
    kw = {} if blocksize is None else {"blocksize": blocksize}
    ddf = dd.read_parquet(os.fspath(in_path), **kw)
    feats = frame_columns(ddf, columns, "in_path")
    errs = None if error_columns is None else frame_columns(ddf, error_columns, "in_path")
    obj = estimator_or_augment
    if what in ("predict_proba", "score_samples"):
        out, new = _em_output(ddf, obj, what, feats, errs, options)
    elif what == "gpz_weights":
        out, new = _weights_output(ddf, obj, feats, options)
    else:
        out, new = _divide_output(ddf, obj, feats, errs, options)
    counts: dict[str, int] = {}

    def write(tmp: str) -> None:
        job = out.to_parquet(tmp, write_index=False, compute=False)
        n_unscored = (out[REASON_COLUMN] != "").sum()
        with scheduler_context(scheduler):
            _, n_un, n_rows = dask.compute(job, n_unscored, out[REASON_COLUMN].size)
        counts.update(n_unscored=int(n_un), n_rows=int(n_rows))

    atomic_write_folder(out_path, write, overwrite=overwrite)
    return {
        "path": os.fspath(out_path),
        "n_rows": counts["n_rows"],
        "n_unscored": counts["n_unscored"],
        "n_partitions": int(out.npartitions),
        "columns": list(new),
    }
