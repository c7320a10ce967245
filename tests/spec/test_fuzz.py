"""Fuzzed specs: any change to a valid spec parses, or fails with one line naming its key."""

from __future__ import annotations

import copy
import datetime
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesmix.exceptions import SpecError
from bayesmix.spec import parse_spec

pytest.importorskip("pymc")  # imported here: PyTensor raises the recursion limit on import
MODELS = Path(__file__).resolve().parents[2] / "models"
SPECS = {p.stem: p for p in sorted(MODELS.glob("*.toml"))}

# any TOML value: numbers (with nan and inf), text, booleans, dates, arrays, tables
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["gmm", "full", "1-3", "Normal", "../x", "a.csv", "x == 1", "pmra"]),
    st.dates(),
    st.datetimes().map(lambda d: d.replace(tzinfo=datetime.UTC)),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    """Every (table path, key) of a document."""
    for key, value in doc.items():
        yield prefix, key
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SPECS)))
    doc = tomllib.loads(SPECS[name].read_text())
    table_path, key = draw(st.sampled_from(list(_paths(doc))))
    table = doc
    for part in table_path:
        table = table[part]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        table[key] = draw(toml_values)
    elif action == "delete":
        del table[key]
    else:
        table[draw(st.text(min_size=1, max_size=10))] = draw(toml_values)
    return name, doc


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=mutated())
def test_mutated_specs_parse_or_name_the_key(case):
    name, doc = case
    original = copy.deepcopy(doc)
    try:
        spec = parse_spec(doc, path=SPECS[name])
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert exc.key is not None, message
        first = message.split(" ")[0]
        assert exc.key.startswith(first), (exc.key, message)
    else:
        assert spec.seed >= 0 and spec.name
    assert doc == original or doc != doc  # the document is never modified (nan != nan)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_unmodified_specs_parse(name):
    parse_spec(tomllib.loads(SPECS[name].read_text()), path=SPECS[name])
