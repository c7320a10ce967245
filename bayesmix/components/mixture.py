"""Mixing: log weights plus stacked component log-densities, logsumexp over ``component``.

This is the only place where components are combined.  Nothing is ever
exponentiated before normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bayesmix.components._backend import Backend, get_backend

__all__ = ["log_joint", "log_responsibilities", "mixture_logp"]


def log_joint(
    log_weights: Any, component_logps: Sequence[Any], *, backend: str | Backend = "numpy"
) -> Any:
    r"""Stack ``ln w_k + ln p_k(y_n)`` along a component axis.

    Parameters
    ----------
    log_weights : array-like of shape (..., n_components)
        Natural log of the mixing weights.
    component_logps : sequence of n_components arrays of shape (..., n_objects)
        Log-density of every object under each component.
    backend : {"numpy", "pytensor"} or Backend

    Returns
    -------
    array of shape (..., n_components, n_objects)
    """
    b = get_backend(backend)
    terms = [log_weights[..., k, None] + lp for k, lp in enumerate(component_logps)]
    return b.stack(terms, axis=-2)


def mixture_logp(
    log_weights: Any, component_logps: Sequence[Any], *, backend: str | Backend = "numpy"
) -> Any:
    r"""Mixture log-density ``logsumexp_k [ln w_k + ln p_k(y_n)]``, shape (..., n_objects).

    Notes
    -----
    With the PyTensor backend and few components the sum is folded with an
    elementwise ``logaddexp`` (``max + log1p(exp(-|a - b|))``), so the whole
    likelihood fuses into one loop over objects with no (K, N) intermediate.
    """
    b = get_backend(backend)
    if b.name == "pytensor" and len(component_logps) <= 8:
        out = log_weights[..., 0, None] + component_logps[0]
        for k in range(1, len(component_logps)):
            out = b.logaddexp(out, log_weights[..., k, None] + component_logps[k])
        return out
    return b.logsumexp(log_joint(log_weights, component_logps, backend=b), axis=-2)


def log_responsibilities(
    log_weights: Any, component_logps: Sequence[Any], *, backend: str | Backend = "numpy"
) -> Any:
    r"""Log membership probabilities, shape (..., n_components, n_objects).

    .. math:: \ln r_{kn} = \ln w_k + \ln p_k(y_n) - \operatorname{logsumexp}_j
              [\ln w_j + \ln p_j(y_n)]

    An object far from every component still gets finite values, because the
    normalisation subtracts the largest term before exponentiating.
    """
    b = get_backend(backend)
    lj = log_joint(log_weights, component_logps, backend=b)
    return lj - b.logsumexp(lj, axis=-2)[..., None, :]
