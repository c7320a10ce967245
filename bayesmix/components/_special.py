"""Special functions and gradient stops for both backends (numpy/scipy and PyTensor).

The shared :class:`~bayesmix.components._backend.Backend` table holds only the
primitives every component needs; the few extra ones used by the Beta, EDSD and
Plummer components live here, keyed by the backend's name.
"""

from __future__ import annotations

from types import SimpleNamespace

from bayesmix.components._backend import Backend

__all__ = ["special"]


def special(b: Backend) -> SimpleNamespace:
    """Return ``gammaln``, ``stop_gradient`` and ``floor`` for backend ``b``."""
    if b.name == "numpy":
        import numpy as np
        from scipy.special import gammaln

        return SimpleNamespace(
            gammaln=gammaln, stop_gradient=lambda x: x, floor=np.floor, minimum=np.minimum
        )
    import pytensor.tensor as pt
    from pytensor.gradient import disconnected_grad

    return SimpleNamespace(
        gammaln=pt.gammaln, stop_gradient=disconnected_grad, floor=pt.floor, minimum=pt.minimum
    )
