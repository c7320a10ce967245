"""Checkers for tests: every backend of a component agrees with numpy.

Modelled on ``celerite2.testing``; shipped so that users adding a component can
run the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["assert_backends_agree", "evaluate_pytensor"]


def evaluate_pytensor(component: Any, y: ArrayLike, params: Mapping[str, Any]) -> np.ndarray:
    """Evaluate ``component.logp`` through the PyTensor backend with numpy inputs.

    Inputs become symbolic variables (not constants), so PyTensor's rewrites
    cannot fold the computation away and the compiled graph is the one used
    inside PyMC.
    """
    import pytensor
    import pytensor.tensor as pt

    y = np.asarray(y, dtype=np.float64)
    y_sym = pt.tensor("y", shape=(None,) * y.ndim, dtype="float64")
    syms, values = {}, [y]
    for key, value in params.items():
        if value is None:
            syms[key] = None
            continue
        value = np.asarray(value, dtype=np.float64)
        # length-1 axes are declared static so that they broadcast, as pm.Data would
        shape = tuple(1 if n == 1 else None for n in value.shape)
        syms[key] = pt.tensor(key, shape=shape, dtype="float64")
        values.append(value)
    out = component.logp(y_sym, syms, backend="pytensor")
    inputs = [y_sym, *[s for s in syms.values() if s is not None]]
    fn = pytensor.function(inputs, out, on_unused_input="ignore")
    return np.asarray(fn(*values))


def assert_backends_agree(
    component: Any,
    y: ArrayLike,
    params: Mapping[str, Any],
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> np.ndarray:
    """Assert that the PyTensor and numpy backends give the same log-densities.

    Parameters
    ----------
    component : Component
        The component (a frozen dataclass with ``logp``).
    y : array-like
        Data, shape (n_objects,) or (n_objects, n_features).
    params : mapping of str to array-like
        Parameter values as ``component.logp`` expects them.
    rtol, atol : float
        Tolerances for :func:`numpy.testing.assert_allclose`.

    Returns
    -------
    numpy.ndarray
        The numpy log-densities (for further checks).

    Raises
    ------
    AssertionError
        When the backends differ by more than the tolerances (infinities must
        match exactly).
    """
    y = np.asarray(y, dtype=np.float64)
    np_params = {
        k: (None if v is None else np.asarray(v, dtype=np.float64)) for k, v in params.items()
    }
    expected = np.asarray(component.logp(y, np_params, backend="numpy"))
    got = evaluate_pytensor(component, y, np_params)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    return expected
