"""EM over data held in blocks: the public protocol that :mod:`bayesmix.scale` feeds.

A fit over blocks (Dask chunks, Parquet partitions, files read one by one) is
the in-memory fit with the sums taken elsewhere.  The caller provides

- ``statistics(parameters)``: the sum over all blocks of
  :func:`block_statistics` at those parameters (one EM iteration);
- ``assignment(centers)``: the sum over all blocks of
  :func:`~bayesmix.em.statistics.assignment_statistics` (used once, to start
  from given means exactly as the in-memory fit does);
- an initialisation sample (in memory) for the seeding methods, the number of
  objects, their total weight and, with a background, the bounding box;

and :func:`fit_statistics` runs the estimator's own loop (restarts, M-step,
convergence test, fitted attributes) on them.  Started from the same means, a
fit over blocks equals ``estimator.fit`` iteration by iteration; the only
difference is the order in which the sums are added (rounding, ~1e-15
relative).  Scoring a block of new objects is :func:`block_scores`.

Every function here takes *validated* rows (finite features, or NaN for
missing ones with ``nan_policy="marginalize"``; non-negative errors): a
caller that reads raw data checks it first and keeps the rows it cannot use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_covariances, check_matrix, check_sample_weight
from bayesmix.em._base import BaseMixture
from bayesmix.em._kernels import CHUNK, PARALLEL_MIN_CHUNKS
from bayesmix.em.scaling import FeatureScaling
from bayesmix.em.scaling import extent as scaling_extent
from bayesmix.em.statistics import (
    AssignmentStatistics,
    EStepStatistics,
    Parameters,
    assignment_statistics,
)
from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "block_assignment",
    "block_scores",
    "block_statistics",
    "check_model",
    "error_covariances",
    "fit_scaling",
    "fit_statistics",
    "serial_rows",
]


def check_model(estimator, *, fitted: bool, n_objects: int | None = None, n_features=None):
    """Return ``estimator`` if it is a bayesmix EM mixture (fitted, or with valid settings).

    Parameters
    ----------
    estimator : GaussianMixture or XDGaussianMixture
    fitted : bool
        Require a fitted model (else :class:`~bayesmix.exceptions.NotFittedError`).
    n_objects, n_features : int, optional
        With ``fitted=False``: check the hyperparameters for this many objects
        and features now, before any pass over the data.

    Raises
    ------
    TypeError
        Not a bayesmix EM estimator.
    NotFittedError, SpecError, DataError
        As described.
    """
    if not isinstance(estimator, BaseMixture):
        raise TypeError(
            "'estimator' must be a bayesmix.em.GaussianMixture or XDGaussianMixture; got "
            f"{type(estimator).__name__}"
        )
    if fitted:
        estimator._check_fitted()
    elif n_objects is not None:
        estimator._check_hyper(int(n_objects), int(n_features))
        estimator._frozen_sets(estimator.n_components)
    return estimator


def serial_rows() -> int:
    """Return the most rows per kernel call that keep the EM kernels on the calling thread.

    The kernels split a call of ``PARALLEL_MIN_CHUNKS`` or more chunks of
    ``CHUNK`` rows over a pool of threads.  Inside a Dask task (Dask already runs
    one task per core) that would oversubscribe the cores, so blocks are fed to
    them in slices just below that size; scoring is per row and statistics are
    sums, so slicing changes nothing but the order of the sums.
    """
    return max(CHUNK, (PARALLEL_MIN_CHUNKS - 1) * CHUNK)


def error_covariances(
    model: BaseMixture, X: NDArray[np.float64], X_err=None, X_cov=None
) -> NDArray[np.float64] | None:
    """Per-object error covariances (n, D, D) for an XD model (zeros without errors), or None.

    ``X_err`` (standard deviations) gives diagonal covariances; ``X_cov`` is used
    as given.  A plain :class:`~bayesmix.em.GaussianMixture` gets None.
    """
    if not model.uses_errors:
        if X_err is not None or X_cov is not None:
            raise SpecError(
                "'X_err'/'X_cov' need an XDGaussianMixture (extreme deconvolution); a "
                "GaussianMixture has no measurement errors",
                key="X_err" if X_err is not None else "X_cov",
            )
        return None
    n, D = X.shape
    if X_cov is not None:
        return np.ascontiguousarray(X_cov, dtype=np.float64)
    S = np.zeros((n, D, D))
    if X_err is not None:
        idx = np.arange(D)
        S[:, idx, idx] = np.asarray(X_err, dtype=np.float64) ** 2
    return S


def _observed(model: BaseMixture, X: NDArray[np.float64]) -> NDArray[np.bool_] | None:
    if model.nan_policy != "marginalize":
        return None
    obs = ~np.isnan(X)
    return None if obs.all() else obs


def _slices(n: int, serial: bool):
    step = serial_rows() if serial else max(n, 1)
    return [slice(i, i + step) for i in range(0, max(n, 1), step)]


def block_statistics(
    model: BaseMixture,
    X: ArrayLike,
    parameters: Parameters,
    *,
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    serial: bool = True,
) -> EStepStatistics:
    """E-step statistics of one block of validated rows at ``parameters``.

    Parameters
    ----------
    model : GaussianMixture or XDGaussianMixture
        Gives the E-step (and, with a background, its density: call inside
        :func:`fit_statistics`, which sets it).
    X : array-like of shape (n_objects, n_features)
    parameters : Parameters
    X_err, X_cov : array-like, optional
        Measurement errors (XD only).
    sample_weight : array-like of shape (n_objects,), optional
    serial : bool, default True
        Keep the kernels on the calling thread (see :func:`serial_rows`).

    Returns
    -------
    EStepStatistics
        The sums over the block's rows, about ``parameters.means``.

    Notes
    -----
    Inside :func:`fit_statistics` the rows (given in data units) are converted
    to the fit's internal units (:mod:`bayesmix.em.scaling`, a no-op for
    ordinary data), in which ``parameters`` and the statistics are expressed.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else np.ascontiguousarray(sample_weight, float)
    sw = sw.reshape(-1)
    observed = _observed(model, X)
    S = error_covariances(model, X, X_err, X_cov)
    scaling = fit_scaling(model, X.shape[1])
    X, S = scaling.data(X), scaling.covariances(S)
    K, D = parameters.means.shape
    total = EStepStatistics.zeros(K, D)
    for sl in _slices(n, serial):
        part = model._stats(
            X[sl],
            None if S is None else S[sl],
            sw[sl],
            None if observed is None else observed[sl],
            parameters,
        )
        total = part if sl.start == 0 else total + part
    return total


