"""Reading a spec: TOML in, a checked :class:`~bayesmix.spec.model.Spec` out.

Each table has its own small parser; the keys, their types, bounds and
defaults come from :mod:`bayesmix.spec.sections` and, for ``[builder]`` and
``[data.columns]``, from the builder (:mod:`bayesmix.spec.registry`).  Every
problem is a :class:`~bayesmix.exceptions.SpecError` whose message starts with
the key path and whose ``key`` attribute holds it.  Nothing here reads data;
``[priors]`` imports PyMC (for the distributions' signatures) but builds no
model.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bayesmix._files import safe_name
from bayesmix._validate import (
    check_float,
    check_str,
    check_str_list,
    option_error,
    suggest,
    toml_key,
)
from bayesmix.exceptions import SpecError
from bayesmix.spec.data import available_datasets
from bayesmix.spec.model import (
    CLUSTER_FIGURE_COLUMNS,
    FIGURES,
    DataSpec,
    OutputSpec,
    SamplerSpec,
    Selection,
    Spec,
    TableSource,
    parquet_files,
)
from bayesmix.spec.registry import Builder, builder, builder_names
from bayesmix.spec.schema import Section, check_table
from bayesmix.spec.sections import (
    DATA,
    OUTPUT,
    POPULATION,
    REFERENCE_NAMES,
    SOURCE_KEYS,
    TOP,
    TRAINING,
    sampler_section,
)

__all__ = ["load_spec", "parse_spec"]

_SELECT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_DEFAULT_TABLE = {"gpz_weights": "weights.csv", "gpz_divide": "divide_table.csv"}


def _only(section: Section, names: tuple[str, ...]) -> Section:
    """``section`` restricted to the keys ``names`` (the others become unknown keys)."""
    return replace(section, keys=tuple(k for k in section.keys if k.name in names))


# --------------------------------------------------------------------------------------------
# the top level and [builder]
# --------------------------------------------------------------------------------------------


def _parse_top(doc: Mapping[str, Any], path: Path | None) -> tuple[str, str, int]:
    """Check the top-level keys; return (name, description, seed)."""
    TOP.check_keys(doc)
    for section in ("data", "builder"):
        if section not in doc:
            raise SpecError(
                f"[{section}] is missing; every spec needs [data] and [builder]",
                key=f"[{section}]",
            )
    if "seed" not in doc:
        raise SpecError(
            "seed is missing: every spec names its seed (e.g. seed = 42) so that "
            "reruns give the same numbers",
            key="seed",
        )
    seed = TOP.key("seed").check(doc["seed"], "seed")
    if "name" in doc:
        name = check_str(doc["name"], key="name")
    else:
        name = path.stem if path is not None else "spec"
    description = check_str(doc["description"], key="description") if "description" in doc else ""
    return safe_name(name, key="name"), description, seed


def _parse_builder(value: Any) -> tuple[Builder, dict[str, Any]]:
    """Check ``[builder]``: a known name and that builder's options; return both."""
    tab = check_table(value, "[builder]")
    names = builder_names()
    if "name" not in tab:
        raise SpecError(
            f"[builder].name is missing; choose one of {', '.join(names)}", key="[builder].name"
        )
    name = tab["name"]
    try:
        info = builder(name)
    except (KeyError, TypeError):
        extra = (
            "; 'cluster_field' needs bayesmix.builders.cluster_field, not installed"
            if name == "cluster_field"
            else ""
        )
        listed = ", ".join(repr(b) for b in names)
        raise option_error(
            f"must be one of {listed}", f"{name!r}{extra}", key="[builder].name"
        ) from None
    options = info.options.parse(tab, required_by=f" by builder {name!r}", extra=("name",))
    _check_option_pairs(options, info)
    return info, options


def _check_option_pairs(options: Mapping[str, Any], info: Builder) -> None:
    """Rules that tie two options together."""
    labels, k = options.get("labels"), options.get("n_components")
    if labels is not None and isinstance(k, int) and len(labels) != k:
        raise option_error(
            f"must have n_components = {k} entries", str(len(labels)), key="[builder].labels"
        )
    if "min_weight" in options:
        high = options.get("max_weight", info.defaults.get("max_weight"))
        if high is not None and options["min_weight"] > high:
            raise option_error(
                f"must be <= max_weight ({high})",
                str(options["min_weight"]),
                key="[builder].min_weight",
            )


# --------------------------------------------------------------------------------------------
# [data], [data.columns], [data.population]
# --------------------------------------------------------------------------------------------


