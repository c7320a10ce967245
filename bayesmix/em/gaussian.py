"""Gaussian mixture fitted by expectation-maximisation (numpy + numba, log space)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_sample_weight
from bayesmix.em._base import BaseMixture

__all__ = ["GaussianMixture"]


class GaussianMixture(BaseMixture):
    """Gaussian mixture model fitted by EM, with object weights, missing data and a background.

    Parameters
    ----------
    n_components : int, default 1
        Number of Gaussian components K (1 <= K <= n_objects).
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
        Covariance structure, as in scikit-learn.
    tol : float, default 1e-3
        Convergence threshold: EM stops when Aitken's estimate of the mean
        log-likelihood per object still to be gained (from the last three
        iterations; McNicholas et al. 2010) is below ``tol``.  Unlike a test on
        the last change alone, it does not stop on a slow ridge.
    reg_covar : float, default 1e-6
        Non-negative value added to the diagonal of every covariance, in the
        fit's internal units: the data's own units for features whose robust
        spread lies in ``[2**-4, 2**20]`` (scikit-learn's convention), units of
        a power of two near the spread for the others (see Notes).
    max_iter : int, default 1000
        EM iterations per start (most fits need tens).
    n_init : int, default 10
        Seeded starts; the one with the highest log-likelihood is kept.  With
        more than 16,384 objects the starts
        are run on a seeded subsample of that size and only the best continues
        on all objects, so large fits cost about one run.  A given ``init``
        (means or a dict) is a single start.
    init : {"kmeans++", "kmeans", "random", "random_from_data"}, array-like or dict
        ``"kmeans++"``: k-means++ seeds, objects assigned to the nearest seed;
        ``"kmeans"``: a full k-means run; ``"random"``: random responsibilities;
        an array of shape (K, n_features): initial means (weights and covariances
        from the nearest-mean assignment); a dict with ``means`` and optionally
        ``weights``, ``covariances`` (scikit-learn shapes for the covariance
        type) and ``background_weight``: the full initial state.
    nan_policy : {"raise", "marginalize"}, default "raise"
        With ``"marginalize"`` an object with NaN features contributes through the
        marginal density of its observed features; the M-step uses the exact
        conditional expectations of the missing ones (EM for data missing at
        random, as in pygmmis).
    background : bool, default False
        Add a uniform component over the bounding box of the fitted data, with a
        fitted weight, so that a few far outliers cannot capture a Gaussian.  When
        scoring, its density is the constant 1/volume everywhere.  It appears as
        the last column of :meth:`predict_proba` and as label ``n_components``.
    frozen : sequence of int or dict, optional
        Components held fixed during EM at their values in ``init`` (which must
        then be a dict).  A sequence freezes weight, mean and covariance; a dict
        ``{"weights": [...], "means": [...], "covariances": [...]}`` chooses.
        Free weights share the mass left by the frozen ones.
    rng : int, numpy.random.Generator or None
        Seed for the initialisation (and the default for :meth:`sample`).
    verbose : bool, default False
        Print a line per restart to standard error.
    random_state : int, numpy.random.RandomState or None
        scikit-learn's name for the seed, used when ``rng`` is None (so that
        scikit-learn's tools can seed the estimator); giving both with
        different values is an error.  A ``RandomState`` gives one integer
        seed drawn from it.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
        Mixing weights of the Gaussians (they sum to ``1 - background_weight_``).
    means_ : ndarray of shape (K, n_features)
    covariances_ : ndarray
        (K, D, D) full, (K, D) diag, (K,) spherical, (D, D) tied.
    precisions_cholesky_ : ndarray of shape (K, D, D)
        Upper-triangular factors with ``(x - mu) @ P`` whitened.
    converged_ : bool
        Whether the kept run met ``tol`` (Aitken's estimate of the gain to come)
        before ``max_iter``; otherwise a :class:`ConvergenceWarning` was issued.
    n_iter_ : int
        EM iterations of the kept run over all objects.
    lower_bound_ : float
        Mean log-likelihood per object (weighted) at the last E-step of the best restart.
    log_likelihood_history_ : list of float
        ``lower_bound`` at every iteration of the best restart (never decreasing).
    background_weight_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str (object dtype)
        The column names, when fitted on a data frame whose column names are
        all strings; a data frame with other columns then raises, as in
        scikit-learn.

    Notes
    -----
    Every density is handled in log space: component log-densities are combined
    with ``logsumexp``, so an object 1000 sigma from every component gets a
    finite log-density and responsibilities that sum to one.  One fused pass
    (numba) computes the E-step and the sufficient statistics without storing
    the (n_objects, K) responsibility matrix.

    Features far from unit scale (around 1e100 or 1e-100, or 1e10 next to
    1e-10) are fitted in internal units ``(x - c_j) / s_j`` with ``s_j`` a
    power of two near the feature's spread, and the parameters are
    transformed back exactly (:mod:`bayesmix.em.scaling`); ordinary features
    are not transformed at all.  Data whose covariances float64 cannot hold
    (spreads beyond ~3e144 or below ~3e-145, a value ~1e145 spreads from the
    rest) raise :class:`~bayesmix.exceptions.DataError` naming the feature; a
    fit never returns NaN parameters.

    The estimators follow scikit-learn's estimator protocol (``get_params``,
    ``set_params``, ``fit(X, y=None)``, ``score`` as the mean log-likelihood,
    ``n_features_in_``, ``feature_names_in_``, tags) and pass its estimator
    checks except where noted in ``tests/em/test_sklearn.py``, so they work in
    ``clone``, ``Pipeline`` and ``GridSearchCV``; scikit-learn is not needed
    to use them.

    References
    ----------
    Dempster, Laird & Rubin 1977, JRSS B 39, 1.  Boehning, Dietz, Schaub,
    Schlattmann & Lindsay 1994, Ann. Inst. Stat. Math. 46, 373 (Aitken
    acceleration as a stopping rule); McNicholas, Murphy, McDaid & Frost 2010,
    Comput. Stat. Data Anal. 54, 711.  Ghahramani & Jordan 1994,
    "Supervised learning from incomplete data via an EM approach", NIPS 6.
    Melchior & Goulding 2018, "Filling the gaps: Gaussian mixture models from
    noisy, truncated or incomplete samples", Astron. Comput. 25, 183 (pygmmis).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmix.em import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> gm = GaussianMixture(2, rng=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]))
    array([-3.,  3.])
    """

    def fit(
        self, X: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None
    ) -> GaussianMixture:
        """Fit by EM.

        Parameters
        ----------
        X : array-like of shape (n_objects, n_features)
            A data frame's column names are kept as ``feature_names_in_``.
        y : None
            Ignored (scikit-learn's signature, for pipelines).
        sample_weight : array-like of shape (n_objects,), optional
            Non-negative frequency or importance weights (not all zero).

        Returns
        -------
        self

        Raises
        ------
        DataError
            Non-finite values (unless ``nan_policy="marginalize"``), more
            components than objects, a feature float64 cannot fit (see Notes),
            a singular covariance.
        """
        X, observed = self._validate_X(X, fitting=True)
        return self._fit(X, None, sample_weight, observed)

    def fit_predict(self, X: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None):
        """Fit, then return :meth:`predict` of the same data (``y`` is ignored)."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-density ln p(x) of each object, shape (n_objects,)."""
        X, observed = self._validate_X(X, fitting=False)
        return self._log_prob(X, None, observed, False)[0]

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log responsibilities, shape (n_objects, K) (K + 1 with the background last)."""
        X, observed = self._validate_X(X, fitting=False)
        return self._log_prob(X, None, observed, True)[1]

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Responsibilities p(component | x), shape (n_objects, K) (K + 1 with background)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """Most probable component of each object (``n_components`` means the background)."""
        return np.argmax(self.predict_log_proba(X), axis=1)

    def score(self, X: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None) -> float:
        """Mean (weighted) log-likelihood per object (``y`` is ignored)."""
        ll = self.score_samples(X)
        w = check_sample_weight(sample_weight, n=ll.shape[0])
        return float(np.mean(ll) if w is None else np.sum(w * ll) / np.sum(w))

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion, ``-2 ln L + p ln n`` (lower is better)."""
        X_ = np.asarray(X)
        n = X_.shape[0]
        return float(-2.0 * self.score(X_) * n + self.n_parameters() * np.log(n))

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion, ``-2 ln L + 2 p`` (lower is better)."""
        X_ = np.asarray(X)
        n = X_.shape[0]
        return float(-2.0 * self.score(X_) * n + 2.0 * self.n_parameters())
