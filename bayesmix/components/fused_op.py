"""The fused mixture log-likelihood as a PyTensor Op, with a numba dispatch for nutpie.

:class:`FusedMixtureLogLik` computes, in one call of
:func:`bayesmix.components.fused.mixture_loglik_grad`, the summed log-likelihood and its
gradient with respect to every parameter; its gradient in a PyTensor graph is read from those
extra outputs, so a function that asks for both the value and the gradient (what nutpie and
PyMC compile) runs the pass over the objects once.  The numba dispatch registered here lets
PyTensor's numba backend (nutpie's default) inline the kernel, and gives it a cache key so
the compiled graph is cached on disk like any other.

:func:`fused_mixture_logp` is the entry point for model builders: it takes the symbolic
parameters and data by name and returns the scalar log-likelihood tensor.

This module imports PyTensor; :mod:`bayesmix.components` does not import it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key

from bayesmix.components.fused import FusedLayout, kernel_digest, mixture_loglik_grad

__all__ = ["FusedMixtureLogLik", "fused_mixture_logp"]

#: input order of the Op (data inputs have no gradient)
_INPUTS = (
    "log_weights",
    "X",
    "error_cov",
    "t",
    "t_var",
    "slope_cov",
    "mean",
    "cov",
    "slope",
    "sky_x",
    "sky_y",
    "center",
    "radius",
    "fixed",
    "extra",
)
_DATA = frozenset({"X", "error_cov", "t", "t_var", "slope_cov", "sky_x", "sky_y", "fixed"})
#: output i + 1 is the gradient of the log-likelihood with respect to these inputs
_GRAD_OF = ("log_weights", "mean", "cov", "slope", "center", "radius", "extra")


class FusedMixtureLogLik(Op):
    """Summed mixture log-likelihood and its gradient (see :mod:`bayesmix.components.fused`).

    Parameters
    ----------
    layout : FusedLayout
        Which terms make up each component.

    Notes
    -----
    Inputs, in order: ``log_weights`` (J,), ``X`` (D, N), ``error_cov`` (D, D, N) or
    (D, D, 0), ``t`` and ``t_var`` (N,) or (0,), ``slope_cov`` (D, N) or (D, 0), ``mean``
    (G, D), ``cov`` (G, D, D),
    ``slope`` (G, D), ``sky_x`` and ``sky_y`` (N,) or (0,), ``center`` (P, 2), ``radius`` (P,),
    ``fixed`` (F, N), ``extra`` (Q, N).  Per-object data are feature-major (objects on the
    last axis, C-contiguous) so the kernel's loops read contiguous memory.  Outputs: the
    log-likelihood (scalar) and its gradient with respect to ``log_weights``, ``mean``,
    ``cov``, ``slope``, ``center``, ``radius`` and ``extra``.  Only the first output may be
    differentiated (no Hessians).
    """

    __props__ = ("layout",)

    def __init__(self, layout: FusedLayout):
        self.layout = layout

    def make_node(self, *inputs: Any) -> Apply:
        """Build the Apply node; inputs as listed in the class notes."""
        if len(inputs) != len(_INPUTS):
            raise TypeError(f"FusedMixtureLogLik takes {len(_INPUTS)} inputs; got {len(inputs)}")
        ins = [pt.as_tensor_variable(x).astype("float64") for x in inputs]
        f = dict(zip(_INPUTS, ins, strict=True))
        outs = [pt.dscalar()] + [f[name].type() for name in _GRAD_OF]
        return Apply(self, ins, outs)

    def perform(self, node, inputs, output_storage):
        """Evaluate the kernel (Python linker)."""
        res = _call(self.layout, *inputs)
        output_storage[0][0] = np.asarray(res[0], dtype=np.float64)
        for k in range(1, len(res)):
            output_storage[k][0] = res[k]

    def pullback(self, inputs, outputs, output_grads):
        """Gradient of the first output: its upstream gradient times the stored gradients."""
        for g in output_grads[1:]:
            if not isinstance(g.type, DisconnectedType):
                raise NotImplementedError(
                    "FusedMixtureLogLik: only the log-likelihood (output 0) can be differentiated"
                )
        g0 = output_grads[0]
        by_name = dict(zip(_GRAD_OF, outputs[1:], strict=True))
        grads = []
        for i, (name, x) in enumerate(zip(_INPUTS, inputs, strict=True)):
            if name in _DATA:
                grads.append(grad_not_implemented(self, i, x, "data inputs have no gradient"))
            else:
                grads.append(g0 * by_name[name])
        return grads

    def connection_pattern(self, node):
        """Every output depends on every input."""
        return [[True] * len(node.outputs) for _ in node.inputs]


def _call(
    layout: FusedLayout,
    lw,
    X,
    C,
    t,
    E,
    K,
    mu,
    V,
    beta,
    sky_x,
    sky_y,
    center,
    radius,
    fixed,
    extra,
):
    idx = layout.indices()
    return mixture_loglik_grad(
        lw,
        X,
        C,
        t,
        E,
        K,
        idx["gaussian"],
        mu,
        V,
        beta,
        sky_x,
        sky_y,
        idx["plummer"],
        center,
        radius,
        idx["fixed"],
        fixed,
        idx["extra"],
        extra,
    )


@functools.cache
def _kernel_version() -> int:
    """Hash of the kernel's source: PyTensor's cache key must change when the kernel does."""
    return int(kernel_digest()[:15], 16)


@register_funcify_default_op_cache_key(FusedMixtureLogLik)
def _numba_funcify_fused(op, node=None, **kwargs):
    idx = op.layout.indices()
    gidx, pidx, fidx, xidx = (idx[k] for k in ("gaussian", "plummer", "fixed", "extra"))

    @numba_njit
    def fused_mixture_loglik(
        lw, X, C, t, E, K, mu, V, beta, sky_x, sky_y, center, radius, fixed, extra
    ):
        logp, dlw, dmu, dV, dbeta, dc, dr, resp = mixture_loglik_grad(
            lw,
            X,
            C,
            t,
            E,
            K,
            gidx,
            mu,
            V,
            beta,
            sky_x,
            sky_y,
            pidx,
            center,
            radius,
            fidx,
            fixed,
            xidx,
            extra,
        )
        return np.array(logp, dtype=np.float64), dlw, dmu, dV, dbeta, dc, dr, resp

    # the compiled graph embeds the kernel, so its cache key carries the kernel's version
    return fused_mixture_loglik, _kernel_version()


def fused_mixture_logp(
    layout: FusedLayout,
    log_weights: Any,
    *,
    n_objects: int | None = None,
    X: Any = None,
    error_cov: Any = None,
    t: Any = None,
    t_var: Any = None,
    slope_cov: Any = None,
    mean: Any = None,
    cov: Any = None,
    slope: Any = None,
    sky: Any = None,
    center: Any = None,
    radius: Any = None,
    fixed: Any = None,
    extra: Any = None,
) -> Any:
    """Return the summed mixture log-likelihood as a scalar PyTensor variable.

    Parameters
    ----------
    layout : FusedLayout
        Which terms make up each component.
    log_weights : tensor of shape (J,)
        Log weight of each component, plus any scalar normalisation of its terms.
    n_objects : int, optional
        Number of objects; needed only when ``X`` is not given.
    X, error_cov, t, t_var, slope_cov, sky, fixed : array-like or tensor, optional
        Data, **feature-major** as in :func:`bayesmix.components.fused.mixture_loglik_grad`:
        ``X`` (D, N), ``error_cov`` (D, D, N), ``slope_cov`` (D, N), ``sky`` (2, N) or a
        pair ``(xi, eta)`` of (N,) tensors; ``fixed`` and ``extra`` stack one row per term
        (F, N).  Builders store them so (e.g. ``pm.Data`` of
        ``np.ascontiguousarray(X.T)``): a transposed view would make the kernel read strided
        memory.
    mean, cov, slope, center, radius, extra : tensor, optional
        Parameters (and per-object terms computed elsewhere), as the layout needs them.

    Returns
    -------
    TensorVariable
        Scalar log-likelihood; its gradient comes from the same kernel call.
    """
    nt = layout.n_terms
    D = layout.n_features
    G, P = nt["gaussian"], nt["plummer"]

    def empty(*shape):
        return pt.as_tensor_variable(np.zeros(shape))

    needed = {
        "error_cov": layout.error_cov,
        "t": layout.slope,
        "t_var": layout.slope_error,
        "slope_cov": layout.slope_cov,
        "sky": P > 0,
        "fixed": nt["fixed"] > 0,
        "extra": nt["extra"] > 0,
    }
    given = {
        "error_cov": error_cov,
        "t": t,
        "t_var": t_var,
        "slope_cov": slope_cov,
        "sky": sky,
        "fixed": fixed,
        "extra": extra,
    }
    for name, need in needed.items():
        if need and given[name] is None:
            raise ValueError(f"the layout needs {name!r}")
    if X is None:
        if n_objects is None:
            raise ValueError("give 'X' or 'n_objects'")
        X = empty(0, int(n_objects))
    X = pt.as_tensor_variable(X)
    N = X.shape[1]
    args = {
        "log_weights": log_weights,
        "X": X,
        "error_cov": error_cov if layout.error_cov else empty(D, D, 0),
        "t": t if layout.slope else empty(0),
        "t_var": t_var if layout.slope_error else empty(0),
        "slope_cov": slope_cov if layout.slope_cov else empty(D, 0),
        "mean": pt.reshape(mean, (G, D)) if G else empty(0, D),
        "cov": pt.reshape(cov, (G, D, D)) if G else empty(0, D, D),
        "slope": pt.reshape(slope, (G, D)) if layout.slope else pt.zeros((G, D)),
        "sky_x": sky[0] if P else empty(0),
        "sky_y": sky[1] if P else empty(0),
        "center": pt.reshape(center, (P, 2)) if P else empty(0, 2),
        "radius": pt.reshape(radius, (P,)) if P else empty(0),
        "fixed": pt.reshape(fixed, (nt["fixed"], N)) if nt["fixed"] else pt.zeros((0, N)),
        "extra": pt.reshape(extra, (nt["extra"], N)) if nt["extra"] else pt.zeros((0, N)),
    }
    return FusedMixtureLogLik(layout)(*[args[k] for k in _INPUTS])[0]
