"""After-sampling analysis: posterior summaries and the cluster reports.

This layer sits above the builders, :mod:`bayesmix.inference` and
:mod:`bayesmix.membership`: every function takes a sampled
:class:`~bayesmix.inference.Fit` (and what the builder recorded in its
:class:`~bayesmix.builders.MixtureModel`) and returns plain numbers, dicts or
tables; nothing here samples, draws or writes files.
"""

from __future__ import annotations

from bayesmix.analysis.cluster import (
    GALCEN_DEFAULTS,
    cluster_phase_space,
    cluster_summary,
    compare_to_field,
    log_likelihood_draws,
)
from bayesmix.analysis.report import CLUSTER_MAX_DRAWS, cluster_report, format_cluster_report
from bayesmix.analysis.summary import parameter_summary, summarize_draws, thin_draws, unit_of
from bayesmix.analysis.tables import membership_table, merge_membership

__all__ = [
    "CLUSTER_MAX_DRAWS",
    "GALCEN_DEFAULTS",
    "cluster_phase_space",
    "cluster_report",
    "cluster_summary",
    "compare_to_field",
    "format_cluster_report",
    "log_likelihood_draws",
    "membership_table",
    "merge_membership",
    "parameter_summary",
    "summarize_draws",
    "thin_draws",
    "unit_of",
]
