"""GPzAugment: Gaussian mixtures of a photometric population and a spectroscopic training set.

gpz_pype's ``GMMbasic`` (K. J. Duncan) on bayesmix's EM engine: the population
and training mixtures, cost-sensitive weights and the divide into mixture
samples; see :mod:`bayesmix.gpz` for the method and references.  Models are
saved as ``.npz`` arrays with embedded JSON (the mixtures' own arrays, see
:func:`bayesmix.em.to_arrays`), never pickle.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._files import atomic_write
from bayesmix._random import as_generator, derive_seed
from bayesmix._validate import check_choice, check_errors, check_int, check_matrix
from bayesmix.em import (
    COVARIANCE_TYPES,
    GaussianMixture,
    XDGaussianMixture,
    from_arrays,
    to_arrays,
)
from bayesmix.em.saved import SavedArrays, check_version, read_npz
from bayesmix.exceptions import DataError, NotFittedError, SpecError
from bayesmix.gpz._options import forwards
from bayesmix.gpz._saved import check_mixture, saved_state
from bayesmix.gpz.divide import (
    ASSIGN_RULES,
    check_threshold,
    divide_columns,
    divide_summary,
    warn_divide,
)
from bayesmix.gpz.ratio import Weighting, load_weighting
from bayesmix.gpz.weighting import SAMPLE_ROWS, WeightingRules
from bayesmix.gpz.weights import WEIGHT_OPTIONS, check_eta, check_weight_options, log_ratio

__all__ = ["FORMAT_VERSION", "GPzAugment"]

#: version of the saved ``.npz`` layout
FORMAT_VERSION = 1


class GPzAugment(WeightingRules):
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
    The weight of a training object at features x estimates the density ratio
    ``w(x) = p_pop(x) / p_train(x)`` (importance weighting for covariate shift).
    By default (:meth:`fit_weights`) the ratio comes from a logistic regression
    of population against training objects and its logarithm is clipped at the
    percentile whose held-out weights match the population best with at least
    30 % effective sample: on the real CANDELS sample this halves the binned
    divergence for every one of 10 selections, also with 13 features, where the
    exact mixture ratio -- ``exp(ln p_pop - ln p_train)`` from the two mixtures,
    ``ratio="mixture", regularise="none"``, the old default -- made the
    weighted sample up to 3 times *worse* than no weights (``docs/gpz.md``).
    gpz_pype computes ``(exp(ln p_pop) + eta) / (exp(ln p_train) + eta)`` with
    ``eta = 1e-3`` (``regularise="eta"``): not scale-aware -- with 10-40
    scaled features the densities are far below ``eta`` and every weight
    becomes 1.

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
        self.threshold = check_threshold(threshold)
        self.n_init = check_int(n_init, name="n_init", minimum=1)
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise SpecError(f"'tol' must be a finite number >= 0; got {tol!r}", key="tol")
        self.tol = float(tol)
        self.rng = rng
        self.scale = bool(scale)
        self.covariance_type = check_choice(
            covariance_type, name="covariance_type", choices=COVARIANCE_TYPES
        )
        self.seed_ = derive_seed(as_generator(rng))
        self.uses_errors_ = X_err_pop is not None or X_err_train is not None
        self.gmm_pop: GaussianMixture | XDGaussianMixture | None = None
        self.gmm_train: GaussianMixture | XDGaussianMixture | None = None
        self.center_: NDArray[np.float64] | None = None
        self.scale_: NDArray[np.float64] | None = None
        self.n_features_in_: int | None = None
        self.Y_train = None
        self.pop_sample_: NDArray[np.float64] | None = None
        self.train_sample_: NDArray[np.float64] | None = None
        self.train_err_sample_: NDArray[np.float64] | None = None
        self.weighting_: Weighting | None = None
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

    def transform(self, X: ArrayLike, *, name: str = "X") -> NDArray[np.float64]:
        """Scale features with the population's median and IQR, shape (n_objects, n_features).

        ``name`` names ``X`` in error messages.
        """
        return self._transform(self._check_X(X, name))

    def log_membership(
        self, X: ArrayLike, *, X_err: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """Log membership probabilities in the population mixture's components.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_features)
            Unscaled features.
        X_err : array-like of shape (n_objects, n_features), optional
            Feature standard deviations (extreme-deconvolution mixtures only);
            the memberships are then those of the noisy objects.

        Returns
        -------
        ndarray of shape (n_objects, n_components)
        """
        if self.gmm_pop is None:
            raise NotFittedError(
                "GPzAugment has no population mixture yet; pass X_pop to the constructor or "
                "call fit_population(X_pop) first."
            )
        Xv = self._check_X(X, "X")
        err = self._transform_err(X_err, Xv.shape, "X_err")
        if err is not None and not self.uses_errors_:
            raise SpecError(
                "'X_err' needs extreme-deconvolution mixtures (errors given to the constructor)",
                key="X_err",
            )
        Xs = self._transform(Xv)
        if isinstance(self.gmm_pop, XDGaussianMixture):
            return self.gmm_pop.predict_log_proba(Xs, X_err=err)
        return self.gmm_pop.predict_log_proba(Xs)

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
        self.weighting_ = None
        self.train_sample_ = self.train_err_sample_ = None
        # a seeded sample of the population: the classifier's and the divergences' reference
        self.pop_sample_ = X[self._kept_rows(X.shape[0])]
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
        # the sample the weighting rule is fitted on (seeded, at most SAMPLE_ROWS rows)
        keep = self._kept_rows(X.shape[0])
        self.train_sample_ = X[keep]
        self.train_err_sample_ = None if X_err is None else np.asarray(X_err, float)[keep]
        self.weighting_ = None
        return self

    def _kept_rows(self, n: int) -> NDArray[np.intp]:
        """Rows kept as a sample: all, or a seeded subset of ``SAMPLE_ROWS``."""
        if n <= SAMPLE_ROWS:
            return np.arange(n)
        return np.sort(as_generator(self.seed_).choice(n, SAMPLE_ROWS, replace=False))

    # ------------------------------------------------------------------ weights
    def log_density_ratio(self, X: ArrayLike, *, eta: float | None = None) -> NDArray[np.float64]:
        """Unclipped ``ln p_pop(x) - ln p_train(x)`` (or the softened form with ``eta``).

        With extreme deconvolution the densities are the deconvolved ones.  The
        densities are those of the scaled features (a common Jacobian cancels in
        the exact ratio, not in the softened one).  Shape (n_objects,).
        """
        eta = check_eta(eta)
        if self.gmm_pop is None or self.gmm_train is None:
            raise NotFittedError(
                "both mixtures are needed: fit the population and the training sample first"
            )
        Xs = self._transform(self._check_X(X, "X"))
        lp_pop = self.gmm_pop.score_samples(Xs)
        lp_train = self.gmm_train.score_samples(Xs)
        return log_ratio(lp_pop, lp_train, eta)

    @forwards(WEIGHT_OPTIONS)
    def calc_weights(
        self, X_train: ArrayLike, X_pop: ArrayLike | None = None, **options
    ) -> NDArray[np.float64]:
        """Cost-sensitive weights of training objects, ~``p_pop(x) / p_train(x)``, regularised.

        Fits what is missing -- the population mixture (from ``X_pop``), the
        training mixture (from ``X_train``, as in gpz_pype) and the weighting
        rule (:meth:`fit_weights` on the training sample the model keeps;
        reused while the options are unchanged) -- and returns the weights of
        the ``X_train`` objects (any objects: the rule applies row by row).

        Parameters
        ----------
        X_train : array-like of shape (n_objects, n_features)
        X_pop : array-like of shape (n_pop, n_features), optional
            Fits the population mixture if that is not fitted yet, and is the
            population of the classifier and the divergences.
        ratio, regularise, max_weight, min_weight, eta, ess_floor
            As for :func:`~bayesmix.gpz.weights.check_weight_options` (the
            weighting options, keyword-only); by default the log-ratio is
            clipped where held-out weights match the population best with at
            least 30 % effective sample size.

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
            Bad ``ratio``, ``regularise``, ``max_weight``, ``min_weight``, ``eta``
            or ``ess_floor``.

        See Also
        --------
        weight_diagnostics : effective sample size, clipping and held-out divergence.
        """
        o = check_weight_options(**options)
        if self.gmm_pop is None:
            if X_pop is None:
                raise NotFittedError(
                    "the population mixture is not fitted and 'X_pop' was not given"
                )
            self.fit_population(X_pop)
        X = self._check_X(X_train, "X_train")
        if self.gmm_train is None:
            self.fit_training(X)
        if self.weighting_ is None or self.weighting_.options() != o:
            self.fit_weights(None, X_pop, **o)  # on the training sample the model keeps
        return self.weights(X)

    # ------------------------------------------------------------------- divide
    @forwards(WEIGHT_OPTIONS)
    def divide(
        self,
        X: ArrayLike,
        *,
        weight: bool = False,
        threshold: float | None = None,
        return_density: bool = False,
        assign: str = "threshold",
        X_err: ArrayLike | None = None,
        **options,
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
        ratio, regularise, max_weight, min_weight, eta, ess_floor
            The weighting rule when ``weight=True`` (:meth:`calc_weights`):
            the fitted ``weighting_`` if it has these options, else one fitted
            on the kept training sample (:meth:`fit_weights`).
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

        threshold = self.threshold if threshold is None else check_threshold(threshold)
        check_choice(assign, name="assign", choices=ASSIGN_RULES)
        if weight:
            o = check_weight_options(**options)
        if weight and self.gmm_pop is not None and self.gmm_train is None:
            raise NotFittedError(
                "weight=True needs the training mixture: give X_train to the constructor or "
                "call fit_training(X_train)"
            )
        log_resp = self.log_membership(X, X_err=X_err)
        weights = None
        if weight:
            if self.weighting_ is None or self.weighting_.options() != o:
                self.fit_weights(**o)  # on the kept training sample
            weights = self.weights(X)
        columns = divide_columns(
            log_resp,
            threshold=threshold,
            assign=assign,
            return_density=return_density,
            weights=weights,
        )
        table = Table()
        table["index"] = np.arange(log_resp.shape[0], dtype=np.int64)
        for name, values in columns.items():
            table[name] = values
        summary = divide_summary(columns, threshold=threshold, assign=assign)
        table.meta.update(summary)
        warn_divide(summary, stacklevel=2)
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

        Holds the hyperparameters, the scaling, both mixtures (their arrays as
        written by their own ``save``, prefixed ``pop__`` / ``train__``) and
        ``Y_train``.  The write is atomic (``bayesmix._files.atomic_write``);
        an existing file is replaced only with ``overwrite=True``.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        """
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(self._meta(), sort_keys=True))}
        if self.n_features_in_ is not None:
            arrays["center"], arrays["scale"] = self._scaling()
        for name, gm in (("pop", self.gmm_pop), ("train", self.gmm_train)):
            if gm is not None:
                arrays.update({f"{name}__{k}": v for k, v in to_arrays(gm).items()})
        if self.Y_train is not None:
            Y = np.asarray(self.Y_train)
            arrays["Y_train"] = Y if Y.dtype.kind in "biufcUS" else Y.astype(str)
        for name in ("pop_sample", "train_sample", "train_err_sample"):
            if getattr(self, f"{name}_") is not None:
                arrays[name] = getattr(self, f"{name}_")
        if self.weighting_ is not None:
            arrays.update(self.weighting_.to_arrays("weighting__"))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez adds no ".npz"
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub is too narrow

        atomic_write(path, write, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> GPzAugment:
        """Load a model written by :meth:`save` (``allow_pickle=False``; no code runs).

        Every field is checked before use: the metadata (types, ranges,
        choices, format version), the scaling (finite; IQRs > 0), both mixtures
        (as :func:`bayesmix.em.from_arrays` checks them, and consistent with
        this model's ``n_components``, ``covariance_type``, number of features
        and extreme-deconvolution setting) and ``Y_train``.

        Raises
        ------
        FormatError
            Not a GPzAugment file (truncated, corrupt, another class), a newer
            ``format_version``, or any field that fails its check; the message
            names the file and the field.
        FileNotFoundError, IsADirectoryError, PermissionError
            ``path`` cannot be opened.
        """
        saved = SavedArrays(read_npz(path, what="bayesmix GPzAugment"), os.fspath(path))
        meta = saved.meta()
        meta.check_keys(("bayesmix_version", "class", "fitted", "format_version", "params"))
        name = meta.text("class")
        if name != "GPzAugment":
            raise meta.fail(
                "class",
                f"is {name!r}; expected 'GPzAugment' (EM models load with bayesmix.em.load)",
            )
        check_version(meta, FORMAT_VERSION)
        meta.text("bayesmix_version")
        params, fitted = saved_state(meta)
        obj = cls(**params)
        obj.seed_ = fitted["seed"]
        obj.uses_errors_ = fitted["uses_errors"]
        obj.n_features_in_ = D = fitted["n_features_in"]
        extra = {"Y_train"} if fitted["has_Y_train"] else set()
        if D is not None:  # the kept samples: files of older versions have none
            samples = ("pop_sample", "train_sample", "train_err_sample")
            extra |= {"center", "scale"} | {k for k in samples if saved.has(k)}
        parts = [name for name in ("pop", "train") if fitted[f"has_{name}"]]
        if fitted["has_train"] and saved.part("weighting__").names():
            parts.append("weighting")
        for key in sorted(saved.arrays):
            head = key.split("__", 1)[0] if "__" in key else None
            if key != "meta" and key not in extra and head not in parts:
                raise saved.fail(key, "is not part of this file format (unexpected array)")
        for key in sorted(extra):
            saved.raw(key)  # present
        if D is not None:
            obj.center_ = saved.array("center", shape=(D,), context=f"n_features_in = {D}")
            obj.scale_ = saved.array("scale", shape=(D,), positive=True)
            if not params["scale"] and (np.any(obj.center_ != 0) or np.any(obj.scale_ != 1)):
                raise saved.fail("center", "must be zeros (and 'scale' ones) with scale = false")
        for k in ("pop_sample", "train_sample", "train_err_sample"):
            if k in extra:
                minimum = 0.0 if k == "train_err_sample" else None
                a = saved.array(k, shape=(None, D), minimum=minimum, context=f"n_features_in = {D}")
                setattr(obj, f"{k}_", a)
        if (obj.train_err_sample_ is not None) and (
            obj.train_sample_ is None or obj.train_err_sample_.shape != obj.train_sample_.shape
        ):
            raise saved.fail("train_err_sample", "must match train_sample's shape")
        if "weighting" in parts:
            obj.weighting_ = load_weighting(saved.part("weighting__"), D)
        for part in [p for p in parts if p != "weighting"]:
            gm = from_arrays(saved.arrays, source=saved.source, prefix=f"{part}__")
            check_mixture(saved.part(f"{part}__"), gm, obj)
            setattr(obj, f"gmm_{part}", gm)
        if fitted["has_Y_train"]:
            Y = saved.raw("Y_train")
            if Y.dtype.kind not in "biufUS" or Y.ndim < 1:
                raise saved.fail(
                    "Y_train", f"must be an array of numbers or strings; got {Y.dtype}, {Y.shape}"
                )
            obj.Y_train = Y
        return obj

    def __repr__(self) -> str:
        state = "fitted" if self.gmm_pop is not None else "not fitted"
        kind = "XD" if self.uses_errors_ else "GMM"
        return (
            f"GPzAugment(n_components={self.n_components}, threshold={self.threshold}, "
            f"{kind}, {state})"
        )
