"""Density ratios for GPz weights: a classifier estimate and a clip chosen on held-out data.

The weight of a training object is the density ratio
``w(x) = p_pop(x) / p_train(x)``.  Estimated from two Gaussian mixtures it is
exact for the mixtures but high-variance: a few training objects in sparse
regions get huge weights, and the weighted sample can match the population
worse than no weights (issue 17).  This module provides

- :func:`fit_logistic_ratio`: the ratio from a class-balanced, L2-regularised
  logistic regression of population against training objects on linear and
  quadratic terms of the standardised features (the standard estimator in
  covariate-shift work; Bickel, Brueckner & Scheffer 2009), its penalty
  chosen by cross-validated log-loss -- numpy and scipy only;
- :func:`cross_fitted` / :func:`choose_clip`: every training object's log-ratio
  from a model fitted without it (two folds), and the clip level -- a
  percentile of the log-ratios, so scale-free at any number of features or
  units -- that minimises the held-out divergence between the weighted
  training sample and the population while keeping the effective sample size
  above a floor.

References
----------
Shimodaira, H. 2000, J. Stat. Plan. Inference 90, 227 (importance weighting
under covariate shift).  Bickel, S., Brueckner, M. & Scheffer, T. 2009, JMLR 10,
2137 (discriminative estimation of the ratio).  Ionides, E. L. 2008, J. Comput.
Graph. Stat. 17, 295 (truncated importance sampling).  Kish, L. 1965, Survey
Sampling (effective sample size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from bayesmix._random import as_generator
from bayesmix._validate import check_matrix
from bayesmix.exceptions import DataError
from bayesmix.gpz.weights import RATIOS, REGULARISERS

__all__ = [
    "CLIP_LEVELS",
    "PENALTIES",
    "ClipChoice",
    "LogisticRatio",
    "Weighting",
    "choose_clip",
    "clip_at_level",
    "cross_fitted",
    "ess_fraction",
    "fit_logistic_ratio",
    "load_weighting",
]

#: percentiles of the log-ratio at which "auto" may clip (100: no clip below max_weight)
CLIP_LEVELS = (70.0, 80.0, 90.0, 95.0, 98.0, 99.0, 100.0)
#: L2 penalties tried by the logistic ratio (per unit of balanced log-loss)
PENALTIES = (1e-4, 1e-3, 1e-2, 1e-1)

#: a fitted log-ratio: features (n, D) -> ln p_pop - ln p_train (n,)
LogRatio = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def ess_fraction(w: NDArray[np.float64]) -> float:
    """Kish effective sample size of weights ``w`` divided by their number."""
    s2 = float(np.sum(w * w))
    return float(w.sum() ** 2 / s2 / w.shape[0]) if s2 > 0 else 0.0


def clip_at_level(log_ratio: NDArray[np.float64], level: float) -> NDArray[np.float64]:
    """Return ``log_ratio`` clipped from above at its ``level``-th percentile."""
    if level >= 100:
        return log_ratio
    return np.minimum(log_ratio, np.percentile(log_ratio, level))


# --------------------------------------------------------------------- the classifier
def _design(Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Intercept, linear and quadratic (upper-triangle products) terms."""
    iu = np.triu_indices(Z.shape[1])
    quad = (Z[:, :, None] * Z[:, None, :])[:, iu[0], iu[1]]
    return np.column_stack([np.ones(Z.shape[0]), Z, quad])


def _fit_coef(A, y, sw, penalty: float) -> NDArray[np.float64]:
    """Minimise the weighted logistic loss + L2 (not on the intercept) by Newton's method."""
    p = A.shape[1]
    reg = np.full(p, penalty)
    reg[0] = 0.0

    def loss(b):
        z = A @ b
        return float(np.sum(sw * (np.logaddexp(0.0, z) - y * z)) + 0.5 * np.sum(reg * b * b))

    b = np.zeros(p)
    f = loss(b)
    for _ in range(100):
        mu = expit(A @ b)
        grad = A.T @ (sw * (mu - y)) + reg * b
        hess = (A.T * (sw * mu * (1.0 - mu))) @ A + np.diag(reg) + 1e-12 * np.eye(p)
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)
        if decrement < 1e-14:
            break
        t = 1.0  # backtracking (the loss is convex; full steps are taken near the optimum)
        while t > 1e-10:
            f_new = loss(b - t * step)
            if f_new <= f - 1e-4 * t * decrement:
                break
            t *= 0.5
        b, f = b - t * step, f_new
    return b


