"""Analysis specifications: ``models/<name>.toml`` read into frozen dataclasses.

A spec says where the data are (a file, resolved from the spec's folder, or a
bundled data set), which columns feed which argument, the analysis (a
Bayesian builder, EM with BIC/AIC selection, or a GPz training-set tool) and its
options, priors, sampler settings, the seed and the outputs.  :func:`load_spec`
checks all of it before anything is fitted; every problem is a
:class:`~bayesmix.exceptions.SpecError` whose message starts with the key path
(``[builder].n_components must be >= 1, got 0``) and whose ``key`` attribute
holds it.  Unknown keys are errors naming the key.

Example (``models/hogg2010_line_outliers.toml``)::

    name = "hogg2010_line_outliers"
    seed = 20100901

    [data]
    dataset = "hogg2010"          # or: path = "my_table.csv"
    ids = "ID"

    [data.columns]                # builder argument = column
    x = "x"
    y = "y"
    y_err = "sigma_y"

    [builder]
    name = "line_outlier"
    outlier = "gaussian"

    [priors.slope]
    dist = "Normal"
    mu = 0
    sigma = 10

    [sampler]
    draws = 1000
    tune = 1000
    chains = 4

    [output]
    figures = ["pgm", "membership", "pair"]

``cluster_field`` specs may also ask for the figures ``"sky"`` (ra, dec) and
``"cmd"`` (phot_g_mean_mag against bp_rp, probable members highlighted), and
give published values in ``[reference]`` (``source`` plus numbers named as in
:func:`~bayesmix.builders.cluster_field.cluster_summary`, e.g. ``cluster_pmra``,
``n_members``), which the run prints next to the posterior.

Kinds of analysis, chosen by ``[builder].name``:

``line_outlier``, ``gaussian_mixture``, ``cluster_field`` (when installed)
    Bayesian: the builder of :mod:`bayesmix.builders`, sampled with NUTS.
``gmm``
    EM Gaussian mixtures over ``[data].features`` with BIC/AIC selection
    (:func:`bayesmix.workflows.gmm.fit_gmm_selection`).
``gpz_weights``, ``gpz_divide``
    :func:`bayesmix.gpz.gpz_weights_table` / :func:`bayesmix.gpz.gpz_divide_table`;
    ``[data]`` is the training (or to-be-divided) table and
    ``[data.population]`` the population.

This module reads no data and imports neither PyMC nor matplotlib;
:func:`read_data` reads the tables and checks the columns (still before any
fitting).
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "BUILDERS",
    "DataSpec",
    "OutputSpec",
    "SamplerSpec",
    "Selection",
    "Spec",
    "SpecData",
    "TableSource",
    "available_builders",
    "available_datasets",
    "figure_column",
    "load_spec",
    "parse_spec",
    "read_data",
]

KINDS = ("bayes", "em", "gpz_weights", "gpz_divide")
_SELECT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _err(key: str, message: str) -> SpecError:
    return SpecError(f"{key} {message}", key=key)


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------
# value checkers: each returns the normalised value or raises SpecError naming the key
# --------------------------------------------------------------------------------------------


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """Raise on the first key of ``table`` not in ``allowed`` (with a close match if any)."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(allowed)) or "none"
            raise SpecError(
                f"{where} has unknown key {key!r}{hint} (known keys: {known})",
                key=f"{where}.{key}",
            )


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(key, f"must be a table, got {_type_name(value)} {value!r}")
    return value


