"""Per-iteration parameters of an EM fit, for animations and teaching (numpy only).

:func:`em_trace` replays EM one iteration at a time from the estimator's own
starting point: each step is a one-iteration fit (``max_iter=1``, ``tol=0``)
started from the previous step's parameters through ``init=dict(...)``, so the
sequence of states is the one a normal fit passes through.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmix._random import as_generator
from bayesmix._validate import check_int
from bayesmix.em._base import BaseMixture
from bayesmix.em._covariance import from_full
from bayesmix.em._start import initial_parameters
from bayesmix.em.xd import XDGaussianMixture
from bayesmix.exceptions import ConvergenceWarning, DataError

__all__ = ["em_trace"]


def _params(estimator: BaseMixture) -> dict[str, Any]:
    """Return the constructor arguments of ``estimator`` (its attributes of the same names)."""
    names = [p for p in inspect.signature(type(estimator).__init__).parameters if p != "self"]
    return {name: getattr(estimator, name) for name in names}


def _fit(est: BaseMixture, X, X_err, X_cov, sample_weight) -> BaseMixture:
    """Fit ``est`` (passing errors to extreme deconvolution)."""
    if isinstance(est, XDGaussianMixture):
        return est.fit(X, X_err=X_err, X_cov=X_cov, sample_weight=sample_weight)
    return est.fit(X, sample_weight=sample_weight)  # type: ignore[attr-defined]


def _state(iteration: int, weights, means, full, background_weight: float) -> dict[str, Any]:
    """Return one trace entry (copies of the parameters)."""
    return {
        "iteration": int(iteration),
        "weights": np.array(weights, dtype=np.float64),
        "means": np.array(means, dtype=np.float64),
        "covariances": np.array(full, dtype=np.float64),
        "background_weight": float(background_weight),
    }


def em_trace(
    estimator: BaseMixture,
    X: ArrayLike,
    n_iter: int,
    *,
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> list[dict[str, Any]]:
    """Parameters of an EM fit at every iteration, from its starting point on.

    Parameters
    ----------
    estimator : GaussianMixture or XDGaussianMixture
        A configured estimator (fitted or not; a fitted one is not modified).
        Its hyperparameters (``n_components``, ``covariance_type``,
        ``reg_covar``, ``init``, ``rng``, ``background``, ``frozen``, ...) are
        used.  The traced start is the one ``fit`` keeps: with a seeded
        ``init`` and ``n_init > 1`` the estimator is fitted once (with its
        ``n_init``, ``tol`` and ``max_iter``) to find the winning start;
        otherwise it is the initialisation itself.  From there ``n_iter``
        iterations are traced without a convergence test, so with
        ``n_iter = fit.n_iter_`` the last state is the fitted model.
    X : array-like of shape (n_objects, n_features)
        The data.
    n_iter : int
        Number of EM iterations to trace (>= 0).
    X_err, X_cov : array-like, optional
        Per-object errors, for :class:`~bayesmix.em.XDGaussianMixture` only
        (as in its ``fit``).
    sample_weight : array-like of shape (n_objects,), optional
        Object weights, as in ``fit``.

    Returns
    -------
    list of dict
        ``n_iter + 1`` states; state ``i`` holds the parameters after ``i``
        iterations (state 0 is the initialisation): ``iteration`` (int),
        ``weights`` (K,), ``means`` (K, n_features), ``covariances``
        (K, n_features, n_features, full matrices whatever the covariance
        type), ``background_weight`` (float) and ``log_likelihood``, the mean
        (weighted) log-likelihood per object of these parameters, so that
        ``[s["log_likelihood"] for s in trace[:-1]]`` is the
        ``log_likelihood_history_`` of a fit with ``max_iter=n_iter``.

    Raises
    ------
    DataError
        ``estimator`` is not a bayesmix EM estimator, errors given to a
        plain :class:`~bayesmix.em.GaussianMixture`, or bad data (as in ``fit``).

    Notes
    -----
    State 0 is where the kept run of ``fit`` starts, so with an integer
    ``rng`` (or a dict ``init``) the trace follows ``fit``: with
    ``n_iter = fit.n_iter_`` its last state is the fitted model, and with one
    start (``n_init=1`` or a given ``init``) it equals ``fit`` with
    ``max_iter=n_iter, tol=0`` (to rounding: the weights are renormalised at
    every restart).  A
    :class:`numpy.random.Generator` ``rng`` is copied, not advanced.  Each
    step is a one-iteration fit from the previous parameters, so the cost is
    ``n_iter + 1`` EM iterations plus the per-fit validation: meant for
    figures and teaching on small data, not for large fits.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmix.em import GaussianMixture
    >>> from bayesmix.em.trace import em_trace
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (100, 2)), rng.normal(3, 1, (100, 2))])
    >>> trace = em_trace(GaussianMixture(2, rng=0), X, 5)
    >>> len(trace), trace[-1]["means"].shape
    (6, (2, 2))
    """
    if not isinstance(estimator, BaseMixture):
        raise DataError(
            "'estimator' must be a bayesmix.em GaussianMixture or XDGaussianMixture; got "
            f"{type(estimator).__name__}",
            argument="estimator",
        )
    n_iter = check_int(n_iter, name="n_iter", minimum=0)
    is_xd = isinstance(estimator, XDGaussianMixture)
    if not is_xd and (X_err is not None or X_cov is not None):
        raise DataError(
            "'X_err'/'X_cov' are for XDGaussianMixture; a GaussianMixture ignores errors",
            argument="X_err" if X_err is not None else "X_cov",
        )
    params = _params(estimator)
    if isinstance(params.get("rng"), np.random.Generator):
        params["rng"] = copy.deepcopy(params["rng"])

    proto = type(estimator)(**params)
    Xv, observed = proto._validate_X(X, fitting=True)
    proto._check_hyper(*Xv.shape)
    proto._frozen_sets(proto.n_components)
    if isinstance(proto.init, str) and proto.n_init > 1:
        # State 0: the start that ``fit`` keeps out of its seeded starts (fit once to know it).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _fit(proto, Xv, X_err, X_cov, sample_weight)
        start = proto._em_start
    else:
        # State 0: the estimator's own (single) initialisation, as in ``fit``.
        source = proto._in_memory(Xv, None, sample_weight, observed)
        start = initial_parameters(
            proto,
            source["sample"],
            source["sample_weight"],
            as_generator(params["rng"]),
            source["assignment"],
            source["scaling"],
        )
        start = source["scaling"].data_parameters(start)  # the states are in data units
    w, mu, full = start.weights, start.means, start.covariances
    bg = start.background_weight

    step_params = {**params, "max_iter": 1, "tol": 0.0, "n_init": 1, "verbose": False}
    states = [_state(0, w, mu, full, bg)]
    for i in range(1, n_iter + 2):
        init = {
            "weights": w,
            "means": mu,
            "covariances": from_full(full, estimator.covariance_type, w),
        }
        if estimator.background:
            init["background_weight"] = bg
        step = type(estimator)(**{**step_params, "init": init})
        with warnings.catch_warnings():
            # one iteration with tol=0 never "converges": the warning is expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            _fit(step, Xv, X_err, X_cov, sample_weight)
        states[-1]["log_likelihood"] = float(step.lower_bound_)
        if i > n_iter:  # the extra step only scores the last state
            break
        w, mu = step.weights_, step.means_
        full, bg = step.full_covariances(), step.background_weight_
        states.append(_state(i, w, mu, full, bg))
    return states
