"""A small declarative schema: one definition of each spec key gives its check, docs and JSON.

A :class:`Key` names a key, its type, constraints, default and one line of
documentation; a :class:`Section` is a TOML table of keys.  From that one
definition come

- the check (:meth:`Key.check`: the normalised value, or a
  :class:`~bayesmix.exceptions.SpecError` whose message starts with the key path,
  through the checkers of :mod:`bayesmix._validate`),
- unknown-key errors with a did-you-mean (:meth:`Section.check_keys`),
- the reference documentation (:meth:`Key.describe`, used by
  :func:`bayesmix.spec.docs.spec_reference`) and
- a JSON Schema (draft 2020-12) for editors (:meth:`Key.json_schema`,
  :meth:`Section.json_schema`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bayesmix._validate import (
    check_bool,
    check_candidates,
    check_choice,
    check_float,
    check_float_list,
    check_int,
    check_range,
    check_str,
    check_str_list,
    option_error,
    suggest,
    toml_key,
    type_name,
)
from bayesmix.exceptions import SpecError

__all__ = ["NO_DEFAULT", "Key", "Section", "check_table"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: marks a key without a default (required, or absent unless given)
NO_DEFAULT: Any = _NoDefault()

_CANDIDATES_RE = r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$"


@dataclass(frozen=True)
class Key:
    """One key of a spec table.

    Attributes
    ----------
    name : str
        The key as written in TOML.
    type : str
        ``"integer"``, ``"number"``, ``"boolean"``, ``"string"``, ``"strings"``
        (an array of strings; one string counts as one entry), ``"numbers"``,
        ``"range"`` (``[lower, upper]``), ``"choice"``, ``"candidates"``
        (numbers of components: ``3``, ``"1-6"``, ``[1, 2, 4]``), ``"table"`` or
        ``"custom"`` (checked by ``parse``, described by ``json``).
    doc : str
        One line for the reference documentation.
    default : object
        The value used when the key is absent (:data:`NO_DEFAULT`: none).
    required : bool
        The key must be given.
    minimum, maximum : float, optional
        Bounds of a number or integer (excluded when ``exclusive_minimum`` /
        ``exclusive_maximum``).
    choices : tuple, optional
        Allowed values of a ``"choice"``.
    length : int, optional
        Exact number of entries of ``"strings"`` or ``"numbers"``.
    min_length : int
        Least number of entries of ``"strings"``.
    unique : bool
        The entries of ``"strings"`` must differ (a column named twice would
        make a singular model or two output columns of one name).
    parse : callable, optional
        ``parse(value, key) -> value`` of a ``"custom"`` key.
    json : mapping, optional
        The JSON Schema of a ``"custom"`` key.
    """

    name: str
    type: str
    doc: str = ""
    default: Any = NO_DEFAULT
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple = ()
    length: int | None = None
    min_length: int = 1
    unique: bool = True
    parse: Callable[[Any, str], Any] | None = None
    json: Mapping[str, Any] | None = None

    def check(self, value: Any, key: str) -> Any:
        """Return the normalised ``value`` of this key, or raise SpecError naming ``key``."""
        t = self.type
        if t == "integer":
            return check_int(value, key=key, minimum=self.minimum, maximum=self.maximum)
        if t == "number":
            return check_float(
                value,
                key=key,
                minimum=self.minimum,
                maximum=self.maximum,
                exclusive_minimum=self.exclusive_minimum,
                exclusive_maximum=self.exclusive_maximum,
            )
        if t == "boolean":
            return check_bool(value, key=key)
        if t == "string":
            return check_str(value, key=key)
        if t == "strings":
            return check_str_list(
                value, key=key, min_len=self.min_length, length=self.length, unique=self.unique
            )
        if t == "numbers":
            return check_float_list(value, key=key, length=self.length)
        if t == "range":
            return check_range(value, key=key)
        if t == "choice":
            if self.choices and isinstance(self.choices[0], tuple) and isinstance(value, list):
                value = tuple(value)  # a choice among arrays (e.g. cluster_field features)
            return check_choice(value, key=key, choices=self.choices)
        if t == "candidates":
            return check_candidates(value, key=key)
        if t == "table":
            return check_table(value, key)
        if t == "custom" and self.parse is not None:
            return self.parse(value, key)
        raise TypeError(f"key {self.name!r} has no check for type {t!r}")

    def json_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of this key's value (with its description and default)."""
        t = self.type
        bounds: dict[str, Any] = {}
        if self.minimum is not None:
            bounds["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            bounds["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        sized = {} if self.length is None else {"minItems": self.length, "maxItems": self.length}
        text = {"type": "string", "pattern": r"\S"}  # not empty, not only spaces
        strings = {"type": "array", "items": text}
        schema: dict[str, Any]
        if t in ("integer", "number"):
            schema = {"type": t, **bounds}
        elif t == "boolean":
            schema = {"type": "boolean"}
        elif t == "string":
            schema = dict(text)
        elif t == "strings":
            strings = {**strings, "minItems": max(self.min_length, 0), **sized}
            if self.unique:
                strings["uniqueItems"] = True
            schema = strings if self.length else {"anyOf": [text, strings]}
        elif t == "numbers":
            schema = {"type": "array", "items": {"type": "number"}, **sized}
        elif t == "range":
            schema = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        elif t == "choice":
            schema = {"enum": [list(c) if isinstance(c, tuple) else c for c in self.choices]}
        elif t == "candidates":
            count = {"type": "integer", "minimum": 1}
            text = {"type": "string", "pattern": _CANDIDATES_RE}
            schema = {"anyOf": [count, text, {"type": "array", "items": count, "minItems": 1}]}
        elif t == "table":
            schema = {"type": "object"}
        else:
            schema = dict(self.json or {})
        schema["description"] = self.doc
        if self.default is not NO_DEFAULT and self.default is not None:
            schema["default"] = (
                list(self.default) if isinstance(self.default, tuple) else self.default
            )
        return schema

    def describe(self) -> str:
        """Return the type and constraints in words, for the reference documentation."""
        t = self.type
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            left = "(" if self.exclusive_minimum else "["
            right = ")" if self.exclusive_maximum else "]"
            bounds = f" in {left}{lo:g}, {hi:g}{right}"
        elif lo is not None:
            bounds = f" {'>' if self.exclusive_minimum else '>='} {lo:g}"
        else:
            bounds = "" if hi is None else f" {'<' if self.exclusive_maximum else '<='} {hi:g}"
        n = "" if self.length is None else f"{self.length} "
        words = {
            "integer": f"integer{bounds}",
            "number": f"number{bounds}",
            "boolean": "true or false",
            "string": "string",
            "strings": f"array of {n}{'distinct ' if self.unique else ''}strings"
            + ("" if self.length else " (or one string)"),
            "numbers": f"array of {n}numbers",
            "range": "[lower, upper] (numbers, upper > lower)",
            "choice": "one of "
            + ", ".join(repr(list(c)) if isinstance(c, tuple) else repr(c) for c in self.choices),
            "candidates": 'numbers of components: 3, "1-6", "1,2,4" or [1, 2, 4]',
            "table": "table",
        }
        text = words.get(t) or (self.json or {}).get("title", "see description")
        return text.replace("'", '"')


def check_table(value: Any, key: str) -> dict[str, Any]:
    """Return ``value`` if it is a TOML table (dict), else raise SpecError naming ``key``."""
    if not isinstance(value, dict):
        raise option_error("must be a table", f"{type_name(value)} {value!r}", key=key)
    return value


@dataclass(frozen=True)
class Section:
    """A TOML table of keys: ``[sampler]``, ``[output]``, a builder's ``[builder]`` ...

    Attributes
    ----------
    name : str
        The table's key path as written in messages, e.g. ``"[sampler]"``.
    doc : str
        A paragraph for the reference documentation.
    keys : tuple of Key
    """

    name: str
    doc: str
    keys: tuple[Key, ...]

    def key(self, name: str) -> Key:
        """Return the key called ``name``."""
        return {k.name: k for k in self.keys}[name]

    def check_keys(self, table: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
        """Raise on the first key of ``table`` that is neither a key here nor in ``extra``."""
        allowed = [k.name for k in self.keys] + list(extra)
        for key in table:
            if key not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise SpecError(
                    f"{self.name} has unknown key {key!r}{suggest(key, allowed)} (known keys: "
                    f"{known})",
                    key=f"{self.name}.{toml_key(key)}",
                )

    def parse(
        self,
        table: Mapping[str, Any],
        *,
        defaults: bool = False,
        required_by: str = "",
        extra: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Check every key of ``table``; return the checked values.

        Parameters
        ----------
        table : mapping
        defaults : bool
            Fill in the defaults of absent keys (else only given keys are returned).
        required_by : str
            Appended to the "is required" message, e.g. ``" by builder 'gmm'"``.
        extra : tuple of str
            Further keys allowed in ``table`` (checked by the caller).
        """
        self.check_keys(table, extra)
        out: dict[str, Any] = {}
        for k in self.keys:
            where = f"{self.name}.{k.name}"
            if k.name in table:
                out[k.name] = k.check(table[k.name], where)
            elif k.required:
                raise SpecError(f"{where} is required{required_by}", key=where)
            elif defaults and k.default is not NO_DEFAULT:
                out[k.name] = k.default
        return out

    def json_schema(self, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the JSON Schema of this table (unknown keys refused)."""
        props = {k.name: k.json_schema() for k in self.keys}
        props.update(extra or {})
        schema: dict[str, Any] = {
            "type": "object",
            "description": self.doc,
            "properties": props,
            "additionalProperties": False,
        }
        required = [k.name for k in self.keys if k.required]
        if required:
            schema["required"] = required
        return schema

    def markdown(self) -> list[str]:
        """Lines of a Markdown table of the keys (key, type, default, description)."""
        lines = ["| key | value | default | description |", "|---|---|---|---|"]
        for k in self.keys:
            if k.required:
                default = "required"
            elif k.default is NO_DEFAULT or k.default is None:
                default = "-"
            else:
                default = f"`{json.dumps(k.default)}`"  # TOML spelling: true, "gmm", [1, 2]
            doc = " ".join(k.doc.split()).replace("|", "\\|")
            lines.append(f"| `{k.name}` | {k.describe().replace('|', '/')} | {default} | {doc} |")
        return lines
