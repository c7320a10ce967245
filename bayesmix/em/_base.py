"""The EM template shared by :class:`GaussianMixture` and :class:`XDGaussianMixture`.

One loop (``_fit``): ``n_init`` restarts of (E-step + sufficient statistics,
M-step) until the mean log-likelihood per object changes by less than ``tol``;
the restart with the highest log-likelihood is kept.  Subclasses supply only the
statistics pass (``_stats``) and the scoring pass (``_log_prob``).  The loop
follows scikit-learn's ``BaseMixture.fit`` so that, started from the same
parameters, both produce the same iterates.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._random import as_generator
from bayesmix._validate import (
    check_choice,
    check_int,
    check_matrix,
    check_sample_weight,
)
from bayesmix.em import _kernels
from bayesmix.em._generic import generic_score, generic_stats, group_patterns
from bayesmix.em.init import kmeans, kmeans_plusplus
from bayesmix.exceptions import (
    ConvergenceWarning,
    DataError,
    FormatError,
    NotFittedError,
    SpecError,
)

__all__ = ["BaseMixture"]

FORMAT_VERSION = 1
_COV_TYPES = {"full", "diag", "spherical", "tied"}
_INITS = {"kmeans++", "kmeans", "random", "random_from_data"}
_EPS10 = 10 * np.finfo(np.float64).eps


def _to_full(cov, cov_type: str, K: int, D: int) -> NDArray[np.float64]:
    """Covariances in scikit-learn's per-type shapes -> (K, D, D)."""
    if cov_type == "full":
        return np.array(cov, dtype=float).reshape(K, D, D)
    if cov_type == "tied":
        return np.broadcast_to(np.asarray(cov, dtype=float), (K, D, D)).copy()
    if cov_type == "diag":
        out = np.zeros((K, D, D))
        idx = np.arange(D)
        out[:, idx, idx] = np.asarray(cov, dtype=float)
        return out
    out = np.zeros((K, D, D))
    idx = np.arange(D)
    out[:, idx, idx] = np.asarray(cov, dtype=float)[:, None]
    return out


def _from_full(full: NDArray[np.float64], cov_type: str, weights_n: NDArray[np.float64]):
    """(K, D, D) -> scikit-learn per-type shape (``weights_n`` pools a tied covariance)."""
    if cov_type == "full":
        return full
    if cov_type == "tied":
        w = weights_n / weights_n.sum()
        return np.einsum("k,kab->ab", w, full)
    diag = np.diagonal(full, axis1=1, axis2=2).copy()
    if cov_type == "diag":
        return diag
    return diag.mean(axis=1)


def _n_cov_params(cov_type: str, K: int, D: int) -> int:
    return {
        "full": K * D * (D + 1) // 2,
        "diag": K * D,
        "tied": D * (D + 1) // 2,
        "spherical": K,
    }[cov_type]


