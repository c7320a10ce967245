"""Choosing the number of components with BIC or AIC."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._random import as_generator, derive_seed
from bayesmix._validate import check_choice, check_matrix
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.xd import XDGaussianMixture
from bayesmix.exceptions import DataError

__all__ = ["SelectionResult", "select_n_components"]


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
    """
    check_choice(criterion, name="criterion", choices={"bic", "aic"})
    cands = [int(c) for c in candidates]
    if not cands:
        raise DataError("'candidates' is empty", argument="candidates")
    allow_nan = kwargs.get("nan_policy", "raise") == "marginalize"
    X = check_matrix(X, name="X", allow_nan=allow_nan)
    gen = as_generator(rng)
    xd = X_err is not None or X_cov is not None
    models, rows = [], []
    for k in cands:
        if xd:
            m = XDGaussianMixture(k, rng=derive_seed(gen), **kwargs)
            m.fit(X, X_err=X_err, X_cov=X_cov, sample_weight=sample_weight)
            ll = m.score_samples(X, X_err, X_cov)
        else:
            m = GaussianMixture(k, rng=derive_seed(gen), **kwargs)
            m.fit(X, sample_weight=sample_weight)
            ll = m.score_samples(X)
        w = np.ones(len(ll)) if sample_weight is None else np.asarray(sample_weight, float)
        n = float(w.sum())
        total = float(np.sum(w * ll))
        p = m.n_parameters()
        rows.append((k, -2 * total + p * np.log(n), -2 * total + 2 * p, total, p, m.converged_))
        models.append(m)
    table = {
        "n_components": np.array([r[0] for r in rows]),
        "bic": np.array([r[1] for r in rows]),
        "aic": np.array([r[2] for r in rows]),
        "log_likelihood": np.array([r[3] for r in rows]),
        "n_parameters": np.array([r[4] for r in rows]),
        "converged": np.array([r[5] for r in rows]),
    }
    i = int(np.argmin(table[criterion]))
    return SelectionResult(table, models[i], cands[i], criterion, models)
