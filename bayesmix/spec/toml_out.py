"""Write a spec document (nested dicts of TOML values) back as TOML text.

Specs are read with :mod:`tomllib`, which cannot write; :func:`dumps` is the
small writer the survey uses to save the exact spec of each cluster it fits
(``bayesmix run`` reruns it).  It writes what specs hold: strings, booleans,
integers, finite floats, arrays of those and of inline tables, and tables.
``tomllib.loads(dumps(doc)) == doc`` (tested).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{where}: TOML specs hold finite numbers, got {v!r}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x, f"{where}[]") for x in v) + "]"
    if isinstance(v, Mapping):
        return (
            "{" + ", ".join(f"{_key(k)} = {_value(x, f'{where}.{k}')}" for k, x in v.items()) + "}"
        )
    raise ValueError(f"{where}: cannot write {type(v).__name__} to TOML")


def _table(doc: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    plain = {k: v for k, v in doc.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in doc.items() if isinstance(v, Mapping)}
    if prefix and (plain or not tables):
        out.append(f"\n[{prefix}]")
    for k, v in plain.items():
        out.append(f"{_key(k)} = {_value(v, f'{prefix}.{k}' if prefix else k)}")
    for k, v in tables.items():
        _table(v, f"{prefix}.{_key(k)}" if prefix else _key(k), out)


def dumps(doc: Mapping[str, Any]) -> str:
    """Return ``doc`` (a spec as :func:`tomllib.loads` gives it) as TOML text.

    Raises
    ------
    ValueError
        A value TOML specs cannot hold (NaN, infinity, an unknown type), naming its key.
    """
    out: list[str] = []
    _table(doc, "", out)
    return "\n".join(out).lstrip("\n") + "\n"
