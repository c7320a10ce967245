"""Star cluster versus field from Gaia astrometry: the :func:`cluster_field` builder.

- :mod:`~bayesmix.builders.cluster.detect`: the first pass, :func:`find_center`;
- :mod:`~bayesmix.builders.cluster.field`: the control field and the fixed XD field fit;
- :mod:`~bayesmix.builders.cluster.terms`: the cluster and field log terms, one formula
  for the PyTensor and numpy backends;
- :mod:`~bayesmix.builders.cluster.build`: :func:`cluster_field` itself.

After sampling, :mod:`bayesmix.analysis` reports on the fit (cluster summary,
comparison with the field alone, phase space, membership table).
"""

from __future__ import annotations

from bayesmix.builders.cluster.build import CHOICES, FIELD_CHOICES, cluster_field
from bayesmix.builders.cluster.detect import find_center
from bayesmix.builders.cluster.field import FieldFit

__all__ = ["CHOICES", "FIELD_CHOICES", "FieldFit", "cluster_field", "find_center"]
