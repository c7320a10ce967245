"""EM over Dask arrays and dataframes: fit, select the number of components, score.

:func:`fit` is a thin adapter over :mod:`bayesmix.em.blocks`: it checks the
blocks in one pass, then hands the estimator's own loop
(:func:`~bayesmix.em.blocks.fit_statistics`) two callables that sum per-block
statistics -- :func:`~bayesmix.em.blocks.block_statistics` for every EM
iteration and :func:`~bayesmix.em.blocks.block_assignment` for a start
from given means.  The fit is therefore the in-memory algorithm iteration by
iteration, whatever the chunking (sums differ in order only).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesmix._random import as_generator
from bayesmix._validate import check_choice, check_int
from bayesmix.em import (
    CRITERIA,
    GaussianMixture,
    SelectionResult,
    XDGaussianMixture,
    compare_candidates,
)
from bayesmix.em.blocks import (
    block_assignment,
    block_scores,
    block_statistics,
    check_model,
    error_covariances,
    fit_statistics,
)
from bayesmix.em.statistics import sum_statistics
from bayesmix.exceptions import DataError, SpecError
from bayesmix.scale._dask import (
    REASONS,
    align,
    as_matrix,
    compute,
    import_dask,
    persist_budget,
    unusable,
)

__all__ = ["fit", "predict_proba", "score_block", "score_samples", "select_n_components"]


def _check_errors_args(estimator, X_err, X_cov) -> None:
    if X_err is not None and X_cov is not None:
        raise DataError("give either 'X_err' or 'X_cov', not both", argument="X_cov")
    if (X_err is not None or X_cov is not None) and not estimator.uses_errors:
        raise SpecError(
            "'X_err'/'X_cov' need an XDGaussianMixture (extreme deconvolution); a "
            "GaussianMixture has no measurement errors",
            key="X_err" if X_err is not None else "X_cov",
        )


# --------------------------------------------------------------------------- the data
def _block_check(Xb, Eb, Cb, swb, marginalize: bool) -> dict[str, Any]:
    """Check one block: rows, first bad rows, bounding box, column sums, total weight."""
    Xb = np.asarray(Xb, dtype=np.float64)
    n, D = Xb.shape
    code = unusable(Xb, Eb, Cb, marginalize)
    bad = np.flatnonzero(code)
    observed = ~np.isnan(Xb)
    out = {
        "n": n,
        "first_bad": int(bad[0]) if bad.size else -1,
        "first_code": int(code[bad[0]]) if bad.size else 0,
        "n_bad": int(bad.size),
        "lo": np.full(D, np.inf),
        "hi": np.full(D, -np.inf),
        "col_sum": np.where(observed, Xb, 0.0).sum(axis=0),
        "col_count": observed.sum(axis=0),
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


def _raise_first_bad(summaries, marginalize: bool) -> None:
    """Raise a DataError naming the first unusable row (global index) of all blocks."""
    n_bad = sum(s["n_bad"] for s in summaries)
    offsets = np.concatenate([[0], np.cumsum([s["n"] for s in summaries])])
    for s, offset in zip(summaries, offsets, strict=False):
        if s["first_bad"] >= 0:
            row = int(offset) + s["first_bad"]
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
    for s, offset in zip(summaries, offsets, strict=False):
        if s["first_bad_weight"] >= 0:
            row = int(offset) + s["first_bad_weight"]
            raise DataError(
                f"'sample_weight' must be finite and non-negative; row {row} is not",
                argument="sample_weight",
                rows=[row],
            )


@dataclass
class _Blocks:
    """Checked, row-aligned Dask inputs of a fit and what one pass over them found."""

    X: Any
    X_err: Any
    X_cov: Any
    weight: Any
    n_objects: int
    total_weight: float
    bounding_box: tuple[np.ndarray, np.ndarray]
    fill: np.ndarray
    persisted: bool

    def delayed(self, a) -> list:
        return [None] * self.X.numblocks[0] if a is None else list(a.to_delayed().ravel())


def _prepare(estimator, X, X_err, X_cov, sample_weight, columns, persist) -> _Blocks:
    """Align, check (one pass) and optionally persist the inputs of a fit."""
    dask, _ = import_dask()
    if not (persist in (True, False) or persist == "auto"):
        raise SpecError(f"'persist' must be True, False or 'auto'; got {persist!r}", key="persist")
    Xd = as_matrix(X, name="X", columns=columns, lengths=True)
    Ed = align(X_err, Xd, name="X_err", ndim=2)
    Cd = align(X_cov, Xd, name="X_cov", ndim=3)
    Wd = align(sample_weight, Xd, name="sample_weight", ndim=1)
    n, D = (int(s) for s in Xd.shape)
    if Ed is not None and Ed.shape[1] != D:
        raise DataError(f"'X_err' must have shape ({n}, {D}); got {Ed.shape}", argument="X_err")
    if Cd is not None and Cd.shape[1:] != (D, D):
        raise DataError(
            f"'X_cov' must have shape ({n}, {D}, {D}); got {Cd.shape}", argument="X_cov"
        )
    check_model(estimator, fitted=False, n_objects=n, n_features=D)  # before any pass
    arrays = [a for a in (Xd, Ed, Cd, Wd) if a is not None]
    if persist == "auto":
        persist = sum(a.size * 8 for a in arrays) <= persist_budget()
    if persist:
        kept = iter(dask.persist(*arrays))
        Xd = next(kept)
        Ed, Cd, Wd = (None if a is None else next(kept) for a in (Ed, Cd, Wd))
    marginalize = estimator.nan_policy == "marginalize"
    check_fn = dask.delayed(_block_check, pure=True)
    blocks = _Blocks(Xd, Ed, Cd, Wd, n, 0.0, (np.empty(0), np.empty(0)), np.empty(0), persist)
    parts = zip(*(blocks.delayed(a) for a in (Xd, Ed, Cd, Wd)), strict=True)
    summaries = compute(*[check_fn(x, e, c, w, marginalize) for x, e, c, w in parts])
    _raise_first_bad(summaries, marginalize)
    if Wd is not None and not any(s.get("pos_w", False) for s in summaries):
        raise DataError("'sample_weight' must not be all zero", argument="sample_weight")
    blocks.total_weight = float(sum(s["sum_w"] for s in summaries))
    blocks.bounding_box = (
        np.min(np.stack([s["lo"] for s in summaries]), axis=0),
        np.max(np.stack([s["hi"] for s in summaries]), axis=0),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        blocks.fill = sum(s["col_sum"] for s in summaries) / sum(s["col_count"] for s in summaries)
    return blocks


def _init_sample(estimator, blocks: _Blocks, size: int, rng):
    """Return the init sample: every row in order (n <= size), else a seeded sample.

    Returns (features, weights or None, error covariances or None).
    """
    n = blocks.n_objects
    E, C, W = blocks.X_err, blocks.X_cov, blocks.weight
    if n <= size:
        Xs, ws, es, cs = compute(blocks.X, W, E, C)
    else:
        gen = as_generator(rng if rng is not None else estimator._seed())
        idx = np.sort(gen.choice(n, size=size, replace=False))
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        Xs, ws, es, cs = compute(blocks.X[idx], pick(W), pick(E), pick(C))
    Xs = np.ascontiguousarray(Xs, dtype=np.float64)
    cov = error_covariances(estimator, Xs, es, cs) if estimator.uses_errors else None
    return Xs, ws, cov


def _fit_blocks(estimator, blocks: _Blocks, init_sample_size: int, rng):
    """Run the estimator's EM loop on the sums of per-block statistics."""
    dask, _ = import_dask()
    xb, eb, cb, wb = (
        blocks.delayed(a) for a in (blocks.X, blocks.X_err, blocks.X_cov, blocks.weight)
    )
    stats_fn = dask.delayed(block_statistics, pure=True)
    assign_fn = dask.delayed(block_assignment, pure=True)
    fill = blocks.fill

    def statistics(params):
        est, p = dask.delayed(estimator, pure=False), dask.delayed(params, pure=True)
        parts = zip(xb, eb, cb, wb, strict=True)
        return sum_statistics(
            compute(
                *[stats_fn(est, x, p, X_err=e, X_cov=c, sample_weight=w) for x, e, c, w in parts]
            )
        )

    def assignment(centers):
        est = dask.delayed(estimator, pure=False)  # carries the fit's internal scaling
        parts = [
            assign_fn(est, x, centers, sample_weight=w, fill=fill)
            for x, w in zip(xb, wb, strict=True)
        ]
        return sum_statistics(compute(*parts))

    Xs, ws, cov = _init_sample(estimator, blocks, init_sample_size, rng)
    fit_statistics(
        estimator,
        statistics,
        n_objects=blocks.n_objects,
        total_weight=blocks.total_weight,
        init_sample=Xs,
        init_sample_weight=ws,
        assignment=assignment,
        bounding_box=blocks.bounding_box if estimator.background else None,
        extent=blocks.bounding_box,
        init_sample_cov=cov,
        label=" (Dask)",
    )
    estimator.persisted_ = bool(blocks.persisted)
    return estimator


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
        The seeding initialisations (k-means++, k-means, random) run in memory
        on a uniform random sample of this many rows, drawn with ``rng``.
        When ``n_objects <= init_sample_size`` they run on all rows, in order,
        so the whole fit equals the in-memory ``estimator.fit`` with the same
        seed.  Given means (``init`` an array, or a dict without weights and
        covariances) are completed from *all* rows (one extra pass), so such a
        fit equals the in-memory one whatever the size.
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
        ``lower_bound_``, ``log_likelihood_history_``, ...) and ``persisted_``.

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
    A first pass validates the data and finds the bounding box (background)
    and the column means (starting values of missing features).  Then every EM
    iteration is one pass: :func:`bayesmix.em.blocks.block_statistics` of each
    block (the fused numba E-step) at the current parameters, summed in block
    order (deterministic for any scheduler); the loop, M-step, convergence test
    and restart selection are the estimator's own
    (:func:`bayesmix.em.blocks.fit_statistics`).
    """
    check_model(estimator, fitted=False)
    _check_errors_args(estimator, X_err, X_cov)
    init_sample_size = check_int(init_sample_size, name="init_sample_size", minimum=1)
    blocks = _prepare(estimator, X, X_err, X_cov, sample_weight, columns, persist)
    return _fit_blocks(estimator, blocks, init_sample_size, rng)


def select_n_components(
    X,
    candidates: Iterable[int] = range(1, 7),
    *,
    criterion: str = "bic",
    X_err=None,
    X_cov=None,
    sample_weight=None,
    columns: Sequence[str] | None = None,
    rng: int | np.random.Generator | None = None,
    init_sample_size: int = 100_000,
    persist: bool | str = "auto",
    progress: Callable[[str], None] | None = None,
    **kwargs,
) -> SelectionResult:
    """Choose the number of components by BIC or AIC over Dask data.

    The selection of :func:`bayesmix.em.select_n_components` (the same
    :func:`~bayesmix.em.compare_candidates`, the same seed per candidate drawn
    from ``rng``) with every candidate fitted by :func:`fit` and its
    log-likelihood summed over the blocks.

    Parameters
    ----------
    X, X_err, X_cov, sample_weight, columns, init_sample_size, persist
        As for :func:`fit`; the inputs are checked (and persisted) once.
    candidates : iterable of int
        Numbers of components to try, in order.
    criterion : {"aic", "bic"}
    rng : int, Generator or None
        Seed; each candidate gets its own seed drawn from it.
    progress : callable, optional
        Called with a short message before each candidate's fit.
    **kwargs
        Passed to :class:`~bayesmix.em.GaussianMixture` (or
        :class:`~bayesmix.em.XDGaussianMixture` when errors are given).

    Returns
    -------
    SelectionResult
        As from :func:`bayesmix.em.select_n_components`; ``log_likelihood``
        is the (weighted) total over all rows.
    """
    cls = XDGaussianMixture if (X_err is not None or X_cov is not None) else GaussianMixture
    check_choice(criterion, name="criterion", choices=CRITERIA)
    init_sample_size = check_int(init_sample_size, name="init_sample_size", minimum=1)
    cands = [int(c) for c in candidates]
    if not cands:
        raise DataError("'candidates' is empty", argument="candidates")
    proto = cls(max(cands), **kwargs)
    _check_errors_args(proto, X_err, X_cov)
    blocks = _prepare(proto, X, X_err, X_cov, sample_weight, columns, persist)

    def fit_one(k: int, seed: int):
        if progress is not None:
            progress(f"fitting K = {k} by EM over Dask ({blocks.n_objects} rows, seed {seed})")
        m = _fit_blocks(cls(k, rng=seed, **kwargs), blocks, init_sample_size, None)
        lse = score_samples(m, blocks.X, X_err=blocks.X_err, X_cov=blocks.X_cov)
        total = lse.sum() if blocks.weight is None else (lse * blocks.weight).sum()
        return m, float(compute(total)[0]), blocks.total_weight

    return compare_candidates(fit_one, cands, criterion=criterion, rng=rng)


# --------------------------------------------------------------------------- scoring
def score_block(est, Xb, Eb, Cb, *, want: str):
    """Score one block: (log density (n,), log resp (n, n_out) or None, reason codes (n,)).

    Rows that cannot be scored (bad features, errors or covariances) get NaN.
    """
    Xb = np.asarray(Xb, dtype=np.float64)
    n = Xb.shape[0]
    code = unusable(Xb, Eb, Cb, est.nan_policy == "marginalize")
    ok = code == 0
    all_ok = bool(ok.all())
    n_out = est.n_components + (1 if est.background else 0)
    want_resp = want == "resp"
    # outputs are allocated once and the kernels write into them (no concatenation)
    make = np.empty if all_ok else (lambda shape: np.full(shape, np.nan))
    lse = make(n)
    lr: Any = make((n, n_out)) if want_resp else None
    if ok.any():
        sel = (lambda a: a) if all_ok else (lambda a: None if a is None else a[ok])
        m = int(ok.sum())
        out = (lse, lr) if all_ok else (np.empty(m), np.empty((m, n_out)) if want_resp else None)
        block_scores(
            est, sel(Xb), X_err=sel(Eb), X_cov=sel(Cb), responsibilities=want_resp, out=out
        )
        if not all_ok:
            lse[ok] = out[0]
            if want_resp:
                lr[ok] = out[1]
    return lse, lr, code


def _proba_block(Xb, Eb, Cb, *, est):
    lr = score_block(est, Xb, Eb, Cb, want="resp")[1]
    return np.exp(lr, out=lr)


def _lse_block(Xb, Eb, Cb, *, est):
    return score_block(est, Xb, Eb, Cb, want="lse")[0]


def _blockwise(func, out_ind: str, X, Ed, Cd, *, new_axes=None, **kwargs):
    """``da.blockwise`` over row-aligned X (ij), X_err (ij) and X_cov (ijl)."""
    _, da = import_dask()
    args: list[Any] = [X, "ij"]
    args += [Ed, "ij"] if Ed is not None else [None, None]
    args += [Cd, "ijl"] if Cd is not None else [None, None]
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


def _score_inputs(estimator, X, X_err, X_cov, columns):
    check_model(estimator, fitted=True)
    _check_errors_args(estimator, X_err, X_cov)
    Xd = as_matrix(X, name="X", columns=columns)
    D = estimator.n_features_in_
    if Xd.shape[1] != D:
        raise DataError(
            f"'X' must have {D} feature column(s) (as in the fit); got {Xd.shape[1]}",
            argument="X",
        )
    Ed = align(X_err, Xd, name="X_err", ndim=2)
    Cd = align(X_cov, Xd, name="X_cov", ndim=3)
    return Xd, Ed, Cd


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
    Xd, Ed, Cd = _score_inputs(estimator, X, X_err, X_cov, columns)
    return _blockwise(_lse_block, "i", Xd, Ed, Cd, est=estimator)
