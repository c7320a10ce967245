"""GPz training-set augmentation: cost-sensitive weights, mixture divides, KL scores.

Photometric-redshift codes such as GPz (Almosallam et al. 2016) learn from a
spectroscopic training sample that is biased (brighter, bluer) with respect to
the photometric population the redshifts are wanted for.  Two remedies, from
gpz_pype's ``GMMbasic`` (K. J. Duncan) and Hatfield et al. (2020), both built on
Gaussian mixtures fitted in feature space (colours, magnitudes):

- **cost-sensitive weights**: each training object gets the density ratio
  ``w(x) = p_pop(x) / p_train(x)`` of a mixture fitted to the population and one
  fitted to the training sample, so that the weighted training sample follows
  the population;
- **divide**: objects are split into "mixture samples" by their membership
  probability in the population mixture's components, and a separate GPz model
  is trained per mixture sample.

:class:`GPzAugment` reproduces gpz_pype's semantics on bayesmix's EM engine
and fixes its defects: restarts are ``n_init`` (gpz_pype passed its ``niter``
on as 100 restarts); weights are exact density ratios computed in log space
(the softened ``(p_pop + eta) / (p_train + eta)`` is available, evaluated
stably, through ``eta``); extreme deconvolution works when measurement errors
are given; objects that land in no mixture sample are flagged and counted, and
``assign="best"`` puts every object in at least its best component; models are
saved as ``.npz`` + JSON, never pickle.

The table-level functions :func:`gpz_weights_table` and
:func:`gpz_divide_table` take astropy Tables and feature expressions such as
``"lupt_F606W-lupt_F814W"``; they are what ``bayesmix gpz weights|divide``
call.

References
----------
Almosallam, I. A., Jarvis, M. J. & Roberts, S. J. 2016, "GPZ: non-stationary
sparse Gaussian processes for heteroscedastic uncertainty estimation in
photometric redshifts", MNRAS 462, 726.
Almosallam, I. A., Lindsay, S. N., Jarvis, M. J. & Roberts, S. J. 2016, "A
sparse Gaussian process framework for photometric redshift estimation",
MNRAS 455, 2387 (cost-sensitive learning).
Hatfield, P. W. et al. 2020, "Augmenting machine learning photometric redshifts
with Gaussian mixture models", MNRAS 498, 5498.
Duncan, K. J., gpz_pype, https://github.com/dunkenj/gpz_pype (``gpz_pype/gmm.py``:
``GMMbasic``, ``kl_score``).
Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, "Extreme deconvolution", Ann. Appl.
Stat. 5, 1657.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp

from bayesmix._random import as_generator, derive_seed
from bayesmix._validate import (
    check_array_1d,
    check_choice,
    check_errors,
    check_int,
    check_matrix,
    check_positive,
    check_sample_weight,
)
from bayesmix.em import GaussianMixture, XDGaussianMixture
from bayesmix.em import load as _load_mixture
from bayesmix.exceptions import DataError, FormatError, NotFittedError, SpecError

__all__ = [
    "DivideWarning",
    "GPzAugment",
    "feature_matrix",
    "gpz_divide_table",
    "gpz_weights_table",
    "kl_score",
    "kl_score_mixture",
    "parse_feature",
    "read_divide_csv",
    "weight_diagnostics",
    "write_divide_csv",
]

FORMAT_VERSION = 1
_MIN_MEMBERS = 10  # gpz_pype's "fewer than 10 samples" warning level
_ASSIGN = {"threshold", "best"}


class DivideWarning(UserWarning):
    """A divide left a mixture sample empty or small, or left objects in no mixture sample."""


# ----------------------------------------------------------------- validation helpers
def _check_threshold(threshold: Any) -> float:
    ok = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
    if not ok or not (0.0 < float(threshold) < 1.0):
        raise SpecError(
            f"'threshold' must be a probability strictly between 0 and 1; got {threshold!r}",
            key="threshold",
        )
    return float(threshold)


def _check_weight_bounds(max_weight: Any, min_weight: Any) -> tuple[float, float | None]:
    ok = isinstance(max_weight, (int, float, np.integer, np.floating)) and not isinstance(
        max_weight, bool
    )
    if not ok or not math.isfinite(float(max_weight)) or float(max_weight) <= 0:
        raise SpecError(
            f"'max_weight' must be a finite number > 0; got {max_weight!r}", key="max_weight"
        )
    max_weight = float(max_weight)
    if min_weight is None:
        return max_weight, None
    ok = isinstance(min_weight, (int, float, np.integer, np.floating)) and not isinstance(
        min_weight, bool
    )
    if not ok or not (0.0 <= float(min_weight) <= max_weight):
        raise SpecError(
            f"'min_weight' must be a number in [0, max_weight={max_weight:g}] or None; "
            f"got {min_weight!r}",
            key="min_weight",
        )
    return max_weight, float(min_weight)


def _check_eta(eta: Any) -> float | None:
    if eta is None:
        return None
    ok = isinstance(eta, (int, float, np.floating)) and not isinstance(eta, bool)
    if not ok or not math.isfinite(float(eta)) or float(eta) <= 0:
        raise SpecError(f"'eta' must be a finite number > 0 or None; got {eta!r}", key="eta")
    return float(eta)


# --------------------------------------------------------------------- weights maths
def _clip_log_weights(
    log_w: NDArray[np.float64], max_weight: float, min_weight: float | None
) -> NDArray[np.float64]:
    """Clip log weights to [ln min_weight, ln max_weight] and exponentiate (NaN -> 1)."""
    # NaN arises only as (-inf) - (-inf): both densities underflowed, nothing is known
    # about the ratio, so the neutral weight 1 is used (validated data never gets here).
    log_w = np.where(np.isnan(log_w), 0.0, log_w)
    hi = math.log(max_weight)
    lo = -np.inf if not min_weight else math.log(min_weight)
    # clip again after exp: exp(ln 100) is 100.00000000000004 in double precision
    return np.clip(np.exp(np.clip(log_w, lo, hi)), min_weight or 0.0, max_weight)


def _log_ratio(
    lp_pop: NDArray[np.float64], lp_train: NDArray[np.float64], eta: float | None
) -> NDArray[np.float64]:
    """ln(p_pop/p_train), or ln((p_pop + eta)/(p_train + eta)) evaluated with logaddexp."""
    with np.errstate(invalid="ignore"):
        if eta is None:
            return lp_pop - lp_train
        log_eta = math.log(eta)
        return np.logaddexp(lp_pop, log_eta) - np.logaddexp(lp_train, log_eta)


def weight_diagnostics(
    weights: ArrayLike, *, max_weight: float | None = 100, min_weight: float | None = None
) -> dict[str, float]:
    """Summarise cost-sensitive weights: effective sample size, clipping, range.

    Parameters
    ----------
    weights : array-like of shape (n_objects,)
        Non-negative weights, e.g. from :meth:`GPzAugment.calc_weights`.
    max_weight, min_weight : float or None, keyword-only
        The clip bounds used to make ``weights`` (defaults as in ``calc_weights``);
        a weight within a relative 1e-12 of a bound counts as clipped.  None: that
        side is not counted.

    Returns
    -------
    dict
        ``n_objects``; ``effective_sample_size`` (Kish: ``(sum w)^2 / sum w^2``)
        and ``ess_fraction`` (divided by ``n_objects``); ``fraction_clipped``
        (= ``fraction_clipped_high + fraction_clipped_low``); ``min``, ``max``,
        ``median`` and ``mean`` of the weights.  All values are plain floats.

    Notes
    -----
    The Kish effective sample size is the number of equally weighted objects
    that would give a weighted mean the same variance; a small ``ess_fraction``
    means that a few heavily up-weighted objects dominate the training.
    """
    w = check_array_1d(weights, name="weights")
    check_positive(w, name="weights", strict=False)
    n = w.shape[0]
    s1 = float(w.sum())
    s2 = float(np.sum(w * w))
    ess = s1 * s1 / s2 if s2 > 0 else 0.0
    high = float(np.mean(w >= max_weight * (1 - 1e-12))) if max_weight is not None else 0.0
    low = float(np.mean(w <= min_weight * (1 + 1e-12))) if min_weight is not None else 0.0
    return {
        "n_objects": float(n),
        "effective_sample_size": ess,
        "ess_fraction": ess / n,
        "fraction_clipped": high + low,
        "fraction_clipped_high": high,
        "fraction_clipped_low": low,
        "min": float(w.min()),
        "max": float(w.max()),
        "median": float(np.median(w)),
        "mean": float(w.mean()),
    }


# ------------------------------------------------------------------------ the class
class GPzAugment:
    """Gaussian mixtures of a photometric population and a spectroscopic training sample.

    Fits one mixture to the reference population (``gmm_pop``) and one to the
    training sample (``gmm_train``), in a common robustly scaled feature space.
    From them it gives cost-sensitive weights for training objects
    (:meth:`calc_weights`) and divides any sample into mixture samples
    (:meth:`divide`).  This is gpz_pype's ``GMMbasic`` on bayesmix's EM engine.

    Parameters
    ----------
    X_pop : array-like of shape (n_pop, n_features), optional
        Features of the reference (photometric) population, e.g. colours and a
        magnitude (mag).  Fits the scaling and ``gmm_pop``.
    X_train : array-like of shape (n_train, n_features), optional
        Features of the training (spectroscopic) sample.  Fits ``gmm_train``.
        Given without ``X_pop`` it also serves as the population (with a
        warning), and every weight is then exactly 1.
    Y_train : array-like of shape (n_train,), optional
        Training labels (e.g. spectroscopic redshifts); stored as ``Y_train``
        and saved with the model, otherwise unused (as in gpz_pype).
    n_components : int, default 10, keyword-only
        Components per mixture.
    threshold : float, default 0.5
        Default membership probability above which :meth:`divide` puts an
        object in a mixture sample; strictly between 0 and 1.
    n_init : int, default 1
        EM restarts per mixture (the best log-likelihood is kept).
    tol : float, default 1e-3
        EM convergence tolerance on the mean log-likelihood per object (also
        passed to the extreme-deconvolution fits).
    rng : int, numpy.random.Generator or None, default 0
        Seed.  One integer seed is drawn from it and used for both mixtures, so
        identical inputs give identical mixtures.
    scale : bool, default True
        Scale every feature as ``(x - median) / IQR`` with the median and
        interquartile range of the population (scikit-learn's ``RobustScaler``;
        a zero IQR is replaced by 1).  Density ratios do not depend on the
        scaling; the softened ``eta`` weights and the EM initialisation do.
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
    X_err_pop, X_err_train : array-like of shape (n, n_features), optional
        Per-object standard deviations of the features (same units as the
        features; for a colour, the quadrature sum of its bands' errors).  If
        either is given both mixtures are extreme-deconvolution fits
        (:class:`bayesmix.em.XDGaussianMixture`; a missing one counts as zero
        errors), so that weights compare the underlying, not noise-broadened,
        densities.  Errors are scaled by the same IQR as the features.

    Attributes
    ----------
    gmm_pop, gmm_train : GaussianMixture or XDGaussianMixture or None
        The fitted mixtures, in scaled feature space (None until fitted).
    center_, scale_ : ndarray of shape (n_features,)
        The scaling (zeros and ones when ``scale=False``).
    n_features_in_ : int
    uses_errors_ : bool
        True when the mixtures are extreme-deconvolution fits.
    seed_ : int
        The integer seed given to both EM fits.
    Y_train : ndarray or None

    Warns
    -----
    UserWarning
        When only ``X_train`` is given (it then serves as the population).
    ConvergenceWarning
        From EM, when a fit stops before meeting ``tol``.

    See Also
    --------
    gpz_weights_table, gpz_divide_table : the same on astropy Tables.
    kl_score, kl_score_mixture : how well a (weighted) training sample covers the population.

    Notes
    -----
    The weight of a training object at features x is the density ratio
    ``w(x) = p_pop(x) / p_train(x)`` (importance weighting for covariate shift),
    evaluated as ``exp(ln p_pop - ln p_train)`` with both log-densities from
    ``logsumexp`` over components, then clipped to ``[min_weight, max_weight]``.
    gpz_pype computes ``(exp(ln p_pop) + eta) / (exp(ln p_train) + eta)`` with
    ``eta = 1e-3``: in 3 scaled features densities are of order 0.01-1, so
    ``eta`` distorts the ratio, and with 10-40 features densities are far below
    ``eta`` and every weight becomes 1.  ``eta`` is available for reproducing
    gpz_pype's numbers only.

    References
    ----------
    Almosallam et al. 2016, MNRAS 462, 726 (GPz); Almosallam et al. 2016, MNRAS
    455, 2387 (cost-sensitive learning); Hatfield et al. 2020, MNRAS 498, 5498
    (GMM augmentation); K. J. Duncan, gpz_pype (``GMMbasic``); Bovy, Hogg & Roweis
    2011 (extreme deconvolution).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmix.gpz import GPzAugment
    >>> rng = np.random.default_rng(1)
    >>> X_pop = rng.normal(size=(2000, 2))
    >>> X_train = X_pop[X_pop[:, 0] < rng.normal(size=2000)]   # biased subsample
    >>> aug = GPzAugment(X_pop, X_train, n_components=2)
    >>> w = aug.calc_weights(X_train)
    >>> bool(np.average(X_train[:, 0], weights=w) > X_train[:, 0].mean())
    True
    """

    def __init__(
        self,
        X_pop: ArrayLike | None = None,
        X_train: ArrayLike | None = None,
        Y_train: ArrayLike | None = None,
        *,
        n_components: int = 10,
        threshold: float = 0.5,
        n_init: int = 1,
        tol: float = 1e-3,
        rng: int | np.random.Generator | None = 0,
        scale: bool = True,
        covariance_type: str = "full",
        X_err_pop: ArrayLike | None = None,
        X_err_train: ArrayLike | None = None,
    ):
        self.n_components = check_int(n_components, name="n_components", minimum=1)
        self.threshold = _check_threshold(threshold)
        self.n_init = check_int(n_init, name="n_init", minimum=1)
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise SpecError(f"'tol' must be a finite number >= 0; got {tol!r}", key="tol")
        self.tol = float(tol)
        self.rng = rng
        self.scale = bool(scale)
        self.covariance_type = check_choice(
            covariance_type, name="covariance_type", choices={"full", "diag", "spherical", "tied"}
        )
        self.seed_ = derive_seed(as_generator(rng))
        self.uses_errors_ = X_err_pop is not None or X_err_train is not None
        self.gmm_pop: GaussianMixture | XDGaussianMixture | None = None
        self.gmm_train: GaussianMixture | XDGaussianMixture | None = None
        self.center_: NDArray[np.float64] | None = None
        self.scale_: NDArray[np.float64] | None = None
        self.n_features_in_: int | None = None
        self.Y_train = None
        if X_train is not None and X_pop is None:
            warnings.warn(
                "GPzAugment: no reference population (X_pop) was given; the training sample "
                "X_train serves as the population, so every weight is 1. Pass X_pop for "
                "cost-sensitive weights.",
                UserWarning,
                stacklevel=2,
            )
            X_pop, X_err_pop = X_train, X_err_train
        if X_pop is not None:
            self.fit_population(X_pop, X_err=X_err_pop)
        if X_train is not None:
            self.fit_training(X_train, X_err=X_err_train)
            if Y_train is not None:
                Y = np.asarray(Y_train)
                if Y.shape[0] != self._n_train_fit:
                    raise DataError(
                        f"'Y_train' must have one value per X_train row ({self._n_train_fit}); "
                        f"got {Y.shape[0]}",
                        argument="Y_train",
                    )
                self.Y_train = Y
        elif Y_train is not None:
            self.Y_train = np.asarray(Y_train)

    # ------------------------------------------------------------------ scaling
    def _new_mixture(self):
        cls = XDGaussianMixture if self.uses_errors_ else GaussianMixture
        return cls(
            self.n_components,
            covariance_type=self.covariance_type,
            tol=self.tol,
            n_init=self.n_init,
            rng=self.seed_,
        )

    def _check_X(self, X, name: str, *, fitting_scaler: bool = False):
        if self.n_features_in_ is None and not fitting_scaler:
            raise NotFittedError(
                "GPzAugment has no population mixture yet; pass X_pop to the constructor or "
                "call fit_population(X_pop) first."
            )
        return check_matrix(
            X, name=name, n_features=None if fitting_scaler else self.n_features_in_
        )

    def _scaling(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self.center_ is None or self.scale_ is None:
            raise NotFittedError("GPzAugment is not fitted: call fit_population(X_pop) first")
        return self.center_, self.scale_

    def _transform(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        center, scale = self._scaling()
        return (X - center) / scale

    def _transform_err(self, X_err, shape, name: str) -> NDArray[np.float64] | None:
        if X_err is None:
            return None
        err = check_errors(X_err, shape=shape, name=name)
        return err / self._scaling()[1]

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Scale features with the population's median and IQR, shape (n_objects, n_features)."""
        return self._transform(self._check_X(X, "X"))

    def _fit_mixture(self, Xs, err):
        gm = self._new_mixture()
        if self.uses_errors_:
            return gm.fit(Xs, X_err=err)
        return gm.fit(Xs)

    def fit_population(self, X_pop: ArrayLike, *, X_err: ArrayLike | None = None) -> GPzAugment:
        """Fit the scaling and the population mixture ``gmm_pop``.

        Parameters
        ----------
        X_pop : array-like of shape (n_pop, n_features)
        X_err : array-like of shape (n_pop, n_features), optional
            Feature standard deviations (only with extreme deconvolution, i.e.
            when the constructor was given errors).

        Returns
        -------
        self
        """
        X = self._check_X(X_pop, "X_pop", fitting_scaler=True)
        if X_err is not None and not self.uses_errors_:
            raise SpecError(
                "'X_err' needs extreme-deconvolution mixtures: give X_err_pop/X_err_train to "
                "the GPzAugment constructor",
                key="X_err",
            )
        D = X.shape[1]
        if self.scale:
            q25, q50, q75 = np.percentile(X, [25.0, 50.0, 75.0], axis=0)
            iqr = q75 - q25
            # as scikit-learn's RobustScaler: a feature with zero IQR is only centred
            self.center_, self.scale_ = q50, np.where(iqr > 0, iqr, 1.0)
        else:
            self.center_, self.scale_ = np.zeros(D), np.ones(D)
        self.n_features_in_ = D
        err = self._transform_err(X_err, X.shape, "X_err_pop")
        self.gmm_pop = self._fit_mixture(self._transform(X), err)
        self.gmm_train = None  # a training mixture from another scaling would not compare
        return self

    def fit_training(self, X_train: ArrayLike, *, X_err: ArrayLike | None = None) -> GPzAugment:
        """Fit the training-sample mixture ``gmm_train`` (after :meth:`fit_population`).

        Parameters
        ----------
        X_train : array-like of shape (n_train, n_features)
        X_err : array-like of shape (n_train, n_features), optional
            Feature standard deviations (extreme deconvolution only).

        Returns
        -------
        self
        """
        X = check_matrix(X_train, name="X_train")
        if self.n_features_in_ is None:
            raise NotFittedError(
                "fit the population first (GPzAugment(X_pop, ...) or fit_population(X_pop)): "
                "the training mixture uses the population's scaling"
            )
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"'X_train' must have {self.n_features_in_} feature column(s), like X_pop; got "
                f"{X.shape[1]}",
                argument="X_train",
            )
        if X_err is not None and not self.uses_errors_:
            raise SpecError(
                "'X_err' needs extreme-deconvolution mixtures: give X_err_pop/X_err_train to "
                "the GPzAugment constructor",
                key="X_err",
            )
        err = self._transform_err(X_err, X.shape, "X_err_train")
        self.gmm_train = self._fit_mixture(self._transform(X), err)
        self._n_train_fit = X.shape[0]
        return self

    # ------------------------------------------------------------------ weights
    def log_density_ratio(self, X: ArrayLike, *, eta: float | None = None) -> NDArray[np.float64]:
        """Unclipped ``ln p_pop(x) - ln p_train(x)`` (or the softened form with ``eta``).

        With extreme deconvolution the densities are the deconvolved ones.  The
        densities are those of the scaled features (a common Jacobian cancels in
        the exact ratio, not in the softened one).  Shape (n_objects,).
        """
        eta = _check_eta(eta)
        if self.gmm_pop is None or self.gmm_train is None:
            raise NotFittedError(
                "both mixtures are needed: fit the population and the training sample first"
            )
        Xs = self._transform(self._check_X(X, "X"))
        lp_pop = self.gmm_pop.score_samples(Xs)
        lp_train = self.gmm_train.score_samples(Xs)
        return _log_ratio(lp_pop, lp_train, eta)

    def calc_weights(
        self,
        X_train: ArrayLike,
        X_pop: ArrayLike | None = None,
        *,
        max_weight: float = 100,
        min_weight: float | None = None,
        eta: float | None = None,
    ) -> NDArray[np.float64]:
        """Cost-sensitive weights ``p_pop(x) / p_train(x)`` of training objects.

        Parameters
        ----------
        X_train : array-like of shape (n_objects, n_features)
            Objects to weight.  If ``gmm_train`` is not fitted yet it is fitted to
            these (as in gpz_pype).
        X_pop : array-like of shape (n_pop, n_features), optional
            Fits the population mixture (and the scaling) if that is not fitted yet.
        max_weight : float, default 100, keyword-only
            Upper clip (finite, > 0).
        min_weight : float or None, default None
            Lower clip (in [0, max_weight]); None: no lower clip.
        eta : float or None, default None
            None: the exact ratio.  A positive number: gpz_pype's softened
            ``(p_pop + eta) / (p_train + eta)``, evaluated as
            ``exp(logaddexp(ln p_pop, ln eta) - logaddexp(ln p_train, ln eta))``
            with densities of the scaled features (gpz_pype used ``eta=1e-3``).

        Returns
        -------
        ndarray of shape (n_objects,)
            Finite weights in ``[min_weight or 0, max_weight]``, for every object
            however far from both mixtures.

        Raises
        ------
        NotFittedError
            No population mixture and no ``X_pop``.
        DataError
            Wrong number of features, non-finite features.
        SpecError
            Bad ``max_weight``, ``min_weight`` or ``eta``.

        See Also
        --------
        weight_diagnostics : effective sample size and clipped fraction.
        """
        max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
        eta = _check_eta(eta)
        if self.gmm_pop is None:
            if X_pop is None:
                raise NotFittedError(
                    "the population mixture is not fitted and 'X_pop' was not given"
                )
            self.fit_population(X_pop)
        X = self._check_X(X_train, "X_train")
        if self.gmm_train is None:
            self.fit_training(X)
        return _clip_log_weights(self.log_density_ratio(X, eta=eta), max_weight, min_weight)

    # ------------------------------------------------------------------- divide
    def divide(
        self,
        X: ArrayLike,
        *,
        weight: bool = False,
        threshold: float | None = None,
        max_weight: float = 100,
        min_weight: float | None = None,
        eta: float | None = None,
        return_density: bool = False,
        assign: str = "threshold",
        X_err: ArrayLike | None = None,
    ):
        """Divide objects into mixture samples by their population-mixture membership.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_features)
            Objects to divide (the training sample, or any sample to be predicted).
        weight : bool, default False, keyword-only
            Add a ``weights`` column from :meth:`calc_weights` (needs ``gmm_train``).
        threshold : float, optional
            Membership probability above which (strictly) an object joins a
            mixture sample; default the constructor's ``threshold``.
        max_weight, min_weight, eta
            Passed to :meth:`calc_weights` when ``weight=True``.
        return_density : bool, default False
            Add the membership probabilities as ``p0..p{K-1}`` (gpz_pype's name).
        assign : {"threshold", "best"}, default "threshold"
            ``"threshold"``: gpz_pype's rule, ``m_k = p_k > threshold`` (objects
            may end in no sample, or with ``threshold < 0.5`` in several).
            ``"best"``: as ``"threshold"``, and every object also joins its most
            probable component.
        X_err : array-like of shape (n_objects, n_features), optional
            Feature standard deviations; with extreme deconvolution the
            memberships are then those of the noisy objects.

        Returns
        -------
        astropy.table.Table
            Columns ``index`` (row number, int64), ``best`` (most probable
            component, int64), ``m0..m{K-1}`` (bool), ``p0..p{K-1}`` (float64,
            with ``return_density``), ``weights`` (float64, with ``weight``) and
            ``unassigned`` (bool: no ``m`` column set), in the input's row order.
            ``meta`` holds ``n_objects``, ``n_components``, ``threshold``,
            ``assign``, ``member_counts``, ``n_unassigned`` and
            ``unassigned_fraction``.

        Warns
        -----
        DivideWarning
            When a mixture sample is empty or has fewer than 10 members, or when
            some objects are in no mixture sample; the message gives the counts
            and the unassigned fraction.

        Raises
        ------
        NotFittedError
            No population mixture (or no training mixture with ``weight=True``).
        DataError, SpecError
            Bad data, threshold outside (0, 1), bad weight options or ``assign``.
        """
        from astropy.table import Table

        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        check_choice(assign, name="assign", choices=_ASSIGN)
        if weight:
            max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
            eta = _check_eta(eta)
        if self.gmm_pop is None:
            raise NotFittedError(
                "GPzAugment has no population mixture yet; pass X_pop to the constructor or "
                "call fit_population(X_pop) first."
            )
        Xv = self._check_X(X, "X")
        if weight and self.gmm_train is None:
            raise NotFittedError(
                "weight=True needs the training mixture: give X_train to the constructor or "
                "call fit_training(X_train)"
            )
        Xs = self._transform(Xv)
        err = self._transform_err(X_err, Xv.shape, "X_err")
        if err is not None and not self.uses_errors_:
            raise SpecError(
                "'X_err' needs extreme-deconvolution mixtures (errors given to the constructor)",
                key="X_err",
            )
        if isinstance(self.gmm_pop, XDGaussianMixture):
            log_resp = self.gmm_pop.predict_log_proba(Xs, X_err=err)
        else:
            log_resp = self.gmm_pop.predict_log_proba(Xs)
        prob = np.exp(log_resp)
        n, K = prob.shape
        best = np.argmax(log_resp, axis=1)
        member = prob > threshold
        if assign == "best":
            member[np.arange(n), best] = True
        unassigned = ~member.any(axis=1)

        table = Table()
        table["index"] = np.arange(n, dtype=np.int64)
        table["best"] = best.astype(np.int64)
        for k in range(K):
            table[f"m{k}"] = member[:, k]
        if return_density:
            for k in range(K):
                table[f"p{k}"] = prob[:, k]
        if weight:
            table["weights"] = _clip_log_weights(
                self.log_density_ratio(Xv, eta=eta), max_weight, min_weight
            )
        table["unassigned"] = unassigned

        counts = member.sum(axis=0)
        n_un = int(unassigned.sum())
        frac = n_un / n
        table.meta.update(
            {
                "n_objects": int(n),
                "n_components": int(K),
                "threshold": float(threshold),
                "assign": assign,
                "member_counts": [int(c) for c in counts],
                "n_unassigned": n_un,
                "unassigned_fraction": float(frac),
            }
        )
        problems = []
        empty = np.flatnonzero(counts == 0)
        small = np.flatnonzero((counts > 0) & (counts < _MIN_MEMBERS))
        if empty.size:
            problems.append(f"mixture sample(s) {', '.join(map(str, empty))} empty")
        if small.size:
            problems.append(
                f"mixture sample(s) {', '.join(f'{k} ({counts[k]})' for k in small)} with fewer "
                f"than {_MIN_MEMBERS} members"
            )
        if n_un:
            problems.append(
                f"{n_un} of {n} objects ({100 * frac:.1f}%) in no mixture sample (probability "
                f"<= threshold {threshold:g} for every component; column 'unassigned')"
            )
        if problems:
            remedies = "lower the threshold, "
            if assign == "threshold" and n_un:
                remedies += "use assign='best', "
            warnings.warn(
                "divide: "
                + "; ".join(problems)
                + f"; unassigned fraction {frac:.3f}. Remedies: {remedies}or use fewer mixture "
                "components.",
                DivideWarning,
                stacklevel=2,
            )
        return table

    # ------------------------------------------------------------------ save/load
    def _meta(self) -> dict:
        from bayesmix import __version__

        return {
            "class": "GPzAugment",
            "format_version": FORMAT_VERSION,
            "bayesmix_version": __version__,
            "params": {
                "n_components": self.n_components,
                "threshold": self.threshold,
                "n_init": self.n_init,
                "tol": self.tol,
                "rng": self.rng if isinstance(self.rng, (int, type(None))) else None,
                "scale": self.scale,
                "covariance_type": self.covariance_type,
            },
            "fitted": {
                "seed": self.seed_,
                "uses_errors": self.uses_errors_,
                "n_features_in": self.n_features_in_,
                "has_pop": self.gmm_pop is not None,
                "has_train": self.gmm_train is not None,
                "has_Y_train": self.Y_train is not None,
            },
        }

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Save to ``path`` as ``.npz`` arrays with embedded JSON metadata (no pickle).

        Holds the hyperparameters, the scaling, both mixtures (as written by
        their own ``save``) and ``Y_train``.  The write is atomic (temporary file
        in the same folder, then ``os.replace``); an existing file is replaced
        only with ``overwrite=True``.
        """
        path = os.fspath(path)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(self._meta(), sort_keys=True))}
        if self.n_features_in_ is not None:
            arrays["center"], arrays["scale"] = self._scaling()
        with tempfile.TemporaryDirectory() as tmp:
            for name, gm in (("pop", self.gmm_pop), ("train", self.gmm_train)):
                if gm is None:
                    continue
                sub = os.path.join(tmp, f"{name}.npz")
                gm.save(sub)
                with np.load(sub, allow_pickle=False) as data:
                    for key in data.files:
                        arrays[f"{name}__{key}"] = data[key]
        if self.Y_train is not None:
            Y = np.asarray(self.Y_train)
            arrays["Y_train"] = Y if Y.dtype.kind in "biufcUS" else Y.astype(str)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp_path = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub is too narrow
            os.replace(tmp_path, path)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> GPzAugment:
        """Load a model written by :meth:`save` (``allow_pickle=False``; no code runs).

        Raises
        ------
        FormatError
            Not a GPzAugment file, or an unsupported ``format_version``.
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise FormatError(f"{path} is not a bayesmix GPzAugment file: {exc}") from None
        if "meta" not in arrays:
            raise FormatError(f"{path} has no bayesmix metadata; it was not written by save()")
        meta = json.loads(str(arrays["meta"]))
        if meta.get("class") != "GPzAugment":
            raise FormatError(f"{path} holds class {meta.get('class')!r}; expected 'GPzAugment'")
        if meta.get("format_version") != FORMAT_VERSION:
            raise FormatError(
                f"{path} has format_version {meta.get('format_version')} (written by bayesmix "
                f"{meta.get('bayesmix_version')}); this bayesmix reads format_version "
                f"{FORMAT_VERSION}"
            )
        obj = cls(**meta["params"])
        fitted = meta["fitted"]
        obj.seed_ = int(fitted["seed"])
        obj.uses_errors_ = bool(fitted["uses_errors"])
        obj.n_features_in_ = fitted["n_features_in"]
        if "center" in arrays:
            obj.center_ = np.array(arrays["center"], dtype=float)
            obj.scale_ = np.array(arrays["scale"], dtype=float)
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("pop", "train"):
                if not fitted[f"has_{name}"]:
                    continue
                sub = os.path.join(tmp, f"{name}.npz")
                prefix = f"{name}__"
                np.savez(
                    sub, **{k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
                )
                setattr(obj, f"gmm_{name}", _load_mixture(sub))
        if fitted["has_Y_train"]:
            obj.Y_train = arrays["Y_train"]
        return obj

    def __repr__(self) -> str:
        state = "fitted" if self.gmm_pop is not None else "not fitted"
        kind = "XD" if self.uses_errors_ else "GMM"
        return (
            f"GPzAugment(n_components={self.n_components}, threshold={self.threshold}, "
            f"{kind}, {state})"
        )


# -------------------------------------------------------------------------- KL scores
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
    from bayesmix._hist import check_pop_train

    Xp, Xt, w = check_pop_train(X_pop, X_train, weights, min_pct=min_pct, max_pct=max_pct)
    nbins = check_int(nbins, name="nbins", minimum=1)
    if not (isinstance(pseudocount, (int, float)) and pseudocount > 0):
        raise SpecError(f"'pseudocount' must be > 0; got {pseudocount!r}", key="pseudocount")

    def _probs(counts, total):
        return (counts + pseudocount) / (total + nbins * pseudocount)

    score_raw = 0.0
    score_w = 0.0
    for j in range(Xp.shape[1]):
        lo, hi = np.percentile(Xp[:, j], [min_pct, max_pct])
        edges = np.histogram_bin_edges(Xp[:, j], bins=nbins, range=(lo, hi))
        cp, _ = np.histogram(Xp[:, j], bins=edges)
        ct, _ = np.histogram(Xt[:, j], bins=edges)
        p = _probs(cp, cp.sum())
        t = _probs(ct, ct.sum())
        score_raw += float(np.sum(t * np.log(t / p)))
        if w is not None:
            cw, _ = np.histogram(Xt[:, j], bins=edges, weights=w)
            n_in = ct.sum()
            cw = cw * (n_in / cw.sum()) if cw.sum() > 0 else cw
            tw = _probs(cw, cw.sum())
            score_w += float(np.sum(tw * np.log(tw / p)))
    return score_raw, (score_w if w is not None else float("nan"))


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
      population mass that the clip leaves uncovered.
    - Weighted, ``weights`` given: ``q`` is a Gaussian mixture with the same
      settings refitted to ``X_train`` with those sample weights, and
      ``KL(p || q) ≈ mean_s [ln p(x_s) - ln q(x_s)]``.  This measures what the
      given weights achieve on the actual training objects.

    The direction ``KL(pop || train)`` is the one that penalises population
    regions with no training support (where a photo-z model must extrapolate).
    It differs from :func:`kl_score`'s ``KL(train || pop)``, which follows
    gpz_pype.
    """
    if (
        not isinstance(augment, GPzAugment)
        or augment.gmm_pop is None
        or (augment.gmm_train is None)
    ):
        raise NotFittedError("'augment' must be a GPzAugment with both mixtures fitted")
    max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
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
        log_w = np.log(_clip_log_weights(d, max_weight, min_weight))
        m = n_samples if n_samples is not None else S
        Xt_draw, _ = augment.gmm_train.sample(m, rng=gen)
        lw_t = np.log(
            _clip_log_weights(
                augment.gmm_pop.score_samples(Xt_draw) - augment.gmm_train.score_samples(Xt_draw),
                max_weight,
                min_weight,
            )
        )
        log_Z = float(logsumexp(lw_t) - math.log(m))
        e = d - log_w
        kl_w = float(e.mean() + log_Z)
        se_w = float(e.std(ddof=1) / math.sqrt(S))
    else:
        if X_train is None:
            raise DataError(
                "'weights' needs 'X_train' (the objects they belong to)", argument="X_train"
            )
        Xt = augment._transform(augment._check_X(X_train, "X_train"))
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


# ------------------------------------------------------------------ table-level API
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_TERM_RE = re.compile(rf"\s*([+-]?)\s*({_NAME})\s*")


def parse_feature(expr: str, columns: Sequence[str] | None = None) -> list[tuple[int, str]]:
    """Parse a feature expression into signed column terms (no ``eval``).

    Grammar: ``column (('+' | '-') column)*`` with optional spaces, e.g.
    ``"lupt_F160W"``, ``"lupt_F606W-lupt_F814W"``, ``"a + b - c"``.  A column
    name is letters, digits, ``_`` and ``.``, not starting with a digit.  If
    ``columns`` is given and contains the whole expression as a name (e.g. a
    column literally called ``"g-r"``), that column is used.

    Returns
    -------
    list of (sign, column)
        ``sign`` is +1 or -1.

    Raises
    ------
    SpecError
        Empty or malformed expression (the message shows where parsing stopped).
    """
    if not isinstance(expr, str) or not expr.strip():
        raise SpecError(
            f"feature expression must be a non-empty string; got {expr!r}", key="features"
        )
    if columns is not None and expr in columns:
        return [(1, expr)]
    terms: list[tuple[int, str]] = []
    pos = 0
    text = expr
    while pos < len(text):
        m = _TERM_RE.match(text, pos)
        if m is None or (terms and not m.group(1)) or m.end() == pos:
            raise SpecError(
                f"cannot parse feature expression {expr!r} at character {pos}: expected "
                "'column', 'column-column' or 'column+column'",
                key="features",
            )
        sign = -1 if m.group(1) == "-" else 1
        terms.append((sign, m.group(2)))
        pos = m.end()
    return terms


def feature_matrix(
    table,
    features: Sequence[str],
    *,
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    name: str = "table",
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Evaluate feature expressions on an astropy Table.

    Parameters
    ----------
    table : astropy.table.Table (or any mapping of column name -> array)
    features : sequence of str
        Expressions for :func:`parse_feature`, one per feature.
    error_prefix : (str, str), optional
        ``("lupt_", "lupterr_")`` means column ``lupt_X`` has standard deviation
        column ``lupterr_X``.
    errors : mapping of str to str, optional
        Explicit column -> error column map (takes precedence).
    name : str
        Name of the table in error messages.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features)
        Masked values become NaN (and are then rejected by the validators).
    X_err : ndarray of shape (n_rows, n_features) or None
        Quadrature sums of the terms' errors (independent errors assumed), when
        ``error_prefix`` or ``errors`` is given.

    Raises
    ------
    DataError
        An unknown column (the message lists the available ones).
    """
    if isinstance(features, str):
        features = [features]
    if not len(features):
        raise SpecError("'features' must name at least one feature", key="features")
    colnames = list(getattr(table, "colnames", None) or list(table.keys()))
    want_err = error_prefix is not None or errors is not None

    def _column(col: str, expr: str, what: str) -> NDArray[np.float64]:
        if col not in colnames:
            raise DataError(
                f"{what} column {col!r} (in feature {expr!r}) is not in {name}; available: "
                f"{', '.join(colnames)}",
                argument="features",
            )
        c = table[col]
        data = np.ma.getdata(c).astype(np.float64, copy=True)
        mask = np.ma.getmaskarray(c)
        if mask.any():
            data[mask] = np.nan
        return data

    def _err_name(col: str, expr: str) -> str:
        if errors is not None and col in errors:
            return errors[col]
        if error_prefix is not None and col.startswith(error_prefix[0]):
            return error_prefix[1] + col[len(error_prefix[0]) :]
        raise DataError(
            f"no error column known for {col!r} (in feature {expr!r}); give it in 'errors' or "
            "use a matching 'error_prefix'",
            argument="features",
        )

    cols, errs = [], []
    for expr in features:
        terms = parse_feature(expr, colnames)
        x = np.zeros(len(table))
        var = np.zeros(len(table))
        for sign, col in terms:
            x = x + sign * _column(col, expr, "feature")
            if want_err:
                var = var + _column(_err_name(col, expr), expr, "error") ** 2
        cols.append(x)
        errs.append(np.sqrt(var))
    X = np.column_stack(cols)
    return X, (np.column_stack(errs) if want_err else None)


def gpz_weights_table(
    pop_table,
    train_table,
    features: Sequence[str],
    *,
    n_components: int = 10,
    n_init: int = 1,
    tol: float = 1e-3,
    rng: int | np.random.Generator | None = 0,
    scale: bool = True,
    covariance_type: str = "full",
    max_weight: float = 100,
    min_weight: float | None = None,
    eta: float | None = None,
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    weights_column: str = "weights",
    augment: GPzAugment | None = None,
):
    """Cost-sensitive weights for a training table (what ``bayesmix gpz weights`` runs).

    Parameters
    ----------
    pop_table, train_table : astropy.table.Table
        The photometric population and the spectroscopic training sample.
    features : sequence of str
        Feature expressions (:func:`parse_feature`), e.g.
        ``["lupt_F606W-lupt_F814W", "lupt_F814W-lupt_F125W", "lupt_F160W"]``.
    n_components, n_init, tol, rng, scale, covariance_type
        As for :class:`GPzAugment`.
    max_weight, min_weight, eta
        As for :meth:`GPzAugment.calc_weights`.
    error_prefix, errors
        Error columns (:func:`feature_matrix`); given, the mixtures are
        extreme-deconvolution fits.
    weights_column : str, default "weights"
        Name of the new column (gpz_pype's training step reads ``weights``).
    augment : GPzAugment, optional
        An already fitted model to use instead of fitting one.

    Returns
    -------
    table : astropy.table.Table
        A copy of ``train_table`` (all columns, same rows and order) with the
        weights added; ``meta["gpz_weights"]`` holds :func:`weight_diagnostics`
        and the options used.
    augment : GPzAugment
        The fitted model (save it with :meth:`GPzAugment.save`).

    Raises
    ------
    DataError
        Unknown columns, non-finite features, an existing ``weights_column``.
    """
    Xp, Ep = feature_matrix(
        pop_table, features, error_prefix=error_prefix, errors=errors, name="the population table"
    )
    Xt, Et = feature_matrix(
        train_table, features, error_prefix=error_prefix, errors=errors, name="the training table"
    )
    if weights_column in train_table.colnames:
        raise DataError(
            f"the training table already has a column {weights_column!r}; choose another "
            "weights_column or remove it",
            argument="weights_column",
        )
    max_weight, min_weight = _check_weight_bounds(max_weight, min_weight)
    if augment is None:
        augment = GPzAugment(
            Xp,
            Xt,
            n_components=n_components,
            n_init=n_init,
            tol=tol,
            rng=rng,
            scale=scale,
            covariance_type=covariance_type,
            X_err_pop=Ep,
            X_err_train=Et,
        )
    w = augment.calc_weights(Xt, max_weight=max_weight, min_weight=min_weight, eta=eta)
    out = train_table.copy()
    out[weights_column] = w
    out.meta["gpz_weights"] = {
        "features": list(features),
        "n_components": augment.n_components,
        "max_weight": max_weight,
        "min_weight": min_weight,
        "eta": eta,
        "diagnostics": weight_diagnostics(w, max_weight=max_weight, min_weight=min_weight),
    }
    return out, augment


def gpz_divide_table(
    pop_table,
    table,
    features: Sequence[str],
    *,
    train_table=None,
    n_components: int = 10,
    threshold: float = 0.5,
    assign: str = "threshold",
    return_density: bool = False,
    weight: bool = False,
    max_weight: float = 100,
    min_weight: float | None = None,
    eta: float | None = None,
    n_init: int = 1,
    tol: float = 1e-3,
    rng: int | np.random.Generator | None = 0,
    scale: bool = True,
    covariance_type: str = "full",
    error_prefix: tuple[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    augment: GPzAugment | None = None,
):
    """Divide a table into mixture samples (what ``bayesmix gpz divide`` runs).

    Parameters
    ----------
    pop_table : astropy.table.Table
        The population whose mixture defines the components.
    table : astropy.table.Table
        The objects to divide (usually the training table, as in gpz_pype's guide).
    features : sequence of str
        Feature expressions (:func:`parse_feature`).
    train_table : astropy.table.Table, optional
        Training sample for the weights; needed with ``weight=True``
        (pass ``table`` again when dividing the training table itself).
    n_components, threshold, n_init, tol, rng, scale, covariance_type
        As for :class:`GPzAugment`.
    assign, return_density, weight, max_weight, min_weight, eta
        As for :meth:`GPzAugment.divide`.
    error_prefix, errors
        Error columns (:func:`feature_matrix`); given, extreme deconvolution is
        used and memberships account for each object's errors.
    augment : GPzAugment, optional
        An already fitted model to use instead of fitting one.

    Returns
    -------
    divide : astropy.table.Table
        gpz_pype's divide layout (``index, best, m0.., [p0..], [weights],
        unassigned``), one row per row of ``table`` in order; write it with
        :func:`write_divide_csv`.
    augment : GPzAugment
    """
    Xp, Ep = feature_matrix(
        pop_table, features, error_prefix=error_prefix, errors=errors, name="the population table"
    )
    X, E = feature_matrix(
        table, features, error_prefix=error_prefix, errors=errors, name="the table to divide"
    )
    if weight and train_table is None and (augment is None or augment.gmm_train is None):
        raise SpecError("weight=True needs 'train_table' (the training sample)", key="train_table")
    if augment is None:
        Xt = Et = None
        if weight:
            Xt, Et = feature_matrix(
                train_table,
                features,
                error_prefix=error_prefix,
                errors=errors,
                name="the training table",
            )
        augment = GPzAugment(
            Xp,
            Xt,
            n_components=n_components,
            threshold=threshold,
            n_init=n_init,
            tol=tol,
            rng=rng,
            scale=scale,
            covariance_type=covariance_type,
            X_err_pop=Ep,
            X_err_train=Et,
        )
    div = augment.divide(
        X,
        weight=weight,
        threshold=threshold,
        max_weight=max_weight,
        min_weight=min_weight,
        eta=eta,
        return_density=return_density,
        assign=assign,
        X_err=E if augment.uses_errors_ else None,
    )
    div.meta["features"] = list(features)
    return div, augment


# ------------------------------------------------------------------------ CSV in/out
def write_divide_csv(table, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Write a divide table as CSV in gpz_pype's layout, atomically.

    The header is ``index,best,m0,...`` (then any ``p*``, ``weights``,
    ``unassigned`` columns); booleans are written ``True``/``False``, as
    astropy's ``ascii.csv`` writer does for gpz_pype's own divide output, so
    ``Table.read(path, format="ascii.csv")`` (gpz_pype's reader) gives the same
    columns and types as for a gpz_pype file.  Table ``meta`` is not written.
    Read it back with booleans restored by :func:`read_divide_csv`.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    out = table.copy(copy_data=True)
    out.meta.clear()
    # Subnormal floats (e.g. p = 1e-319 far from a component) make CSV readers warn about
    # lost precision; they are written as 0, which is what they are at double precision.
    tiny = np.finfo(np.float64).tiny
    for name in out.colnames:
        col = np.asarray(out[name])
        if col.dtype.kind == "f":
            sub = (col != 0) & (np.abs(col) < tiny)
            if sub.any():
                out[name] = np.where(sub, 0.0, col)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".csv.tmp")
    os.close(fd)
    try:
        out.write(tmp, format="ascii.csv", overwrite=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_divide_csv(path: str | os.PathLike):
    """Read a divide CSV (bayesmix's or gpz_pype's) with ``m*``/``unassigned`` as booleans.

    Returns
    -------
    astropy.table.Table
    """
    from astropy.table import Table

    t = Table.read(os.fspath(path), format="ascii.csv")
    for name in t.colnames:
        if re.fullmatch(r"m\d+|unassigned", name) and t[name].dtype.kind in "US":
            vals = np.asarray(t[name]).astype(str)
            bad = ~np.isin(vals, ["True", "False"])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise FormatError(
                    f"{path}: column {name!r} must hold True/False; row {i} has {vals[i]!r}"
                )
            t[name] = vals == "True"
    return t
