"""Priors given by name as JSON-able dictionaries, e.g. ``{"dist": "Normal", "sigma": 10}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayesmix.exceptions import SpecError

__all__ = ["check_priors", "prior_dist", "prior_rv"]


def check_priors(priors: Mapping[str, Any] | None, allowed: set[str]) -> dict[str, dict]:
    """Validate a ``priors`` mapping: known variable names, dicts with a ``dist`` key."""
    if priors is None:
        return {}
    if not isinstance(priors, Mapping):
        raise SpecError(
            f"'priors' must be a mapping of variable name to prior; got {priors!r}", key="priors"
        )
    out = {}
    for name, spec in priors.items():
        if name not in allowed:
            raise SpecError(
                f"'priors' has unknown variable {name!r}; choose from {sorted(allowed)}",
                key=f"priors.{name}",
            )
        if not isinstance(spec, Mapping) or "dist" not in spec:
            raise SpecError(
                f"'priors.{name}' must be a dict like {{'dist': 'Normal', 'mu': 0, 'sigma': 1}}; "
                f"got {spec!r}",
                key=f"priors.{name}",
            )
        _dist_class(spec["dist"], key=f"priors.{name}.dist")
        out[name] = dict(spec)
    return out


def _dist_class(dist: str, *, key: str):
    import pymc as pm

    cls = getattr(pm, str(dist), None)
    if cls is None or not hasattr(cls, "dist"):
        raise SpecError(
            f"'{key}' must name a PyMC distribution (e.g. 'Normal'); got {dist!r}", key=key
        )
    return cls


def _kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "dist"}


def prior_rv(name: str, spec: Mapping[str, Any], **kwargs):
    """Register the prior ``spec`` as variable ``name`` in the current model."""
    cls = _dist_class(spec["dist"], key=f"priors.{name}.dist")
    return cls(name, **_kwargs(spec), **kwargs)


def prior_dist(name: str, spec: Mapping[str, Any], **kwargs):
    """Return the unregistered distribution of ``spec`` (for a prior on a derived quantity)."""
    cls = _dist_class(spec["dist"], key=f"priors.{name}.dist")
    return cls.dist(**_kwargs(spec), **kwargs)
