"""Deprecated module path of the cluster + field builder and its reports.

The builder lives in :mod:`bayesmix.builders.cluster` (and is exported as
:func:`bayesmix.builders.cluster_field`); the after-sampling reports moved to
:mod:`bayesmix.analysis`.  ``cluster_field``, ``CHOICES`` and ``FIELD_CHOICES``
are still importable from here; the moved names below resolve with a
:class:`FutureWarning` naming their new place.
"""

from __future__ import annotations

from bayesmix._deprecation import moved_names
from bayesmix.builders.cluster.build import CHOICES, FIELD_CHOICES, cluster_field

__all__ = ["CHOICES", "FIELD_CHOICES", "cluster_field"]

#: moved public name -> where to import it from now
_MOVED = {
    "FieldFit": "bayesmix.builders.cluster",
    "find_center": "bayesmix.builders.cluster",
    "GALCEN_DEFAULTS": "bayesmix.analysis",
    "cluster_phase_space": "bayesmix.analysis",
    "cluster_summary": "bayesmix.analysis",
    "compare_to_field": "bayesmix.analysis",
    "membership_table": "bayesmix.analysis",
}


__getattr__ = moved_names(__name__, _MOVED)