class BaseMixture:
    """Shared machinery; see :class:`bayesmix.em.GaussianMixture` for the parameters."""

    _uses_errors = False

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init: str | ArrayLike | dict = "kmeans++",
        nan_policy: str = "raise",
        background: bool = False,
        frozen: Any = None,
        rng: int | np.random.Generator | None = None,
        verbose: bool = False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init = init
        self.nan_policy = nan_policy
        self.background = background
        self.frozen = frozen
        self.rng = rng
        self.verbose = verbose

    # ------------------------------------------------------------------ params
    def _check_hyper(self, n: int, D: int) -> None:
        K = check_int(self.n_components, name="n_components", minimum=1)
        if K > n:
            raise DataError(
                f"'n_components' ({K}) must not exceed the number of objects ({n}); "
                "use fewer components or more data.",
                argument="n_components",
            )
        check_choice(self.covariance_type, name="covariance_type", choices=_COV_TYPES)
        check_choice(self.nan_policy, name="nan_policy", choices={"raise", "marginalize"})
        check_int(self.max_iter, name="max_iter", minimum=1)
        check_int(self.n_init, name="n_init", minimum=1)
        for name in ("tol", "reg_covar"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise SpecError(f"'{name}' must be a finite number >= 0; got {v!r}", key=name)
        if isinstance(self.init, str):
            check_choice(self.init, name="init", choices=_INITS)

    def _frozen_sets(self, K: int) -> dict[str, np.ndarray]:
        """Normalise ``frozen`` to boolean masks over components for weights/means/covariances."""
        masks = {key: np.zeros(K, dtype=bool) for key in ("weights", "means", "covariances")}
        if self.frozen is None:
            return masks
        if isinstance(self.frozen, dict):
            unknown = set(self.frozen) - set(masks)
            if unknown:
                raise SpecError(
                    f"'frozen' has unknown key(s) {sorted(unknown)}; allowed: {sorted(masks)}",
                    key="frozen",
                )
            items = self.frozen.items()
        else:
            items = [(key, self.frozen) for key in masks]
        for key, idx in items:
            idx = np.atleast_1d(np.asarray(idx, dtype=int)) if len(np.atleast_1d(idx)) else []
            for i in idx:
                if not 0 <= i < K:
                    raise SpecError(
                        f"'frozen' {key} index {i} is outside 0..{K - 1}", key=f"frozen.{key}"
                    )
                masks[key][i] = True
        if any(m.any() for m in masks.values()) and not isinstance(self.init, dict):
            raise SpecError(
                "'frozen' components need their values: pass init=dict(weights=..., means=..., "
                "covariances=...) giving the parameters to hold fixed",
                key="frozen",
            )
        if (
            masks["covariances"].any()
            and self.covariance_type == "tied"
            and not masks["covariances"].all()
        ):
            raise SpecError(
                "with covariance_type='tied' the covariance is shared: freeze all components' "
                "covariances or none",
                key="frozen.covariances",
            )
        if masks["weights"].all() and K > 0 and not self.background:
            pass  # all weights fixed: they stay as given
        return masks

    def _params_from_resp(self, X, sw, resp):
        """Weights, means and full covariances from (soft) responsibilities (numpy)."""
        K = resp.shape[1]
        D = X.shape[1]
        wr = resp * sw[:, None]
        nk = wr.sum(axis=0) + _EPS10
        means = (wr.T @ X) / nk[:, None]
        full = np.empty((K, D, D))
        for k in range(K):
            diff = X - means[k]
            full[k] = (wr[:, k] * diff.T) @ diff / nk[k]
        return nk / nk.sum(), means, full

    def _regularise(self, full, nk):
        """Apply ``reg_covar`` and the covariance type to (K, D, D) covariances."""
        K, D, _ = full.shape
        idx = np.arange(D)
        if self.covariance_type == "full":
            out = full.copy()
            out[:, idx, idx] += self.reg_covar
            return out
        if self.covariance_type == "tied":
            tied = np.einsum("k,kab->ab", nk / nk.sum(), full)
            tied[idx, idx] += self.reg_covar
            return np.broadcast_to(tied, (K, D, D)).copy()
        diag = np.diagonal(full, axis1=1, axis2=2) + self.reg_covar
        if self.covariance_type == "spherical":
            diag = np.repeat(diag.mean(axis=1, keepdims=True), D, axis=1)
        out = np.zeros((K, D, D))
        out[:, idx, idx] = diag
        return out

    def _initial_params(self, X, sw, observed, gen):
        """Return initial (weights, means, full covariances, background weight) for one restart."""
        K = self.n_components
        n, D = X.shape
        Xc = X
        if observed is not None and not observed.all():
            # initialise on mean-imputed data (only the starting point depends on it)
            col_mean = np.nanmean(X, axis=0)
            Xc = np.where(observed, X, col_mean)
        init = self.init
        bg = 0.05 if self.background else 0.0
        if self.background and isinstance(init, str):
            # Seed the Gaussians on the "core" of the data only: k-means++ favours far
            # points, and a Gaussian seeded on an isolated outlier collapses onto it before
            # the background can claim it.  Core = the 90% of objects nearest the median in
            # IQR-scaled units; EM itself then uses every object.
            med = np.median(Xc, axis=0)
            iqr = np.subtract(*np.percentile(Xc, [75, 25], axis=0))
            iqr = np.where(iqr > 0, iqr, 1.0)
            dist = np.sum(((Xc - med) / iqr) ** 2, axis=1)
            core = dist <= np.percentile(dist, 90)
            if core.sum() >= self.n_components:
                Xc, sw = Xc[core], sw[core]
                n = Xc.shape[0]
        if isinstance(init, dict):
            unknown = set(init) - {"weights", "means", "covariances", "background_weight"}
            if unknown:
                raise SpecError(f"'init' has unknown key(s) {sorted(unknown)}", key="init")
            if "means" not in init:
                raise SpecError("'init' as a dict needs at least 'means'", key="init.means")
            means = check_matrix(init["means"], name="init['means']", n_features=D)
            if means.shape[0] != K:
                raise DataError(
                    f"init['means'] must have {K} rows; got {means.shape[0]}", argument="init"
                )
            if "weights" in init and "covariances" in init:
                weights = np.asarray(init["weights"], dtype=float)
                full = _to_full(init["covariances"], self.covariance_type, K, D)
            else:
                w0, _, full0 = self._params_from_labels(Xc, sw, self._nearest(Xc, means), K)
                weights = np.asarray(init.get("weights", w0), dtype=float)
                if "covariances" in init:
                    full = _to_full(init["covariances"], self.covariance_type, K, D)
                else:
                    full = self._regularise(full0, w0)
            if weights.shape != (K,) or np.any(weights < 0) or not np.isfinite(weights).all():
                raise DataError(
                    f"init['weights'] must be {K} non-negative numbers", argument="init"
                )
            bg = float(init.get("background_weight", bg))
            weights = weights / weights.sum() * (1.0 - bg)
            return weights, means.copy(), full, bg
        if not isinstance(init, str):
            means = check_matrix(init, name="init", n_features=D)
            if means.shape[0] != K:
                raise DataError(
                    f"'init' must have {K} rows (one mean per component); got {means.shape[0]}",
                    argument="init",
                )
            weights, _, full = self._params_from_labels(Xc, sw, self._nearest(Xc, means), K)
            return weights * (1.0 - bg), means.copy(), self._regularise(full, weights), bg
        if init == "kmeans":
            labels = kmeans(Xc, K, n_init=1, sample_weight=sw, rng=gen).labels
        elif init == "kmeans++":
            labels = self._nearest(Xc, kmeans_plusplus(Xc, K, sample_weight=sw, rng=gen))
        elif init == "random_from_data":
            labels = self._nearest(Xc, Xc[gen.choice(n, size=K, replace=False)])
        else:  # random responsibilities, as in scikit-learn
            resp = gen.uniform(size=(n, K))
            resp /= resp.sum(axis=1, keepdims=True)
            weights, means, full = self._params_from_resp(Xc, sw, resp)
            return weights * (1.0 - bg), means, self._regularise(full, weights), bg
        weights, means, full = self._params_from_labels(Xc, sw, labels, K)
        return weights * (1.0 - bg), means, self._regularise(full, weights), bg

    @staticmethod
    def _nearest(X, centers):
        from bayesmix.em.init import _sq_dist_min

        return _sq_dist_min(X, centers)[1]

    def _params_from_labels(self, X, sw, labels, K):
        """Weights, means, full covariances from a hard assignment (O(N D) memory)."""
        D = X.shape[1]
        nk = np.bincount(labels, weights=sw, minlength=K) + _EPS10
        means = np.empty((K, D))
        for j in range(D):
            means[:, j] = np.bincount(labels, weights=sw * X[:, j], minlength=K) / nk
        full = np.zeros((K, D, D))
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(K + 1))
        empty = []
        for k in range(K):
            rows = order[bounds[k] : bounds[k + 1]]
            if len(rows) and nk[k] > 2 * _EPS10:
                diff = X[rows] - means[k]
                full[k] = (sw[rows] * diff.T) @ diff / nk[k]
            else:
                empty.append(k)
        if empty:  # e.g. duplicate seeds: start empty components from the whole data set
            mean_all = np.average(X, axis=0, weights=sw)
            diff = X - mean_all
            cov_all = (sw * diff.T) @ diff / sw.sum()
            means[empty] = mean_all
            full[empty] = cov_all
        return nk / nk.sum(), means, full

    @staticmethod
    def _prec_chol(full):
        """Upper-triangular precision Cholesky factors and their log-determinants."""
        try:
            L = np.linalg.cholesky(full)
        except np.linalg.LinAlgError:
            bad = [k for k in range(full.shape[0]) if np.linalg.eigvalsh(full[k])[0] <= 0]
            raise DataError(
                f"Fitting failed: component {bad[0] if bad else '?'} has an ill-defined "
                "(singular) covariance. Remedies: use fewer components, increase reg_covar, "
                "or rescale features that differ by many orders of magnitude.",
                argument="X",
            ) from None
        # batched small inverses (numpy's per-matrix LAPACK; no BLAS thread start-up)
        P = np.ascontiguousarray(np.triu(np.swapaxes(np.linalg.inv(L), 1, 2)))
        log_det = -np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        return P, log_det

    # ------------------------------------------------------------- validation
    def _validate_X(self, X, *, fitting: bool):
        allow_nan = self.nan_policy == "marginalize"
        if not fitting:
            self._check_fitted()
            X = check_matrix(X, name="X", allow_nan=allow_nan, n_features=self.n_features_in_)
        else:
            X = check_matrix(X, name="X", allow_nan=allow_nan)
        observed = None
        if allow_nan:
            obs = ~np.isnan(X)
            if not obs.all():
                observed = obs
        return X, observed

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X) before using it."
            )

    # ------------------------------------------------------------ E-step glue
    def _split_rows(self, observed, n):
        """(complete row indices or None for all, groups of incomplete rows)."""
        if observed is None:
            return None, []
        complete = observed.all(axis=1)
        idx_c = np.flatnonzero(complete)
        idx_i = np.flatnonzero(~complete)
        groups = [(idx_i[r], o) for r, o in group_patterns(observed[idx_i])]
        return idx_c, groups

    def _stats(self, X, S, sw, observed, weights, means, full, log_bg):
        """One E-step: (total weighted log-likelihood, N_k, N_bg, S1, S2) about ``means``."""
        K, D = means.shape
        with np.errstate(divide="ignore"):
            log_w = np.log(weights)
        idx_c, groups = self._split_rows(observed, X.shape[0])
        Xc, Sc, swc = X, S, sw
        if idx_c is not None:
            Xc = np.ascontiguousarray(X[idx_c])
            swc = np.ascontiguousarray(sw[idx_c])
            Sc = None if S is None else np.ascontiguousarray(S[idx_c])
        ll = 0.0
        Nk = np.zeros(K)
        Nbg = 0.0
        S1 = np.zeros((K, D))
        S2 = np.zeros((K, D, D))
        if Xc.shape[0]:
            if Sc is None:
                P, log_det_P = self._prec_chol(full)
                out = _kernels.gmm_stats(Xc, swc, means, P, log_det_P, log_w, log_bg, means)
            else:
                out = _kernels.xd_stats(Xc, Sc, swc, means, full, log_w, log_bg, means)
                if out[5].sum():
                    raise DataError(
                        "Fitting failed: a component covariance plus an object's error "
                        "covariance is not positive definite; increase reg_covar.",
                        argument="X_cov",
                    )
            ll = float(out[0].sum())
            Nk = out[1].sum(axis=0)
            Nbg = float(out[2].sum())
            S1 = out[3].sum(axis=0)
            S2 = out[4].sum(axis=0)
            iu = np.triu_indices(D, 1)
            S2[:, iu[1], iu[0]] = S2[:, iu[0], iu[1]]
        if groups:
            g = generic_stats(X, S, sw, groups, means, full, log_w, log_bg, means)
            ll += g[0]
            Nk = Nk + g[1]
            Nbg += g[2]
            S1 = S1 + g[3]
            S2 = S2 + g[4]
        return ll, Nk, Nbg, S1, S2

    def _m_step(self, stats, weights, means, full, bg, frozen):
        """Compute new (weights, means, full covariances, background weight) from statistics."""
        _, Nk_raw, Nbg, S1, S2 = stats
        K, D = means.shape
        total = Nk_raw.sum() + Nbg
        Nk = Nk_raw + _EPS10
        d = S1 / Nk[:, None]
        new_means = means + d
        cov_ml = S2 / Nk[:, None, None] - np.einsum("ka,kb->kab", d, d)
        new_full = self._regularise(cov_ml, Nk)
        empty = Nk_raw <= 1e-12 * max(total, 1e-300)
        if empty.any():  # keep the parameters of components that lost every object
            new_means[empty] = means[empty]
            if self.covariance_type != "tied":
                new_full[empty] = full[empty]
        new_w = Nk / (Nk.sum() + Nbg) if total > 0 else weights
        new_bg = Nbg / (Nk.sum() + Nbg) if self.background else 0.0
        # frozen components
        fm, fc, fw = frozen["means"], frozen["covariances"], frozen["weights"]
        new_means[fm] = means[fm]
        new_full[fc] = full[fc]
        if fw.any():
            fixed = weights[fw].sum()
            free_mass = new_w[~fw].sum() + new_bg
            scale = (1.0 - fixed) / free_mass if free_mass > 0 else 0.0
            new_w = new_w * scale
            new_bg *= scale
            new_w[fw] = weights[fw]
        return new_w, new_means, new_full, new_bg

    # --------------------------------------------------------------- the loop
    def _fit(self, X, S, sample_weight, observed):
        n, D = X.shape
        self._check_hyper(n, D)
        K = self.n_components
        frozen = self._frozen_sets(K)
        sw = check_sample_weight(sample_weight, n=n)
        sw = np.ones(n) if sw is None else sw
        total_w = float(sw.sum())
        gen = as_generator(self.rng)
        # background: uniform over the bounding box of the observed data
        if self.background:
            self._set_background(np.nanmin(X, axis=0), np.nanmax(X, axis=0))
        else:
            self._set_background(None, None)
        best = self._em_restarts(
            lambda: self._initial_params(X, sw, observed, gen),
            lambda w, mu, full, log_bg: self._stats(X, S, sw, observed, w, mu, full, log_bg),
            total_w,
            frozen,
        )
        self._set_fitted(best, D)
        return self
        return self

    def _set_background(self, lo, hi) -> None:
        """Store the bounding box [lo, hi] of the data and the background log-density."""
        if lo is None:
            self.bounding_box_ = None
            self.background_log_density_ = None
            return
        span = np.asarray(hi) - np.asarray(lo)
        if np.any(span <= 0):
            j = int(np.flatnonzero(span <= 0)[0])
            raise DataError(
                f"'background' needs a bounding box of non-zero width; feature {j} of X is "
                "constant",
                argument="X",
            )
        self.bounding_box_ = np.stack([lo, hi])
        self.background_log_density_ = float(-np.sum(np.log(span)))

    def _em_restarts(self, initial, stats, total_w, frozen, *, label=""):
        """Run ``n_init`` restarts of EM and return the best one.

        ``initial()`` gives a restart's starting (weights, means, full covariances,
        background weight); ``stats(w, mu, full, log_bg)`` one E-step's sufficient
        statistics (see ``_stats``), whatever the data live in (memory, Dask).
        Returns (lower bound, w, mu, full, bg, history, converged, n_iter).
        """
        K = self.n_components
        best = None
        for restart in range(self.n_init):
            w, mu, full, bg = initial()
            history: list[float] = []
            lower = -np.inf
            converged = False
            it = 0
            for it in range(1, self.max_iter + 1):  # noqa: B007 (it is read after the loop)
                prev = lower
                st = stats(w, mu, full, self._log_bg(bg))
                lower = st[0] / total_w
                history.append(lower)
                w, mu, full, bg = self._m_step(st, w, mu, full, bg, frozen)
                if abs(lower - prev) < self.tol:
                    converged = True
                    break
            if self.verbose:
                print(
                    f"[bayesmix] {type(self).__name__}(n_components={K}) restart "
                    f"{restart + 1}/{self.n_init}: {it} iterations, "
                    f"log-likelihood {lower:.6g}{'' if converged else ' (not converged)'}{label}",
                    file=sys.stderr,
                )
            if best is None or lower > best[0]:
                best = (lower, w, mu, full, bg, history, converged, it)
        if best is None:  # pragma: no cover - n_init >= 1 is checked
            raise RuntimeError("no EM restart ran")
        return best

    def _set_fitted(self, best, n_features: int) -> None:
        """Store the best restart as the fitted attributes; warn if it did not converge."""
        lower, w, mu, full, bg, history, converged, it = best
        self.weights_ = w
        self.means_ = mu
        self._full = full
        self.covariances_ = _from_full(full, self.covariance_type, w)
        self.background_weight_ = float(bg)
        self.converged_ = bool(converged)
        self.n_iter_ = int(it)
        self.lower_bound_ = float(lower)
        self.log_likelihood_history_ = [float(v) for v in history]
        self.n_features_in_ = n_features
        self._set_precisions()
        if not converged:
            last = history[-1] - history[-2] if len(history) > 1 else np.nan
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(last change {last:.3g} > tol={self.tol}). Remedies: raise max_iter, loosen "
                "tol, or try another init/n_init.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _log_bg(self, bg):
        if not self.background or bg <= 0:
            return -np.inf
        return float(np.log(bg) + self.background_log_density_)

    def _set_precisions(self):
        P, log_det = self._prec_chol(self._full)
        self.precisions_cholesky_ = P
        self._log_det_P = log_det

    def full_covariances(self) -> NDArray[np.float64]:
        """Component covariances as an array of shape (n_components, n_features, n_features)."""
        self._check_fitted()
        return self._full.copy()

    # ---------------------------------------------------------------- scoring
    def _log_prob(self, X, S, observed, want_resp):
        """(log density (N,), log responsibilities (N, K[+1]) or None)."""
        K = self.n_components
        n = X.shape[0]
        n_out = K + (1 if self.background else 0)
        log_bg = self._log_bg(self.background_weight_)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        lse = np.empty(n)
        log_resp = np.empty((n, n_out)) if want_resp else np.empty((0, n_out))
        idx_c, groups = self._split_rows(observed, n)
        Xc, Sc = X, S
        if idx_c is not None:
            Xc = np.ascontiguousarray(X[idx_c])
            Sc = None if S is None else np.ascontiguousarray(S[idx_c])
        if Xc.shape[0]:
            lse_c = np.empty(Xc.shape[0])
            lr_c = np.empty((Xc.shape[0], n_out)) if want_resp else np.empty((0, n_out))
            if Sc is None:
                _kernels.gmm_score(
                    Xc,
                    self.means_,
                    self.precisions_cholesky_,
                    self._log_det_P,
                    log_w,
                    log_bg,
                    want_resp,
                    lse_c,
                    lr_c,
                )
            else:
                _kernels.xd_score(
                    Xc, Sc, self.means_, self._full, log_w, log_bg, want_resp, lse_c, lr_c
                )
            if idx_c is None:
                lse, log_resp = lse_c, lr_c
            else:
                lse[idx_c] = lse_c
                if want_resp:
                    log_resp[idx_c] = lr_c
        if groups:
            lse_g, lr_g = generic_score(X, S, groups, self.means_, self._full, log_w, log_bg, n_out)
            rows = np.concatenate([r for r, _ in groups])
            lse[rows] = lse_g[rows]
            if want_resp:
                log_resp[rows] = lr_g[rows]
        return lse, (log_resp if want_resp else None)

    def _n_parameters(self) -> int:
        K = self.n_components
        D = self.n_features_in_
        frozen = self._frozen_sets(K)
        n_cov = _n_cov_params(self.covariance_type, K, D)
        per = n_cov // K if self.covariance_type != "tied" else 0
        if self.covariance_type == "tied" and frozen["covariances"].all():
            n_cov = 0
        else:
            n_cov -= per * int(frozen["covariances"].sum())
        n_mean = D * (K - int(frozen["means"].sum()))
        n_free_w = int((~frozen["weights"]).sum()) + (1 if self.background else 0)
        n_weight = max(n_free_w - 1, 0) if not frozen["weights"].any() else max(n_free_w - 1, 0)
        return int(n_cov + n_mean + n_weight)

    def n_parameters(self) -> int:
        """Return the number of free parameters (used by :meth:`bic` and :meth:`aic`)."""
        self._check_fitted()
        return self._n_parameters()

    # ------------------------------------------------------------ sampling
    def sample(self, n_samples: int = 1, *, rng=None):
        """Draw objects from the fitted (deconvolved) mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,); the background, if any, is ``n_components``.
        """
        self._check_fitted()
        n_samples = check_int(n_samples, name="n_samples", minimum=1)
        gen = as_generator(rng if rng is not None else self.rng)
        probs = np.append(self.weights_, self.background_weight_ if self.background else 0.0)
        probs = probs / probs.sum()
        counts = gen.multinomial(n_samples, probs)
        out, labels = [], []
        for k, c in enumerate(counts):
            if c == 0:
                continue
            if k < self.n_components:
                out.append(gen.multivariate_normal(self.means_[k], self._full[k], size=c))
            else:
                lo, hi = self.bounding_box_
                out.append(gen.uniform(lo, hi, size=(c, len(lo))))
            labels.append(np.full(c, k))
        return np.vstack(out), np.concatenate(labels)

    # ---------------------------------------------------------------- save
    def _meta(self) -> dict:
        init = self.init if isinstance(self.init, str) else "array"
        frozen = self.frozen
        if frozen is not None and not isinstance(frozen, dict):
            frozen = [int(i) for i in np.atleast_1d(frozen)]
        elif isinstance(frozen, dict):
            frozen = {k: [int(i) for i in np.atleast_1d(v)] for k, v in frozen.items()}
        rng = self.rng if isinstance(self.rng, (int, type(None))) else None
        from bayesmix import __version__

        return {
            "class": type(self).__name__,
            "format_version": FORMAT_VERSION,
            "bayesmix_version": __version__,
            "params": {
                "n_components": int(self.n_components),
                "covariance_type": self.covariance_type,
                "tol": float(self.tol),
                "reg_covar": float(self.reg_covar),
                "max_iter": int(self.max_iter),
                "n_init": int(self.n_init),
                "init": init,
                "nan_policy": self.nan_policy,
                "background": bool(self.background),
                "frozen": frozen,
                "rng": rng,
            },
            "fitted": {
                "converged": self.converged_,
                "n_iter": self.n_iter_,
                "lower_bound": self.lower_bound_,
                "log_likelihood_history": self.log_likelihood_history_,
                "n_features_in": self.n_features_in_,
                "background_weight": self.background_weight_,
                "background_log_density": self.background_log_density_,
            },
        }

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Save the fitted model to ``path`` (``.npz`` with embedded JSON; no pickle).

        The write is atomic; an existing file is replaced only with ``overwrite=True``.
        """
        self._check_fitted()
        path = os.fspath(path)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        meta = json.dumps(self._meta(), sort_keys=True)
        arrays = {
            "meta": np.array(meta),
            "weights": self.weights_,
            "means": self.means_,
            "full_covariances": self._full,
        }
        if self.bounding_box_ is not None:
            arrays["bounding_box"] = self.bounding_box_
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def _from_saved(cls, meta: dict, arrays) -> BaseMixture:
        params = dict(meta["params"])
        if params["init"] == "array":
            params["init"] = "kmeans++"
        frozen = params.pop("frozen")
        obj = cls(**params)
        if frozen is not None:
            obj.frozen = frozen
        fitted = meta["fitted"]
        obj.weights_ = np.array(arrays["weights"], dtype=float)
        obj.means_ = np.array(arrays["means"], dtype=float)
        obj._full = np.array(arrays["full_covariances"], dtype=float)
        obj.covariances_ = _from_full(obj._full, obj.covariance_type, obj.weights_)
        obj.background_weight_ = float(fitted["background_weight"])
        obj.background_log_density_ = fitted["background_log_density"]
        obj.bounding_box_ = np.array(arrays["bounding_box"]) if "bounding_box" in arrays else None
        obj.converged_ = bool(fitted["converged"])
        obj.n_iter_ = int(fitted["n_iter"])
        obj.lower_bound_ = float(fitted["lower_bound"])
        obj.log_likelihood_history_ = list(fitted["log_likelihood_history"])
        obj.n_features_in_ = int(fitted["n_features_in"])
        obj._set_precisions()
        return obj

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r})"
        )


def load_model(path: str | os.PathLike) -> BaseMixture:
    """Load a model saved with ``save`` (no code is executed: ``allow_pickle=False``)."""
    from bayesmix.em.gaussian import GaussianMixture
    from bayesmix.em.xd import XDGaussianMixture

    classes = {"GaussianMixture": GaussianMixture, "XDGaussianMixture": XDGaussianMixture}
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path} is not a bayesmix EM model file: {exc}") from None
    if "meta" not in arrays:
        raise FormatError(f"{path} has no bayesmix metadata; it was not written by save()")
    meta = json.loads(str(arrays["meta"]))
    name = meta.get("class")
    version = meta.get("format_version")
    if name not in classes:
        raise FormatError(f"{path} holds class {name!r}; expected one of {sorted(classes)}")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"{path} has format_version {version} (written by bayesmix "
            f"{meta.get('bayesmix_version')}); this bayesmix reads format_version "
            f"{FORMAT_VERSION}"
        )
    return classes[name]._from_saved(meta, arrays)
