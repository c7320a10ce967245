"""The spec's reference documentation and JSON Schema, generated from its one definition.

``docs/spec_reference.md`` is :func:`spec_reference` and
``docs/spec.schema.json`` is :func:`json_schema` (as indented JSON); a test
checks that both files are current.  Regenerate them with::

    python -c "from bayesmix.spec.docs import write_docs; write_docs('docs')"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bayesmix.spec.model import CLUSTER_FIGURE_COLUMNS, FIGURES
from bayesmix.spec.registry import Builder, available_builders
from bayesmix.spec.schema import Section
from bayesmix.spec.sections import (
    DATA,
    OUTPUT,
    POPULATION,
    REFERENCE,
    TOP,
    TRAINING,
    sampler_section,
)

__all__ = ["json_schema", "spec_reference", "write_docs"]

_PRIOR_TEXT = """\
Each `[priors.<variable>]` table replaces the default prior of one model variable
(the builder lists its variables; unknown ones are an error naming them). `dist` names a
continuous PyMC distribution (`Normal`, `HalfNormal`, `Dirichlet`, ...) and every other
key is one of its parameters, a number or an array of numbers. Before anything is built,
the spec check refuses: parameter names the distribution does not take (with the closest
name), missing required parameters, values outside the support (scale parameters such as
`sigma`, `tau`, `lam`, `nu`, `beta` > 0; Beta `mu` in (0, 1); Dirichlet `a` > 0 with one
entry per component), unordered bounds (`lower` < `upper`), and combinations PyMC refuses
(e.g. both `sigma` and `tau`). Errors start with the key, e.g.
`[priors.slope].sigma must be > 0, got -1`.
"""


def _builder_json(b: Builder) -> dict[str, Any]:
    schema = b.options.json_schema(extra={"name": {"const": b.name, "description": b.description}})
    schema["required"] = ["name", *schema.get("required", [])]
    schema["description"] = f"{b.description} ({b.target})"
    return schema


def _columns_json(b: Builder) -> dict[str, Any]:
    if b.columns is None:
        return {
            "type": "object",
            "description": "Gaia name = column",
            "additionalProperties": {"type": "string"},
        }
    return b.columns.json_schema()


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a spec file, for editors and validators.

    The TOML document, read as JSON, validates against it exactly when the
    key names, types, bounds and choices are right; rules that tie keys
    together (e.g. ``labels`` vs ``n_components``) and file checks are left to
    :func:`bayesmix.spec.load_spec`.

    Returns
    -------
    dict
    """
    builders = available_builders()
    data = DATA.json_schema(
        extra={"population": POPULATION.json_schema(), "training": TRAINING.json_schema()}
    )
    prior = {
        "type": "object",
        "description": "A prior: dist = a continuous PyMC distribution, and its parameters.",
        "properties": {"dist": {"type": "string", "minLength": 1}},
        "required": ["dist"],
        "additionalProperties": {
            "anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]
        },
    }
    reference = REFERENCE.json_schema()
    reference["patternProperties"] = {"^cluster_": {"type": "number"}}
    props = TOP.json_schema()["properties"]
    props.update(
        data=data,
        builder={"oneOf": [_builder_json(b) for _, b in sorted(builders.items())]},
        priors={"type": "object", "additionalProperties": prior},
        sampler=sampler_section().json_schema(),
        output=OUTPUT.json_schema(),
        reference=reference,
    )
    by_builder = [
        {
            "if": {"properties": {"builder": {"properties": {"name": {"const": name}}}}},
            "then": {"properties": {"data": {"properties": {"columns": _columns_json(b)}}}},
        }
        for name, b in sorted(builders.items())
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bayesmix analysis spec (models/<name>.toml)",
        "type": "object",
        "properties": props,
        "required": ["seed", "data", "builder"],
        "additionalProperties": False,
        "allOf": by_builder,
    }


def _section(title: str, section: Section, note: str = "") -> list[str]:
    lines = [f"## {title}", "", section.doc]
    if note:
        lines += ["", note]
    return [*lines, "", *section.markdown(), ""]


def _builder_md(b: Builder) -> list[str]:
    figures = [
        f for f in FIGURES[b.kind] if b.name == "cluster_field" or f not in CLUSTER_FIGURE_COLUMNS
    ]
    lines = [
        f'### `name = "{b.name}"`',
        "",
        f"{b.description}; kind `{b.kind}`, runs `{b.target}`. Figures: "
        + ", ".join(f"`{f}`" for f in figures)
        + ".",
        "",
    ]
    if b.options.keys:
        lines += [*b.options.markdown(), ""]
    else:
        lines += ["No options.", ""]
    if b.kind != "bayes":
        return lines
    if b.columns is None:
        lines += [
            "`[data.columns]`: any Gaia name = the column holding it (e.g. "
            '`pmra = "pm_ra"`); unmapped names are looked up as they are.',
            "",
        ]
    else:
        lines += ["`[data.columns]`:", "", *b.columns.markdown(), ""]
    return lines


def spec_reference() -> str:
    """Return the Markdown reference of every spec key (``docs/spec_reference.md``).

    Returns
    -------
    str
    """
    lines = [
        "# Spec reference",
        "",
        "<!-- generated by bayesmix.spec.docs.spec_reference(); do not edit: run "
        "python -c \"from bayesmix.spec.docs import write_docs; write_docs('docs')\" -->",
        "",
        "An analysis spec (`models/<name>.toml`, run by `bayesmix run`) is read into frozen "
        "dataclasses by `bayesmix.spec.load_spec`, which checks every key below before any "
        "data are read or models built; each error starts with its key path "
        "(`[builder].n_components must be >= 1, got 0`). Unknown keys are errors. The JSON "
        "Schema `docs/spec.schema.json` (`bayesmix.spec.json_schema()`) gives editors the "
        "same keys.",
        "",
        *_section("Top level", TOP),
        *_section("`[data]`", DATA, "Bayesian builders take `columns`, EM and GPz `features`."),
        *_section("`[data.population]`", POPULATION),
        *_section("`[data.training]`", TRAINING),
        "## `[builder]`",
        "",
        "`name` picks the analysis; the other keys are its options, read from the function "
        "it runs (names, defaults, choices and documentation).",
        "",
    ]
    for _, b in sorted(available_builders().items()):
        lines += _builder_md(b)
    lines += ["## `[priors.<variable>]`", "", _PRIOR_TEXT]
    lines += _section("`[sampler]`", sampler_section())
    lines += _section("`[output]`", OUTPUT)
    lines += _section("`[reference]`", REFERENCE)
    return "\n".join(lines).rstrip() + "\n"


def write_docs(folder: str | Path) -> list[Path]:
    """Write ``spec_reference.md`` and ``spec.schema.json`` into ``folder``; return the paths."""
    from bayesmix._files import atomic_write

    folder = Path(folder)
    files = {
        folder / "spec_reference.md": spec_reference(),
        folder / "spec.schema.json": json.dumps(json_schema(), indent=2, sort_keys=True) + "\n",
    }
    for path, text in files.items():
        atomic_write(path, lambda tmp, text=text: Path(tmp).write_text(text), overwrite=True)
    return list(files)