def _int(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(key, f"must be an integer, got {_type_name(value)} {value!r}")
    if minimum is not None and value < minimum:
        raise _err(key, f"must be >= {minimum}, got {value}")
    return int(value)


def _float(
    value: Any,
    key: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(key, f"must be a number, got {_type_name(value)} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise _err(key, f"must be finite, got {value!r}")
    if minimum is not None and (v <= minimum if strict_min else v < minimum):
        raise _err(key, f"must be {'>' if strict_min else '>='} {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise _err(key, f"must be <= {maximum}, got {value!r}")
    return v


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _err(key, f"must be true or false, got {_type_name(value)} {value!r}")
    return value


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(key, f"must be a non-empty string, got {_type_name(value)} {value!r}")
    return value


def _choice(value: Any, key: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _err(
            key, f"must be one of {', '.join(repr(c) for c in sorted(choices))}, got {value!r}"
        )
    return value


def _str_list(
    value: Any, key: str, *, min_len: int = 1, length: int | None = None
) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _err(key, f"must be an array of non-empty strings, got {value!r}")
    if length is not None and len(value) != length:
        raise _err(key, f"must have {length} entries, got {len(value)}")
    if len(value) < min_len:
        raise _err(
            key,
            f"must have at least {min_len} entr{'y' if min_len == 1 else 'ies'}, got {len(value)}",
        )
    return tuple(value)


def _float_pair(value: Any, key: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _err(key, f"must be [lower, upper], got {value!r}")
    lo, hi = (_float(v, f"{key}[{i}]") for i, v in enumerate(value))
    if not hi > lo:
        raise _err(key, f"must have upper > lower, got {value!r}")
    return (lo, hi)


def _candidates(value: Any, key: str) -> tuple[int, ...]:
    """``3``, ``"1-6"``, ``"1,2,4"`` or ``[1, 2, 4]`` -> sorted unique counts >= 1."""
    vals: list[int] = []
    if isinstance(value, bool):
        raise _err(key, f"must be a count, a range '1-6' or an array, got {value!r}")
    if isinstance(value, int):
        vals = [value]
    elif isinstance(value, list):
        vals = [_int(v, f"{key}[{i}]") for i, v in enumerate(value)]
    elif isinstance(value, str):
        try:
            for part in value.replace(" ", "").split(","):
                if "-" in part:
                    lo, hi = (int(p) for p in part.split("-"))
                    if hi < lo:
                        raise ValueError
                    vals.extend(range(lo, hi + 1))
                else:
                    vals.append(int(part))
        except ValueError:
            raise _err(
                key, f"must look like 3, '1-6', '1,2,4' or [1, 2, 4], got {value!r}"
            ) from None
    else:
        raise _err(key, f"must be a count, a range '1-6' or an array, got {value!r}")
    if not vals:
        raise _err(key, "must name at least one number of components")
    if min(vals) < 1:
        raise _err(key, f"must be >= 1, got {min(vals)}")
    return tuple(sorted(set(vals)))


# --------------------------------------------------------------------------------------------
# builders: what each takes from [data.columns] and [builder]
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    check: Callable[[Any, str], Any]
    required: bool = False


@dataclass(frozen=True)
class _BuilderInfo:
    kind: str
    columns: Mapping[str, str]  # argument -> "required"/"optional", "1" (one column)/"n" (list)
    options: Mapping[str, _Option]
    priors: bool = False
    description: str = ""


def _req(check: Callable[[Any, str], Any]) -> _Option:
    return _Option(check, required=True)


_GPZ_COMMON: dict[str, _Option] = {
    "n_components": _Option(lambda v, k: _int(v, k, minimum=1)),
    "n_init": _Option(lambda v, k: _int(v, k, minimum=1)),
    "tol": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
    "scale": _Option(_bool),
    "covariance_type": _Option(lambda v, k: _choice(v, k, ("full", "diag", "spherical", "tied"))),
    "max_weight": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
    "min_weight": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
    "eta": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
    "error_prefix": _Option(lambda v, k: _str_list(v, k, length=2)),
}

#: Builders known to specs, by ``[builder].name``.  ``cluster_field`` is added when
#: :mod:`bayesmix.builders.cluster_field` is importable (its options come from its signature).
BUILDERS: dict[str, _BuilderInfo] = {
    "line_outlier": _BuilderInfo(
        kind="bayes",
        columns={
            "x": "required:1",
            "y": "required:1",
            "y_err": "required:1",
            "x_err": "optional:1",
        },
        options={
            "outlier": _Option(lambda v, k: _choice(v, k, ("gaussian", "uniform"))),
            "outlier_range": _Option(_float_pair),
            "intrinsic_scatter": _Option(_bool),
        },
        priors=True,
        description="straight line plus outliers (Hogg, Bovy & Lang 2010)",
    ),
    "gaussian_mixture": _BuilderInfo(
        kind="bayes",
        columns={"X": "required:n", "X_err": "optional:n"},
        options={
            "n_components": _req(lambda v, k: _int(v, k, minimum=1)),
            "labels": _Option(_str_list),
        },
        priors=True,
        description="Bayesian Gaussian mixture (deconvolving per-object errors)",
    ),
    "gmm": _BuilderInfo(
        kind="em",
        columns={},
        options={
            "n_components": _Option(_candidates),
            "criterion": _Option(lambda v, k: _choice(v, k, ("aic", "bic"))),
            "covariance_type": _Option(
                lambda v, k: _choice(v, k, ("full", "diag", "spherical", "tied"))
            ),
            "n_init": _Option(lambda v, k: _int(v, k, minimum=1)),
            "max_iter": _Option(lambda v, k: _int(v, k, minimum=1)),
            "tol": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
            "order_by": _Option(_str),
        },
        description="EM Gaussian mixtures with BIC/AIC selection",
    ),
    "gpz_weights": _BuilderInfo(
        kind="gpz_weights",
        columns={},
        options=dict(_GPZ_COMMON),
        description="GPz cost-sensitive training weights",
    ),
    "gpz_divide": _BuilderInfo(
        kind="gpz_divide",
        columns={},
        options={
            **_GPZ_COMMON,
            "threshold": _Option(lambda v, k: _float(v, k, minimum=0.0, maximum=1.0)),
            "assign": _Option(lambda v, k: _choice(v, k, ("best", "threshold"))),
            "weight": _Option(_bool),
        },
        description="GPz mixture divide",
    ),
}


def _float_list(value: Any, key: str, *, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        n = f"{length} numbers" if length is not None else "numbers"
        raise _err(key, f"must be an array of {n}, got {value!r}")
    return tuple(_float(v, f"{key}[{i}]") for i, v in enumerate(value))


def _zero_point(value: Any, key: str) -> float | str:
    if value == "free":
        return "free"
    if isinstance(value, str):
        raise _err(key, f"must be a number (mas) or 'free', got {value!r}")
    return _float(value, key)


def _footprint(value: Any, key: str) -> dict[str, Any]:
    """``footprint = {kind = "cone", ra = .., dec = .., radius = ..}`` or a box (deg)."""
    from bayesmix.sky import Footprint

    try:
        return Footprint.parse(value).to_dict()
    except SpecError as exc:
        raise _err(key, f"is invalid: {exc}") from None


_CLUSTER_FIELD_OPTIONS: dict[str, _Option] = {
    "features": _Option(lambda v, k: _str_list(v, k)),
    "field": _Option(lambda v, k: _choice(v, k, ("beta", "edsd", "gmm", "uniform"))),
    "field_components": _Option(lambda v, k: _int(v, k, minimum=1)),
    "field_fit": _Option(lambda v, k: _choice(v, k, ("free", "xd"))),
    "cluster_cov": _Option(lambda v, k: _choice(v, k, ("full", "isotropic"))),
    "zero_point": _Option(_zero_point),
    "center": _Option(_float_list),
    "sky_center": _Option(lambda v, k: _float_list(v, k, length=2)),
    "field_min_separation": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
    "footprint": _Option(_footprint),
    "correlations": _Option(_bool),
    "bandwidth": _Option(lambda v, k: _float(v, k, minimum=0.0, strict_min=True)),
}


def _cluster_field_info() -> _BuilderInfo | None:
    """Describe ``cluster_field``, or None if :mod:`bayesmix.builders.cluster_field` is absent."""
    if importlib.util.find_spec("bayesmix.builders.cluster_field") is None:
        return None
    # [data.columns] maps Gaia names (pmra, pmra_error, parallax, source_id, ...) to columns
    return _BuilderInfo(
        kind="bayes",
        columns={"*": "optional:1"},
        options=_CLUSTER_FIELD_OPTIONS,
        priors=True,
        description="star cluster plus field (Gaia astrometry)",
    )


def available_builders() -> dict[str, _BuilderInfo]:
    """Builders a spec may name: the fixed ones plus ``cluster_field`` when installed."""
    out = dict(BUILDERS)
    info = _cluster_field_info()
    if info is not None:
        out["cluster_field"] = info
    return out


def available_datasets() -> list[str]:
    """Names accepted by ``data.dataset``: the ``load_<name>`` functions of bayesmix.datasets."""
    import bayesmix.datasets as ds

    return sorted(
        n[len("load_") :] for n in dir(ds) if n.startswith("load_") and callable(getattr(ds, n))
    )


# --------------------------------------------------------------------------------------------
# the dataclasses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """A row filter ``column op value`` (op one of ==, !=, <, <=, >, >=); no ``eval``."""

    column: str
    op: str
    value: float | str
    text: str

    def mask(self, table, *, where: str) -> np.ndarray:
        """Boolean mask of the rows of ``table`` that pass; missing values never pass."""
        if self.column not in table.colnames:
            raise DataError(
                f"{where}.select names unknown column {self.column!r}; available columns: "
                f"{', '.join(table.colnames)}",
                argument="select",
            )
        col = table[self.column]
        missing = np.ma.getmaskarray(col)
        values = np.ma.getdata(col)
        if isinstance(self.value, str):
            if values.dtype.kind not in "US":
                raise DataError(
                    f"{where}.select compares column {self.column!r} (numeric) "
                    f"with a string: {self.text!r}",
                    argument="select",
                )
            if self.op not in ("==", "!="):
                raise DataError(
                    f"{where}.select can only use == or != on text column "
                    f"{self.column!r}: {self.text!r}",
                    argument="select",
                )
            ok = _OPS[self.op](values.astype(str), self.value)
        else:
            if values.dtype.kind not in "biuf":
                raise DataError(
                    f"{where}.select compares column {self.column!r} (text) with "
                    f"a number: {self.text!r}",
                    argument="select",
                )
            with np.errstate(invalid="ignore"):
                ok = _OPS[self.op](values.astype(np.float64), self.value)
        return np.asarray(ok, dtype=bool) & ~missing


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: a file (absolute path) or a bundled data set, plus filters."""

    path: Path | None = None
    dataset: str | None = None
    format: str | None = None
    select: tuple[Selection, ...] = ()

    @property
    def name(self) -> str:
        """Short name for messages: the file name or ``dataset '<name>'``."""
        return self.path.name if self.path is not None else f"dataset {self.dataset!r}"

    def read(self):
        """Read the whole table (every row, file order)."""
        if self.dataset is not None:
            import bayesmix.datasets as ds

            return getattr(ds, f"load_{self.dataset}")()
        from bayesmix.io import read_table

        return read_table(self.path or "", format=self.format)

    def mask(self, table, *, where: str) -> np.ndarray:
        """Rows passing every ``select`` condition (all True without conditions)."""
        ok = np.ones(len(table), dtype=bool)
        for sel in self.select:
            ok &= sel.mask(table, where=where)
        return ok

    def describe(self) -> dict[str, Any]:
        """JSON-able record."""
        return {
            "path": None if self.path is None else str(self.path),
            "dataset": self.dataset,
            "select": [s.text for s in self.select],
        }


@dataclass(frozen=True)
class DataSpec:
    """``[data]``: the analysed table, ids, column mapping or features, and the population."""

    source: TableSource
    ids: str | None = None
    columns: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    population: TableSource | None = None


@dataclass(frozen=True)
class SamplerSpec:
    """``[sampler]``: NUTS settings of a Bayesian analysis."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    target_accept: float = 0.8


@dataclass(frozen=True)
class OutputSpec:
    """``[output]``: file name of the table, figures, posterior file, scatter columns."""

    table: str = "membership.csv"
    figures: tuple[str, ...] = ()
    posterior: bool = True
    scatter: tuple[str, str] | None = None
    pair_vars: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Spec:
    """A validated analysis specification (see the module docstring)."""

    path: Path | None
    name: str
    description: str
    seed: int
    builder: str
    kind: str
    options: Mapping[str, Any]
    priors: Mapping[str, Mapping[str, Any]]
    data: DataSpec
    sampler: SamplerSpec
    output: OutputSpec
    reference: Mapping[str, Any] = field(default_factory=dict)

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
    ) -> Spec:
        """Return a copy with command-line overrides applied (None keeps the spec's value)."""
        s = self.sampler
        sampler = replace(
            s,
            draws=s.draws if draws is None else _int(draws, "--draws", minimum=1),
            tune=s.tune if tune is None else _int(tune, "--tune", minimum=0),
            chains=s.chains if chains is None else _int(chains, "--chains", minimum=1),
        )
        return replace(
            self,
            seed=self.seed if seed is None else _int(seed, "--seed", minimum=0),
            sampler=sampler,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the spec (as validated, paths absolute)."""
        d: dict[str, Any] = {
            "path": None if self.path is None else str(self.path),
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "builder": self.builder,
            "kind": self.kind,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
            "priors": {k: dict(v) for k, v in self.priors.items()},
            "data": {
                **self.data.source.describe(),
                "ids": self.data.ids,
                "columns": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in self.data.columns.items()
                },
                "features": list(self.data.features),
                "population": None
                if self.data.population is None
                else self.data.population.describe(),
            },
            "output": {
                "table": self.output.table,
                "figures": list(self.output.figures),
                "posterior": self.output.posterior,
                "scatter": None if self.output.scatter is None else list(self.output.scatter),
            },
        }
        if self.reference:
            d["reference"] = dict(self.reference)
        if self.kind == "bayes":
            s = self.sampler
            d["sampler"] = {
                "draws": s.draws,
                "tune": s.tune,
                "chains": s.chains,
                "sampler": s.sampler,
                "target_accept": s.target_accept,
            }
        return d


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------

_TOP_KEYS = (
    "name",
    "description",
    "seed",
    "data",
    "builder",
    "priors",
    "sampler",
    "output",
    "reference",
)
_SOURCE_KEYS = ("path", "dataset", "format", "select")
FIGURES = {
    "bayes": ("pgm", "membership", "pair", "sky", "cmd"),
    "em": ("bic_aic", "em_history", "membership"),
    "gpz_weights": ("histograms",),
    "gpz_divide": ("membership",),
}
# figures of cluster_field specs only, and the Gaia columns each one draws (names before any
# [data.columns] mapping): the sky map and the colour-magnitude diagram of probable members
CLUSTER_FIGURE_COLUMNS = {
    "sky": ("ra", "dec"),
    "cmd": ("bp_rp", "phot_g_mean_mag"),
}


def _parse_select(value: Any, key: str) -> tuple[Selection, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise _err(key, f'must be a condition such as "ID >= 5" or an array of them, got {value!r}')
    out = []
    for i, text in enumerate(texts):
        k = key if isinstance(value, str) else f"{key}[{i}]"
        m = _SELECT_RE.match(text)
        if m is None:
            raise _err(
                k,
                f"must look like 'column op value' with op one of ==, !=, <, <=, >, "
                f'>= (e.g. "ID >= 5" or "split == \'train\'"), got {text!r}',
            )
        col, op, raw = m.groups()
        val: float | str
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            val = raw[1:-1]
        else:
            try:
                val = float(raw)
            except ValueError:
                raise _err(
                    k, f"value {raw!r} must be a number or a quoted string (in {text!r})"
                ) from None
        out.append(Selection(col, op, val, text))
    return tuple(out)


def _parse_source(
    tab: Mapping[str, Any], where: str, base: Path | None, extra_keys: Sequence[str]
) -> TableSource:
    _check_keys(tab, (*_SOURCE_KEYS, *extra_keys), where)
    has_path, has_ds = "path" in tab, "dataset" in tab
    if has_path == has_ds:
        raise SpecError(
            f"{where} needs exactly one of 'path' (a table file) and 'dataset' "
            f"(a bundled data set: {', '.join(available_datasets())})",
            key=f"{where}.path",
        )
    select = _parse_select(tab["select"], f"{where}.select") if "select" in tab else ()
    fmt = _str(tab["format"], f"{where}.format") if "format" in tab else None
    if has_ds:
        name = _str(tab["dataset"], f"{where}.dataset")
        names = available_datasets()
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _err(
                f"{where}.dataset",
                f"must be a bundled data set ({', '.join(names)}), got {name!r}{hint}",
            )
        return TableSource(dataset=name, select=select)
    raw = _str(tab["path"], f"{where}.path")
    p = Path(os.path.expanduser(raw))
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    p = p.resolve()
    if not p.is_file():
        raise _err(
            f"{where}.path",
            f"file '{p}' does not exist"
            + (
                " (relative paths resolve from the spec's folder)"
                if not Path(raw).is_absolute()
                else ""
            ),
        )
    if fmt is None:
        from bayesmix.io import TABLE_FORMATS

        if not any(p.name.lower().endswith(e) for e in TABLE_FORMATS):
            raise _err(
                f"{where}.path",
                f"has an unknown table format ('{p.name}'); use one of "
                f"{', '.join(sorted(TABLE_FORMATS))} or set "
                f"{where}.format",
            )
    return TableSource(path=p, format=fmt, select=select)


def _parse_columns(value: Any, info: _BuilderInfo, builder: str) -> dict[str, Any]:
    key = "[data.columns]"
    tab = _table(value, key)
    if "*" in info.columns:  # any name -> one column (cluster_field: Gaia name -> column)
        return {arg: _str(col, f"{key}.{arg}") for arg, col in tab.items()}
    _check_keys(tab, list(info.columns), key)
    out: dict[str, Any] = {}
    for arg, how in info.columns.items():
        need, n = how.split(":")
        if arg not in tab:
            if need == "required":
                raise SpecError(
                    f"{key}.{arg} is required by builder {builder!r} (the column holding {arg!r})",
                    key=f"{key}.{arg}",
                )
            continue
        if n == "n":
            out[arg] = _str_list(tab[arg], f"{key}.{arg}")
        else:
            out[arg] = _str(tab[arg], f"{key}.{arg}")
    if "X" in out and "X_err" in out and len(out["X_err"]) != len(out["X"]):
        raise SpecError(
            f"{key}.X_err must have one column per column of X ({len(out['X'])}), "
            f"got {len(out['X_err'])}",
            key=f"{key}.X_err",
        )
    return out


def _parse_priors(value: Any) -> dict[str, dict[str, Any]]:
    tab = _table(value, "[priors]")
    out = {}
    for name, prior in tab.items():
        key = f"[priors].{name}"
        prior = _table(prior, key)
        if "dist" not in prior:
            raise SpecError(
                f"{key} needs 'dist', the name of a PyMC distribution (e.g. dist = \"Normal\")",
                key=f"{key}.dist",
            )
        _str(prior["dist"], f"{key}.dist")
        for arg, v in prior.items():
            ok = (isinstance(v, (int, float, str)) and not isinstance(v, bool)) or (
                isinstance(v, list)
                and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)
            )
            if not ok:
                raise _err(
                    f"{key}.{arg}", f"must be a number, a string or an array of numbers, got {v!r}"
                )
        out[name] = dict(prior)
    return out


def parse_spec(doc: Mapping[str, Any], *, path: str | os.PathLike | None = None) -> Spec:
    """Validate a parsed TOML document and return a :class:`Spec`.

    Parameters
    ----------
    doc : mapping
        The document (``tomllib.loads(text)``).
    path : path-like, optional
        The spec file; relative data paths resolve from its folder (else the
        current folder), and its stem is the default ``name``.

    Raises
    ------
    SpecError
        The first problem found, its key path first in the message.
    """
    p = Path(path).resolve() if path is not None else None
    base = p.parent if p is not None else None
    doc = _table(dict(doc), "the spec")
    _check_keys(doc, _TOP_KEYS, "the spec")
    for sec in ("data", "builder"):
        if sec not in doc:
            raise SpecError(
                f"[{sec}] is missing; every spec needs [data] and [builder]", key=f"[{sec}]"
            )
    if "seed" not in doc:
        raise SpecError(
            "seed is missing: every spec names its seed (e.g. seed = 42) so that "
            "reruns give the same numbers",
            key="seed",
        )
    seed = _int(doc["seed"], "seed", minimum=0)
    name = _str(doc["name"], "name") if "name" in doc else (p.stem if p is not None else "spec")
    description = str(doc.get("description", ""))
    if "description" in doc:
        _str(doc["description"], "description")

    # [builder]
    btab = _table(doc["builder"], "[builder]")
    builders = available_builders()
    if "name" not in btab:
        raise SpecError(
            f"[builder].name is missing; choose one of {', '.join(sorted(builders))}",
            key="[builder].name",
        )
    bname = btab["name"]
    if bname not in builders:
        extra = (
            "; 'cluster_field' needs bayesmix.builders.cluster_field, not installed"
            if bname == "cluster_field"
            else ""
        )
        names = ", ".join(repr(b) for b in sorted(builders))
        raise _err("[builder].name", f"must be one of {names}, got {bname!r}{extra}")
    info = builders[bname]
    _check_keys(btab, ["name", *info.options], "[builder]")
    options: dict[str, Any] = {}
    for opt, o in info.options.items():
        if opt in btab:
            options[opt] = o.check(btab[opt], f"[builder].{opt}")
        elif o.required:
            raise SpecError(
                f"[builder].{opt} is required by builder {bname!r}", key=f"[builder].{opt}"
            )
    if (
        "labels" in options
        and options["labels"] is not None
        and "n_components" in options
        and len(options["labels"]) != options["n_components"]
    ):
        raise _err(
            "[builder].labels",
            f"must have n_components = {options['n_components']} "
            f"entries, got {len(options['labels'])}",
        )
    if "min_weight" in options and options["min_weight"] > options.get("max_weight", 100.0):
        raise _err(
            "[builder].min_weight",
            f"must be <= max_weight "
            f"({options.get('max_weight', 100.0)}), "
            f"got {options['min_weight']}",
        )

    # [data]
    dtab = _table(doc["data"], "[data]")
    kind = info.kind
    extra = ["ids"]
    if kind == "bayes":
        extra.append("columns")
    else:
        extra.append("features")
    if kind in ("gpz_weights", "gpz_divide"):
        extra.append("population")
    source = _parse_source(dtab, "[data]", base, extra)
    ids = _str(dtab["ids"], "[data].ids") if "ids" in dtab else None
    columns: dict[str, Any] = {}
    features: tuple[str, ...] = ()
    population = None
    if kind == "bayes":
        if "columns" not in dtab and "*" in info.columns:
            pass  # cluster_field: Gaia column names by default
        elif "columns" not in dtab:
            need = [a for a, h in info.columns.items() if h.startswith("required")]
            raise SpecError(
                f"[data.columns] is missing; builder {bname!r} needs columns for {', '.join(need)}",
                key="[data.columns]",
            )
        if "columns" in dtab:
            columns = _parse_columns(dtab["columns"], info, bname)
    else:
        if "features" not in dtab:
            raise SpecError(
                "[data].features is missing: the columns (or expressions such as "
                '"a-b" for GPz) to model',
                key="[data].features",
            )
        features = _str_list(dtab["features"], "[data].features")
        if kind in ("gpz_weights", "gpz_divide"):
            from bayesmix.gpz import parse_feature

            for i, f in enumerate(features):
                try:
                    parse_feature(f)
                except SpecError as exc:
                    raise _err(f"[data].features[{i}]", str(exc)) from None
        if kind == "em" and "order_by" in options and options["order_by"] not in features:
            raise _err(
                "[builder].order_by",
                f"must be one of [data].features {list(features)}, got {options['order_by']!r}",
            )
    if kind in ("gpz_weights", "gpz_divide"):
        if "population" not in dtab:
            raise SpecError(
                "[data.population] is missing: the population table (path or "
                "dataset) the training sample is compared with",
                key="[data.population]",
            )
        population = _parse_source(
            _table(dtab["population"], "[data.population]"), "[data.population]", base, ()
        )
    data = DataSpec(
        source=source, ids=ids, columns=columns, features=features, population=population
    )

    # [priors], [sampler]
    priors: dict[str, dict[str, Any]] = {}
    if "priors" in doc:
        if not info.priors:
            raise SpecError(
                f"[priors] does not apply to builder {bname!r} (EM and GPz fits have no priors)",
                key="[priors]",
            )
        priors = _parse_priors(doc["priors"])
    sampler = SamplerSpec()
    if "sampler" in doc:
        if kind != "bayes":
            raise SpecError(
                f"[sampler] does not apply to builder {bname!r} (only Bayesian "
                "builders are sampled)",
                key="[sampler]",
            )
        stab = _table(doc["sampler"], "[sampler]")
        _check_keys(stab, ("draws", "tune", "chains", "sampler", "target_accept"), "[sampler]")
        sampler = SamplerSpec(
            draws=_int(stab.get("draws", 1000), "[sampler].draws", minimum=1),
            tune=_int(stab.get("tune", 1000), "[sampler].tune", minimum=0),
            chains=_int(stab.get("chains", 4), "[sampler].chains", minimum=1),
            sampler=_choice(stab.get("sampler", "nutpie"), "[sampler].sampler", ("nutpie", "pymc")),
            target_accept=_float(
                stab.get("target_accept", 0.8),
                "[sampler].target_accept",
                minimum=0.0,
                maximum=0.999,
                strict_min=True,
            ),
        )

    # [output]
    otab = _table(doc.get("output", {}), "[output]")
    okeys = ["table", "figures", "scatter"]
    if kind == "bayes":
        okeys += ["posterior", "pair_vars"]
    _check_keys(otab, okeys, "[output]")
    table_name = "membership.csv"
    if kind == "gpz_weights":
        table_name = "weights.csv"
    elif kind == "gpz_divide":
        table_name = "divide_table.csv"
    if "table" in otab:
        from bayesmix.io import TABLE_FORMATS

        table_name = _str(otab["table"], "[output].table")
        if Path(table_name).name != table_name:
            raise _err(
                "[output].table", f"must be a file name (no folder; use --out), got {table_name!r}"
            )
        if not any(table_name.lower().endswith(e) for e in TABLE_FORMATS):
            raise _err(
                "[output].table",
                f"must end in one of {', '.join(sorted(TABLE_FORMATS))}, got {table_name!r}",
            )
    # by default every figure the kind has, except those needing extra columns (opt-in)
    figures = tuple(f for f in FIGURES[kind] if f not in CLUSTER_FIGURE_COLUMNS)
    if "figures" in otab:
        figures = _str_list(otab["figures"], "[output].figures", min_len=0)
        for i, f in enumerate(figures):
            if f not in FIGURES[kind]:
                raise _err(
                    f"[output].figures[{i}]",
                    f"must be one of "
                    f"{', '.join(repr(x) for x in FIGURES[kind])}"
                    f" for builder {bname!r}, got {f!r}",
                )
            if f in CLUSTER_FIGURE_COLUMNS and bname != "cluster_field":
                raise _err(
                    f"[output].figures[{i}]",
                    f"{f!r} is drawn for builder 'cluster_field' only (it shows cluster "
                    f"membership), not for builder {bname!r}",
                )
    scatter = None
    if "scatter" in otab:
        scatter = _str_list(otab["scatter"], "[output].scatter", length=2)
    output = OutputSpec(
        table=table_name,
        figures=tuple(dict.fromkeys(figures)),
        posterior=_bool(otab.get("posterior", True), "[output].posterior"),
        scatter=scatter,  # type: ignore[arg-type]
        pair_vars=_str_list(otab["pair_vars"], "[output].pair_vars")
        if "pair_vars" in otab
        else None,
    )
    return Spec(
        path=p,
        name=name,
        description=description,
        seed=seed,
        builder=bname,
        kind=kind,
        options=options,
        priors=priors,
        data=data,
        sampler=sampler,
        output=output,
        reference=_parse_reference(doc.get("reference"), bname),
    )


_REFERENCE_NAMES = ("n_members", "cluster_fraction", "zero_point")


def _parse_reference(value: Any, builder: str) -> dict[str, Any]:
    """Parse ``[reference]``: published values printed next to a cluster_field posterior."""
    if value is None:
        return {}
    tab = _table(value, "[reference]")
    if builder != "cluster_field":
        raise SpecError(
            f"[reference] is used by builder 'cluster_field' only (published cluster values), "
            f"not by builder {builder!r}",
            key="[reference]",
        )
    out: dict[str, Any] = {}
    for key, v in tab.items():
        where = f"[reference].{key}"
        if key == "source":
            out[key] = _str(v, where)
        elif key.startswith("cluster_") or key in _REFERENCE_NAMES:
            out[key] = _float(v, where)
        else:
            raise SpecError(
                f"[reference] has unknown key {key!r}: give 'source' and values of the cluster "
                f"summary (cluster_pmra, cluster_pmdec, cluster_parallax, ..., "
                f"{', '.join(_REFERENCE_NAMES)})",
                key=where,
            )
    return out


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and validate a TOML spec file.

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


# --------------------------------------------------------------------------------------------
# reading the data (before any fitting)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecData:
    """The tables of a spec, read and checked against its column names.

    Attributes
    ----------
    table : astropy.table.Table
        The analysed table: every row, in file order, unchanged.
    selected : ndarray of bool
        Rows passing ``[data].select``.
    population : astropy.table.Table or None
        The GPz population (its ``select`` already applied).
    """

    table: Any
    selected: np.ndarray
    population: Any = None


def _need_columns(table, names: Sequence[str], where: str, source: str) -> None:
    for n in names:
        if n not in table.colnames:
            close = difflib.get_close_matches(n, table.colnames, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"{where} names column {n!r}, which is not in {source}{hint} (available: "
                f"{', '.join(table.colnames)})",
                argument=where,
            )


def figure_column(spec: Spec, gaia_name: str) -> str:
    """Return the table column of the Gaia quantity ``gaia_name`` (after ``[data.columns]``)."""
    mapped = spec.data.columns.get(gaia_name, gaia_name)
    return mapped if isinstance(mapped, str) else gaia_name


def read_data(spec: Spec) -> SpecData:
    """Read the spec's table(s) and check every named column exists.

    Raises
    ------
    DataError
        Unknown columns (named with their key path), unreadable files,
        selections that keep no row.
    """
    d = spec.data
    table = d.source.read()
    source = d.source.name
    selected = d.source.mask(table, where="[data]")
    if not selected.any():
        raise DataError(
            f"[data].select keeps none of the {len(table)} rows of {source}", argument="select"
        )
    if d.ids is not None:
        _need_columns(table, [d.ids], "[data].ids", source)
    for arg, cols in d.columns.items():
        _need_columns(
            table, [cols] if isinstance(cols, str) else list(cols), f"[data.columns].{arg}", source
        )
    if spec.kind == "em":
        _need_columns(table, d.features, "[data].features", source)
    if spec.output.scatter is not None:
        _need_columns(table, spec.output.scatter, "[output].scatter", source)
    for fig in spec.output.figures:
        for gaia_name in CLUSTER_FIGURE_COLUMNS.get(fig, ()):
            col = figure_column(spec, gaia_name)
            if col not in table.colnames:
                raise DataError(
                    f"[output].figures: figure {fig!r} needs column {col!r}, which is not in "
                    f'{source}; map it in [data.columns] ({gaia_name} = "<column>") or remove '
                    f"{fig!r} from [output].figures",
                    argument="[output].figures",
                )
    population = None
    if d.population is not None:
        pop = d.population.read()
        keep = d.population.mask(pop, where="[data.population]")
        if not keep.any():
            raise DataError(
                f"[data.population].select keeps none of the {len(pop)} rows of "
                f"{d.population.name}",
                argument="select",
            )
        population = pop[keep]
        from bayesmix.gpz import parse_feature

        for i, f in enumerate(d.features):
            cols = [c for _, c in parse_feature(f, table.colnames)]
            _need_columns(table, cols, f"[data].features[{i}]", source)
            cols = [c for _, c in parse_feature(f, population.colnames)]
            _need_columns(population, cols, f"[data].features[{i}]", d.population.name)
    return SpecData(table=table, selected=selected, population=population)