def _parse_select(value: Any, key: str) -> tuple[Selection, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise option_error(
            'must be a condition such as "ID >= 5" or an array of them', repr(value), key=key
        )
    out = []
    for i, text in enumerate(texts):
        k = key if isinstance(value, str) else f"{key}[{i}]"
        m = _SELECT_RE.match(text)
        if m is None:
            raise option_error(
                "must look like 'column op value' with op one of ==, !=, <, <=, >, >= "
                '(e.g. "ID >= 5" or "split == \'train\'")',
                repr(text),
                key=k,
            )
        col, op, raw = m.groups()
        val: float | str
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            val = raw[1:-1]
        else:
            try:
                val = float(raw)
            except ValueError:
                raise SpecError(
                    f"{k} value {raw!r} must be a number or a quoted string (in {text!r})", key=k
                ) from None
        out.append(Selection(col, op, val, text))
    return tuple(out)


def _parse_path(
    raw: str, where: str, base: Path | None, fmt: str | None
) -> tuple[Path, str | None]:
    """Resolve ``[..].path``: a table file, or a folder or glob of Parquet files."""
    p = Path(os.path.expanduser(raw))
    p = (p if p.is_absolute() else (base or Path.cwd()) / p).resolve()
    relative = "" if Path(raw).is_absolute() else " (relative paths resolve from the spec's folder)"
    if p.is_dir() or (any(ch in p.name for ch in "*?[") and not p.exists()):
        if not parquet_files(p):
            what = "folder" if p.is_dir() else "glob"
            raise SpecError(
                f"{where}.path {what} '{p}' has no Parquet file{relative}", key=f"{where}.path"
            )
        return p, fmt or "parquet"
    if not p.is_file():
        raise SpecError(f"{where}.path file '{p}' does not exist{relative}", key=f"{where}.path")
    if fmt is None:
        from bayesmix.io import TABLE_FORMATS

        if not any(p.name.lower().endswith(e) for e in TABLE_FORMATS):
            raise SpecError(
                f"{where}.path has an unknown table format ('{p.name}'); use one of "
                f"{', '.join(sorted(TABLE_FORMATS))} or set {where}.format",
                key=f"{where}.path",
            )
    return p, fmt


def _parse_source(tab: Mapping[str, Any], where: str, base: Path | None) -> TableSource:
    """Parse a table source: one of ``path`` and ``dataset``, plus ``format`` and ``select``."""
    if ("path" in tab) == ("dataset" in tab):
        raise SpecError(
            f"{where} needs exactly one of 'path' (a table file) and 'dataset' "
            f"(a bundled data set: {', '.join(available_datasets())})",
            key=f"{where}.path",
        )
    select = _parse_select(tab["select"], f"{where}.select") if "select" in tab else ()
    fmt = None
    if "format" in tab:
        from bayesmix.io import readable_formats

        fmt, known = check_str(tab["format"], key=f"{where}.format"), readable_formats()
        if fmt not in known:
            raise option_error(
                "must be an astropy table format (e.g. 'ascii.csv', 'fits', 'votable', 'parquet')",
                repr(fmt) + suggest(fmt, known),
                key=f"{where}.format",
            )
    if "dataset" in tab:
        name = check_str(tab["dataset"], key=f"{where}.dataset")
        names = available_datasets()
        if name not in names:
            raise option_error(
                f"must be a bundled data set ({', '.join(names)})",
                repr(name) + suggest(name, names),
                key=f"{where}.dataset",
            )
        return TableSource(dataset=name, select=select)
    path, fmt = _parse_path(check_str(tab["path"], key=f"{where}.path"), where, base, fmt)
    return TableSource(path=path, format=fmt, select=select)


def _parse_columns(value: Any, info: Builder) -> dict[str, Any]:
    """``[data.columns]``: builder argument (or any Gaia name) = column(s)."""
    key = "[data.columns]"
    tab = check_table(value, key)
    if info.columns is None:  # any name -> one column (cluster_field: Gaia name -> column)
        return {arg: check_str(col, key=f"{key}.{toml_key(arg)}") for arg, col in tab.items()}
    out = info.columns.parse(tab, required_by=f" by builder {info.name!r}")
    if "X" in out and "X_err" in out and len(out["X_err"]) != len(out["X"]):
        raise SpecError(
            f"{key}.X_err must have one column per column of X ({len(out['X'])}), "
            f"got {len(out['X_err'])}",
            key=f"{key}.X_err",
        )
    return out


def _parse_features(value: Any, info: Builder, options: Mapping[str, Any]) -> tuple[str, ...]:
    """``[data].features`` of EM and GPz: columns (GPz: also expressions such as ``a-b``)."""
    features = check_str_list(value, key="[data].features", unique=True)
    if info.kind in ("gpz_weights", "gpz_divide"):
        from bayesmix.gpz import parse_feature

        for i, f in enumerate(features):
            try:
                parse_feature(f)
            except SpecError as exc:
                raise SpecError(
                    f"[data].features[{i}] {exc}", key=f"[data].features[{i}]"
                ) from None
    order_by = options.get("order_by")
    if info.kind == "em" and order_by is not None and order_by not in features:
        raise option_error(
            f"must be one of [data].features {list(features)}",
            repr(order_by),
            key="[builder].order_by",
        )
    return features


def _parse_data(
    value: Any, info: Builder, options: Mapping[str, Any], base: Path | None
) -> DataSpec:
    """Parse ``[data]``: the source, ids, columns (Bayesian) or features, population, training."""
    tab = check_table(value, "[data]")
    gpz = info.kind in ("gpz_weights", "gpz_divide")
    allowed = (*SOURCE_KEYS, "ids", "columns" if info.kind == "bayes" else "features")
    allowed += ("population",) if gpz else ()
    allowed += ("training",) if info.kind == "gpz_divide" else ()
    _only(DATA, allowed).check_keys(tab)
    source = _parse_source(tab, "[data]", base)
    ids = check_str(tab["ids"], key="[data].ids") if "ids" in tab else None
    columns: dict[str, Any] = {}
    features: tuple[str, ...] = ()
    if info.kind == "bayes" and "columns" in tab:
        columns = _parse_columns(tab["columns"], info)
    elif info.kind == "bayes" and info.columns is not None:
        need = [k.name for k in info.columns.keys if k.required]
        raise SpecError(
            f"[data.columns] is missing; builder {info.name!r} needs columns for {', '.join(need)}",
            key="[data.columns]",
        )
    elif info.kind != "bayes":
        if "features" not in tab:
            raise SpecError(
                "[data].features is missing: the columns (or expressions such as "
                '"a-b" for GPz) to model',
                key="[data].features",
            )
        features = _parse_features(tab["features"], info, options)
    if gpz and "population" not in tab:
        raise SpecError(
            "[data.population] is missing: the population table (path or "
            "dataset) the training sample is compared with",
            key="[data.population]",
        )
    if "training" in tab and not options.get("weight", False):
        raise SpecError(
            "[data.training] is the training sample of the weights; it needs "
            "[builder].weight = true",
            key="[data.training]",
        )
    # the further tables ([data].population, [data].training): each a source of its own
    further = {}
    for name, section in (("population", POPULATION), ("training", TRAINING)):
        if name in tab:
            sub = check_table(tab[name], section.name)
            section.check_keys(sub)
            further[name] = _parse_source(sub, section.name, base)
    return DataSpec(
        source=source,
        ids=ids,
        columns=columns,
        features=features,
        population=further.get("population"),
        training=further.get("training"),
    )


# --------------------------------------------------------------------------------------------
# [priors], [sampler], [output], [reference]
# --------------------------------------------------------------------------------------------


def _parse_priors(value: Any, info: Builder, options: Mapping[str, Any]) -> dict[str, dict]:
    """``[priors.<var>]``: each checked against its PyMC distribution (nothing compiled)."""
    if value is None:
        return {}
    if not info.priors:
        raise SpecError(
            f"[priors] does not apply to builder {info.name!r} (EM and GPz fits have no priors)",
            key="[priors]",
        )
    from bayesmix.builders import check_prior

    tab = check_table(value, "[priors]")
    n_components = info.n_components or options.get("n_components")
    return {
        var: check_prior(
            prior,
            key=f"[priors.{toml_key(var)}]",
            length=n_components if var == "weights" else None,
        )
        for var, prior in tab.items()
    }


def _parse_sampler(value: Any, info: Builder) -> SamplerSpec:
    """``[sampler]`` of a Bayesian builder (defaults: those of bayesmix.inference.sample)."""
    if value is not None and info.kind != "bayes":
        raise SpecError(
            f"[sampler] does not apply to builder {info.name!r} (only Bayesian builders are "
            "sampled)",
            key="[sampler]",
        )
    if info.kind != "bayes":
        return SamplerSpec()
    tab = check_table(value if value is not None else {}, "[sampler]")
    return SamplerSpec(**sampler_section().parse(tab, defaults=True))


def _parse_table_name(value: Any) -> str:
    name = check_str(value, key="[output].table")
    if Path(name).name != name:
        raise option_error(
            "must be a file name (no folder; use --out)", repr(name), key="[output].table"
        )
    safe_name(name, key="[output].table")
    from bayesmix.io import TABLE_FORMATS

    if not any(name.lower().endswith(e) for e in TABLE_FORMATS):
        raise option_error(
            f"must end in one of {', '.join(sorted(TABLE_FORMATS))}",
            repr(name),
            key="[output].table",
        )
    return name


def _parse_figures(value: Any, info: Builder) -> tuple[str, ...]:
    figures = OUTPUT.key("figures").check(value, "[output].figures")
    allowed = FIGURES[info.kind]
    for i, f in enumerate(figures):
        key = f"[output].figures[{i}]"
        if f not in allowed:
            raise option_error(
                f"must be one of {', '.join(repr(x) for x in allowed)} for builder {info.name!r}",
                repr(f),
                key=key,
            )
        if f in CLUSTER_FIGURE_COLUMNS and info.name != "cluster_field":
            raise SpecError(
                f"{key} {f!r} is drawn for builder 'cluster_field' only (it shows cluster "
                f"membership), not for builder {info.name!r}",
                key=key,
            )
    return tuple(dict.fromkeys(figures))


def _parse_output(value: Any, info: Builder) -> OutputSpec:
    """``[output]``: the table's file name, figures, scatter columns, posterior, pair_vars."""
    tab = check_table(value if value is not None else {}, "[output]")
    bayes = ("posterior", "pair_vars") if info.kind == "bayes" else ()
    section = _only(OUTPUT, ("table", "figures", "scatter", *bayes))
    out = section.parse({k: v for k, v in tab.items() if k not in ("table", "figures")})
    table = _parse_table_name(tab["table"]) if "table" in tab else None
    # by default every figure the kind has, except those needing extra columns (opt-in)
    figures = tuple(f for f in FIGURES[info.kind] if f not in CLUSTER_FIGURE_COLUMNS)
    return OutputSpec(
        table=table or _DEFAULT_TABLE.get(info.kind, "membership.csv"),
        figures=_parse_figures(tab["figures"], info) if "figures" in tab else figures,
        posterior=out.get("posterior", True),
        scatter=out.get("scatter"),
        pair_vars=out.get("pair_vars"),
    )


def _parse_reference(value: Any, builder_name: str) -> dict[str, Any]:
    """Parse ``[reference]``: published values printed next to a cluster_field posterior."""
    if value is None:
        return {}
    tab = check_table(value, "[reference]")
    if builder_name != "cluster_field":
        raise SpecError(
            f"[reference] is used by builder 'cluster_field' only (published cluster values), "
            f"not by builder {builder_name!r}",
            key="[reference]",
        )
    out: dict[str, Any] = {}
    for key, v in tab.items():
        where = f"[reference].{toml_key(key)}"
        if key != "source" and not key.startswith("cluster_") and key not in REFERENCE_NAMES:
            raise SpecError(
                f"[reference] has unknown key {key!r}: give 'source' and values of the cluster "
                f"summary (cluster_pmra, cluster_pmdec, cluster_parallax, ..., "
                f"{', '.join(REFERENCE_NAMES)})",
                key=where,
            )
        out[key] = check_str(v, key=where) if key == "source" else check_float(v, key=where)
    return out


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------


def parse_spec(doc: Mapping[str, Any], *, path: str | os.PathLike | None = None) -> Spec:
    """Validate a parsed TOML document and return a :class:`~bayesmix.spec.Spec`.

    Parameters
    ----------
    doc : mapping
        The document (``tomllib.loads(text)``).
    path : path-like, optional
        The spec file; relative data paths resolve from its folder (else the
        current folder), and its stem is the default ``name``.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        The first problem found, its key path first in the message.
    """
    p = Path(path).resolve() if path is not None else None
    doc = check_table(dict(doc) if isinstance(doc, Mapping) else doc, "the spec")
    name, description, seed = _parse_top(doc, p)
    info, options = _parse_builder(doc["builder"])
    data = _parse_data(doc["data"], info, options, p.parent if p is not None else None)
    return Spec(
        path=p,
        name=name,
        description=description,
        seed=seed,
        builder=info.name,
        kind=info.kind,
        options=options,
        priors=_parse_priors(doc.get("priors"), info, options),
        data=data,
        sampler=_parse_sampler(doc.get("sampler"), info),
        output=_parse_output(doc.get("output"), info),
        reference=_parse_reference(doc.get("reference"), info.name),
    )


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and validate a TOML spec file.

    ``[data].path`` may name a table file, or a folder or glob of Parquet files
    (read whole in memory, or partition by partition by ``bayesmix run --dask``).

    Parameters
    ----------
    path : path-like
        The ``.toml`` file.

    Returns
    -------
    Spec

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    SpecError
        Invalid TOML, or any problem :func:`parse_spec` finds.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"spec file '{p}' does not exist" if not p.exists() else f"spec '{p}' is not a file"
        )
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"'{p}' is not valid TOML: {exc}", key=None) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"'{p}' is not UTF-8 text: {exc}", key=None) from None
    return parse_spec(doc, path=p)
