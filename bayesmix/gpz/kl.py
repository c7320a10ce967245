"""How well a (weighted) training sample covers a population: KL divergence scores.

:func:`kl_score` is gpz_pype's per-feature histogram score (``KL(train || pop)``);
:func:`kl_score_mixture` a Monte Carlo estimate of the multivariate
``KL(pop || train)`` from the fitted mixtures of a
:class:`~bayesmix.gpz.GPzAugment`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from bayesmix._hist import feature_counts
from bayesmix._random import as_generator
from bayesmix._validate import check_int, check_sample_weight
from bayesmix.em import GaussianMixture
from bayesmix.exceptions import DataError, NotFittedError, SpecError
from bayesmix.gpz.weights import check_weight_bounds, clip_log_weights

if TYPE_CHECKING:  # augment imports kl_score; only the annotation needs the class
    from bayesmix.gpz.augment import GPzAugment

__all__ = ["kl_score", "kl_score_mixture"]


def kl_score(
    X_pop: ArrayLike,
    X_train: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    nbins: int = 30,
    min_pct: float = 0.1,
    max_pct: float = 99.9,
    pseudocount: float = 0.5,
) -> tuple[float, float]:
    """Histogram Kullback-Leibler divergence of the training sample from the population.

    For each feature, histograms of the population and of the (weighted)
    training sample on ``nbins`` equal bins spanning the population's
    ``[min_pct, max_pct]`` percentiles give ``KL(train || pop) = sum_b t_b ln(t_b / p_b)``
    (gpz_pype's ``scipy.stats.entropy(train_hist, pop_hist)``); the score is the
    sum over features, in nats.

    Parameters
    ----------
    X_pop : array-like of shape (n_pop, n_features)
    X_train : array-like of shape (n_train, n_features)
    weights : array-like of shape (n_train,), optional
        Non-negative training weights (e.g. :meth:`GPzAugment.calc_weights`).
    nbins : int, default 30, keyword-only
    min_pct, max_pct : float, default 0.1 and 99.9
        Percentiles of the population that bound the bins (0 <= min < max <= 100).
    pseudocount : float, default 0.5
        Added to every bin's count before normalising (see Notes); > 0.

    Returns
    -------
    unweighted, weighted : float
        Scores of the raw and of the weighted training sample; ``weighted`` is
        NaN when ``weights`` is None.  Always finite otherwise.

    Notes
    -----
    Smoothing.  A bin where the population has no objects but the training
    sample has some makes the plain KL infinite (gpz_pype returns ``inf``).  Each
    histogram is therefore smoothed with the Krichevsky-Trofimov (Jeffreys)
    estimator: bin probabilities ``(c_b + a) / (sum_b c_b + nbins a)`` with
    ``a = pseudocount``.  Counts are object counts within the range; a weighted
    histogram is first rescaled so its total equals the number of training
    objects within the range, so that raw and weighted samples get the same
    smoothing.  Objects outside the range are ignored (as in gpz_pype).
    """
    binned = feature_counts(X_pop, X_train, weights, nbins, min_pct, max_pct, bins_name="nbins")
    if not (isinstance(pseudocount, (int, float)) and pseudocount > 0):
        raise SpecError(f"'pseudocount' must be > 0; got {pseudocount!r}", key="pseudocount")

    def _probs(counts, total):  # counts.size: the number of bins
        return (counts + pseudocount) / (total + counts.size * pseudocount)

    score_raw = 0.0
    score_w = 0.0
    for _, cp, ct, cw in binned:
        p = _probs(cp, cp.sum())
        t = _probs(ct, ct.sum())
        score_raw += float(np.sum(t * np.log(t / p)))
        if cw is not None:
            n_in = ct.sum()
            cw = cw * (n_in / cw.sum()) if cw.sum() > 0 else cw
            tw = _probs(cw, cw.sum())
            score_w += float(np.sum(tw * np.log(tw / p)))
    return score_raw, (score_w if weights is not None else float("nan"))


def kl_score_mixture(
    augment: GPzAugment,
    X_pop: ArrayLike | None = None,
    X_train: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    *,
    n_samples: int | None = 100_000,
    rng: int | np.random.Generator | None = 0,
    max_weight: float = 100,
    min_weight: float | None = None,
    return_stderr: bool = False,
):
    """Multivariate KL divergence of the population from the (weighted) training sample.

    Estimates ``KL(pop || train) = E_pop[ln p_pop(x) - ln q(x)]`` by Monte Carlo,
    using all features jointly, from the fitted mixtures of ``augment``: a
    measure of how much of the population the training sample fails to cover,
    for comparing feature sets.

    Parameters
    ----------
    augment : GPzAugment
        With both mixtures fitted.
    X_pop : array-like of shape (n_pop, n_features), optional
        Used as the population draws when ``n_samples`` is None.
    X_train : array-like of shape (n_train, n_features), optional
        Needed with ``weights``: the objects the weights belong to.
    weights : array-like of shape (n_train,), optional
        Weights of the ``X_train`` objects (any scheme, e.g. ``eta``-softened).
    n_samples : int or None, default 100000, keyword-only
        Monte Carlo draws from ``gmm_pop`` (and from ``gmm_train`` for the
        normalisation below).  None: use the ``X_pop`` objects themselves.
    rng : int, numpy.random.Generator or None, default 0
        Seed for the draws.
    max_weight, min_weight : float
        Clip bounds of the model weights (used when ``weights`` is None).
    return_stderr : bool, default False
        Also return the Monte Carlo standard errors.

    Returns
    -------
    unweighted, weighted : float
        In nats.  With ``return_stderr``, ``(unweighted, weighted, se_unweighted,
        se_weighted)``.

    Notes
    -----
    Let ``p`` be ``gmm_pop`` and ``t`` be ``gmm_train`` (densities of the scaled
    features; KL does not depend on the scaling) and ``x_s ~ p`` the draws.

    - Unweighted: ``KL(p || t) ≈ mean_s [ln p(x_s) - ln t(x_s)]``.  There is no
      closed form for the KL between two mixtures; the estimate is unbiased with
      standard error ``std / sqrt(S)``.
    - Weighted, ``weights`` None: the weighted training distribution implied by
      the model weights is ``q(x) = w(x) t(x) / Z`` with
      ``w = clip(p / t, min_weight, max_weight)`` and ``Z = E_t[w]`` (estimated
      from ``n_samples`` draws of ``t``; ``w`` is bounded, so this estimate is
      stable).  Then ``KL(p || q) = E_p[ln p - ln w - ln t] + ln Z``, which is 0
      without clipping (the mixtures then reweight exactly) and measures the
      population mass that the clip leaves uncovered.  Its standard error
      includes the Monte Carlo error of ``ln Z`` (large for heavy-tailed weights).
    - Weighted, ``weights`` given: ``q`` is a Gaussian mixture with the same
      settings refitted to ``X_train`` with those sample weights, and
      ``KL(p || q) ≈ mean_s [ln p(x_s) - ln q(x_s)]``.  This measures what the
      given weights achieve on the actual training objects.

    The direction ``KL(pop || train)`` is the one that penalises population
    regions with no training support (where a photo-z model must extrapolate).
    It differs from :func:`kl_score`'s ``KL(train || pop)``, which follows
    gpz_pype.
    """
    if getattr(augment, "gmm_pop", None) is None or getattr(augment, "gmm_train", None) is None:
        raise NotFittedError("'augment' must be a GPzAugment with both mixtures fitted")
    max_weight, min_weight = check_weight_bounds(max_weight, min_weight)
    gen = as_generator(rng)
    if n_samples is None:
        if X_pop is None:
            raise DataError(
                "n_samples=None needs 'X_pop' (its objects are the draws)", argument="X_pop"
            )
        Xs = augment.transform(X_pop)
    else:
        n_samples = check_int(n_samples, name="n_samples", minimum=2)
        Xs, _ = augment.gmm_pop.sample(n_samples, rng=gen)
        if X_pop is not None:  # check its shape for a consistent interface
            augment.transform(X_pop)
    lp = augment.gmm_pop.score_samples(Xs)
    lt = augment.gmm_train.score_samples(Xs)
    d = lp - lt
    S = d.shape[0]
    kl_raw = float(d.mean())
    se_raw = float(d.std(ddof=1) / math.sqrt(S))
    if weights is None:
        log_w = np.log(clip_log_weights(d, max_weight, min_weight))
        m = n_samples if n_samples is not None else S
        Xt_draw, _ = augment.gmm_train.sample(m, rng=gen)
        lw_t = np.log(
            clip_log_weights(
                augment.gmm_pop.score_samples(Xt_draw) - augment.gmm_train.score_samples(Xt_draw),
                max_weight,
                min_weight,
            )
        )
        log_Z = float(logsumexp(lw_t) - math.log(m))
        e = d - log_w
        kl_w = float(e.mean() + log_Z)
        # both Monte Carlo errors: the mean over p-draws and ln Z (delta method,
        # var(ln Z_hat) ~ var(w) / (m Z^2), large when the weights are heavy-tailed)
        rel = np.exp(lw_t - log_Z)
        se_w = float(math.sqrt(e.var(ddof=1) / S + rel.var(ddof=1) / m))
    else:
        if X_train is None:
            raise DataError(
                "'weights' needs 'X_train' (the objects they belong to)", argument="X_train"
            )
        Xt = augment.transform(X_train, name="X_train")
        w = check_sample_weight(weights, n=Xt.shape[0], name="weights")
        q = GaussianMixture(
            augment.n_components,
            covariance_type=augment.covariance_type,
            tol=augment.tol,
            n_init=augment.n_init,
            rng=augment.seed_,
        ).fit(Xt, sample_weight=w)
        e = lp - q.score_samples(Xs)
        kl_w = float(e.mean())
        se_w = float(e.std(ddof=1) / math.sqrt(S))
    if return_stderr:
        return kl_raw, kl_w, se_raw, se_w
    return kl_raw, kl_w