def _balanced(n_pop: int, n_train: int):
    y = np.r_[np.ones(n_pop), np.zeros(n_train)]
    sw = np.r_[np.full(n_pop, 0.5 / n_pop), np.full(n_train, 0.5 / n_train)]
    return y, sw


@dataclass(frozen=True)
class LogisticRatio:
    """A fitted logistic-regression density ratio (see :func:`fit_logistic_ratio`).

    Attributes
    ----------
    center, scale : ndarray of shape (n_features,)
        Standardisation of the features (population mean and standard deviation).
    coef : ndarray
        Coefficients of the intercept, linear and quadratic terms.
    penalty : float
        The L2 penalty used.
    """

    center: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    penalty: float

    def log_ratio(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return ``ln p_pop(x) - ln p_train(x)`` at the rows of ``X``, shape (n,)."""
        Z = (check_matrix(X, name="X", n_features=self.center.shape[0]) - self.center) / self.scale
        return _design(Z) @ self.coef


def fit_logistic_ratio(
    X_pop: ArrayLike,
    X_train: ArrayLike,
    *,
    penalty: float | None = None,
    n_folds: int = 3,
    rng: int | np.random.Generator | None = 0,
) -> LogisticRatio:
    """Fit ``ln p_pop / p_train`` by logistic regression of population against training.

    With the classes weighted equally, the log-odds of "population" is the log
    density ratio.  The model is linear in the standardised features and
    their pairwise products (a log-quadratic ratio, exact for Gaussian
    populations and logistic selections), with an L2 penalty on every
    coefficient but the intercept.

    Parameters
    ----------
    X_pop, X_train : array-like of shape (n, n_features)
    penalty : float, optional
        L2 penalty; default: the one of ``PENALTIES`` with the lowest
        ``n_folds``-fold cross-validated balanced log-loss (the calibration of
        the probabilities is what the ratio needs).
    n_folds : int, default 3
    rng : int, numpy.random.Generator or None, default 0
        Seed of the fold assignment.

    Returns
    -------
    LogisticRatio
    """
    Xp = check_matrix(X_pop, name="X_pop")
    Xt = check_matrix(X_train, name="X_train", n_features=Xp.shape[1])
    center = Xp.mean(axis=0)
    scale = Xp.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    A = _design((np.vstack([Xp, Xt]) - center) / scale)
    y, sw = _balanced(len(Xp), len(Xt))
    if penalty is None:
        gen = as_generator(rng)
        fold = np.r_[gen.permutation(len(Xp)) % n_folds, gen.permutation(len(Xt)) % n_folds]
        losses = []
        for lam in PENALTIES:
            total = 0.0
            for f in range(n_folds):
                fit, test = fold != f, fold == f
                b = _fit_coef(A[fit], y[fit], sw[fit] / sw[fit].sum(), lam)
                z = A[test] @ b
                total += float(np.sum(sw[test] * (np.logaddexp(0.0, z) - y[test] * z)))
            losses.append(total)
        penalty = PENALTIES[int(np.argmin(losses))]
    coef = _fit_coef(A, y, sw, float(penalty))
    return LogisticRatio(center, scale, coef, float(penalty))


# ------------------------------------------------------------------ held-out choices
def cross_fitted(
    fit: Callable[[NDArray[np.intp]], LogRatio],
    X_train: NDArray[np.float64],
    *,
    n_folds: int = 2,
    rng: int | np.random.Generator | None = 0,
) -> NDArray[np.float64]:
    """Return each training object's log-ratio from a model fitted without it.

    ``fit(rows)`` fits the ratio model to those rows of the training sample
    (the population stays whole) and returns its log-ratio function of
    features.
    """
    gen = as_generator(rng)
    fold = gen.permutation(X_train.shape[0]) % n_folds
    out = np.empty(X_train.shape[0])
    for f in range(n_folds):
        held = fold == f
        if held.all() or not held.any():
            raise DataError("too few training objects for held-out weights", argument="X_train")
        out[held] = fit(np.flatnonzero(~held))(X_train[held])
    return out


@dataclass(frozen=True)
class ClipChoice:
    """The clip level chosen on held-out weights, and what every level gave.

    Attributes
    ----------
    level : float
        Chosen percentile of the log-ratio (100: unclipped below max_weight).
    levels, divergence, ess : tuple of float
        Every level tried, the held-out divergence of the training sample
        weighted at that level, and its effective-sample-size fraction.
    divergence_unweighted : float
        Held-out divergence of the unweighted training sample.
    noise : float
        The divergence expected of an unbiased sample of this size (binning
        noise, ``n_features (nbins - 1) / (2 n_train)``): below it there is no
        selection to correct.
    """

    level: float
    levels: tuple[float, ...]
    divergence: tuple[float, ...]
    ess: tuple[float, ...]
    divergence_unweighted: float
    noise: float = 0.0

    @property
    def divergence_weighted(self) -> float:
        """Held-out divergence at the chosen level."""
        return self.divergence[self.levels.index(self.level)]


def choose_clip(
    held_out: NDArray[np.float64],
    divergence: Callable[[NDArray[np.float64] | None], float],
    *,
    ess_floor: float,
    bound: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    noise: float = 0.0,
) -> ClipChoice:
    """Choose the clip level whose held-out weights diverge least, with ESS >= ``ess_floor``.

    Parameters
    ----------
    held_out : ndarray of shape (n_train,)
        Cross-fitted log-ratios (:func:`cross_fitted`).
    divergence : callable
        ``divergence(weights or None)``: divergence of the (weighted) training
        sample from the population, e.g. :func:`bayesmix.gpz.kl_score`.
    ess_floor : float
        Smallest effective-sample-size fraction allowed; if no level reaches
        it, the level with the largest one is chosen.
    bound : callable
        Turns clipped log-ratios into the final weights (``max_weight`` etc.).
    """
    div, ess = [], []
    for level in CLIP_LEVELS:
        w = bound(clip_at_level(held_out, level))
        div.append(float(divergence(w)))
        ess.append(ess_fraction(w))
    ok = [i for i, e in enumerate(ess) if e >= ess_floor]
    best = min(ok, key=lambda i: div[i]) if ok else int(np.argmax(ess))
    return ClipChoice(
        CLIP_LEVELS[best], CLIP_LEVELS, tuple(div), tuple(ess), float(divergence(None)), noise
    )


# ------------------------------------------------------------------ the fitted rule
@dataclass(frozen=True)
class Weighting:
    """A fitted weighting rule of a :class:`~bayesmix.gpz.GPzAugment` (``weighting_``).

    Attributes
    ----------
    ratio : {"classifier", "mixture"}
        How ``ln p_pop - ln p_train`` is estimated.
    regularise : {"auto", "eta", "none"}
        ``"auto"``: clipped at the percentile ``level`` of the training
        objects' log-ratios chosen on held-out data; ``"eta"``: gpz_pype's
        softened ratio; ``"none"``: the ratio itself.
    eta : float or None
    max_weight, min_weight : float, float or None
        Absolute bounds applied last.
    ess_floor : float
    log_clip : float
        The clip on the log-ratio (``inf``: none).
    level : float or None
        The chosen percentile (``"auto"`` only).
    logistic : LogisticRatio or None
        The classifier (``ratio="classifier"``).
    held_out : ClipChoice or None
        Held-out divergences (unweighted, and weighted at every level tried
        for ``"auto"``, at the one rule otherwise).
    """

    ratio: str
    regularise: str
    eta: float | None
    max_weight: float
    min_weight: float | None
    ess_floor: float
    log_clip: float
    level: float | None
    logistic: LogisticRatio | None
    held_out: ClipChoice | None

    def options(self) -> dict:
        """Return the options that produced this rule."""
        return {
            "ratio": self.ratio,
            "regularise": self.regularise,
            "eta": self.eta,
            "max_weight": self.max_weight,
            "min_weight": self.min_weight,
            "ess_floor": self.ess_floor,
        }

    def to_arrays(self, prefix: str = "weighting__") -> dict[str, np.ndarray]:
        """Return plain arrays (JSON description + numbers) for a saved file."""
        import json

        h = self.held_out
        doc = {
            **self.options(),
            "log_clip": None if not np.isfinite(self.log_clip) else float(self.log_clip),
            "level": self.level,
            "penalty": None if self.logistic is None else self.logistic.penalty,
            "held_out": None
            if h is None
            else {
                "level": h.level,
                "levels": list(h.levels),
                "divergence": list(h.divergence),
                "ess": list(h.ess),
                "divergence_unweighted": h.divergence_unweighted,
                "noise": h.noise,
            },
        }
        out = {f"{prefix}meta": np.array(json.dumps(doc, sort_keys=True))}
        if self.logistic is not None:
            out[f"{prefix}center"] = self.logistic.center
            out[f"{prefix}scale"] = self.logistic.scale
            out[f"{prefix}coef"] = self.logistic.coef
        return out


def load_weighting(saved, n_features: int) -> Weighting:
    """Rebuild a :class:`Weighting` from the ``weighting__`` part of a saved file, checked.

    ``saved`` is a :class:`bayesmix.em.saved.SavedArrays` part; every failure is
    one :class:`~bayesmix.exceptions.FormatError` naming the file and the field.
    """
    meta = saved.meta("meta")
    keys = ("ratio", "regularise", "eta", "max_weight", "min_weight", "ess_floor")
    meta.check_keys((*keys, "log_clip", "level", "penalty", "held_out"))
    ratio = meta.choice("ratio", RATIOS)
    regularise = meta.choice("regularise", REGULARISERS)
    max_weight = meta.number("max_weight", above=0.0)
    log_clip = meta.number("log_clip", optional=True)
    logistic = None
    if ratio == "classifier":
        saved.check_fields(("meta", "center", "scale", "coef"))
        n_coef = 1 + n_features + n_features * (n_features + 1) // 2
        logistic = LogisticRatio(
            saved.array("center", shape=(n_features,)),
            saved.array("scale", shape=(n_features,), positive=True),
            saved.array("coef", shape=(n_coef,), context=f"n_features_in = {n_features}"),
            float(meta.number("penalty", above=0.0)),
        )
    else:
        saved.check_fields(("meta",))
    held = None
    if meta.value("held_out") is not None:
        h = meta.section("held_out")
        h.check_keys(("level", "levels", "divergence", "ess", "divergence_unweighted", "noise"))
        levels = h.float_list("levels")
        held = ClipChoice(
            h.number("level", minimum=0.0),
            tuple(levels),
            tuple(h.float_list("divergence", length=len(levels))),
            tuple(h.float_list("ess", length=len(levels))),
            h.number("divergence_unweighted", minimum=0.0),
            h.number("noise", minimum=0.0),
        )
    return Weighting(
        ratio=ratio,
        regularise=regularise,
        eta=meta.number("eta", above=0.0, optional=True),
        max_weight=max_weight,
        min_weight=meta.number("min_weight", minimum=0.0, optional=True),
        ess_floor=meta.number("ess_floor", minimum=0.0, below=1.0),
        log_clip=np.inf if log_clip is None else log_clip,
        level=meta.number("level", minimum=0.0, optional=True),
        logistic=logistic,
        held_out=held,
    )
