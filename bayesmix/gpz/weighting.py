"""The weighting rules of :class:`~bayesmix.gpz.GPzAugment`: fit on the samples, apply to rows.

:class:`WeightingRules` is the part of ``GPzAugment`` that turns its two
fitted mixtures (or a classifier) into cost-sensitive weights: it fits a rule
(:class:`bayesmix.gpz.ratio.Weighting`) on the training and population
samples the model keeps, and applies it to any objects row by row, in memory
or over Dask blocks.  See ``docs/gpz.md`` for how the default was chosen.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix.exceptions import NotFittedError
from bayesmix.gpz._options import forwards
from bayesmix.gpz.kl import kl_score
from bayesmix.gpz.ratio import (
    ClipChoice,
    Weighting,
    choose_clip,
    cross_fitted,
    ess_fraction,
    fit_logistic_ratio,
)
from bayesmix.gpz.weights import (
    WEIGHT_OPTIONS,
    WeightWarning,
    check_weight_options,
    clip_log_weights,
    log_ratio,
    weight_diagnostics,
)

__all__ = ["KL_BINS", "SAMPLE_ROWS", "WeightingRules"]

#: most objects of each sample (population, training) a model keeps, seeded
SAMPLE_ROWS = 20_000
#: bins per feature of the held-out divergence (kl_score's default)
KL_BINS = 30


class WeightingRules:
    """Mixin of :class:`~bayesmix.gpz.GPzAugment`: fit, keep and apply a weighting rule.

    Uses the host's mixtures (``gmm_pop``, ``gmm_train``), scaling and kept
    samples (``pop_sample_``, ``train_sample_``, ``train_err_sample_``).
    """

    weighting_: Weighting | None
    pop_sample_: NDArray[np.float64] | None
    train_sample_: NDArray[np.float64] | None
    train_err_sample_: NDArray[np.float64] | None

    def _pop_reference(self, X_pop) -> NDArray[np.float64]:
        """Return the population objects of the classifier and the divergences."""
        if X_pop is not None:
            return self._check_X(X_pop, "X_pop")
        if self.pop_sample_ is None:
            raise NotFittedError(
                "this model keeps no population sample (saved by an older bayesmix?): pass X_pop"
            )
        return self.pop_sample_

    def _train_reference(self, X_train, X_err) -> tuple[NDArray[np.float64], ArrayLike | None]:
        """Return the training objects (and errors) the rule is fitted on (given, else kept)."""
        if X_train is not None:
            return self._check_X(X_train, "X_train"), X_err
        if self.train_sample_ is None:
            raise NotFittedError(
                "this model keeps no training sample (saved by an older bayesmix?): pass X_train"
            )
        return self.train_sample_, self.train_err_sample_

    @forwards(WEIGHT_OPTIONS)
    def fit_weights(
        self,
        X_train: ArrayLike | None = None,
        X_pop: ArrayLike | None = None,
        *,
        X_err: ArrayLike | None = None,
        **options,
    ):
        """Fit the weighting rule on the training sample (stored as ``weighting_``).

        Parameters
        ----------
        X_train : array-like of shape (n_train, n_features), optional
            The training sample; default the sample kept by :meth:`fit_training`
            (``train_sample_``: the objects ``gmm_train`` describes).
        X_pop : array-like of shape (n_pop, n_features), optional
            Population objects for the classifier and the divergences; default
            the sample kept by :meth:`fit_population` (``pop_sample_``).
        X_err : array-like of shape (n_train, n_features), optional
            Feature errors of ``X_train`` for the held-out training mixtures of
            an extreme-deconvolution model (default: the kept ones with the
            kept sample, else zero).
        ratio, regularise, max_weight, min_weight, eta, ess_floor
            As for :func:`~bayesmix.gpz.weights.check_weight_options` (the
            weighting options, keyword-only).

        Returns
        -------
        self
        """
        o = check_weight_options(**options)
        if self.gmm_pop is None or self.gmm_train is None:
            raise NotFittedError("both mixtures are needed: fit the population and training first")
        X, X_err = self._train_reference(X_train, X_err)
        Xp = self._pop_reference(X_pop)
        err = None if X_err is None else self._transform_err(X_err, X.shape, "X_err")
        logistic = None
        if o["ratio"] == "classifier":
            logistic = fit_logistic_ratio(Xp, X, rng=self.seed_)
            r = logistic.log_ratio(X)

            def part(rows):  # the penalty chosen on all objects
                return fit_logistic_ratio(Xp, X[rows], penalty=logistic.penalty).log_ratio
        else:
            r = self.log_density_ratio(X, eta=o["eta"])
            lp_pop = self.gmm_pop.score_samples

            def part(rows):
                gm = self._fit_mixture(self._transform(X[rows]), None if err is None else err[rows])
                return lambda Z: log_ratio(
                    lp_pop(self._transform(Z)), gm.score_samples(self._transform(Z)), o["eta"]
                )

        def bound(log_w):
            return clip_log_weights(log_w, o["max_weight"], o["min_weight"])

        def divergence(w):
            raw, weighted = kl_score(Xp, X, w, nbins=KL_BINS)
            return raw if w is None else weighted

        held = cross_fitted(part, X, rng=self.seed_)
        noise = X.shape[1] * (KL_BINS - 1) / (2.0 * X.shape[0])  # KL of an unbiased sample
        log_clip, level = np.inf, None
        if o["regularise"] == "auto":
            choice = choose_clip(
                held, divergence, ess_floor=o["ess_floor"], bound=bound, noise=noise
            )
            level = choice.level
            log_clip = float(np.percentile(r, level)) if level < 100 else np.inf
        else:
            w = bound(held)
            d0, d1 = divergence(None), divergence(w)
            choice = ClipChoice(100.0, (100.0,), (d1,), (ess_fraction(w),), d0, noise)
        self.weighting_ = Weighting(
            **o, log_clip=log_clip, level=level, logistic=logistic, held_out=choice
        )
        diagnostics = weight_diagnostics(self.weights(X), weighting=self.weighting_)
        for problem in diagnostics["warnings"]:
            warnings.warn(problem, WeightWarning, stacklevel=2)
        return self

    def weights(self, X: ArrayLike) -> NDArray[np.float64]:
        """Weights of any objects under the fitted rule ``weighting_`` (row by row).

        Returns
        -------
        ndarray of shape (n_objects,)
            Finite, within ``[min_weight or 0, max_weight]``.
        """
        wt = self.weighting_
        if wt is None:
            raise NotFittedError("no weighting rule: call fit_weights(X_train) (or calc_weights)")
        Xv = self._check_X(X, "X")
        if wt.logistic is not None:
            r = wt.logistic.log_ratio(Xv)
        else:
            r = self.log_density_ratio(Xv, eta=wt.eta)
        return clip_log_weights(np.minimum(r, wt.log_clip), wt.max_weight, wt.min_weight)

    @forwards(WEIGHT_OPTIONS)
    def use_weighting(self, **options):
        """Make ``weighting_`` the rule with these options, without a training sample.

        Keeps the fitted rule if it has these options; sets up the rules that
        need no training sample (``ratio="mixture"`` with ``regularise="none"``
        or ``"eta"``); otherwise raises.  What :func:`bayesmix.scale.gpz_weights`
        uses before scoring blocks.

        Raises
        ------
        NotFittedError
            A rule fitted on the training sample (``"auto"``, ``"classifier"``)
            that :meth:`fit_weights` has not fitted.
        """
        o = check_weight_options(**options)
        if self.weighting_ is not None and self.weighting_.options() == o:
            return self
        if o["ratio"] != "mixture" or o["regularise"] == "auto":
            raise NotFittedError(
                f"weights with ratio={o['ratio']!r}, regularise={o['regularise']!r} are fitted "
                "on the training sample: call fit_weights(X_train) first"
            )
        if self.gmm_train is None:
            raise NotFittedError("the training mixture is needed: call fit_training(X_train)")
        self.weighting_ = Weighting(**o, log_clip=np.inf, level=None, logistic=None, held_out=None)
        return self
