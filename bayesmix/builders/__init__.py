"""PyMC model builders: each returns a :class:`MixtureModel`.

Builders validate their inputs, build a ``pm.Model`` with named dims
(``object``, ``component``, ``feature``) and marginalised labels, and never
sample.
"""

from __future__ import annotations

# the deprecated module path bayesmix.builders.cluster_field is loaded first, so that the
# name below stays bound to the builder function, not to that module
import bayesmix.builders.cluster_field  # noqa: F401
from bayesmix.builders._model import ComponentSpec, MixtureModel, RowRecord
from bayesmix.builders._priors import check_prior
from bayesmix.builders.cluster import cluster_field
from bayesmix.builders.gaussian_mixture import gaussian_mixture
from bayesmix.builders.line_outlier import line_outlier

__all__ = [
    "ComponentSpec",
    "MixtureModel",
    "RowRecord",
    "check_prior",
    "cluster_field",
    "gaussian_mixture",
    "line_outlier",
]
