"""PyMC model builders: each returns a :class:`MixtureModel`.

Builders validate their inputs, build a ``pm.Model`` with named dims
(``object``, ``component``, ``feature``) and marginalised labels, and never
sample.
"""

from __future__ import annotations

from bayesmix.builders._model import ComponentSpec, MixtureModel
from bayesmix.builders.cluster_field import cluster_field
from bayesmix.builders.gaussian_mixture import gaussian_mixture
from bayesmix.builders.line_outlier import line_outlier

__all__ = ["ComponentSpec", "MixtureModel", "cluster_field", "gaussian_mixture", "line_outlier"]
