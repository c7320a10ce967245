"""Cost-sensitive weights from two densities: checks, clipped log-ratios, diagnostics.

The weight of a training object at features x is the density ratio
``w(x) = p_pop(x) / p_train(x)``, evaluated in log space and clipped to
``[min_weight, max_weight]`` (:func:`clip_log_weights`); gpz_pype's softened
``(p_pop + eta) / (p_train + eta)`` is :func:`log_ratio` with ``eta``.  Used by
:class:`~bayesmix.gpz.GPzAugment`, the KL scores and :mod:`bayesmix.scale`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_array_1d, check_choice, check_positive
from bayesmix.exceptions import SpecError
from bayesmix.gpz._options import keyword_options

__all__ = [
    "DEFAULT_RATIO",
    "ESS_WARNING",
    "RATIOS",
    "REGULARISERS",
    "WEIGHT_OPTIONS",
    "check_eta",
    "check_weight_bounds",
    "check_weight_options",
    "clip_log_weights",
    "WeightWarning",
    "log_ratio",
    "weight_diagnostics",
    "weight_problems",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


#: how GPz weights estimate the density ratio by default (chosen by measurement, issue 17)
DEFAULT_RATIO = "classifier"
#: how the density ratio is estimated (sorted): see GPzAugment.fit_weights
RATIOS = ("classifier", "mixture")
#: how it is regularised (sorted)
REGULARISERS = ("auto", "eta", "none")


def check_weight_bounds(max_weight: Any, min_weight: Any) -> tuple[float, float | None]:
    """Return ``(max_weight, min_weight)`` as floats: ``0 <= min <= max``, max finite > 0.

    Raises
    ------
    SpecError
        Naming ``max_weight`` or ``min_weight``.
    """
    if not _is_number(max_weight) or not math.isfinite(float(max_weight)) or max_weight <= 0:
        raise SpecError(
            f"'max_weight' must be a finite number > 0; got {max_weight!r}", key="max_weight"
        )
    max_weight = float(max_weight)
    if min_weight is None:
        return max_weight, None
    if not _is_number(min_weight) or not (0.0 <= float(min_weight) <= max_weight):
        raise SpecError(
            f"'min_weight' must be a number in [0, max_weight={max_weight:g}] or None; "
            f"got {min_weight!r}",
            key="min_weight",
        )
    return max_weight, float(min_weight)


def check_eta(eta: Any) -> float | None:
    """Return ``eta`` as a float (finite, > 0) or None.

    Raises
    ------
    SpecError
        Naming ``eta``.
    """
    if eta is None:
        return None
    ok = isinstance(eta, (int, float, np.floating)) and not isinstance(eta, bool)
    if not ok or not math.isfinite(float(eta)) or float(eta) <= 0:
        raise SpecError(f"'eta' must be a finite number > 0 or None; got {eta!r}", key="eta")
    return float(eta)


def check_weight_options(
    ratio: str = DEFAULT_RATIO,
    regularise: str = "auto",
    max_weight: float = 100,
    min_weight: float | None = None,
    eta: float | None = None,
    ess_floor: float = 0.3,
) -> dict[str, Any]:
    """Return the weighting options checked and normalised (a dict of the six).

    These are the options of every function that weights: their one
    declaration (defaults and meaning); the others forward them
    (:data:`WEIGHT_OPTIONS`).

    Parameters
    ----------
    ratio : {"classifier", "mixture"}, default "classifier"
        ``"mixture"``: ``ln gmm_pop(x) - ln gmm_train(x)``; ``"classifier"``:
        a logistic regression of population against training objects
        (:func:`bayesmix.gpz.ratio.fit_logistic_ratio`).
    regularise : {"auto", "eta", "none"}, default "auto"
        ``"auto"``: the log-ratio is clipped at the percentile (of the
        training objects' values, in ``CLIP_LEVELS``) whose held-out weights
        -- each training object weighted by a model fitted without it, two
        folds -- give the smallest binned divergence from the population
        with an effective sample size of at least ``ess_floor``; scale-free,
        so the same at any number of features and in any units.  ``"eta"``:
        gpz_pype's ``(p_pop + eta) / (p_train + eta)`` (mixture ratio;
        ``eta`` default 1e-3); ``"none"``: the ratio itself.  Giving ``eta``
        selects ``"eta"``.  By default the log-ratio is thus clipped where
        held-out weights match the population best with at least 30 %
        effective sample size (issue 17: the plain ratio made the weighted
        CANDELS training sample *worse* than no weights for some fits; see
        ``docs/gpz.md``).
    max_weight : float, default 100
        Upper clip (finite, > 0), applied last.
    min_weight : float or None, default None
        Lower clip (in [0, max_weight]); None: no lower clip.
    eta : float or None, default None
        gpz_pype's softened ``(p_pop + eta) / (p_train + eta)`` with
        densities of the scaled features (gpz_pype used ``eta=1e-3``),
        evaluated as ``exp(logaddexp(ln p_pop, ln eta) - logaddexp(ln
        p_train, ln eta))``; giving it selects ``regularise="eta"`` (and
        ``ratio="mixture"``); ``regularise="eta"`` without ``eta`` uses
        gpz_pype's 1e-3.
    ess_floor : float, default 0.3
        Smallest effective-sample-size fraction ``"auto"`` accepts.

    Returns
    -------
    dict
        ``ratio``, ``regularise``, ``eta``, ``max_weight``, ``min_weight``,
        ``ess_floor``.

    Raises
    ------
    SpecError
        Naming the option.
    """
    ratio = check_choice(ratio, name="ratio", choices=RATIOS)
    regularise = check_choice(regularise, name="regularise", choices=REGULARISERS)
    max_weight, min_weight = check_weight_bounds(max_weight, min_weight)
    eta = check_eta(eta)
    if eta is not None and regularise == "auto":
        regularise = "eta"
    if regularise == "eta":  # gpz_pype's form softens the two mixture densities
        ratio = "mixture"
        eta = 1e-3 if eta is None else eta
    elif eta is not None:
        raise SpecError(f"'eta' is used only by regularise='eta'; got {regularise!r}", key="eta")
    if not _is_number(ess_floor) or not 0.0 <= float(ess_floor) < 1.0:
        raise SpecError(
            f"'ess_floor' must be a number in [0, 1); got {ess_floor!r}", key="ess_floor"
        )
    return {
        "ratio": ratio,
        "regularise": regularise,
        "eta": eta,
        "max_weight": max_weight,
        "min_weight": min_weight,
        "ess_floor": float(ess_floor),
    }


#: the weighting options, as keyword-only parameters (what the functions that weight forward)
WEIGHT_OPTIONS = tuple(keyword_options(check_weight_options))


def clip_log_weights(
    log_w: NDArray[np.float64], max_weight: float, min_weight: float | None
) -> NDArray[np.float64]:
    """Clip log weights to [ln min_weight, ln max_weight] and exponentiate (NaN -> 1).

    NaN arises only as (-inf) - (-inf): both densities underflowed, nothing is
    known about the ratio, so the neutral weight 1 is used (validated data
    never gets here).
    """
    log_w = np.where(np.isnan(log_w), 0.0, log_w)
    hi = math.log(max_weight)
    lo = -np.inf if not min_weight else math.log(min_weight)
    # clip again after exp: exp(ln 100) is 100.00000000000004 in double precision
    return np.clip(np.exp(np.clip(log_w, lo, hi)), min_weight or 0.0, max_weight)


def log_ratio(
    lp_pop: NDArray[np.float64], lp_train: NDArray[np.float64], eta: float | None
) -> NDArray[np.float64]:
    """Return ln(p_pop/p_train), or ln((p_pop + eta)/(p_train + eta)) via logaddexp."""
    with np.errstate(invalid="ignore"):
        if eta is None:
            return lp_pop - lp_train
        log_eta = math.log(eta)
        return np.logaddexp(lp_pop, log_eta) - np.logaddexp(lp_train, log_eta)


class WeightWarning(UserWarning):
    """GPz weights that may not help: a small effective sample, or no held-out gain."""


#: below this effective-sample-size fraction the weights are flagged
ESS_WARNING = 0.2


def weight_diagnostics(
    weights: ArrayLike,
    *,
    max_weight: float | None = 100,
    min_weight: float | None = None,
    weighting=None,
) -> dict[str, Any]:
    """Summarise cost-sensitive weights: effective sample size, clipping, held-out divergence.

    Parameters
    ----------
    weights : array-like of shape (n_objects,)
        Non-negative weights, e.g. from :meth:`GPzAugment.calc_weights`.
    max_weight, min_weight : float or None, keyword-only
        The clip bounds used to make ``weights`` (defaults as in ``calc_weights``);
        a weight within a relative 1e-12 of a bound counts as clipped.  None: that
        side is not counted.  Taken from ``weighting`` when it is given.
    weighting : bayesmix.gpz.ratio.Weighting, optional
        The rule that made the weights (``GPzAugment.weighting_``): adds how
        it was made and its held-out divergences.

    Returns
    -------
    dict
        ``n_objects``; ``effective_sample_size`` (Kish: ``(sum w)^2 / sum w^2``)
        and ``ess_fraction`` (divided by ``n_objects``); ``fraction_clipped``
        (= ``fraction_clipped_high + fraction_clipped_low``); ``min``, ``max``,
        ``median`` and ``mean`` of the weights.  With ``weighting``: ``ratio``,
        ``regularise``, ``eta``, ``level`` (the chosen clip percentile or None)
        and, when known, ``held_out_divergence_unweighted`` and
        ``held_out_divergence_weighted`` (binned KL of the training sample from
        the population, each object weighted by a model fitted without it) and
        ``warnings`` (why the weights may not help; empty when fine).

    Notes
    -----
    The Kish effective sample size is the number of equally weighted objects
    that would give a weighted mean the same variance; a small ``ess_fraction``
    means that a few heavily up-weighted objects dominate the training.
    """
    if weighting is not None:
        max_weight, min_weight = weighting.max_weight, weighting.min_weight
    w = check_array_1d(weights, name="weights")
    check_positive(w, name="weights", strict=False)
    n = w.shape[0]
    s1 = float(w.sum())
    s2 = float(np.sum(w * w))
    ess = s1 * s1 / s2 if s2 > 0 else 0.0
    high = float(np.mean(w >= max_weight * (1 - 1e-12))) if max_weight is not None else 0.0
    low = float(np.mean(w <= min_weight * (1 + 1e-12))) if min_weight is not None else 0.0
    out: dict[str, Any] = {
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
    if weighting is not None:
        out.update(ratio=weighting.ratio, regularise=weighting.regularise, eta=weighting.eta)
        out["level"] = weighting.level
        h = weighting.held_out
        if h is not None:
            out["held_out_divergence_unweighted"] = h.divergence_unweighted
            out["held_out_divergence_weighted"] = h.divergence_weighted
            out["held_out_divergence_noise"] = h.noise
        out["warnings"] = weight_problems(out)
    return out


def weight_problems(diagnostics: dict[str, Any]) -> list[str]:
    """Return why weights may not help, from :func:`weight_diagnostics` (empty: fine).

    Flags an effective sample below ``ESS_WARNING`` (20 %) of the objects and
    a held-out divergence that the weights do not lower (when the unweighted
    one exceeds the binning noise of an unbiased sample, i.e. there is a
    selection to correct).
    """
    out = []
    ess = diagnostics["ess_fraction"]
    if ess < ESS_WARNING:
        out.append(
            f"GPz weights: effective sample {100 * ess:.0f}% of the training objects (< "
            f"{100 * ESS_WARNING:.0f}%): a few objects dominate; use regularise='auto' or a "
            "lower max_weight"
        )
    d0 = diagnostics.get("held_out_divergence_unweighted")
    d1 = diagnostics.get("held_out_divergence_weighted")
    noise = diagnostics.get("held_out_divergence_noise", 0.0)
    if d0 is not None and d1 is not None and not d1 < d0 and d0 > noise:
        out.append(
            f"GPz weights: held-out divergence from the population {d1:.3g} is not below the "
            f"unweighted {d0:.3g}: the weights do not correct the selection"
        )
    return out
