"""The fused likelihood Op: PyTensor value and gradient vs the numpy components, both linkers."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayesmix.components.fused import FusedLayout
from bayesmix.components.fused_op import fused_mixture_logp
from bayesmix.components.gaussian import MultivariateGaussian
from bayesmix.components.mixture import mixture_logp
from bayesmix.components.plummer import Plummer


def _data(gen, N, D):
    A = gen.normal(size=(N, D, D)) * 0.3
    C = A @ np.swapaxes(A, -1, -2) + 0.02 * np.eye(D)
    return {
        "X": gen.normal(size=(N, D)),
        "C": C,
        "fixed": gen.normal(-4, 1, N),
        "sky": gen.uniform(-1, 1, (N, 2)),
    }


def _graph_logp(d, lw, mu, s, c, a):
    """The same likelihood from the PyTensor components (today's builder formula)."""
    D = d["X"].shape[1]
    cov = pt.square(s) * pt.eye(D)
    lc = MultivariateGaussian(D).logp(
        d["X"], {"mean": mu[None, :], "cov": cov[None], "error_cov": d["C"]}, backend="pytensor"
    )
    lc = lc + Plummer().logp(d["sky"], {"center": c[None, :], "radius": a}, backend="pytensor")
    return pt.sum(mixture_logp(lw, [lc, pt.as_tensor(d["fixed"])], backend="pytensor"))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "NUMBA"])
def test_value_and_gradient_match_the_component_graph(mode):
    gen = np.random.default_rng(0)
    d = _data(gen, 700, 3)
    lw, mu, c = pt.dvector("lw"), pt.dvector("mu"), pt.dvector("c")
    s, a = pt.dscalar("s"), pt.dscalar("a")
    layout = FusedLayout((("gaussian", "plummer"), ("fixed",)), n_features=3, error_cov=True)
    fused = fused_mixture_logp(
        layout,
        lw,
        X=d["X"].T.copy(),
        error_cov=d["C"].transpose(1, 2, 0).copy(),
        mean=mu,
        cov=pt.square(s) * pt.eye(3),
        sky=d["sky"].T.copy(),
        center=c,
        radius=a,
        fixed=d["fixed"],
    )
    ref = _graph_logp(d, lw, mu, s, c, a)
    wrt = [lw, mu, s, c, a]
    f = pytensor.function(wrt, [fused, *pytensor.grad(fused, wrt)], mode=mode)
    g = pytensor.function(wrt, [ref, *pytensor.grad(ref, wrt)], mode="FAST_COMPILE")
    for _ in range(3):
        point = [
            np.log(gen.dirichlet([2, 5])),
            gen.normal(scale=0.3, size=3),
            gen.uniform(0.2, 1.0),
            gen.normal(scale=0.2, size=2),
            gen.uniform(0.2, 0.8),
        ]
        for x, y in zip(f(*point), g(*point), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10 * np.abs(y).max())


def test_extra_term_chains_its_own_gradient():
    """A per-object term computed in the graph (here a scaled fixed field) gets r_n * d/dx."""
    gen = np.random.default_rng(1)
    d = _data(gen, 300, 2)
    lw, k = pt.dvector("lw"), pt.dscalar("k")
    mu = pt.as_tensor(np.zeros(2))
    extra = k * pt.as_tensor(d["fixed"])
    layout = FusedLayout((("gaussian",), ("extra",)), n_features=2, error_cov=True)
    fused = fused_mixture_logp(
        layout,
        lw,
        X=d["X"].T.copy(),
        error_cov=d["C"].transpose(1, 2, 0).copy(),
        mean=mu,
        cov=0.25 * pt.eye(2),
        extra=extra[None, :],
    )
    lc = MultivariateGaussian(2).logp(
        d["X"],
        {"mean": mu[None], "cov": 0.25 * pt.eye(2)[None], "error_cov": d["C"]},
        backend="pytensor",
    )
    ref = pt.sum(mixture_logp(lw, [lc, extra], backend="pytensor"))
    f = pytensor.function([lw, k], [fused, pytensor.grad(fused, k)], mode="NUMBA")
    g = pytensor.function([lw, k], [ref, pytensor.grad(ref, k)], mode="FAST_COMPILE")
    p = (np.log([0.3, 0.7]), 1.3)
    for x, y in zip(f(*p), g(*p), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10)


def test_only_the_loglik_output_is_differentiable():
    layout = FusedLayout((("fixed",), ("fixed",)))
    lw = pt.dvector("lw")
    from bayesmix.components.fused_op import FusedMixtureLogLik

    outs = FusedMixtureLogLik(layout)(
        lw,
        np.zeros((0, 3)),
        np.zeros((0, 0, 0)),
        np.zeros(0),
        np.zeros(0),
        np.zeros((0, 0)),  # slope_cov (D, 0)
        np.zeros((0, 0)),
        np.zeros((0, 0, 0)),
        np.zeros((0, 0)),
        np.zeros(0),  # sky_x
        np.zeros(0),  # sky_y
        np.zeros((0, 2)),
        np.zeros(0),
        np.zeros((2, 3)),
        np.zeros((0, 3)),
    )
    with pytest.raises(NotImplementedError, match="only the log-likelihood"):
        pytensor.grad(outs[1].sum(), lw)


def test_missing_data_for_the_layout_is_an_error():
    layout = FusedLayout((("gaussian",), ("fixed",)), n_features=2, error_cov=True)
    with pytest.raises(ValueError, match="'error_cov'"):
        fused_mixture_logp(
            layout,
            pt.dvector("lw"),
            X=np.zeros((2, 4)),
            mean=np.zeros(2),
            cov=np.eye(2),
            fixed=np.zeros(4),
        )
    with pytest.raises(ValueError, match="'X' or 'n_objects'"):
        fused_mixture_logp(FusedLayout((("fixed",),)), pt.dvector("lw"), fixed=np.zeros(4))