def fit_scaling(model: BaseMixture, n_features: int) -> FeatureScaling:
    """Return the internal feature scaling of the fit in progress (identity outside a fit)."""
    scaling = getattr(model, "_fit_scaling", None)
    return FeatureScaling.identity(n_features) if scaling is None else scaling


def block_assignment(
    model: BaseMixture,
    X: ArrayLike,
    centers: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    fill: ArrayLike | None = None,
) -> AssignmentStatistics:
    """Return the assignment statistics of one block of validated rows for given centres.

    :func:`~bayesmix.em.statistics.assignment_statistics` of the rows
    converted to the internal units of the fit in progress (as
    :func:`block_statistics`); ``centers`` are in those units, ``fill`` (the
    column means of all objects) in data units.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    scaling = fit_scaling(model, X.shape[1])
    return assignment_statistics(
        scaling.data(X),
        centers,
        sample_weight=sample_weight,
        fill=None if fill is None else scaling.point(fill),
    )


def block_scores(
    model: BaseMixture,
    X: ArrayLike,
    *,
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    responsibilities: bool = False,
    out: tuple[NDArray[np.float64], NDArray[np.float64] | None] | None = None,
    serial: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Log-density and (optionally) log responsibilities of validated rows of a fitted model.

    Parameters
    ----------
    model : GaussianMixture or XDGaussianMixture
        Fitted.
    X : array-like of shape (n_objects, n_features)
    X_err, X_cov : array-like, optional
        Measurement errors (XD only).
    responsibilities : bool, default False
        Also return the log responsibilities, shape (n_objects, K) (K + 1
        with the background last).
    out : (ndarray, ndarray or None), optional
        Arrays to fill (saves an allocation per block).
    serial : bool, default True
        Keep the kernels on the calling thread (see :func:`serial_rows`).

    Returns
    -------
    log_density, log_resp
        As ``score_samples`` and ``predict_log_proba`` (``log_resp`` None
        unless ``responsibilities``).
    """
    model._check_fitted()
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    n_out = model.n_components + (1 if model.background else 0)
    if out is None:
        out = (np.empty(n), np.empty((n, n_out)) if responsibilities else None)
    lse, lr = out
    observed = _observed(model, X)
    S = error_covariances(model, X, X_err, X_cov)
    for sl in _slices(n, serial):
        model._log_prob(
            X[sl],
            None if S is None else S[sl],
            None if observed is None else observed[sl],
            responsibilities,
            out=(lse[sl], lr[sl] if responsibilities else None),
        )
    return lse, lr


