"""The observed mixture likelihood every builder adds to its PyMC model, written once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bayesmix.components.mixture import mixture_logp

__all__ = ["add_mixture_likelihood"]


def add_mixture_likelihood(
    name: str,
    variables: Mapping[str, Any],
    data: Mapping[str, Any],
    log_terms: Callable[..., Any],
    observed: Any,
    *,
    core: Mapping[str, str],
    out: str,
    dims: str | tuple[str, ...],
) -> Any:
    """Add the observed ``name`` with log-density ``mixture_logp(*log_terms(...))``.

    Call inside a ``pm.Model`` context.  The likelihood is a ``pm.CustomDist``
    whose inputs are the model ``variables`` then the ``data`` variables (in
    mapping order); its logp evaluates the builder's own ``log_terms`` with the
    PyTensor backend, the same formula that scores objects with numpy after
    sampling, and mixes with :func:`bayesmix.components.mixture.mixture_logp`.

    Parameters
    ----------
    name : str
        Name of the observed variable (and its key in the data passed to
        ``log_terms``), e.g. ``"y"`` or ``"X"``.
    variables, data : mapping of str to PyTensor variable
        Model variables and ``pm.Data`` variables ``log_terms`` reads.
    log_terms : callable
        ``log_terms(values, data, *, backend) -> (log_weights, [logp_k])``.
    observed : ndarray
        The observed values.
    core : mapping of str to str
        Core signature of each input that is not a scalar per object, e.g.
        ``{"weights": "(k)", "X_cov": "(d,d)"}``; the others are ``"()"``.
    out : str
        Core signature of one observation: ``"()"`` or ``"(d)"``.
    dims : str or tuple of str
        Dims of the observed variable.

    Returns
    -------
    TensorVariable
        The observed variable.
    """
    import pymc as pm

    names = list(variables)
    data_names = list(data)

    def _logp(value, *args):
        # args: the model variables (in ``names`` order), then the data variables
        vals = dict(zip(names, args[: len(names)], strict=True))
        d = dict(zip(data_names, args[len(names) :], strict=True))
        d[name] = value
        return mixture_logp(*log_terms(vals, d, backend="pytensor"), backend="pytensor")

    signature = ",".join(core.get(n, "()") for n in (*names, *data_names)) + "->" + out
    return pm.CustomDist(
        name,
        *variables.values(),
        *data.values(),
        logp=_logp,
        observed=observed,
        signature=signature,
        dims=dims,
    )
