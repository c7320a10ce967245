"""Tables of array primitives, so each log-density is written once.

A :class:`Backend` is a frozen record of the few primitives the component
formulas need, with identical batching rules (numpy broadcasting, reductions
over explicit axes).  :func:`get_backend` returns the numpy/scipy table or the
PyTensor table; the latter imports PyTensor on first use only, so the EM path
and ``bayesmix --help`` never import it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Backend", "LOG_2PI", "get_backend"]

#: ln(2 pi), used by every Gaussian normalisation.
LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Backend:
    """Array primitives with numpy batching semantics.

    Attributes
    ----------
    name : str
        ``"numpy"`` or ``"pytensor"``.
    log, exp, log1p, sqrt, square, abs : callable
        Elementwise functions.
    where : callable
        ``where(cond, a, b)``, elementwise selection.
    maximum : callable
        Elementwise maximum of two arrays.
    sum : callable
        ``sum(x, axis)``.
    logsumexp : callable
        ``logsumexp(x, axis)``: ``log(sum(exp(x), axis))`` computed stably.
    logaddexp : callable
        ``logaddexp(a, b)``, elementwise and stable.
    stack : callable
        ``stack(list_of_arrays, axis)``.
    cholesky : callable
        Lower Cholesky factor of a stack of symmetric positive-definite matrices
        (batch axes first, matrix axes last).
    solve_lower : callable
        ``solve_lower(L, b)`` solves ``L z = b`` for lower-triangular ``L`` with
        ``b`` of shape (..., D, M); batch axes broadcast.
    diagonal : callable
        Diagonal over the last two axes, shape (..., D).
    as_tensor : callable
        Convert an array-like to the backend's array type.
    sin, cos, arctan, arctan2 : callable
        Trigonometric functions (radians), elementwise.
    """

    name: str
    log: Callable[..., Any]
    exp: Callable[..., Any]
    log1p: Callable[..., Any]
    sqrt: Callable[..., Any]
    square: Callable[..., Any]
    abs: Callable[..., Any]
    where: Callable[..., Any]
    maximum: Callable[..., Any]
    sum: Callable[..., Any]
    logsumexp: Callable[..., Any]
    logaddexp: Callable[..., Any]
    stack: Callable[..., Any]
    cholesky: Callable[..., Any]
    solve_lower: Callable[..., Any]
    diagonal: Callable[..., Any]
    as_tensor: Callable[..., Any]
    sin: Callable[..., Any]
    cos: Callable[..., Any]
    arctan: Callable[..., Any]
    arctan2: Callable[..., Any]


def _np_logsumexp(x, axis):
    """``log(sum(exp(x), axis))``, subtracting the maximum by hand.

    scipy's ``logsumexp`` does the same with extra checks (complex input,
    ``b=``, sign) that cost several times the arithmetic on the small arrays of
    the likelihood terms.  Rows that are all ``-inf`` give ``-inf``, a ``+inf``
    gives ``+inf`` and NaN propagates, as in scipy.
    """
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # all -inf (or +inf, NaN): shift by 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _np_solve_lower(L, b):
    # np.linalg.solve broadcasts batch axes; L is triangular so this is exact
    # to rounding (LAPACK LU on a triangular matrix performs no pivoting swaps).
    batch = np.broadcast_shapes(L.shape[:-2], b.shape[:-2])
    L = np.broadcast_to(L, batch + L.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    return np.linalg.solve(L, b)


#: primitives that numpy and pytensor.tensor name alike (and that behave alike)
_ALIKE = ("log", "exp", "log1p", "sqrt", "abs", "maximum", "sin", "cos", "arctan", "arctan2")


def _alike(module) -> dict[str, Callable]:
    return {name: getattr(module, name) for name in _ALIKE}


@functools.cache
def _numpy_backend() -> Backend:
    return Backend(
        name="numpy",
        **_alike(np),
        square=np.square,
        where=np.where,
        sum=lambda x, axis: np.sum(x, axis=axis),
        logsumexp=_np_logsumexp,
        logaddexp=np.logaddexp,
        stack=lambda xs, axis: np.stack(np.broadcast_arrays(*xs), axis=axis),
        cholesky=np.linalg.cholesky,
        solve_lower=_np_solve_lower,
        diagonal=lambda x: np.diagonal(x, axis1=-2, axis2=-1),
        as_tensor=lambda x: np.asarray(x, dtype=np.float64),
    )


@functools.cache
def _pytensor_backend() -> Backend:
    import pytensor.tensor as pt

    def _stack(xs, axis):
        xs = pt.broadcast_arrays(*xs)
        return pt.stack(xs, axis=axis)

    def _logaddexp(a, b):
        # max(a, b) + log1p(exp(-|a - b|)): elementwise, fuses into one loop;
        # the switch keeps -inf + -inf at -inf instead of nan.
        m = pt.maximum(a, b)
        d = -pt.abs(a - b)
        return pt.switch(pt.isinf(m) & (m < 0), m, m + pt.log1p(pt.exp(d)))

    return Backend(
        name="pytensor",
        **_alike(pt),
        square=pt.sqr,
        where=pt.switch,
        sum=lambda x, axis: pt.sum(x, axis=axis),
        logsumexp=lambda x, axis: pt.logsumexp(x, axis=axis),
        logaddexp=_logaddexp,
        stack=_stack,
        cholesky=lambda x: pt.linalg.cholesky(x, lower=True),
        solve_lower=lambda L, b: pt.linalg.solve_triangular(L, b, lower=True),
        diagonal=lambda x: pt.diagonal(x, axis1=-2, axis2=-1),
        as_tensor=pt.as_tensor_variable,
    )


def get_backend(backend: str | Backend = "numpy") -> Backend:
    """Return the primitive table called ``backend`` (``"numpy"`` or ``"pytensor"``).

    Parameters
    ----------
    backend : {"numpy", "pytensor"} or Backend
        A name, or a table (returned unchanged).

    Returns
    -------
    Backend
        The table; the PyTensor one is built (and PyTensor imported) on first use.

    Raises
    ------
    ValueError
        For an unknown name; the choices are listed.
    """
    if isinstance(backend, Backend):
        return backend
    if backend == "numpy":
        return _numpy_backend()
    if backend == "pytensor":
        return _pytensor_backend()
    raise ValueError(f"'backend' must be one of ['numpy', 'pytensor']; got {backend!r}")
