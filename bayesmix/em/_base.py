"""The EM template shared by :class:`GaussianMixture` and :class:`XDGaussianMixture`.

One loop (``_fit_statistics``): ``n_init`` seeded starts of (E-step +
sufficient statistics, M-step) until Aitken's estimate of the mean
log-likelihood per object still to gain falls below ``tol``
(:func:`remaining_gain`); the start with the highest log-likelihood is kept.
With more than ``SCREEN_ROWS`` objects the starts are run on a seeded
subsample of that size and only the best continues on all objects, so
restarts cost little on large data.  The loop sees the data only through
callables -- the summed E-step statistics at given parameters, the summed
hard-assignment statistics of given means (for a given start) and a subsample
(for screening) -- so the in-memory fit and the fit over blocks
(:func:`bayesmix.em.blocks.fit_statistics`, used by :mod:`bayesmix.scale`) are
the same algorithm, iteration by iteration.  Subclasses supply only the
statistics pass (``_stats``) and the scoring pass (``_log_prob``).  The E- and
M-steps follow scikit-learn's ``BaseMixture.fit`` so that, started from the
same parameters, both produce the same iterates.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._files import atomic_write
from bayesmix._random import as_generator
from bayesmix._validate import check_choice, check_int, check_matrix, check_sample_weight
from bayesmix.em._covariance import (
    COVARIANCE_TYPES,
    from_full,
    n_covariance_parameters,
    regularise,
    to_full,
)
from bayesmix.em._generic import generic_score, generic_stats, group_patterns
from bayesmix.em._kernels import gmm_score, gmm_stats, xd_score, xd_stats
from bayesmix.em._params import EstimatorProtocol, check_array_kind
from bayesmix.em._start import EPS10, initial_parameters
from bayesmix.em.scaling import FeatureScaling, choose_scaling, extent
from bayesmix.em.statistics import (
    AssignmentStatistics,
    EStepStatistics,
    Parameters,
    assignment_statistics,
)
from bayesmix.exceptions import ConvergenceWarning, DataError, NotFittedError, SpecError

__all__ = [
    "FORMAT_VERSION",
    "INITS",
    "NAN_POLICIES",
    "SCREEN_ROWS",
    "BaseMixture",
    "remaining_gain",
]

#: version of the saved ``.npz`` layout
FORMAT_VERSION = 1
#: above this many objects, seeded starts are screened on a subsample of this many rows
SCREEN_ROWS = 16_384
#: the named initialisations (sorted)
INITS = ("kmeans", "kmeans++", "random", "random_from_data")
#: the missing-value policies (sorted)
NAN_POLICIES = ("marginalize", "raise")

#: one run's result: (lower bound, parameters, history, converged, iterations, start)
_Restart = tuple[float, Parameters, list[float], bool, int, Parameters]


def remaining_gain(history: list[float]) -> float:
    """Aitken estimate of the log-likelihood still to gain, from the last three values.

    With increments ``d0 = l[-2] - l[-3]`` and ``d1 = l[-1] - l[-2]`` and rate
    ``a = d1 / d0``, EM converging linearly (``0 <= a < 1``) will gain about
    ``d1 / (1 - a)`` more (Boehning et al. 1994; McNicholas et al. 2010).
    Returns ``inf`` with fewer than three values or a non-contracting rate
    (``a >= 1``), ``|d1|`` for an oscillating one (``a < 0``) or a change at
    the level of rounding.
    """
    if len(history) < 3:
        return np.inf
    d0 = history[-2] - history[-3]
    d1 = history[-1] - history[-2]
    if abs(d1) <= 64 * np.finfo(float).eps * max(1.0, abs(history[-1])):
        return abs(d1)  # rounding noise: the rate means nothing

    if d0 == 0:
        return np.inf
    a = d1 / d0
    if a < 0:
        return abs(d1)
    if a >= 1:
        return np.inf
    return abs(d1) / (1.0 - a)


class BaseMixture(EstimatorProtocol):
    """Shared machinery; see :class:`bayesmix.em.GaussianMixture` for the parameters."""

    #: whether the model convolves components with per-object errors (extreme deconvolution)
    uses_errors = False

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 1000,
        n_init: int = 10,
        init: str | ArrayLike | dict = "kmeans++",
        nan_policy: str = "raise",
        background: bool = False,
        frozen: Any = None,
        rng: int | np.random.Generator | None = None,
        verbose: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ):
        # scikit-learn's rule: keep every hyperparameter as given (checked when fitting)
        given = dict(locals())
        del given["self"]
        for name, value in given.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ params
    def _seed(self) -> int | np.random.Generator | None:
        """Return the seed of a fit: ``rng``, else scikit-learn's ``random_state``.

        A :class:`numpy.random.RandomState` gives one integer seed drawn from it.

        Raises
        ------
        SpecError
            ``rng`` and ``random_state`` both given and different.
        """
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            rs = int(rs.randint(0, 2**31 - 1))
        if self.rng is not None and rs is not None and self.rng is not rs and self.rng != rs:
            raise SpecError(
                f"give the seed once: 'rng' ({self.rng!r}) and its scikit-learn alias "
                f"'random_state' ({self.random_state!r}) differ",
                key="random_state",
            )
        return self.rng if self.rng is not None else rs

    def _check_hyper(self, n: int, D: int) -> None:
        K = check_int(self.n_components, name="n_components", minimum=1)
        if K > n:
            raise DataError(
                f"'n_components' ({K}) must not exceed the number of objects ({n}); "
                "use fewer components or more data.",
                argument="n_components",
            )
        check_choice(self.covariance_type, name="covariance_type", choices=COVARIANCE_TYPES)
        check_choice(self.nan_policy, name="nan_policy", choices=NAN_POLICIES)
        check_int(self.max_iter, name="max_iter", minimum=1)
        check_int(self.n_init, name="n_init", minimum=1)
        for name in ("tol", "reg_covar"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise SpecError(f"'{name}' must be a finite number >= 0; got {v!r}", key=name)
        if isinstance(self.init, str):
            check_choice(self.init, name="init", choices=INITS)

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
        return masks

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
        check_array_kind(X)
        if not fitting:
            self._check_feature_names(X)
            D = self.n_features_in_
            shape = np.shape(X)
            if len(shape) == 2 and shape[1] != D:  # scikit-learn's wording (its checks match it)
                raise DataError(
                    f"'X' must have {D} feature column(s), as in the fit: X has {shape[1]} "
                    f"features, but {type(self).__name__} is expecting {D} features as input",
                    argument="X",
                )
            X = check_matrix(X, name="X", allow_nan=allow_nan, n_features=D)
        else:
            self._set_feature_names(X)
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

    def _stats(self, X, S, sw, observed, params: Parameters) -> EStepStatistics:
        """One E-step over validated rows: the statistics about ``params.means``."""
        means, full = params.means, params.covariances
        K, D = means.shape
        log_bg = self._log_bg(params.background_weight)
        with np.errstate(divide="ignore"):
            log_w = np.log(params.weights)
        idx_c, groups = self._split_rows(observed, X.shape[0])
        Xc, Sc, swc = X, S, sw
        if idx_c is not None:
            Xc = np.ascontiguousarray(X[idx_c])
            swc = np.ascontiguousarray(sw[idx_c])
            Sc = None if S is None else np.ascontiguousarray(S[idx_c])
        out = EStepStatistics.zeros(K, D)
        if Xc.shape[0]:
            if Sc is None:
                P, log_det_P = self._prec_chol(full)
                parts = gmm_stats(Xc, swc, means, P, log_det_P, log_w, log_bg, means)
            else:
                parts = xd_stats(Xc, Sc, swc, means, full, log_w, log_bg, means)
                if parts[5].sum():
                    raise DataError(
                        "Fitting failed: a component covariance plus an object's error "
                        "covariance is not positive definite; increase reg_covar.",
                        argument="X_cov",
                    )
            S2 = parts[4].sum(axis=0)
            iu = np.triu_indices(D, 1)
            S2[:, iu[1], iu[0]] = S2[:, iu[0], iu[1]]
            out = EStepStatistics(
                float(parts[0].sum()),
                parts[1].sum(axis=0),
                float(parts[2].sum()),
                parts[3].sum(axis=0),
                S2,
            )
        if groups:
            out = out + EStepStatistics(
                *generic_stats(X, S, sw, groups, means, full, log_w, log_bg, means)
            )
        return out

    def _m_step(self, stats: EStepStatistics, params: Parameters, frozen) -> Parameters:
        """Return the new parameters from one E-step's statistics."""
        weights, means, full = params.weights, params.means, params.covariances
        Nk_raw, Nbg = stats.counts, stats.background_count
        total = Nk_raw.sum() + Nbg
        Nk = Nk_raw + EPS10
        d = stats.first_moment / Nk[:, None]
        new_means = means + d
        cov_ml = stats.second_moment / Nk[:, None, None] - np.einsum("ka,kb->kab", d, d)
        new_full = regularise(cov_ml, Nk, self.covariance_type, self.reg_covar)
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
        return Parameters(new_w, new_means, new_full, float(new_bg))

    # --------------------------------------------------------------- the loop
    def _fit(self, X, S, sample_weight, observed):
        """Fit to validated in-memory data (the same loop as a fit over blocks)."""
        self._check_hyper(*X.shape)
        return self._fit_statistics(**self._in_memory(X, S, sample_weight, observed))

    def _screening(self, X, S, sw, observed, rows, gen, scaling):
        """Return ``(initial, statistics, total_weight)`` of a subsample (internal units).

        ``initial()`` seeds a start on the subsample itself (k-means++ etc.),
        ``statistics(params)`` is the E-step over its rows.
        """
        Xs = np.ascontiguousarray(X[rows])
        Ss = None if S is None else np.ascontiguousarray(S[rows])
        ws = np.ascontiguousarray(sw[rows])
        obs = None
        if observed is not None:
            obs = observed[rows]
            obs = None if obs.all() else obs
        fill = None if obs is None else np.nanmean(Xs, axis=0)

        def assign(centers):
            return assignment_statistics(Xs, centers, sample_weight=ws, fill=fill)

        return (
            lambda: initial_parameters(self, Xs, ws, gen, assign, scaling),
            lambda params: self._stats(Xs, Ss, ws, obs, params),
            float(ws.sum()),
        )

    def _scaling(self, sample, lo, hi, data=None) -> FeatureScaling:
        """Return the internal feature scaling of a fit (see :mod:`bayesmix.em.scaling`).

        ``data``: all objects when in memory, so that a refusal names the row.
        """
        return choose_scaling(
            sample,
            lo,
            hi,
            spherical=self.covariance_type == "spherical",
            data=data,
            feature_names=getattr(self, "feature_names_in_", None),
        )

    def _in_memory(self, X, S, sample_weight, observed) -> dict[str, Any]:
        """Return the arguments of ``_fit_statistics`` for validated rows held in memory.

        The rows are converted once to the fit's internal units (a no-op for
        ordinary data); ``bounding_box`` stays in data units.
        """
        n, D = X.shape
        sw = check_sample_weight(sample_weight, n=n)
        sw = np.ones(n) if sw is None else sw
        lo, hi = extent(X)
        scaling = self._scaling(X, lo, hi, data=X)
        X, S = scaling.data(X), scaling.covariances(S)
        fill = None if observed is None else np.nanmean(X, axis=0)
        return {
            "statistics": lambda params: self._stats(X, S, sw, observed, params),
            "screening": lambda rows, gen: self._screening(X, S, sw, observed, rows, gen, scaling),
            "n_objects": n,
            "n_features": D,
            "total_weight": float(sw.sum()),
            "sample": X,
            "sample_weight": sw,
            "assignment": lambda centers: assignment_statistics(
                X, centers, sample_weight=sw, fill=fill
            ),
            "bounding_box": (lo, hi) if self.background else None,
            "scaling": scaling,
        }

    def _fit_statistics(
        self,
        statistics: Callable[[Parameters], EStepStatistics],
        *,
        n_objects: int,
        n_features: int,
        total_weight: float,
        sample: NDArray[np.float64],
        sample_weight: NDArray[np.float64],
        assignment: Callable[[NDArray[np.float64]], AssignmentStatistics],
        bounding_box: tuple[ArrayLike, ArrayLike] | None,
        scaling: FeatureScaling,
        screening: Callable | None = None,
        label: str = "",
    ):
        """Fit by EM: check hyperparameters, set the background, run restarts, store the best.

        ``statistics``, ``assignment`` and ``sample`` are in the internal units
        of ``scaling`` (parameters too); ``bounding_box`` is in data units.
        ``screening(rows, gen)`` returns ``(initial, statistics, total_weight)``
        of the given rows of ``sample`` (see :meth:`_screening`): with more than
        ``SCREEN_ROWS`` objects and several seeded starts, the starts are run on
        such a subsample and only the best continues on all objects.
        """
        self._check_hyper(n_objects, n_features)
        frozen = self._frozen_sets(self.n_components)
        if any(m.any() for m in frozen.values()) and not isinstance(self.init, dict):
            raise SpecError(
                "'frozen' components need their values: pass init=dict(weights=..., means=..., "
                "covariances=...) giving the parameters to hold fixed",
                key="frozen",
            )
        if self.background and bounding_box is None:
            raise SpecError(
                "background=True needs the bounding box of the data", key="bounding_box"
            )
        if self.background and n_objects < 2:
            raise DataError(
                "'background' needs at least 2 objects for its bounding box; got 1 sample",
                argument="X",
            )
        box = None
        if self.background:
            box = tuple(np.asarray(b, dtype=np.float64) for b in bounding_box)
            self._set_background(*(scaling.point(b) for b in box))  # internal units in the loop
        else:
            self._set_background(None, None)
        self._fit_scaling = scaling  # read by em.blocks.block_statistics on every block
        gen = as_generator(self._seed())
        starts = self.n_init if isinstance(self.init, str) else 1  # a given start is one start
        screen = None
        if starts > 1 and n_objects > SCREEN_ROWS and screening is not None:
            m = sample.shape[0]
            rows = np.arange(m) if m <= SCREEN_ROWS else gen.choice(m, SCREEN_ROWS, replace=False)
            screen = screening(np.sort(rows), gen)
        try:
            best = self._em_restarts(
                lambda: initial_parameters(self, sample, sample_weight, gen, assignment, scaling),
                statistics,
                total_weight,
                frozen,
                starts=starts,
                screen=screen,
                label=label,
            )
        finally:
            del self._fit_scaling  # only meaningful during the fit
        if box is not None:
            self._set_background(*box)
        self._set_fitted(best, n_features, scaling)
        return self

    def _set_background(self, lo, hi) -> None:
        """Store the bounding box [lo, hi] of the data and the background log-density."""
        if lo is None:
            self.bounding_box_ = None
            self.background_log_density_ = None
            return
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        span = hi - lo
        if np.any(span <= 0):
            j = int(np.flatnonzero(span <= 0)[0])
            raise DataError(
                f"'background' needs a bounding box of non-zero width; feature {j} of X is "
                "constant",
                argument="X",
            )
        self.bounding_box_ = np.stack([lo, hi])
        self.background_log_density_ = float(-np.sum(np.log(span)))

    def _em_run(self, params: Parameters, stats, total_w: float, frozen) -> _Restart:
        """Iterate EM from ``params`` until converged (Aitken) or ``max_iter``."""
        start = params
        history: list[float] = []
        lower = -np.inf
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):  # noqa: B007 (it is read after the loop)
            st = stats(params)
            lower = st.log_likelihood / total_w
            history.append(lower)
            params = self._m_step(st, params, frozen)
            if remaining_gain(history) < self.tol:
                converged = True
                break
        return (lower, params, history, converged, it, start)

    def _say(self, text: str, label: str = "") -> None:
        if self.verbose:
            name = f"{type(self).__name__}(n_components={self.n_components})"
            print(f"[bayesmix] {name} {text}{label}", file=sys.stderr)

    def _describe(self, run: _Restart) -> str:
        lower, _, _, converged, it, _ = run
        ll = lower - self._fit_scaling.log_jacobian
        return f"{it} iterations, log-likelihood {ll:.6g}{'' if converged else ' (not converged)'}"

    def _em_restarts(
        self, initial, stats, total_w, frozen, *, starts: int, screen=None, label=""
    ) -> _Restart:
        """Run ``starts`` EM runs and return the best one.

        ``initial()`` gives a run's starting :class:`Parameters`; ``stats(params)``
        one E-step's summed statistics over all objects, whatever they live in
        (memory, Dask).  With ``screen = (initial_sub, stats_sub, total_sub)``
        every start is seeded and run to convergence on a subsample instead,
        and only the best one continues on all objects.
        """
        runs_on = (screen[1], screen[2]) if screen is not None else (stats, total_w)
        seed = screen[0] if screen is not None else initial
        where = " on the screening subsample" if screen is not None else ""
        best: _Restart | None = None
        for restart in range(starts):
            run = self._em_run(seed(), *runs_on, frozen)
            self._say(f"start {restart + 1}/{starts}{where}: {self._describe(run)}", label)
            if best is None or run[0] > best[0]:
                best = run
        if best is None:  # pragma: no cover - n_init >= 1 is checked
            raise RuntimeError("no EM run")
        if screen is not None:
            best = self._em_run(best[1], stats, total_w, frozen)
            self._say(f"best start continued on all objects: {self._describe(best)}", label)
        return best

    def _set_fitted(self, best: _Restart, n_features: int, scaling: FeatureScaling) -> None:
        """Store the best restart (in data units) as the fitted attributes; warn if unconverged.

        Raises
        ------
        DataError
            The fit produced non-finite parameters (never returned).
        """
        lower, params, history, converged, it, start = best
        # the start of the kept run, in data units (bayesmix.em.trace replays from it)
        self._em_start = scaling.data_parameters(start)
        if not scaling.is_identity:
            params = scaling.data_parameters(params)
            params = self._restore_frozen(params)
            lower -= scaling.log_jacobian
            history = [v - scaling.log_jacobian for v in history]
        bad = [
            name
            for name, v in (
                ("weights", params.weights),
                ("means", params.means),
                ("covariances", params.covariances),
                ("log-likelihood", lower),
            )
            if not np.all(np.isfinite(v))
        ]
        if bad:
            raise DataError(
                f"EM produced non-finite {', '.join(bad)} (float64 overflow or underflow); "
                "rescale the features to a moderate range, remove far outliers or raise "
                "reg_covar. No parameters were stored.",
                argument="X",
            )
        self.weights_ = params.weights
        self.means_ = params.means
        self._full = params.covariances
        self.covariances_ = from_full(params.covariances, self.covariance_type, params.weights)
        self.background_weight_ = float(params.background_weight)
        self.converged_ = bool(converged)
        self.n_iter_ = int(it)
        self.lower_bound_ = float(lower)
        self.log_likelihood_history_ = [float(v) for v in history]
        self.n_features_in_ = n_features
        self._set_precisions()
        if not converged:
            last = history[-1] - history[-2] if len(history) > 1 else np.nan
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations (last change "
                f"{last:.3g}, estimated gain still to come {remaining_gain(history):.3g} > "
                f"tol={self.tol} per object). Remedies: raise max_iter, loosen tol, or try "
                "another init/n_init.",
                ConvergenceWarning,
                stacklevel=5,  # the user's fit (GaussianMixture.fit or bayesmix.scale.fit)
            )

    def _restore_frozen(self, params: Parameters) -> Parameters:
        """Put frozen means/covariances back at their given values (exact in data units)."""
        if self.frozen is None or not isinstance(self.init, dict):
            return params
        masks = self._frozen_sets(self.n_components)
        K, D = params.means.shape
        means, full = params.means.copy(), params.covariances.copy()
        fm, fc = masks["means"], masks["covariances"]
        if fm.any():
            means[fm] = np.asarray(self.init["means"], dtype=np.float64)[fm]
        if fc.any() and "covariances" in self.init:
            given = to_full(self.init["covariances"], self.covariance_type, K, D)
            full[fc] = given[fc]
        return Parameters(params.weights, means, full, params.background_weight)

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
    def _log_prob(self, X, S, observed, want_resp, out=None):
        """(log density (N,), log responsibilities (N, K[+1]) or None) of validated rows.

        ``out``: optional (log density, log responsibilities or None) arrays to fill.
        """
        K = self.n_components
        n = X.shape[0]
        n_out = K + (1 if self.background else 0)
        log_bg = self._log_bg(self.background_weight_)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        if out is None:
            lse = np.empty(n)
            log_resp = np.empty((n, n_out)) if want_resp else None
        else:
            lse, log_resp = out
        idx_c, groups = self._split_rows(observed, n)
        if idx_c is None:  # complete rows: the kernels write straight into the outputs
            Xc, Sc, lse_c, lr_c = X, S, lse, log_resp
        else:
            Xc = np.ascontiguousarray(X[idx_c])
            Sc = None if S is None else np.ascontiguousarray(S[idx_c])
            lse_c = np.empty(Xc.shape[0])
            lr_c = np.empty((Xc.shape[0], n_out)) if want_resp else None
        if Xc.shape[0]:
            lr_k = lr_c if want_resp else np.empty((0, n_out))
            if Sc is None:
                gmm_score(
                    Xc,
                    self.means_,
                    self.precisions_cholesky_,
                    self._log_det_P,
                    log_w,
                    log_bg,
                    want_resp,
                    lse_c,
                    lr_k,
                )
            else:
                xd_score(Xc, Sc, self.means_, self._full, log_w, log_bg, want_resp, lse_c, lr_k)
            if idx_c is not None:
                lse[idx_c] = lse_c
                if want_resp:
                    log_resp[idx_c] = lr_c
        if groups:
            lse_g, lr_g = generic_score(X, S, groups, self.means_, self._full, log_w, log_bg, n_out)
            rows = np.concatenate([r for r, _ in groups])
            lse[rows] = lse_g[rows]
            if want_resp:
                log_resp[rows] = lr_g[rows]
        return lse, log_resp

    def _n_parameters(self) -> int:
        K = self.n_components
        D = self.n_features_in_
        frozen = self._frozen_sets(K)
        n_cov = n_covariance_parameters(self.covariance_type, K, D)
        per = n_cov // K if self.covariance_type != "tied" else 0
        if self.covariance_type == "tied" and frozen["covariances"].all():
            n_cov = 0
        else:
            n_cov -= per * int(frozen["covariances"].sum())
        n_mean = D * (K - int(frozen["means"].sum()))
        n_free_w = int((~frozen["weights"]).sum()) + (1 if self.background else 0)
        n_weight = max(n_free_w - 1, 0)
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
        gen = as_generator(rng if rng is not None else self._seed())
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
        random_state = self.random_state if isinstance(self.random_state, int) else None
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
                "random_state": random_state,
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

    def _arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays :meth:`save` writes: JSON metadata, parameters, bounding box."""
        self._check_fitted()
        arrays = {
            "meta": np.array(json.dumps(self._meta(), sort_keys=True)),
            "weights": self.weights_,
            "means": self.means_,
            "full_covariances": self._full,
        }
        if self.bounding_box_ is not None:
            arrays["bounding_box"] = self.bounding_box_
        if hasattr(self, "feature_names_in_"):  # saved as text, never as objects
            arrays["feature_names_in"] = np.array([str(n) for n in self.feature_names_in_])
        return arrays

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Save the fitted model to ``path`` (``.npz`` with embedded JSON; no pickle).

        The write is atomic (``bayesmix._files.atomic_write``); an existing
        file is replaced only with ``overwrite=True``.  Read it back with
        :func:`bayesmix.em.load`.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        """
        arrays = self._arrays()

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez adds no ".npz"
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub is too narrow

        atomic_write(path, write, overwrite=overwrite)

    @classmethod
    def _from_saved(cls, params: dict, fitted: dict, arrays: dict) -> BaseMixture:
        """Rebuild a fitted model from checked saved values (see ``bayesmix.em.from_arrays``).

        ``params``: constructor arguments; ``fitted``: the fitted scalars of
        ``_meta()["fitted"]``; ``arrays``: ``weights``, ``means``,
        ``full_covariances`` and ``bounding_box`` (None without background).
        """
        obj = cls(**params)
        obj.weights_ = arrays["weights"]
        obj.means_ = arrays["means"]
        obj._full = arrays["full_covariances"]
        obj.covariances_ = from_full(obj._full, obj.covariance_type, obj.weights_)
        obj.bounding_box_ = arrays["bounding_box"]
        obj.background_weight_ = float(fitted["background_weight"])
        obj.background_log_density_ = fitted["background_log_density"]
        obj.converged_ = bool(fitted["converged"])
        obj.n_iter_ = int(fitted["n_iter"])
        obj.lower_bound_ = float(fitted["lower_bound"])
        obj.log_likelihood_history_ = [float(v) for v in fitted["log_likelihood_history"]]
        obj.n_features_in_ = int(fitted["n_features_in"])
        if arrays.get("feature_names_in") is not None:
            obj.feature_names_in_ = arrays["feature_names_in"]
        obj._set_precisions()
        return obj

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r})"
        )
