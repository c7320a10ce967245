"""EM fitting and scoring over Dask arrays and dataframes: catalogues larger than memory.

The functions here run bayesmix's own EM engine and scorers block by block on
`Dask <https://www.dask.org>`_ collections, so that a catalogue of 10^9 rows
(Gaia DR3, an LSST object table, a photometric population for GPz weights) is
scored, or a mixture fitted, on any Dask scheduler: the default threaded one,
a ``dask.distributed`` ``LocalCluster``, or a real cluster.

- :func:`fit` -- EM for an unfitted :class:`~bayesmix.em.GaussianMixture` or
  :class:`~bayesmix.em.XDGaussianMixture`.  Every iteration computes the
  sufficient statistics (weighted log-likelihood, N_k, N_bg, S1, S2) of each
  block with the estimator's own fused kernels and sums them on the client;
  the M-step is the estimator's own.  Started from the same parameters, the
  result equals the in-memory fit to rounding (the only difference is the
  order of the final sums).
- :func:`predict_proba`, :func:`score_samples` -- lazy membership
  probabilities / log-densities of a fitted EM model, as Dask arrays with the
  input's row chunks and order.
- :func:`gpz_weights`, :func:`gpz_divide` -- lazy GPz cost-sensitive weights and
  divides of a fitted :class:`~bayesmix.gpz.GPzAugment`.
- :func:`membership` -- Bayesian membership probabilities (posterior mean and
  spread over draws, :func:`bayesmix.membership.membership`) of new objects,
  with the posterior draws sent once to every worker.
- :func:`score_parquet` -- Parquet in, Parquet out, partition by partition,
  input columns kept (what ``bayesmix ... --dask`` calls).

Rows are never lost: a row that cannot be scored (a missing or non-finite
feature the model cannot marginalise, a bad measurement error) keeps its place
and gets NaN outputs; dataframe outputs also get an ``unscored_reason`` column
(empty for scored rows).  Unlike the in-memory methods, which raise on such
rows, the lazy scorers never fail half-way through a catalogue because of one
row.  :func:`fit` validates its input in a first pass and raises
:class:`~bayesmix.exceptions.DataError` naming the first bad row (global index).

Pointing it at a cluster
------------------------
Everything is lazy until ``.compute()``/``.persist()`` (or, for :func:`fit`
and :func:`score_parquet`, immediately), and runs on whatever Dask scheduler
is active.  For a cluster, create a ``distributed.Client`` first::

    from dask.distributed import Client, LocalCluster
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # one machine
    client = Client("tcp://scheduler-host:8786")                       # an existing cluster

    # HPC batch systems (SLURM, PBS, SGE, LSF, HTCondor): dask-jobqueue
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=8, processes=8, memory="32GiB", walltime="02:00:00")
    cluster.scale(jobs=10)
    client = Client(cluster)

    # Kubernetes: the dask-kubernetes operator (a DaskCluster resource)
    from dask_kubernetes.operator import KubeCluster
    cluster = KubeCluster(name="bayesmix", image="ghcr.io/dask/dask:latest", n_workers=20)
    client = Client(cluster)

The workers need ``bayesmix`` (and its numba kernels) installed in the same
version as the client.  One worker *process* per core with one thread each
(``processes=8, cores=8`` above) suits the kernels best: each block is scored
on one core (inside a task this module feeds the kernels slices small enough
that they stay on the task's thread).

Catalogues
----------
Parquet: ``dd.read_parquet(path, columns=[...])`` gives a Dask dataframe; pass it
with ``columns=`` naming the features.  HATS catalogues read with LSDB
(``cat = lsdb.read_hats(path, columns=[...])``) are Dask dataframes underneath:
``cat._ddf`` is that dataframe (LSDB's own ``cat.map_partitions`` is the public
route if you stay inside LSDB).  bayesmix does not depend on LSDB.

Memory
------
Scoring holds a few blocks per worker thread at a time: with 1e6-row blocks
and 3 features, tens of MB each.  :func:`fit` persists the input blocks in
(cluster) memory between iterations when they fit in half of it
(``persist="auto"``); otherwise every iteration re-reads the source (e.g. the
Parquet files) -- slower, but memory stays bounded whatever the size.

References
----------
Rocklin, M. 2015, "Dask: parallel computation with blocked algorithms and task
scheduling", Proc. 14th Python in Science Conf., 130.
Caplar, N. et al. 2025, "Using LSDB to enable large-scale catalog distribution,
cross-matching, and analytics", arXiv:2501.02103.
Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, "Extreme deconvolution", Ann. Appl.
Stat. 5, 1657.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._random import as_generator
from bayesmix._validate import check_choice, check_int
from bayesmix.exceptions import DataError, NotFittedError, SpecError

__all__ = [
    "REASONS",
    "fit",
    "gpz_divide",
    "gpz_weights",
    "membership",
    "predict_proba",
    "score_parquet",
    "scheduler_context",
    "score_samples",
]

#: reasons stored per unscored row (code -> text); code 0 means scored
REASONS = {
    1: "missing or non-finite value in a feature column",
    2: "no observed feature (all values missing)",
    3: "non-finite or negative measurement error",
    4: "measurement covariance not symmetric positive semi-definite",
}
_WHAT = {"predict_proba", "score_samples", "gpz_weights", "gpz_divide"}
_REASON_COLUMN = "unscored_reason"


def scheduler_context(scheduler: str | None = None):
    """Context manager: a Dask scheduler by name, or a connection to a distributed one.

    Parameters
    ----------
    scheduler : str or None
        ``None`` or ``"threads"`` (the threaded scheduler), ``"processes"``,
        ``"synchronous"``, or a ``dask.distributed`` scheduler address such as
        ``tcp://host:8786`` (a :class:`distributed.Client` is opened for the
        block and closed after it).
    """
    import contextlib

    import dask

    if scheduler is None or scheduler in ("threads", "processes", "synchronous"):
        return dask.config.set(scheduler=scheduler or "threads")

    @contextlib.contextmanager
    def connect():
        from distributed import Client

        with Client(scheduler) as client:
            yield client

    return connect()


def _dask():
    """Import dask (an optional dependency) with a helpful message."""
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("bayesmix.scale needs dask: pip install 'bayesmix[dask]'") from None
    return dask, da


def _serial_rows() -> int:
    """Return the rows per kernel call that keep bayesmix's EM kernels on the calling thread.

    The kernels split a call of ``PARALLEL_MIN_CHUNKS`` or more chunks of ``CHUNK``
    rows over a pool of threads.  Inside a Dask task (Dask already runs one task per
    core) that would oversubscribe the cores, so blocks are fed to them in slices just
    below that size; scoring is per row and statistics are sums, so slicing changes
    nothing but the order of the sums.
    """
    from bayesmix.em import _kernels

    chunk = int(getattr(_kernels, "CHUNK", 4096))
    min_chunks = int(getattr(_kernels, "PARALLEL_MIN_CHUNKS", 16))
    return max(chunk, (min_chunks - 1) * chunk)


def _by_rows(fn, n: int, *arrays):
    """Apply ``fn`` to row slices of ``arrays`` (None passes) and concatenate the outputs."""
    step = _serial_rows()
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
def _is_frame(X) -> bool:
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


def _frame_columns(ddf, columns, name: str) -> list[str]:
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


def _as_matrix(X, *, name: str, columns=None, lengths: bool = False):
    """Return ``X`` as a 2-D float64 Dask array with one chunk along the features."""
    _, da = _dask()
    if _is_frame(X):
        cols = _frame_columns(X, columns, name)
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


def _align(arr, X, *, name: str, ndim: int, columns=None):
    """Return ``arr`` (array-like, Dask array or dataframe) with the row chunks of ``X``."""
    _, da = _dask()
    if arr is None:
        return None
    if _is_frame(arr):
        cols = _frame_columns(arr, columns, name)
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


def _unusable(Xb, Eb, Cb, marginalize: bool) -> NDArray[np.uint8]:
    """Per-row reason code (0: usable) for a block of features and optional errors."""
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


def _error_cov_block(Xb, Eb, Cb, uses_errors: bool):
    """(n, D, D) error covariances of a block for XD (zeros without errors), or None."""
    if not uses_errors:
        return None
    n, D = Xb.shape
    if Cb is not None:
        return np.ascontiguousarray(Cb)
    S = np.zeros((n, D, D))
    if Eb is not None:
        idx = np.arange(D)
        S[:, idx, idx] = Eb**2
    return S


def _check_estimator(estimator, *, fitted: bool):
    from bayesmix.em._base import BaseMixture

    if not isinstance(estimator, BaseMixture):
        raise TypeError(
            "'estimator' must be a bayesmix.em.GaussianMixture or XDGaussianMixture; got "
            f"{type(estimator).__name__}"
        )
    if fitted:
        estimator._check_fitted()


def _check_errors_args(estimator, X_err, X_cov):
    if X_err is not None and X_cov is not None:
        raise DataError("give either 'X_err' or 'X_cov', not both", argument="X_cov")
    if (X_err is not None or X_cov is not None) and not estimator._uses_errors:
        raise SpecError(
            "'X_err'/'X_cov' need an XDGaussianMixture (extreme deconvolution); a "
            "GaussianMixture has no measurement errors",
            key="X_err" if X_err is not None else "X_cov",
        )


# --------------------------------------------------------------------------- EM fit
def _block_check(Xb, Eb, Cb, swb, marginalize: bool):
    """Check one block: row count, first bad rows, bounding box, total weight."""
    Xb = np.asarray(Xb, dtype=np.float64)
    n, D = Xb.shape
    code = _unusable(Xb, Eb, Cb, marginalize)
    bad = np.flatnonzero(code)
    out = {
        "n": n,
        "first_bad": int(bad[0]) if bad.size else -1,
        "first_code": int(code[bad[0]]) if bad.size else 0,
        "n_bad": int(bad.size),
        "lo": np.full(D, np.inf),
        "hi": np.full(D, -np.inf),
        "first_bad_weight": -1,
        "sum_w": float(n),
    }
    if n:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column in a block
            lo, hi = np.nanmin(Xb, axis=0), np.nanmax(Xb, axis=0)
        out["lo"] = np.where(np.isnan(lo), np.inf, lo)
        out["hi"] = np.where(np.isnan(hi), -np.inf, hi)
    if swb is not None:
        swb = np.asarray(swb, dtype=np.float64).reshape(-1)
        badw = np.flatnonzero(~(np.isfinite(swb) & (swb >= 0)))
        out["first_bad_weight"] = int(badw[0]) if badw.size else -1
        out["sum_w"] = float(swb.sum()) if not badw.size else float("nan")
        out["pos_w"] = bool((swb > 0).any())
    return out


def _block_stats(est, Xb, Eb, Cb, swb, params):
    """Sufficient statistics of one block via the estimator's own ``_stats``."""
    weights, means, full, log_bg = params
    Xb = np.ascontiguousarray(Xb, dtype=np.float64)
    n = Xb.shape[0]
    sw = np.ones(n) if swb is None else np.ascontiguousarray(swb, dtype=np.float64).reshape(-1)
    observed = None
    if est.nan_policy == "marginalize":
        obs = ~np.isnan(Xb)
        if not obs.all():
            observed = obs
    S = _error_cov_block(Xb, Eb, Cb, est._uses_errors)
    step = _serial_rows()
    K, D = means.shape
    parts = []
    for i in range(0, max(n, 1), step):
        sl = slice(i, i + step)
        parts.append(
            est._stats(
                Xb[sl],
                None if S is None else S[sl],
                sw[sl],
                None if observed is None else observed[sl],
                weights,
                means,
                full,
                log_bg,
            )
        )
    return parts[0] if len(parts) == 1 else _reduce_stats(parts, K, D)


