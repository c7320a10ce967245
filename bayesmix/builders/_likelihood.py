"""The observed mixture likelihood every builder adds to its PyMC model, written once.

Inside the model the likelihood is one fused pass over the objects
(:func:`bayesmix.components.fused_op.fused_mixture_logp`: value and gradient in a single
loop); after sampling, objects are scored with the builder's own ``log_terms`` and
:mod:`bayesmix.components.mixture` (numpy).  Both compute the same function; the tests hold
them equal (value and gradient) at random points of every builder variant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["add_fused_likelihood", "feature_major"]


def feature_major(a: np.ndarray) -> np.ndarray:
    """C-contiguous copy of per-object data with the object axis moved last.

    ``(N,)`` stays as it is, ``(N, D)`` becomes ``(D, N)``, ``(N, D, D)`` becomes
    ``(D, D, N)``: the layout the fused kernel's loops over objects read contiguously.
    """
    a = np.asarray(a, dtype=np.float64)
    return np.ascontiguousarray(np.moveaxis(a, 0, -1))


def add_fused_likelihood(
    name: str,
    observed: np.ndarray,
    *,
    dims: str | tuple[str, ...],
    layout: Any,
    inputs: Mapping[str, Any],
    kernel_args: Callable[[Any, Mapping[str, Any]], Mapping[str, Any]],
) -> Any:
    """Add the observed ``name`` whose log-density is the fused mixture log-likelihood.

    Call inside a ``pm.Model`` context.  The observed variable is one draw of the whole data
    set (its core dims are all of ``observed``'s axes), so its log-density is the scalar
    sum over objects that :func:`~bayesmix.components.fused_op.fused_mixture_logp`
    returns, and the model graph keeps an observed node whose parents are the ``inputs``.

    Parameters
    ----------
    name : str
        Name of the observed variable (``"y"``, ``"X"``).
    observed : ndarray
        The observed values, objects on the last axis (``(N,)`` or feature-major
        ``(D, N)``, C-contiguous: the kernel reads it as it is).
    dims : str or tuple of str
        Dims of ``observed`` (e.g. ``("feature", "object")``).
    layout : FusedLayout
        Which terms make up each component.
    inputs : mapping of str to tensor
        Every model variable, expression and ``pm.Data`` variable the likelihood reads.
    kernel_args : callable
        ``kernel_args(value, inputs) -> kwargs`` of
        :func:`~bayesmix.components.fused_op.fused_mixture_logp` (``log_weights``, ``X``,
        ``mean``, ...), built from the observed ``value`` and ``inputs`` as PyMC passes them
        to the log-density (random variables replaced by their values).

    Returns
    -------
    TensorVariable
        The observed variable.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from bayesmix.components.fused_op import fused_mixture_logp

    names = list(inputs)
    tensors = [pt.as_tensor_variable(v) for v in inputs.values()]

    def _logp(value, *args):
        return fused_mixture_logp(layout, **kernel_args(value, dict(zip(names, args, strict=True))))

    def core(prefix: str, ndim: int) -> str:
        return "(" + ",".join(f"{prefix}{k}" for k in range(ndim)) + ")"

    # every input is a core input of the one draw (distinct dim names: no shape constraints),
    # whose shape is the data's (numeric dims: PyMC cannot infer it from the inputs)
    signature = (
        ",".join(core(f"i{i}_", t.ndim) for i, t in enumerate(tensors))
        + "->("
        + ",".join(str(n) for n in np.shape(observed))
        + ")"
    )
    return pm.CustomDist(
        name, *tensors, logp=_logp, observed=observed, signature=signature, dims=dims
    )
