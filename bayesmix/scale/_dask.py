"""Dask plumbing shared by the adapters of :mod:`bayesmix.scale`.

Importing Dask (an optional dependency), activating a scheduler, turning
arrays and dataframes into row-chunked Dask arrays, the per-row "why not
scored" codes, feeding blocks to the numba kernels in thread-sized slices,
and the memory budget for persisting.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._validate import check_choice
from bayesmix.em.blocks import serial_rows
from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "REASONS",
    "REASON_COLUMN",
    "align",
    "as_matrix",
    "by_rows",
    "check_clash",
    "compute",
    "empty_frame",
    "frame_columns",
    "import_dask",
    "is_frame",
    "persist_budget",
    "reason_strings",
    "scheduler_context",
    "unusable",
]

#: reasons stored per unscored row (code -> text); code 0 means scored
REASONS = {
    1: "missing or non-finite value in a feature column",
    2: "no observed feature (all values missing)",
    3: "non-finite or negative measurement error",
    4: "measurement covariance not symmetric positive semi-definite",
}
#: the column that says why a row was not scored ("" when it was)
REASON_COLUMN = "unscored_reason"
_SCHEDULERS = ("processes", "single-threaded", "sync", "synchronous", "threads")


def import_dask():
    """Import dask (an optional dependency) with a helpful message; return (dask, dask.array)."""
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("bayesmix.scale needs dask: pip install 'bayesmix[dask]'") from None
    return dask, da


def _is_address(scheduler: str) -> bool:
    if "://" in scheduler:
        return True
    return ":" in scheduler and scheduler.rsplit(":", 1)[1].isdigit()


@contextlib.contextmanager
def scheduler_context(scheduler: str | None = None):
    """Context manager: a Dask scheduler by name, or a connection to a distributed one.

    Parameters
    ----------
    scheduler : str or None
        ``None``: the active scheduler (a ``dask.distributed`` client if one is
        active, else Dask's default, threads); ``"threads"``, ``"processes"``,
        ``"synchronous"`` (also ``"sync"``, ``"single-threaded"``); or a
        ``dask.distributed`` scheduler address such as ``tcp://host:8786`` or
        ``host:8786`` (a :class:`distributed.Client` is opened for the block
        and closed after it).

    Raises
    ------
    SpecError
        Not a string, or an unknown scheduler name.
    """
    import dask

    if scheduler is None:
        yield None
        return
    if not isinstance(scheduler, str):
        raise SpecError(f"'scheduler' must be a string; got {scheduler!r}", key="scheduler")
    if _is_address(scheduler):
        from distributed import Client

        with Client(scheduler) as client:
            yield client
        return
    check_choice(scheduler, name="scheduler", choices=_SCHEDULERS)
    with dask.config.set(scheduler=scheduler):
        yield None


def by_rows(fn, n: int, *arrays):
    """Apply ``fn`` to row slices of ``arrays`` (None passes) and concatenate the outputs.

    The slices have :func:`bayesmix.em.blocks.serial_rows` rows, so the EM
    kernels stay on the task's thread.
    """
    step = serial_rows()
    if n <= step:
        return fn(*arrays)
    outs = [
        fn(*(None if a is None else a[i : i + step] for a in arrays)) for i in range(0, n, step)
    ]
    if isinstance(outs[0], tuple):
        return tuple(
            None if parts[0] is None else np.concatenate(parts) for parts in zip(*outs, strict=True)
        )
    return np.concatenate(outs)


# --------------------------------------------------------------------------- inputs
def is_frame(X) -> bool:
    """Return whether ``X`` is a Dask dataframe."""
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover
        return False
    return isinstance(X, dd.DataFrame)


def _is_numeric(dtype) -> bool:
    try:
        dt = np.dtype(dtype)
    except TypeError:  # pandas extension dtypes (strings, categoricals, ...)
        return False
    return bool(np.issubdtype(dt, np.number))


def frame_columns(ddf, columns, name: str) -> list[str]:
    """Feature columns of a Dask dataframe: ``columns`` (checked) or every numeric column."""
    if columns is None:
        cols = [c for c, t in ddf.dtypes.items() if _is_numeric(t)]
        if not cols:
            raise DataError(f"'{name}' has no numeric column to use as features", argument=name)
        return cols
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in ddf.columns]
    if missing:
        raise DataError(
            f"'{name}' has no column(s) {missing}; available: {sorted(map(str, ddf.columns))}",
            argument="columns",
        )
    return list(columns)


def as_matrix(X, *, name: str, columns=None, lengths: bool = False):
    """Return ``X`` as a 2-D float64 Dask array with one chunk along the features."""
    _, da = import_dask()
    if is_frame(X):
        cols = frame_columns(X, columns, name)
        arr = X[cols].astype("float64").to_dask_array(lengths=True if lengths else None)
    elif isinstance(X, da.Array):
        arr = X
    else:
        arr = da.from_array(np.asarray(X), chunks=(1_000_000,) + (-1,) * (np.ndim(X) - 1))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(
            f"'{name}' must have shape (n_objects, n_features); got {arr.ndim} dimensions",
            argument=name,
        )
    if arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    if lengths and any(math.isnan(c) for c in arr.chunks[0]):
        arr = arr.compute_chunk_sizes()
    if arr.numblocks[1] != 1:
        arr = arr.rechunk({1: -1})
    return arr


def align(arr, X, *, name: str, ndim: int, columns=None):
    """Return ``arr`` (array-like, Dask array or dataframe) with the row chunks of ``X``."""
    _, da = import_dask()
    if arr is None:
        return None
    if is_frame(arr):
        cols = frame_columns(arr, columns, name)
        arr = arr[cols].astype("float64").to_dask_array(lengths=True)
    elif not isinstance(arr, da.Array):
        arr = da.from_array(np.asarray(arr, dtype=np.float64), chunks=-1)
    if arr.ndim == 1 and ndim == 2:
        arr = arr[:, None]
    if arr.ndim != ndim:
        raise DataError(f"'{name}' must have {ndim} dimension(s); got {arr.ndim}", argument=name)
    known = not any(math.isnan(c) for c in X.chunks[0])
    if known and any(math.isnan(c) for c in arr.chunks[0]):
        arr = arr.compute_chunk_sizes()
    if known and arr.shape[0] != X.shape[0]:
        raise DataError(
            f"'{name}' must have one row per object of X ({X.shape[0]}); got {arr.shape[0]}",
            argument=name,
        )
    if arr.chunks[0] != X.chunks[0]:
        if not known:
            raise DataError(
                f"'{name}' must have the same row partitions as X when X has unknown chunk "
                "sizes (e.g. both columns of one dataframe)",
                argument=name,
            )
        arr = arr.rechunk({0: X.chunks[0]})
    if arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    return arr.rechunk({i: -1 for i in range(1, ndim)}) if ndim > 1 else arr


# --------------------------------------------------------------------------- unusable rows
def unusable(Xb, Eb, Cb, marginalize: bool) -> NDArray[np.uint8]:
    """Per-row reason code (0: usable; else a key of :data:`REASONS`) of a block."""
    n = Xb.shape[0]
    code = np.zeros(n, dtype=np.uint8)
    if marginalize:
        code[np.isinf(Xb).any(axis=1)] = 1
        code[(code == 0) & np.isnan(Xb).all(axis=1)] = 2
    else:
        code[~np.isfinite(Xb).all(axis=1)] = 1
    if Eb is not None:
        bad = ~(np.isfinite(Eb) & (Eb >= 0)).all(axis=1)
        code[(code == 0) & bad] = 3
    if Cb is not None and n:
        ok = np.isfinite(Cb).reshape(n, -1).all(axis=1)
        ok &= (
            (np.abs(Cb - np.swapaxes(Cb, 1, 2)) <= 1e-10 * (1.0 + np.abs(Cb)))
            .reshape(n, -1)
            .all(axis=1)
        )
        if ok.any():
            D = Cb.shape[1]
            sub = Cb[ok]
            eig = np.linalg.eigvalsh(sub)[:, 0] if D > 1 else sub[:, 0, 0]
            scale = np.abs(sub).reshape(sub.shape[0], -1).max(axis=1)
            good = np.zeros(n, dtype=bool)
            good[np.flatnonzero(ok)] = eig >= -1e-12 * scale
            ok = good
        code[(code == 0) & ~ok] = 4
    return code


def reason_strings(code: NDArray[np.uint8]) -> NDArray[np.object_]:
    """Return the :data:`REASONS` text of each code ("" for 0)."""
    table = np.array([""] + [REASONS[i] for i in sorted(REASONS)], dtype=object)
    return table[code]


# --------------------------------------------------------------------------- frames
def empty_frame(cols: dict[str, str], index):
    """Return an empty pandas frame with the given column dtypes (a Dask ``meta``)."""
    import pandas as pd

    return pd.DataFrame(
        {c: pd.Series([], dtype=t) for c, t in cols.items()},
        index=index[:0] if len(index) else index,
    )


def check_clash(existing, new) -> None:
    """Refuse new columns whose names the input already uses (no input column is replaced)."""
    clash = [c for c in new if c in set(existing)]
    if clash:
        raise DataError(
            f"the input already has a column named {clash[0]!r}; rename it so that the new "
            "columns do not replace input data",
            argument="columns",
        )


# --------------------------------------------------------------------------- memory
def persist_budget() -> float:
    """Bytes that ``persist='auto'`` may use: half the cluster's (or this machine's) memory."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        accepts = "n_workers" in inspect.signature(client.scheduler_info).parameters
        info = client.scheduler_info(n_workers=-1) if accepts else client.scheduler_info()
        limits = [w.get("memory_limit") or 0 for w in info.get("workers", {}).values()]
        if limits and all(limits):
            return 0.5 * float(sum(limits))
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2.0**31


def compute(*args: Any):
    """Return ``dask.compute(*args)`` on the active scheduler."""
    dask, _ = import_dask()
    return dask.compute(*args)
