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

from bayesmix._validate import check_array_1d, check_positive
from bayesmix.exceptions import SpecError

__all__ = [
    "check_eta",
    "check_weight_bounds",
    "clip_log_weights",
    "log_ratio",
    "weight_diagnostics",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


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
