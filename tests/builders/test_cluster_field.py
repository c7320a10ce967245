"""The deprecated module path bayesmix.builders.cluster_field: moved names warn and resolve."""

import importlib

import pytest

import bayesmix.analysis
import bayesmix.builders
import bayesmix.builders.cluster

MOVED = {
    "FieldFit": bayesmix.builders.cluster,
    "find_center": bayesmix.builders.cluster,
    "GALCEN_DEFAULTS": bayesmix.analysis,
    "cluster_phase_space": bayesmix.analysis,
    "cluster_summary": bayesmix.analysis,
    "compare_to_field": bayesmix.analysis,
    "membership_table": bayesmix.analysis,
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_moved_names_warn_and_resolve_to_the_new_place(name):
    old = importlib.import_module("bayesmix.builders.cluster_field")
    new = MOVED[name]
    with pytest.warns(FutureWarning, match=rf"cluster_field\.{name} moved.*{new.__name__}"):
        got = getattr(old, name)
    assert got is getattr(new, name)


def test_builder_and_choices_stay_without_warning(recwarn):
    from bayesmix.builders.cluster_field import CHOICES, FIELD_CHOICES, cluster_field

    assert cluster_field is bayesmix.builders.cluster_field  # the function, not the module
    assert cluster_field is bayesmix.builders.cluster.cluster_field
    assert CHOICES is bayesmix.builders.cluster.CHOICES
    assert FIELD_CHOICES is bayesmix.builders.cluster.FIELD_CHOICES
    assert not recwarn.list


def test_unknown_name_is_an_attribute_error():
    old = importlib.import_module("bayesmix.builders.cluster_field")
    with pytest.raises(AttributeError, match="no attribute '_log_lik_draws'"):
        old._log_lik_draws  # noqa: B018
