"""The validated spec: frozen dataclasses, built by :func:`bayesmix.spec.parse_spec`.

Nothing here reads a spec file; :class:`TableSource` and :class:`Selection`
read and filter the tables when asked (:func:`bayesmix.spec.read_data`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix._validate import check_int
from bayesmix.exceptions import DataError

__all__ = [
    "CLUSTER_FIGURE_COLUMNS",
    "FIGURES",
    "KINDS",
    "PARQUET_SUFFIXES",
    "DataSpec",
    "OutputSpec",
    "SamplerSpec",
    "Selection",
    "Spec",
    "SpecData",
    "TableSource",
    "parquet_files",
]

#: analysis kinds: a Bayesian builder, EM with BIC/AIC selection, the two GPz tools
KINDS = ("bayes", "em", "gpz_weights", "gpz_divide")
#: the figures each kind can draw (``[output].figures``), in drawing order
FIGURES = {
    "bayes": ("pgm", "membership", "pair", "sky", "cmd"),
    "em": ("bic_aic", "em_history", "membership"),
    "gpz_weights": ("histograms",),
    "gpz_divide": ("membership",),
}
#: figures of cluster_field specs only, and the Gaia columns each draws (names before any
#: [data.columns] mapping): the sky map and the colour-magnitude diagram of probable members
CLUSTER_FIGURE_COLUMNS = {"sky": ("ra", "dec"), "cmd": ("bp_rp", "phot_g_mean_mag")}
#: file-name endings of Parquet files (a ``[data].path`` folder or glob collects these)
PARQUET_SUFFIXES = (".parquet", ".pq")

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def parquet_files(path: str | Path) -> list[Path]:
    """Return the Parquet files of a file, a folder (searched recursively) or a glob, sorted.

    Empty when ``path`` is none of them (or a non-Parquet file).
    """
    path = Path(path)
    if path.is_file():
        return [path] if path.name.lower().endswith(PARQUET_SUFFIXES) else []
    if path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file())
    elif any(ch in path.name for ch in "*?["):
        files = (p for p in path.parent.glob(path.name) if p.is_file())
    else:
        return []
    return sorted(p for p in files if p.name.lower().endswith(PARQUET_SUFFIXES))


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
                argument=f"{where}.select",
            )
        col = table[self.column]
        missing = np.ma.getmaskarray(col)
        values = np.ma.getdata(col)
        text = isinstance(self.value, str)
        if text and values.dtype.kind not in "US":
            problem = f"compares column {self.column!r} (numeric) with a string"
        elif text and self.op not in ("==", "!="):
            problem = f"can only use == or != on text column {self.column!r}"
        elif not text and values.dtype.kind not in "biuf":
            problem = f"compares column {self.column!r} (text) with a number"
        else:
            problem = ""
        if problem:
            raise DataError(f"{where}.select {problem}: {self.text!r}", argument=f"{where}.select")
        values = values.astype(str) if text else values.astype(np.float64)
        with np.errstate(invalid="ignore"):
            ok = _OPS[self.op](values, self.value)
        return np.asarray(ok, dtype=bool) & ~missing


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: a file, a Parquet folder or glob, or a bundled data set.

    Attributes
    ----------
    path : Path or None
        Absolute path of a table file, of a folder of Parquet files or of a
        glob matching Parquet files (``format`` is then ``"parquet"``).
    dataset : str or None
        A bundled data set (``bayesmix.datasets.load_<name>``).
    format : str or None
        An astropy format name overriding the file-name rule.
    select : tuple of Selection
        Row filters, all of which a row must pass.
    """

    path: Path | None = None
    dataset: str | None = None
    format: str | None = None
    select: tuple[Selection, ...] = ()

    @property
    def name(self) -> str:
        """Short name for messages: the file name or ``dataset '<name>'``."""
        return self.path.name if self.path is not None else f"dataset {self.dataset!r}"

    @property
    def files(self) -> tuple[Path, ...]:
        """The files read: the path itself, or the Parquet files of a folder or glob."""
        if self.path is None:
            return ()
        return (self.path,) if self.path.is_file() else tuple(parquet_files(self.path))

    def read(self):
        """Read the whole table (every row, file order; a folder's files in sorted order)."""
        if self.dataset is not None:
            import bayesmix.datasets as ds

            return getattr(ds, f"load_{self.dataset}")()
        from bayesmix.io import read_table

        if self.path is not None and self.path.is_file():
            return read_table(self.path, format=self.format)
        from astropy.table import TableMergeError, vstack

        files = self.files
        if not files:
            raise FileNotFoundError(f"'{self.path}' matches no Parquet file")
        # one part may be empty (a filtered partition); the whole table may not
        tables = [read_table(f, format=self.format, allow_empty=True) for f in files]
        try:
            table = vstack(tables, join_type="exact", metadata_conflicts="silent")
        except TableMergeError as exc:
            raise DataError(
                f"the Parquet files of '{self.path}' do not share their columns: {exc}",
                argument="path",
            ) from None
        if len(table) == 0:
            raise DataError(
                f"the {len(files)} Parquet files of '{self.path}' hold no rows", argument="path"
            )
        return table

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
    """``[data]``: the analysed table, ids, column mapping or features, and the GPz tables.

    Attributes
    ----------
    source : TableSource
        The analysed table (GPz: the training table, or the table to divide).
    ids : str or None
        Column of object ids.
    columns : mapping
        Bayesian builders: argument (or Gaia name) -> column(s).
    features : tuple of str
        EM and GPz: the modelled columns (GPz: also expressions such as ``a-b``).
    population : TableSource or None
        GPz: ``[data.population]``, the population.
    training : TableSource or None
        ``gpz_divide`` with ``weight = true``: ``[data.training]``, the training
        sample whose mixture gives the weights; None: the ``[data]`` table itself.
    """

    source: TableSource
    ids: str | None = None
    columns: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    population: TableSource | None = None
    training: TableSource | None = None


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


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Spec:
    """A validated analysis specification (see :mod:`bayesmix.spec`)."""

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
            draws=s.draws if draws is None else check_int(draws, key="--draws", minimum=1),
            tune=s.tune if tune is None else check_int(tune, key="--tune", minimum=0),
            chains=s.chains if chains is None else check_int(chains, key="--chains", minimum=1),
        )
        seed = self.seed if seed is None else check_int(seed, key="--seed", minimum=0)
        return replace(self, seed=seed, sampler=sampler)

    def settings(self) -> dict[str, Any]:
        """Return the builder's options with every default filled in (the spec's values first).

        The defaults are those of the function the spec runs (see
        :mod:`bayesmix.spec.registry`), so a runner needs to restate none.
        """
        from bayesmix.spec.registry import builder

        return {**builder(self.builder).defaults, **self.options}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the spec (as validated, paths absolute)."""
        d: dict[str, Any] = {
            "path": None if self.path is None else str(self.path),
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "builder": self.builder,
            "kind": self.kind,
            "options": {k: _listed(v) for k, v in self.options.items()},
            "priors": {k: dict(v) for k, v in self.priors.items()},
            "data": {
                **self.data.source.describe(),
                "ids": self.data.ids,
                "columns": {k: _listed(v) for k, v in self.data.columns.items()},
                "features": list(self.data.features),
                "population": None
                if self.data.population is None
                else self.data.population.describe(),
                "training": None if self.data.training is None else self.data.training.describe(),
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
    training : astropy.table.Table or None
        ``[data.training]`` (its ``select`` already applied); None when the spec
        has none (the weights' training sample is then ``table[selected]``).
    """

    table: Any
    selected: np.ndarray
    population: Any = None
    training: Any = None
