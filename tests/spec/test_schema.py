"""The declarative keys: each check agrees with its JSON Schema, messages name the key."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayesmix.exceptions import SpecError
from bayesmix.spec.schema import NO_DEFAULT, Key, Section

jsonschema = pytest.importorskip("jsonschema")

# TOML values (finite numbers: JSON Schema has no NaN or infinity, which the checks refuse)
scalars = st.one_of(
    st.booleans(),
    st.integers(-5, 10),
    st.floats(-5, 5, allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "a", "full", "diag", "1-3", "2,4", "3-1", "x-y", "0"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.just("k"), scalars))

KEYS = [
    Key("n", "integer", minimum=1, maximum=6),
    Key("x", "number", minimum=0.0, exclusive_minimum=True),
    Key("p", "number", minimum=0.0, maximum=1.0),
    Key("flag", "boolean"),
    Key("s", "string"),
    Key("names", "strings"),
    Key("pair", "strings", length=2),
    Key("maybe_none", "strings", min_length=0),
    Key("centre", "numbers", length=2),
    Key("cov", "choice", choices=("diag", "full")),
    Key("t", "table"),
]
# one-way keys: JSON Schema cannot say "upper > lower" or "1-6 with 1 <= 6"
LOOSER_SCHEMA = [Key("r", "range"), Key("k", "candidates")]


def _accepts(key: Key, value) -> bool:
    try:
        key.check(value, f"[t].{key.name}")
    except SpecError as exc:
        assert str(exc).startswith(f"[t].{key.name}") and exc.key.startswith(f"[t].{key.name}")
        assert "\n" not in str(exc)
        return False
    return True


def _valid(key: Key, value) -> bool:
    return jsonschema.Draft202012Validator(key.json_schema()).is_valid(value)


@pytest.mark.parametrize("key", KEYS, ids=[k.name for k in KEYS])
@given(value=values)
def test_check_and_json_schema_agree(key, value):
    if key.type == "integer" and isinstance(value, float) and value.is_integer():
        return  # JSON Schema counts 1.0 as an integer; TOML (and the check) do not
    assert _accepts(key, value) == _valid(key, value), (key.name, value)


@pytest.mark.parametrize("key", LOOSER_SCHEMA, ids=[k.name for k in LOOSER_SCHEMA])
@given(value=values)
def test_every_accepted_value_satisfies_the_json_schema(key, value):
    if _accepts(key, value):
        assert _valid(key, value), (key.name, value)


def test_checks_return_normalised_values():
    assert Key("k", "candidates").check("1-3,5", "k") == (1, 2, 3, 5)
    assert Key("k", "candidates").check([4, 2, 2], "k") == (2, 4)
    assert Key("r", "range").check([1, 2.5], "r") == (1.0, 2.5)
    assert Key("s", "strings").check("one", "s") == ("one",)
    assert Key("c", "choice", choices=(("a",), ("a", "b"))).check(["a", "b"], "c") == ("a", "b")
    x = Key("x", "number", minimum=0.0, exclusive_minimum=True)
    with pytest.raises(SpecError, match=r"^x must be > 0.0, got 0$"):
        x.check(0, "x")
    with pytest.raises(SpecError, match=r"^x must be finite, got inf$"):
        x.check(math.inf, "x")


SECTION = Section(
    "[s]",
    "A section.",
    (
        Key("draws", "integer", "Draws | per chain.", default=1000, minimum=1),
        Key("needed", "string", "Must be given.", required=True),
        Key("flag", "boolean", "A flag.", default=True),
    ),
)


def test_section_parse_unknown_and_required_keys():
    assert SECTION.parse({"needed": "x"}) == {"needed": "x"}
    assert SECTION.parse({"needed": "x"}, defaults=True) == {
        "draws": 1000,
        "needed": "x",
        "flag": True,
    }
    with pytest.raises(SpecError, match=r"^\[s\] has unknown key 'drws'; did you mean 'draws'\?"):
        SECTION.parse({"needed": "x", "drws": 3})
    with pytest.raises(SpecError, match=r"^\[s\]\.needed is required by me$") as info:
        SECTION.parse({}, required_by=" by me")
    assert info.value.key == "[s].needed"
    assert SECTION.parse({"needed": "x", "name": 1}, extra=("name",)) == {"needed": "x"}


def test_section_docs_and_schema():
    lines = SECTION.markdown()
    assert lines[2] == "| `draws` | integer >= 1 | `1000` | Draws \\| per chain. |"
    assert lines[3] == "| `needed` | string | required | Must be given. |"
    assert lines[4] == "| `flag` | true or false | `true` | A flag. |"
    schema = SECTION.json_schema()
    assert schema["required"] == ["needed"] and schema["additionalProperties"] is False
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"needed": "x", "draws": 2}) and not v.is_valid({"draws": 2})
    assert not v.is_valid({"needed": "x", "drws": 2})
    assert Key("z", "integer").default is NO_DEFAULT
