"""Choosing the number of components with BIC or AIC.

:func:`compare_candidates` is the one selection: it draws one seed per
candidate from ``rng`` (in candidate order), asks a fitting function for the
model and its total log-likelihood, and tabulates BIC and AIC.
:func:`select_n_components` runs it on data in memory;
:func:`bayesmix.scale.select_n_components` on Dask data, with the same seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._random import as_generator, derive_seed
from bayesmix._validate import check_choice, check_matrix
from bayesmix.em._base import BaseMixture
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.xd import XDGaussianMixture
from bayesmix.exceptions import DataError

__all__ = ["CRITERIA", "SelectionResult", "compare_candidates", "select_n_components"]

#: the information criteria (sorted)
CRITERIA = ("aic", "bic")


@dataclass(frozen=True)
class SelectionResult:
    """Result of :func:`select_n_components`.

    Attributes
    ----------
    table : dict of ndarray
        ``n_components``, ``bic``, ``aic``, ``log_likelihood`` (total), ``n_parameters``,
        ``converged``, one entry per candidate, in the order given.
    best : GaussianMixture or XDGaussianMixture
        The fitted model with the lowest criterion.
    best_n_components : int
    criterion : str
    models : list
        All fitted models, in candidate order.
    """

    table: dict[str, NDArray]
    best: GaussianMixture | XDGaussianMixture
    best_n_components: int
    criterion: str
    models: list = field(repr=False)


def compare_candidates(
    fit: Callable[[int, int], tuple[BaseMixture, float, float]],
    candidates: Iterable[int],
    *,
    criterion: str = "bic",
    rng: int | np.random.Generator | None = None,
) -> SelectionResult:
    """Fit every candidate number of components and pick the lowest BIC or AIC.

    Parameters
    ----------
    fit : callable
        ``fit(n_components, seed)`` fits a mixture with that many components
        and that integer seed and returns ``(model, total_log_likelihood,
        n_objects)``: the (weighted) sum of the objects' log-densities and the
        (weighted) number of objects.
    candidates : iterable of int
        Numbers of components, in the order to fit and report them.
    criterion : {"aic", "bic"}
        BIC = -2 ln L + p ln n (Schwarz 1978); AIC = -2 ln L + 2 p (Akaike 1974).
    rng : int, Generator or None
        Each candidate's seed is drawn from it, in candidate order.

    Returns
    -------
    SelectionResult
    """
    check_choice(criterion, name="criterion", choices=CRITERIA)
    cands = [int(c) for c in candidates]
    if not cands:
        raise DataError("'candidates' is empty", argument="candidates")
    gen = as_generator(rng)
    models, rows = [], []
    for k in cands:
        m, total, n = fit(k, derive_seed(gen))
        total, n = float(total), float(n)
        p = m.n_parameters()
        rows.append((k, -2 * total + p * np.log(n), -2 * total + 2 * p, total, p, m.converged_))
        models.append(m)
    names = ("n_components", "bic", "aic", "log_likelihood", "n_parameters", "converged")
    table = {name: np.array([r[i] for r in rows]) for i, name in enumerate(names)}
    i = int(np.argmin(table[criterion]))
    return SelectionResult(table, models[i], cands[i], criterion, models)


def select_n_components(
    X: ArrayLike,
    candidates: Iterable[int] = range(1, 7),
    *,
    criterion: str = "bic",
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    rng: int | np.random.Generator | None = None,
    **kwargs,
) -> SelectionResult:
    """Fit a mixture for each candidate number of components; pick by BIC or AIC.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features)
    candidates : iterable of int
        Numbers of components to try (each <= n_objects).
    criterion : {"bic", "aic"}
        BIC = -2 ln L + p ln n; AIC = -2 ln L + 2 p (Schwarz 1978; Akaike 1974).
    X_err, X_cov : optional
        Per-object errors: when given, extreme-deconvolution fits are compared on
        the noisy-data likelihood.
    sample_weight : array-like, optional
    rng : int, Generator or None
        Seed; each candidate gets its own seed drawn from it.
    **kwargs
        Passed to :class:`GaussianMixture` / :class:`XDGaussianMixture`
        (``covariance_type``, ``n_init``, ``tol``, ...).

    Returns
    -------
    SelectionResult

    See Also
    --------
    compare_candidates : the selection itself.
    bayesmix.scale.select_n_components : the same over Dask data.
    """
    check_choice(criterion, name="criterion", choices=CRITERIA)
    allow_nan = kwargs.get("nan_policy", "raise") == "marginalize"
    X = check_matrix(X, name="X", allow_nan=allow_nan)
    xd = X_err is not None or X_cov is not None
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)

    def fit(k: int, seed: int):
        if xd:
            m = XDGaussianMixture(k, rng=seed, **kwargs)
            m.fit(X, X_err=X_err, X_cov=X_cov, sample_weight=sample_weight)
            ll = m.score_samples(X, X_err, X_cov)
        else:
            m = GaussianMixture(k, rng=seed, **kwargs)
            m.fit(X, sample_weight=sample_weight)
            ll = m.score_samples(X)
        return m, float(np.sum(w * ll)), float(w.sum())

    return compare_candidates(fit, candidates, criterion=criterion, rng=rng)