def _persist_budget() -> float:
    """Bytes that ``persist='auto'`` may use: half the cluster's (or this machine's) memory."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        info = (
            client.scheduler_info(n_workers=-1)
            if _accepts_n_workers(client)
            else (client.scheduler_info())
        )
        limits = [w.get("memory_limit") or 0 for w in info.get("workers", {}).values()]
        if limits and all(limits):
            return 0.5 * float(sum(limits))
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2.0**31


def _accepts_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def fit(
    estimator,
    X,
    *,
    X_err=None,
    X_cov=None,
    sample_weight=None,
    columns: Sequence[str] | None = None,
    init_sample_size: int = 100_000,
    persist: bool | str = "auto",
    rng: int | np.random.Generator | None = None,
):
    """Fit an EM mixture to a Dask array or dataframe, block by block.

    Parameters
    ----------
    estimator : GaussianMixture or XDGaussianMixture
        An unfitted estimator; its hyperparameters (``n_components``,
        ``covariance_type``, ``tol``, ``reg_covar``, ``max_iter``, ``n_init``,
        ``init``, ``nan_policy``, ``background``, ``frozen``, ``rng``,
        ``verbose``) are honoured.  It is fitted in place and returned.
    X : dask.array.Array or dask.dataframe.DataFrame or array-like
        Features, shape (n_objects, n_features); of a dataframe, the
        ``columns`` (default: every numeric column).
    X_err : dask array or dataframe of shape (n_objects, n_features), optional
        Per-object standard deviations (XD only; of a dataframe, its numeric
        columns in feature order); rechunked to X's rows.
    X_cov : dask array of shape (n_objects, n_features, n_features), optional
        Per-object error covariances (XD only).
    sample_weight : dask array of shape (n_objects,), optional
        Non-negative object weights.
    columns : sequence of str, optional
        Feature columns when ``X`` is a dataframe.
    init_sample_size : int, default 100_000
        The initialisation (k-means++, k-means, ...) runs in memory on a
        uniform random sample of this many rows, drawn with ``rng``.  When
        ``n_objects <= init_sample_size`` it runs on all rows, in order, so the
        initial parameters -- and hence the whole fit -- equal the in-memory
        ``estimator.fit`` with the same seed.  An explicit ``init`` (array or
        dict) is used as given (its missing weights/covariances come from the
        sample's nearest-mean assignment).
    persist : bool or "auto", default "auto"
        Keep the input blocks in (cluster) memory between iterations.  "auto":
        when X (with errors and weights) takes at most half of the workers'
        memory limits (of this machine's memory without a distributed client).
        Otherwise every EM iteration re-reads the source.
    rng : int, numpy.random.Generator or None
        Seed of the initialisation sample; default: the estimator's ``rng``.

    Returns
    -------
    estimator
        Fitted, with the same attributes as after ``estimator.fit``
        (``weights_``, ``means_``, ``covariances_``, ``converged_``, ``n_iter_``,
        ``lower_bound_``, ``log_likelihood_history_``, ...).

    Raises
    ------
    DataError
        Non-finite features (``nan_policy="raise"``), rows with no observed
        feature, bad errors, covariances or weights -- naming the first bad
        row of the whole catalogue -- or more components than objects.
    SpecError
        Bad hyperparameters, or errors given to a ``GaussianMixture``.

    Warns
    -----
    ConvergenceWarning
        EM stopped at ``max_iter`` before meeting ``tol``.

    Notes
    -----
    One EM iteration is one pass over the blocks.  For every block, the
    estimator's own ``_stats`` (the fused numba E-step) returns the weighted
    log-likelihood and the sufficient statistics ``N_k``, ``N_bg``,
    ``S1_k = sum r (x - mu_k)`` and ``S2_k = sum r (x - mu_k)(x - mu_k)^T``
    about the current means; they are summed over blocks in block order
    (deterministic for any scheduler) and the estimator's ``_m_step`` gives the
    new parameters.  The loop, convergence test and restart selection are
    those of ``BaseMixture._fit``.  A first pass validates the data and finds
    the bounding box of the background.
    """
    dask, da = _dask()
    _check_estimator(estimator, fitted=False)
    _check_errors_args(estimator, X_err, X_cov)
    init_sample_size = check_int(init_sample_size, name="init_sample_size", minimum=1)
    if not (persist in (True, False) or persist == "auto"):
        raise SpecError(f"'persist' must be True, False or 'auto'; got {persist!r}", key="persist")
    Xd = _as_matrix(X, name="X", columns=columns, lengths=True)
    Ed = _align(X_err, Xd, name="X_err", ndim=2)
    Cd = _align(X_cov, Xd, name="X_cov", ndim=3)
    Wd = _align(sample_weight, Xd, name="sample_weight", ndim=1)
    n, D = (int(s) for s in Xd.shape)
    if Ed is not None and Ed.shape[1] != D:
        raise DataError(f"'X_err' must have shape ({n}, {D}); got {Ed.shape}", argument="X_err")
    if Cd is not None and Cd.shape[1:] != (D, D):
        raise DataError(
            f"'X_cov' must have shape ({n}, {D}, {D}); got {Cd.shape}", argument="X_cov"
        )
    estimator._check_hyper(n, D)  # before any pass over the data
    arrays = [a for a in (Xd, Ed, Cd, Wd) if a is not None]
    nbytes = sum(a.size * 8 for a in arrays)
    if persist == "auto":
        persist = nbytes <= _persist_budget()
    if persist:
        persisted = dask.persist(*arrays)
        it = iter(persisted)
        Xd = next(it)
        Ed = next(it) if Ed is not None else None
        Cd = next(it) if Cd is not None else None
        Wd = next(it) if Wd is not None else None
    estimator.persisted_ = bool(persist)

    def blocks(a):
        return [None] * Xd.numblocks[0] if a is None else list(a.to_delayed().ravel())

    xb, eb, cb, wb = blocks(Xd), blocks(Ed), blocks(Cd), blocks(Wd)
    marginalize = estimator.nan_policy == "marginalize"
    check_choice(estimator.nan_policy, name="nan_policy", choices={"raise", "marginalize"})
    check_fn = dask.delayed(_block_check, pure=True)
    summaries = dask.compute(
        *[check_fn(x, e, c, w, marginalize) for x, e, c, w in zip(xb, eb, cb, wb, strict=True)]
    )
    _raise_first_bad(summaries, marginalize)
    K = estimator.n_components
    frozen = estimator._frozen_sets(K)
    total_w = float(sum(s["sum_w"] for s in summaries))
    if Wd is not None and not any(s.get("pos_w", False) for s in summaries):
        raise DataError("'sample_weight' must not be all zero", argument="sample_weight")
    if estimator.background:
        estimator._set_background(
            np.min(np.stack([s["lo"] for s in summaries]), axis=0),
            np.max(np.stack([s["hi"] for s in summaries]), axis=0),
        )
    else:
        estimator._set_background(None, None)

    # initialisation sample (in memory)
    gen = as_generator(estimator.rng)
    if n <= init_sample_size:
        Xs, ws = dask.compute(Xd, Wd)
    else:
        sgen = as_generator(rng) if rng is not None else gen
        idx = np.sort(sgen.choice(n, size=init_sample_size, replace=False))
        Xs, ws = dask.compute(Xd[idx], None if Wd is None else Wd[idx])
    Xs = np.ascontiguousarray(Xs, dtype=np.float64)
    ws = np.ones(Xs.shape[0]) if ws is None else np.asarray(ws, dtype=np.float64).reshape(-1)
    observed_s = None
    if marginalize:
        obs = ~np.isnan(Xs)
        if not obs.all():
            observed_s = obs
    if not (ws > 0).any():
        ws = np.ones_like(ws)  # the sample drew only zero-weight rows: initialise unweighted

    stats_fn = dask.delayed(_block_stats, pure=True)
    est_d = dask.delayed(estimator, pure=False)

    def block_stats(w, mu, full, log_bg):
        params = dask.delayed((w, mu, full, log_bg), pure=True)
        parts = dask.compute(
            *[
                stats_fn(est_d, x, e, c, s, params)
                for x, e, c, s in zip(xb, eb, cb, wb, strict=True)
            ]
        )
        return _reduce_stats(parts, K, D)

    best = estimator._em_restarts(
        lambda: estimator._initial_params(Xs, ws, observed_s, gen),
        block_stats,
        total_w,
        frozen,
        label=" (Dask)",
    )
    estimator._set_fitted(best, D)
    return estimator


def _raise_first_bad(summaries, marginalize: bool) -> None:
    offset = 0
    n_bad = sum(s["n_bad"] for s in summaries)
    for s in summaries:
        if s["first_bad"] >= 0:
            row = offset + s["first_bad"]
            code = s["first_code"]
            arg = {1: "X", 2: "X", 3: "X_err", 4: "X_cov"}[code]
            hint = {
                1: "Remove or impute these rows"
                + ("" if marginalize else " (or use nan_policy='marginalize')"),
                2: "such rows carry no information: remove them",
                3: "errors must be finite and >= 0",
                4: "check the correlation coefficients lie in [-1, 1]",
            }[code]
            raise DataError(
                f"'{arg}' is unusable at row {row}: {REASONS[code]}; {n_bad} row(s) affected. "
                f"{hint}.",
                argument=arg,
                rows=[row],
            )
        offset += s["n"]
    offset = 0
    for s in summaries:
        if s["first_bad_weight"] >= 0:
            row = offset + s["first_bad_weight"]
            raise DataError(
                f"'sample_weight' must be finite and non-negative; row {row} is not",
                argument="sample_weight",
                rows=[row],
            )
        offset += s["n"]


def _reduce_stats(parts, K: int, D: int):
    """Sum per-block statistics in block order."""
    ll = 0.0
    Nk = np.zeros(K)
    Nbg = 0.0
    S1 = np.zeros((K, D))
    S2 = np.zeros((K, D, D))
    for p in parts:
        ll += p[0]
        Nk = Nk + p[1]
        Nbg += p[2]
        S1 = S1 + p[3]
        S2 = S2 + p[4]
    return ll, Nk, Nbg, S1, S2


# --------------------------------------------------------------------------- scoring
def _score_block(est, Xb, Eb, Cb, *, want: str):
    """Score one block: returns (log density (n,), log resp (n, n_out) or None, codes (n,))."""
    Xb = np.asarray(Xb, dtype=np.float64)
    n = Xb.shape[0]
    marginalize = est.nan_policy == "marginalize"
    code = _unusable(Xb, Eb, Cb, marginalize)
    ok = code == 0
    all_ok = bool(ok.all())
    n_out = est.n_components + (1 if est.background else 0)
    want_resp = want == "resp"
    # outputs are allocated once and the kernels' slices copied in (no concatenation)
    make = np.empty if all_ok else (lambda shape: np.full(shape, np.nan))
    lse = make(n)
    lr: Any = make((n, n_out)) if want_resp else None
    if ok.any():
        Xo = np.ascontiguousarray(Xb if all_ok else Xb[ok])
        Eo = None if Eb is None else (Eb if all_ok else Eb[ok])
        Co = None if Cb is None else (Cb if all_ok else Cb[ok])
        observed = None
        if marginalize:
            obs = ~np.isnan(Xo)
            if not obs.all():
                observed = obs
        S = _error_cov_block(Xo, Eo, Co, est._uses_errors)
        m = Xo.shape[0]
        lse_o = lse if all_ok else np.empty(m)
        lr_o: Any = (lr if all_ok else np.empty((m, n_out))) if want_resp else None
        step = _serial_rows()
        direct = _direct_scorer(est, want_resp, n_out) if observed is None else None
        for i in range(0, m, step):
            sl = slice(i, i + step)
            if direct is not None:
                # complete rows: the kernel writes straight into the output slices
                direct(
                    Xo[sl], None if S is None else S[sl], lse_o[sl], lr_o[sl] if want_resp else None
                )
                continue
            a, b = est._log_prob(
                Xo[sl],
                None if S is None else S[sl],
                None if observed is None else observed[sl],
                want_resp,
            )
            lse_o[sl] = a
            if want_resp:
                lr_o[sl] = b
        if not all_ok:
            lse[ok] = lse_o
            if want_resp:
                lr[ok] = lr_o
    return lse, lr, code


def _direct_scorer(est, want_resp: bool, n_out: int):
    """Return a function scoring complete rows into given output arrays, as ``_log_prob`` does.

    ``BaseMixture._log_prob`` calls the same kernels on complete rows but allocates
    its outputs; writing into slices of the block's output saves an allocation and
    a copy per slice, which matters where fresh pages are expensive (``distributed``
    workers trim freed memory back to the OS).  Rows with missing features go
    through ``_log_prob`` itself.
    """
    from bayesmix.em import _kernels

    log_bg = est._log_bg(est.background_weight_)
    with np.errstate(divide="ignore"):
        log_w = np.log(est.weights_)
    empty = np.empty((0, n_out))

    def score(X, S, out_lse, out_lr):
        lr = out_lr if want_resp else empty
        if S is None:
            _kernels.gmm_score(
                X,
                est.means_,
                est.precisions_cholesky_,
                est._log_det_P,
                log_w,
                log_bg,
                want_resp,
                out_lse,
                lr,
            )
        else:
            _kernels.xd_score(X, S, est.means_, est._full, log_w, log_bg, want_resp, out_lse, lr)

    return score


def _proba_block(Xb, Eb, Cb, *, est):
    lr = _score_block(est, Xb, Eb, Cb, want="resp")[1]
    return np.exp(lr, out=lr)


def _lse_block(Xb, Eb, Cb, *, est):
    return _score_block(est, Xb, Eb, Cb, want="lse")[0]


def _blockwise(func, out_ind: str, X, Ed, Cd, *, new_axes=None, extra=(), **kwargs):
    """``da.blockwise`` over row-aligned X (ij), X_err (ij) and X_cov (ijl)."""
    _, da = _dask()
    args: list[Any] = [X, "ij"]
    args += [Ed, "ij"] if Ed is not None else [None, None]
    args += [Cd, "ijl"] if Cd is not None else [None, None]
    args += list(extra)
    return da.blockwise(
        func,
        out_ind,
        *args,
        new_axes=new_axes or {},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0,) * len(out_ind)),
        **kwargs,
    )


def predict_proba(estimator, X, *, X_err=None, X_cov=None, columns=None):
    """Lazy membership probabilities of a fitted EM model, block by block.

    Parameters
    ----------
    estimator : GaussianMixture or XDGaussianMixture
        A fitted estimator.
    X : dask.array.Array or dask.dataframe.DataFrame or array-like
        Features, shape (n_objects, n_features) (of a dataframe: ``columns``,
        default every numeric column).
    X_err, X_cov : dask arrays, optional
        Measurement errors (XD only), row-aligned with ``X``.
    columns : sequence of str, optional
        Feature columns of a dataframe ``X``.

    Returns
    -------
    dask.array.Array of shape (n_objects, n_components) (+1 column, last, for the background)
        ``exp`` of the estimator's log responsibilities, with X's row chunks
        (unknown chunk sizes for a dataframe) and order.  Rows that cannot be
        scored are NaN.
    """
    _check_estimator(estimator, fitted=True)
    _check_errors_args(estimator, X_err, X_cov)
    Xd, Ed, Cd = _score_inputs(estimator, X, X_err, X_cov, columns)
    n_out = estimator.n_components + (1 if estimator.background else 0)
    return _blockwise(_proba_block, "ik", Xd, Ed, Cd, new_axes={"k": n_out}, est=estimator)


def score_samples(estimator, X, *, X_err=None, X_cov=None, columns=None):
    """Lazy log-density ``ln p(x)`` of each object under a fitted EM model.

    Parameters are as for :func:`predict_proba`.

    Returns
    -------
    dask.array.Array of shape (n_objects,)
        With X's row chunks and order; NaN for rows that cannot be scored.
    """
    _check_estimator(estimator, fitted=True)
    _check_errors_args(estimator, X_err, X_cov)
    Xd, Ed, Cd = _score_inputs(estimator, X, X_err, X_cov, columns)
    return _blockwise(_lse_block, "i", Xd, Ed, Cd, est=estimator)


def _score_inputs(estimator, X, X_err, X_cov, columns):
    Xd = _as_matrix(X, name="X", columns=columns)
    D = estimator.n_features_in_
    if Xd.shape[1] != D:
        raise DataError(
            f"'X' must have {D} feature column(s) (as in the fit); got {Xd.shape[1]}",
            argument="X",
        )
    Ed = _align(X_err, Xd, name="X_err", ndim=2)
    Cd = _align(X_cov, Xd, name="X_cov", ndim=3)
    return Xd, Ed, Cd


# --------------------------------------------------------------------------- GPz
def _check_augment(augment, *, need_train: bool):
    from bayesmix.gpz import GPzAugment

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


def _gpz_weights_block(Xb, Eb=None, Cb=None, *, augment, max_weight, min_weight, eta):
    Xb = np.asarray(Xb, dtype=np.float64)
    code = _unusable(Xb, None, None, False)
    ok = code == 0
    out = np.full(Xb.shape[0], np.nan)
    if ok.any():
        Xo = np.ascontiguousarray(Xb[ok])
        out[ok] = _by_rows(
            lambda x: augment.calc_weights(
                x, max_weight=max_weight, min_weight=min_weight, eta=eta
            ),
            Xo.shape[0],
            Xo,
        )
    return out


def gpz_weights(
    augment,
    X,
    *,
    max_weight: float = 100,
    min_weight: float | None = None,
    eta: float | None = None,
    columns=None,
):
    """Lazy GPz cost-sensitive weights ``p_pop(x) / p_train(x)``, block by block.

    Parameters
    ----------
    augment : GPzAugment
        With both mixtures fitted.
    X : dask.array.Array or dask.dataframe.DataFrame or array-like
        Features of the objects to weight (unscaled, as given to ``augment``).
    max_weight, min_weight, eta
        As for :meth:`bayesmix.gpz.GPzAugment.calc_weights`.
    columns : sequence of str, optional
        Feature columns of a dataframe ``X``.

    Returns
    -------
    dask.array.Array of shape (n_objects,)
        Equal to ``augment.calc_weights(X)``; NaN for rows with a non-finite feature.
    """
    from bayesmix.gpz import _check_eta, _check_weight_bounds

    _check_augment(augment, need_train=True)
    max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
    eta = _check_eta(eta)
    Xd = _gpz_input(augment, X, columns)
    return _blockwise(
        _gpz_weights_block,
        "i",
        Xd,
        None,
        None,
        augment=augment,
        max_weight=max_weight,
        min_weight=min_weight,
        eta=eta,
    )


def _gpz_input(augment, X, columns):
    Xd = _as_matrix(X, name="X", columns=columns)
    if Xd.shape[1] != augment.n_features_in_:
        raise DataError(
            f"'X' must have {augment.n_features_in_} feature column(s), like X_pop; got "
            f"{Xd.shape[1]}",
            argument="X",
        )
    return Xd


def _divide_columns(K: int, *, return_density: bool, weight: bool) -> dict[str, str]:
    cols = {"index": "int64", "best": "int64"}
    cols.update({f"m{k}": "bool" for k in range(K)})
    if return_density:
        cols.update({f"p{k}": "float64" for k in range(K)})
    if weight:
        cols["weights"] = "float64"
    cols["unassigned"] = "bool"
    cols[_REASON_COLUMN] = "str"
    return cols


def _gpz_divide_arrays(augment, Xb, Eb, opts) -> dict[str, np.ndarray]:
    """Divide columns for one block of raw features (gpz's ``divide`` semantics)."""
    from bayesmix.em import XDGaussianMixture
    from bayesmix.gpz import _clip_log_weights

    Xb = np.asarray(Xb, dtype=np.float64)
    n = Xb.shape[0]
    K = augment.gmm_pop.n_components
    code = _unusable(Xb, Eb, None, False)
    ok = code == 0
    prob = np.full((n, K), np.nan)
    best = np.full(n, -1, dtype=np.int64)
    member = np.zeros((n, K), dtype=bool)
    weights = np.full(n, np.nan)
    if ok.any():
        Xo = np.ascontiguousarray(Xb[ok])
        Xs = augment._transform(Xo)
        m = Xo.shape[0]
        if isinstance(augment.gmm_pop, XDGaussianMixture):
            err = None if Eb is None else augment._transform_err(Eb[ok], Xo.shape, "X_err")
            log_resp = _by_rows(
                lambda x, e: augment.gmm_pop.predict_log_proba(x, X_err=e), m, Xs, err
            )
        else:
            log_resp = _by_rows(augment.gmm_pop.predict_log_proba, m, Xs)
        if opts["weight"]:
            ratio = _by_rows(lambda x: augment.log_density_ratio(x, eta=opts["eta"]), m, Xo)
            weights[ok] = _clip_log_weights(ratio, opts["max_weight"], opts["min_weight"])
        p = np.exp(log_resp)
        b = np.argmax(log_resp, axis=1)
        m = p > opts["threshold"]
        if opts["assign"] == "best":
            m[np.arange(m.shape[0]), b] = True
        prob[ok], best[ok], member[ok] = p, b, m
    out: dict[str, np.ndarray] = {"best": best}
    for k in range(K):
        out[f"m{k}"] = member[:, k]
    if opts["return_density"]:
        for k in range(K):
            out[f"p{k}"] = prob[:, k]
    if opts["weight"]:
        out["weights"] = weights
    out["unassigned"] = ~member.any(axis=1)
    out["_code"] = code
    return out


def _reason_strings(code: np.ndarray) -> np.ndarray:
    table = np.array([""] + [REASONS[i] for i in sorted(REASONS)], dtype=object)
    return table[code]


def _divide_partition(pdf, augment, feature_cols, err_cols, opts, start, keep_input):
    import pandas as pd

    Xb = pdf[feature_cols].to_numpy(dtype=np.float64)
    Eb = None if err_cols is None else pdf[err_cols].to_numpy(dtype=np.float64)
    cols = _gpz_divide_arrays(augment, Xb, Eb, opts)
    code = cols.pop("_code")
    start = int(start)
    new = {
        "index": np.arange(start, start + len(pdf), dtype=np.int64),
        **cols,
        _REASON_COLUMN: _reason_strings(code),
    }
    frame = pd.DataFrame(new, index=pdf.index)
    frame[_REASON_COLUMN] = frame[_REASON_COLUMN].astype("str")
    if keep_input:
        return pd.concat([pdf, frame], axis=1)
    return frame


def gpz_divide(
    augment,
    X,
    *,
    weight: bool = False,
    threshold: float | None = None,
    max_weight: float = 100,
    min_weight: float | None = None,
    eta: float | None = None,
    return_density: bool = False,
    assign: str = "threshold",
    X_err=None,
    columns=None,
    error_columns=None,
    keep_input: bool = False,
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
    weight, threshold, max_weight, min_weight, eta, return_density, assign
        As for :meth:`bayesmix.gpz.GPzAugment.divide`.
    X_err : dask array of shape (n_objects, n_features), optional
        Feature standard deviations (XD mixtures only) when ``X`` is an array.
    columns, error_columns : sequence of str, optional
        Feature and error columns when ``X`` is a dataframe.
    keep_input : bool, default False
        Keep the input columns (dataframe input) before the divide columns.

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
    warning is given here: sum the ``m`` columns.  ``index`` needs each
    partition's row offset: for a dataframe, one pass counts the rows of every
    partition (a first pass over the data).
    """
    from bayesmix.gpz import _ASSIGN, _check_eta, _check_threshold, _check_weight_bounds

    dask, _ = _dask()
    _check_augment(augment, need_train=weight)
    threshold = augment.threshold if threshold is None else _check_threshold(threshold)
    check_choice(assign, name="assign", choices=_ASSIGN)
    if weight:
        max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
        eta = _check_eta(eta)
    if (X_err is not None or error_columns is not None) and not augment.uses_errors_:
        raise SpecError(
            "'X_err' needs extreme-deconvolution mixtures (errors given to the constructor)",
            key="X_err",
        )
    opts = {
        "weight": bool(weight),
        "threshold": threshold,
        "max_weight": max_weight,
        "min_weight": min_weight,
        "eta": eta,
        "return_density": bool(return_density),
        "assign": assign,
    }
    K = augment.gmm_pop.n_components
    new_cols = _divide_columns(K, return_density=return_density, weight=weight)
    if _is_frame(X):
        feats = _frame_columns(X, columns, "X")
        if len(feats) != augment.n_features_in_:
            raise DataError(
                f"'X' must have {augment.n_features_in_} feature column(s), like X_pop; got "
                f"{len(feats)}",
                argument="X",
            )
        errs = None if error_columns is None else _frame_columns(X, error_columns, "X")
        if keep_input:
            _check_clash(X.columns, new_cols)
        # The partitions are fixed once by to_delayed (dask's optimiser may otherwise fuse
        # partitions differently for different column selections) and counted, so that
        # ``index`` is the global row number.
        sel = X if keep_input else X[feats + (errs or [])]
        parts = list(sel.to_delayed())
        lengths = dask.compute(*[dask.delayed(len)(p) for p in parts])
        offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
        meta = _empty_frame(new_cols, X._meta.index)
        if keep_input:
            import pandas as pd

            meta = pd.concat([X._meta, meta], axis=1)
        import dask.dataframe as dd

        fn = dask.delayed(_divide_partition, pure=True)
        aug_d = dask.delayed(augment, pure=True)
        out = [
            fn(p, aug_d, feats, errs, opts, int(offsets[i]), keep_input)
            for i, p in enumerate(parts)
        ]
        return dd.from_delayed(out, meta=meta, verify_meta=False)
    # Dask array input: one partition per row chunk
    import dask.dataframe as dd
    import pandas as pd

    Xd = _gpz_input(augment, X, columns)
    Ed = _align(X_err, Xd, name="X_err", ndim=2)
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
    meta = _empty_frame(new_cols, pd.RangeIndex(0))
    return dd.from_delayed(
        parts, meta=meta, divisions=tuple(offsets[:-1]) + (offsets[-1] - 1,), verify_meta=False
    )


def _empty_frame(cols: Mapping[str, str], index):
    import pandas as pd

    return pd.DataFrame(
        {c: pd.Series([], dtype=t) for c, t in cols.items()},
        index=index[:0] if len(index) else index,
    )


def _check_clash(existing, new) -> None:
    clash = [c for c in new if c in set(existing)]
    if clash:
        raise DataError(
            f"the input already has a column named {clash[0]!r}; rename it so that the new "
            "columns do not replace input data",
            argument="columns",
        )


# --------------------------------------------------------------------------- membership
@dataclasses.dataclass(frozen=True)
class _DrawsFit:
    """The two things :func:`bayesmix.membership.membership` reads from a Fit."""

    model: Any
    posterior: Any


def _light_model(mm):
    """Drop the PyMC model and data from a MixtureModel (scoring new objects needs neither)."""
    return dataclasses.replace(mm, model=None, data={}, _cache={})


def _membership_block(draws, mm, names, arrays, nvars, chunk_size, quantiles):
    from bayesmix.membership import membership as _membership

    data = {k: np.asarray(v) for k, v in zip(names, arrays, strict=True)}
    n = next(iter(data.values())).shape[0]
    K = len(mm.components)
    out = np.full((n, K, nvars), np.nan)
    ok = np.ones(n, dtype=bool)
    for k, v in data.items():
        if k == "ids":
            continue
        with np.errstate(invalid="ignore"):
            ok &= np.isfinite(np.asarray(v, dtype=np.float64)).reshape(n, -1).all(axis=1)
    if ok.any():
        sub = {k: v[ok] for k, v in data.items()}
        ds = _membership(_DrawsFit(mm, draws), sub, chunk_size=chunk_size, quantiles=quantiles)
        for j, var in enumerate(_membership_vars(quantiles)):
            out[ok, :, j] = np.asarray(ds[var].transpose("object", "component").values)
    return out


def _membership_vars(quantiles: bool) -> list[str]:
    from bayesmix.membership import _QUANTILES

    out = ["probability", "probability_sd"]
    if quantiles:
        out += [f"probability_q{int(q)}" for q in _QUANTILES]
    return out


def membership(
    fit,
    data: Mapping[str, Any],
    *,
    chunk_size: int | None = None,
    quantiles: bool = True,
    broadcast: str = "auto",
):
    """Lazy Bayesian membership probabilities of new objects, block by block.

    Parameters
    ----------
    fit : Fit
        Result of :func:`bayesmix.sample`.
    data : mapping of str to dask array
        New objects' data keyed as the builder's arguments (e.g. ``{"X": ...,
        "X_err": ...}`` for ``gaussian_mixture``, ``{"x": ..., "y": ...,
        "y_err": ...}`` for ``line_outlier``), row-aligned Dask arrays (numpy
        arrays are wrapped); rechunked to the first array's rows.
    chunk_size : int, optional
        Posterior draws per chunk inside each block (see
        :func:`bayesmix.membership.membership`).
    quantiles : bool, default True
        Also the 16th, 50th and 84th percentiles over draws.
    broadcast : {"auto", "scatter", "delayed"}, default "auto"
        How the posterior draws reach the workers, once: ``"scatter"`` sends
        them to every worker of the active ``distributed`` client now
        (``client.scatter(..., broadcast=True)``); ``"delayed"`` puts them in
        the graph once as a single task that every block depends on.
        ``"auto"``: scatter when a distributed client is active.

    Returns
    -------
    xarray.Dataset
        Dask-backed variables over (``object``, ``component``):
        ``probability``, ``probability_sd`` and, with ``quantiles``,
        ``probability_q16``/``q50``/``q84``, equal to
        ``bayesmix.membership.membership(fit, data)`` on the same objects.
        Rows with a non-finite value are NaN (``attrs["unscored"]`` explains).
        No ``object`` coordinate (ids would have to be computed).
    """
    import xarray as xr

    dask, da = _dask()
    broadcast = check_choice(broadcast, name="broadcast", choices={"auto", "scatter", "delayed"})
    if not isinstance(data, Mapping) or not data:
        raise DataError(
            "'data' must be a non-empty mapping of argument name to array", argument="data"
        )
    mm = fit.model
    names = [k for k, v in data.items() if v is not None]
    arrays = []
    first = None
    for k in names:
        v = data[k]
        if not isinstance(v, da.Array):
            v = da.from_array(np.asarray(v), chunks=(1_000_000,) + (-1,) * (np.ndim(v) - 1))
        if first is None:
            first = v
            if any(math.isnan(c) for c in first.chunks[0]):
                first = first.compute_chunk_sizes()
            v = first.rechunk({i: -1 for i in range(1, first.ndim)})
            first = v
        else:
            if v.shape[0] != first.shape[0]:
                raise DataError(
                    f"data[{k!r}] must have {first.shape[0]} rows like data[{names[0]!r}]; got "
                    f"{v.shape[0]}",
                    argument="data",
                )
            v = v.rechunk({0: first.chunks[0], **{i: -1 for i in range(1, v.ndim)}})
        arrays.append(v)
    post = fit.posterior[list(mm.var_names)].load()
    light = _light_model(mm)
    draws: Any
    client = None
    if broadcast in ("auto", "scatter"):
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
        if client is None and broadcast == "scatter":
            raise SpecError(
                "broadcast='scatter' needs an active dask.distributed client", key="broadcast"
            )
    if client is not None:
        draws = client.scatter(post, broadcast=True, hash=False)
    else:
        draws = dask.delayed(post, pure=True)
    light_d = dask.delayed(light, pure=True)
    vars_ = _membership_vars(quantiles)
    K = len(mm.components)
    letters = "abcdefgh"
    args: list[Any] = []
    for v in arrays:
        args += [v, "i" + letters[: v.ndim - 1]]
    fn = _MembershipBlock(tuple(names), len(vars_), chunk_size, bool(quantiles))
    out = da.blockwise(
        fn,
        "ikv",
        draws,
        None,
        light_d,
        None,
        *args,
        new_axes={"k": K, "v": len(vars_)},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
    )
    dims = ("object", "component")
    ds = xr.Dataset(
        {var: (dims, out[:, :, j]) for j, var in enumerate(vars_)},
        coords={"component": list(mm.component_labels)},
        attrs={
            "unscored": "rows with a non-finite value in any data array are NaN",
            "formula": "mean over draws of exp(ln w_k + ln p_k - logsumexp_j(ln w_j + ln p_j))",
        },
    )
    return ds


class _MembershipBlock:
    """Picklable block function for :func:`membership` (holds only small options)."""

    def __init__(self, names, nvars, chunk_size, quantiles):
        self.names, self.nvars = names, nvars
        self.chunk_size, self.quantiles = chunk_size, quantiles

    def __call__(self, draws, mm, *arrays):
        return _membership_block(
            draws, mm, self.names, arrays, self.nvars, self.chunk_size, self.quantiles
        )


# --------------------------------------------------------------------------- Parquet
def _score_partition(pdf, obj, what, feature_cols, err_cols, opts):
    import pandas as pd

    Xb = pdf[feature_cols].to_numpy(dtype=np.float64)
    Eb = None if err_cols is None else pdf[err_cols].to_numpy(dtype=np.float64)
    if what == "gpz_weights":
        code = _unusable(Xb, None, None, False)
        vals = {"weights": _gpz_weights_block(Xb, augment=obj, **opts)}
    else:
        lse, lr, code = _score_block(
            obj, Xb, Eb, None, want="resp" if what == "predict_proba" else "lse"
        )
        if what == "predict_proba":
            p = np.exp(lr)
            vals = {name: p[:, j] for j, name in enumerate(_proba_names(obj))}
        else:
            vals = {"log_density": lse}
    frame = pd.DataFrame(vals, index=pdf.index)
    frame[_REASON_COLUMN] = pd.Series(_reason_strings(code), index=pdf.index, dtype="str")
    return pd.concat([pdf, frame], axis=1)


def _proba_names(est) -> list[str]:
    names = [f"p_{k}" for k in range(est.n_components)]
    if est.background:
        names.append("p_background")
    return names


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
        None: the active Dask scheduler (a ``distributed`` client if one is
        active, else threads); ``"threads"``, ``"processes"`` or
        ``"synchronous"``; or a scheduler address (``"tcp://host:8786"``),
        connected to for this call.
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
    Input columns are kept, in order, followed by the new ones; rows keep
    their order and partitions.  The output is written to a temporary
    directory next to ``out_path`` and renamed into place when complete.
    """
    import dask.dataframe as dd

    dask, _ = _dask()
    what = check_choice(what, name="what", choices=_WHAT)
    out_path = os.fspath(out_path)
    if os.path.exists(out_path) and not overwrite:
        raise FileExistsError(f"{out_path} exists; pass overwrite=True to replace it")
    kw = {} if blocksize is None else {"blocksize": blocksize}
    ddf = dd.read_parquet(os.fspath(in_path), **kw)
    feats = _frame_columns(ddf, columns, "in_path")
    errs = None if error_columns is None else _frame_columns(ddf, error_columns, "in_path")
    if what in ("predict_proba", "score_samples"):
        _check_estimator(estimator_or_augment, fitted=True)
        if errs is not None and not estimator_or_augment._uses_errors:
            raise SpecError("'error_columns' need an XDGaussianMixture", key="error_columns")
        if len(feats) != estimator_or_augment.n_features_in_:
            raise DataError(
                f"'columns' must name {estimator_or_augment.n_features_in_} feature(s) (as in "
                f"the fit); got {len(feats)}",
                argument="columns",
            )
        if options:
            raise SpecError(f"unknown option(s) {sorted(options)} for what={what!r}", key="options")
        new = (
            _proba_names(estimator_or_augment) if what == "predict_proba" else ["log_density"]
        ) + [_REASON_COLUMN]
        _check_clash(ddf.columns, new)
        meta = ddf._meta.copy()
        for c in new[:-1]:
            meta[c] = np.array([], dtype=np.float64)
        meta[_REASON_COLUMN] = meta.index.to_series().astype("str")
        out = ddf.map_partitions(
            _score_partition, estimator_or_augment, what, feats, errs, {}, meta=meta
        )
    elif what == "gpz_weights":
        from bayesmix.gpz import _check_eta, _check_weight_bounds

        _check_augment(estimator_or_augment, need_train=True)
        unknown = set(options) - {"max_weight", "min_weight", "eta"}
        if unknown:
            raise SpecError(
                f"unknown option(s) {sorted(unknown)} for what='gpz_weights'", key="options"
            )
        mw, mn = _check_weight_bounds(options.get("max_weight", 100), options.get("min_weight"))
        opts = {"max_weight": mw, "min_weight": mn, "eta": _check_eta(options.get("eta"))}
        new = ["weights", _REASON_COLUMN]
        _check_clash(ddf.columns, new)
        meta = ddf._meta.copy()
        meta["weights"] = np.array([], dtype=np.float64)
        meta[_REASON_COLUMN] = meta.index.to_series().astype("str")
        out = ddf.map_partitions(
            _score_partition, estimator_or_augment, what, feats, None, opts, meta=meta
        )
    else:
        allowed = {
            "weight",
            "threshold",
            "max_weight",
            "min_weight",
            "eta",
            "return_density",
            "assign",
        }
        unknown = set(options) - allowed
        if unknown:
            raise SpecError(
                f"unknown option(s) {sorted(unknown)} for what='gpz_divide'", key="options"
            )
        out = gpz_divide(
            estimator_or_augment, ddf, columns=feats, error_columns=errs, keep_input=True, **options
        )
        new = [c for c in out.columns if c not in set(ddf.columns)]
    folder = os.path.dirname(os.path.abspath(out_path)) or "."
    tmp = tempfile.mkdtemp(dir=folder, prefix=".bayesmix-scale-", suffix=".tmp")
    try:
        write = out.to_parquet(tmp, write_index=False, compute=False)
        n_unscored = (out[_REASON_COLUMN] != "").sum()
        n_rows = out[_REASON_COLUMN].size
        with _scheduler(scheduler) as kw_compute:
            _, n_un, n_rows = dask.compute(write, n_unscored, n_rows, **kw_compute)
        if os.path.exists(out_path):
            shutil.rmtree(out_path) if os.path.isdir(out_path) else os.unlink(out_path)
        os.replace(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "path": out_path,
        "n_rows": int(n_rows),
        "n_unscored": int(n_un),
        "n_partitions": int(out.npartitions),
        "columns": list(new),
    }


@contextlib.contextmanager
def _scheduler(scheduler: str | None):
    """Keyword arguments for ``dask.compute`` (connecting to an address if one is given)."""
    if scheduler is None:
        yield {}
        return
    if not isinstance(scheduler, str):
        raise SpecError(f"'scheduler' must be a string; got {scheduler!r}", key="scheduler")
    if "://" in scheduler or (":" in scheduler and scheduler.rsplit(":", 1)[1].isdigit()):
        from distributed import Client

        with Client(scheduler) as client:
            yield {"scheduler": client}
        return
    check_choice(
        scheduler,
        name="scheduler",
        choices={"threads", "processes", "synchronous", "single-threaded", "sync"},
    )
    yield {"scheduler": scheduler}
