"""docs/spec_reference.md and docs/spec.schema.json are current, and the schema is right."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bayesmix.spec import available_builders, json_schema, spec_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SPECS = sorted((ROOT / "models").glob("*.toml")) + sorted(
    (ROOT / "bayesmix" / "specs").glob("*.toml")
)
REGENERATE = "python -c \"from bayesmix.spec.docs import write_docs; write_docs('docs')\""

jsonschema = pytest.importorskip("jsonschema")


def test_reference_is_current():
    assert (DOCS / "spec_reference.md").read_text() == spec_reference(), (
        f"docs/spec_reference.md is stale: run {REGENERATE}"
    )


def test_json_schema_file_is_current():
    on_disk = json.loads((DOCS / "spec.schema.json").read_text())
    assert on_disk == json_schema(), f"docs/spec.schema.json is stale: run {REGENERATE}"


def test_reference_documents_every_key():
    text = spec_reference()
    for name, b in available_builders().items():
        assert f'`name = "{name}"`' in text
        for k in b.options.keys:
            assert k.doc, f"[builder].{k.name} of {name} has no documentation"
            assert f"| `{k.name}` |" in text


@pytest.mark.parametrize("path", SPECS, ids=[f"{p.parent.name}/{p.stem}" for p in SPECS])
def test_every_spec_satisfies_the_json_schema(path):
    jsonschema.Draft202012Validator.check_schema(json_schema())
    validator = jsonschema.Draft202012Validator(json_schema())
    doc = tomllib.loads(path.read_text())
    errors = [e.message for e in validator.iter_errors(doc)]
    assert not errors, errors


HOGG = """
seed = 1
[data]
dataset = "hogg2010"
[data.columns]
x = "x"
y = "y"
y_err = "sigma_y"
[builder]
name = "line_outlier"
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('name = "line_outlier"', 'name = "line_outlier"\noutliers = "uniform"'),  # unknown key
        ('name = "line_outlier"', 'name = "line_outlier"\noutlier = "cauchy"'),  # bad choice
        ('name = "line_outlier"', 'name = "line_outliers"'),  # unknown builder
        ("seed = 1", "seed = -1"),  # below minimum
        ("seed = 1", ""),  # required
        ('y = "y"\n', ""),  # a builder's required column
        ('y_err = "sigma_y"', 'y_err = "sigma_y"\nz = "x"'),  # a builder's unknown column
        ('name = "line_outlier"', 'name = "line_outlier"\n[sampler]\ndraws = 0'),
        ('name = "line_outlier"', 'name = "line_outlier"\n[priors.slope]\nmu = 0'),  # no dist
    ],
)
def test_the_json_schema_refuses_what_the_spec_check_refuses(old, new):
    from bayesmix.exceptions import SpecError
    from bayesmix.spec import parse_spec

    doc = tomllib.loads(HOGG.replace(old, new))
    with pytest.raises(SpecError):
        parse_spec(doc)
    assert not jsonschema.Draft202012Validator(json_schema()).is_valid(doc)
    assert jsonschema.Draft202012Validator(json_schema()).is_valid(tomllib.loads(HOGG))