def fit_statistics(
    estimator: BaseMixture,
    statistics: Callable[[Parameters], EStepStatistics],
    *,
    n_objects: int,
    total_weight: float,
    init_sample: ArrayLike,
    init_sample_weight: ArrayLike | None = None,
    assignment: Callable[[NDArray[np.float64]], AssignmentStatistics] | None = None,
    bounding_box: tuple[ArrayLike, ArrayLike] | None = None,
    extent: tuple[ArrayLike, ArrayLike] | None = None,
    init_sample_cov: ArrayLike | None = None,
    label: str = "",
) -> BaseMixture:
    """Fit ``estimator`` by EM from summed block statistics (its own loop, as ``fit``).

    Parameters
    ----------
    estimator : GaussianMixture or XDGaussianMixture
        Unfitted; all its hyperparameters are honoured.  Fitted in place.
    statistics : callable
        ``statistics(parameters)`` returns the :class:`EStepStatistics` of all
        objects at ``parameters`` (the sum of :func:`block_statistics` over blocks).
    n_objects : int
        Number of objects (rows) fitted.
    total_weight : float
        Sum of the object weights (``n_objects`` without weights).
    init_sample : array-like of shape (n_sample, n_features)
        Objects (validated; NaN for missing features with marginalisation)
        on which the seeding initialisations run (k-means++, k-means, random).
        With every object, in order, the fit equals the in-memory one.
    init_sample_weight : array-like of shape (n_sample,), optional
        Weights of the sample objects (all zero: the sample is used unweighted).
    assignment : callable, optional
        ``assignment(centers)`` returns the :class:`AssignmentStatistics` of
        all objects for those centres (missing features filled with the column
        means of all objects); used when ``init`` gives the means.  Default:
        those of ``init_sample``.
    bounding_box : (array-like, array-like), optional
        Per-feature minimum and maximum of all objects; needed with a background.
    extent : (array-like, array-like), optional
        Per-feature minimum and maximum of all objects, for the checks of
        :func:`bayesmix.em.scaling.choose_scaling` (data float64 cannot fit are
        refused).  Default: ``bounding_box``, else those of ``init_sample``.
    init_sample_cov : array-like of shape (n_sample, n_features, n_features), optional
        Error covariances of the sample objects (XD only; default zero).  With
        more than ``SCREEN_ROWS`` objects, seeded starts (``n_init > 1``) are
        screened on a subsample of ``init_sample`` (with these errors), and only
        the best start makes passes over the blocks.
    label : str
        Appended to the ``verbose`` lines (e.g. " (Dask)").

    Returns
    -------
    estimator
        Fitted, with the attributes of ``estimator.fit``.

    Warns
    -----
    ConvergenceWarning
        EM stopped at ``max_iter`` before meeting ``tol``.
    """
    check_model(estimator, fitted=False)
    marginalize = estimator.nan_policy == "marginalize"
    sample = check_matrix(init_sample, name="init_sample", allow_nan=marginalize)
    sw = None
    if init_sample_weight is not None and np.any(np.asarray(init_sample_weight) > 0):
        sw = check_sample_weight(init_sample_weight, n=sample.shape[0], name="init_sample_weight")
    sw = np.ones(sample.shape[0]) if sw is None else sw
    if not (np.isfinite(total_weight) and total_weight > 0):
        raise DataError(
            f"'total_weight' must be a finite number > 0; got {total_weight!r}",
            argument="total_weight",
        )
    if extent is None:
        extent = bounding_box if bounding_box is not None else scaling_extent(sample)
    lo, hi = (np.asarray(e, dtype=np.float64) for e in extent)
    scaling = estimator._scaling(sample, lo, hi)  # block_* convert rows with it during the fit
    raw_sample = sample
    sample = scaling.data(sample)
    m, D = sample.shape
    S_sample = None
    if estimator.uses_errors:
        S_sample = np.zeros((m, D, D))
        if init_sample_cov is not None:
            S_sample = check_covariances(
                init_sample_cov, n_objects=m, n_features=D, name="init_sample_cov"
            )
        S_sample = scaling.covariances(S_sample)
    observed = _observed(estimator, sample)

    def screening(rows, gen):
        return estimator._screening(sample, S_sample, sw, observed, rows, gen, scaling)

    if assignment is None:
        fill = np.nanmean(raw_sample, axis=0) if np.isnan(raw_sample).any() else None

        def assignment(centers):
            return block_assignment(estimator, raw_sample, centers, sample_weight=sw, fill=fill)

    return estimator._fit_statistics(
        statistics,
        n_objects=int(n_objects),
        n_features=sample.shape[1],
        total_weight=float(total_weight),
        sample=sample,
        sample_weight=sw,
        assignment=assignment,
        bounding_box=bounding_box,
        scaling=scaling,
        screening=screening,
        label=label,
    )
