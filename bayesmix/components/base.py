"""The component protocol shared by every mixture component."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from bayesmix.components._backend import Backend

__all__ = ["Component"]


@runtime_checkable
class Component(Protocol):
    """A mixture component: a frozen dataclass with a backend-neutral ``logp``.

    ``parameters`` names the entries ``logp`` reads from ``params``; ``logp``
    returns log-densities of shape (..., n_objects), where ``...`` are the
    batch axes of the parameters (none inside PyMC, posterior draws when
    scoring with numpy).
    """

    parameters: ClassVar[tuple[str, ...]]

    def logp(self, y: Any, params: Mapping[str, Any], *, backend: str | Backend = "numpy") -> Any:
        """Log-density of each object under this component."""
        ...
