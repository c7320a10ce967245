"""Where a run's rows live: one table in memory, or a Parquet catalogue read with Dask.

A runner (:mod:`bayesmix.workflows.bayes`, ``em``, ``gpz``) is written once
against the two classes here, which differ only in how rows are read, sampled
and written back:

- :class:`MemoryRows` -- the spec's table read with :func:`bayesmix.spec.read_data`;
  fits see every row passing ``[data].select``; the output is one table file.
- :class:`DaskRows` -- the spec's Parquet file, folder or glob as a Dask
  dataframe; fits see a seeded sample (Bayesian models, GPz mixtures) or every
  row as a Dask array (EM); the output is a Parquet folder written partition
  by partition.

Scoring is a function ``score(table, selected) -> {column: values}`` of an
astropy Table (the whole input in memory, one partition over Dask) and the
mask of its rows passing ``[data].select``; it returns the new columns,
``unscored_reason`` included, for every row of the table.  Both classes add
those columns after the input columns (never replacing one) and keep every
input row in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError, SpecError
from bayesmix.spec import parquet_files
from bayesmix.workflows.outputs import REASON_COLUMN, count_reasons, new_columns

__all__ = [
    "DEFAULT_FIT_ROWS",
    "DaskRows",
    "MemoryRows",
    "Rows",
    "Scored",
    "open_rows",
]

#: rows sampled for in-memory fits over Dask (Bayesian builders, GPz mixtures) unless told
DEFAULT_FIT_ROWS = 20_000

Score = Callable[[Any, np.ndarray], dict[str, np.ndarray]]


@dataclass
class Scored:
    """What writing a scored table found.

    Attributes
    ----------
    n_rows : int
        Rows written (every input row).
    reasons : dict of str to int
        Unscored rows per reason.
    sums : dict of str to float
        Sums over rows of the columns asked for (NaN ignored).
    counts : dict of str to dict
        Value counts of the columns asked for.
    table : astropy.table.Table or None
        The written table (in memory only).
    """

    n_rows: int
    reasons: dict[str, int]
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    table: Any = None


def _stats(values: Mapping[str, np.ndarray], sums: Sequence[str], counts: Sequence[str]):
    s = {c: float(np.nansum(np.asarray(values[c], dtype=np.float64))) for c in sums}
    k: dict[str, dict[str, int]] = {}
    for c in counts:
        vals, n = np.unique(np.asarray(values[c]).astype(str), return_counts=True)
        k[c] = {str(v): int(m) for v, m in zip(vals, n, strict=True)}
    return s, k


class Rows:
    """The interface a runner is written against: :class:`MemoryRows` or :class:`DaskRows`.

    Attributes
    ----------
    dask : bool
        Whether the rows are read with Dask.
    spec : bayesmix.spec.Spec
    """

    dask: bool
    spec: Any

    @property
    def source(self) -> str:
        """Short name of the data source for messages."""
        return self.spec.data.source.name

    @property
    def column_names(self) -> Sequence[str]:
        """Names of the input columns."""
        raise NotImplementedError

    def check_new_columns(self, names) -> None:
        """Refuse (before any fitting) new column names that an input column already has."""
        new_columns(self.column_names, dict.fromkeys(names), source=self.source)

    def fit_table(self, fit_rows: int | None = None):
        """Return the rows a fit sees: (table, selected mask, number of rows drawn from).

        ``fit_rows``: the most rows sampled over Dask (default: the run's).
        """
        raise NotImplementedError

    def population_table(self, fit_rows: int | None = None):
        """Return the GPz population a fit sees: (table, number of rows it was drawn from)."""
        raise NotImplementedError

    def _training(self, fit_rows: int | None):
        """Return ``[data.training]`` as a fit sees it, (table, rows drawn from), or None."""
        raise NotImplementedError

    def training_table(self, fit_rows: int | None = None):
        """Return the GPz training sample a fit sees: (table, selected mask, rows drawn from).

        ``[data.training]`` when the spec has one (every row selected), else the
        rows of ``[data]`` (:meth:`fit_table`).
        """
        training = self._training(fit_rows)
        if training is None:
            return self.fit_table(fit_rows)
        t, n = training
        return t, np.ones(len(t), dtype=bool), n

    def score(
        self,
        score: Score,
        dtypes: Mapping[str, str],
        path: Path,
        *,
        overwrite: bool,
        sums: Sequence[str] = (),
        counts: Sequence[str] = (),
        write: bool = True,
    ) -> Scored:
        """Score every row, add the new columns after the input columns and write ``path``.

        Parameters
        ----------
        score : callable
            ``score(table, selected) -> {column: values}`` (module docstring).
        dtypes : mapping of str to str
            The new columns and their dtypes; refused if an input column has the name.
        path : Path
            The output: a table file in memory, a Parquet folder over Dask (written
            atomically).
        overwrite : bool
            Replace an existing output.
        sums, counts : sequence of str
            New columns to sum (NaN ignored) and to count values of.
        write : bool, default True
            Write the output (else only score).

        Returns
        -------
        Scored
        """
        self.check_new_columns(dtypes)
        return self._score(score, dtypes, path, overwrite, (sums, counts), write)

    def _score(self, score, dtypes, path, overwrite, stats, write) -> Scored:
        raise NotImplementedError


class MemoryRows(Rows):
    """The spec's table in memory (see the module docstring).

    Attributes
    ----------
    spec : bayesmix.spec.Spec
    table : astropy.table.Table
        Every input row, in input order, as read.
    selected : ndarray of bool
        Rows passing ``[data].select``.
    population : astropy.table.Table or None
        The GPz population (its ``select`` applied).
    """

    dask = False

    def __init__(self, spec):
        from bayesmix.spec import read_data

        data = read_data(spec)
        self.spec = spec
        self.table = data.table
        self.selected = np.asarray(data.selected, dtype=bool)
        self.population = data.population
        self.training = data.training
        self.n_rows = len(self.table)

    @property
    def column_names(self) -> Sequence[str]:  # noqa: D102 - see Rows
        return self.table.colnames

    def fit_table(self, fit_rows: int | None = None):  # noqa: D102 - see Rows
        return self.table, self.selected, int(self.selected.sum())

    def population_table(self, fit_rows: int | None = None):  # noqa: D102 - see Rows
        return self.population, len(self.population)

    def _training(self, fit_rows):
        return None if self.training is None else (self.training, len(self.training))

    def _score(self, score, dtypes, path, overwrite, stats, write) -> Scored:
        from astropy.table import Table

        values = score(self.table, self.selected)
        cols = new_columns(self.table.colnames, values, source=self.source)
        out = Table(self.table, copy=True)
        for name in dtypes:
            out[name] = cols[name]
        if write:
            from bayesmix.io import write_table

            write_table(out, path, overwrite=overwrite)
        s, k = _stats(values, *stats)
        return Scored(
            n_rows=len(out),
            reasons=count_reasons(values[REASON_COLUMN]),
            sums=s,
            counts=k,
            table=out,
        )


def _frame_to_table(pdf, names: Sequence[str]):
    """Columns of a pandas partition as an astropy Table, typed as ``read_table`` would type them.

    Floats stay floats (missing values NaN); other numbers keep their type
    (missing values masked); text becomes str (missing values masked).
    """
    import pandas as pd
    from astropy.table import MaskedColumn, Table

    t = Table()
    for name in names:
        s = pdf[name]
        na = np.asarray(s.isna().to_numpy(), dtype=bool)
        if pd.api.types.is_float_dtype(s.dtype):
            t[name] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        if pd.api.types.is_bool_dtype(s.dtype) and not na.any():
            vals = s.to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            if na.any():
                vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                vals = s.to_numpy(dtype=getattr(s.dtype, "numpy_dtype", None))
        else:
            vals = np.asarray(s.astype(object).where(~na, "").astype(str).to_numpy(), dtype=str)
        t[name] = MaskedColumn(vals, mask=na) if na.any() else vals
    return t


@dataclass(frozen=True)
class _Partition:
    """What each partition task needs to turn a pandas frame into (table, selected)."""

    source: Any  # the spec's TableSource (select conditions)
    names: tuple[str, ...]

    def table(self, pdf):
        return _frame_to_table(pdf, self.names)

    def selected(self, t) -> np.ndarray:
        return self.source.mask(t, where="[data]")


def _score_partition(pdf, part: _Partition, score: Score, names: tuple[str, ...]):
    import pandas as pd

    t = part.table(pdf)
    values = score(t, part.selected(t))
    cols = new_columns(pdf.columns, values)
    frame = pd.DataFrame(
        {
            k: pd.Series(
                cols[k], index=pdf.index, dtype="str" if cols[k].dtype.kind in "OUS" else None
            )
            for k in names
        },
        index=pdf.index,
    )
    return pd.concat([pdf, frame], axis=1)


def _take_selected(pdf, part: _Partition, local: np.ndarray):
    pos = np.flatnonzero(part.selected(part.table(pdf)))[local]
    return pdf.iloc[pos]


def _count_selected(pdf, part: _Partition) -> int:
    return int(part.selected(part.table(pdf)).sum())


def _check_parts(path: str) -> None:
    """Refuse (naming the file) a Parquet part that cannot be read or has other columns."""
    import pyarrow.parquet as pq

    first: tuple[Path, list[str]] | None = None
    for f in parquet_files(path):
        try:
            names = [n for n in pq.read_schema(f).names if not n.startswith("__")]
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for damage
            raise DataError(
                f"Parquet part '{f}' cannot be read: {' '.join(str(exc).split())}",
                argument="[data].path",
            ) from None
        if first is None:
            first = (f, names)
        elif names != first[1]:
            extra = [n for n in names if n not in first[1]]
            missing = [n for n in first[1] if n not in names]
            what = (
                f"has column(s) {extra} that '{first[0].name}' has not"
                if extra
                else f"lacks column(s) {missing}"
                if missing
                else "orders its columns otherwise"
            )
            raise DataError(
                f"Parquet part '{f}' {what}; every part of a catalogue needs the same columns",
                argument="[data].path",
            )


class DaskRows(Rows):
    """The spec's Parquet data as a Dask dataframe (see the module docstring).

    Parameters
    ----------
    spec : bayesmix.spec.Spec
        Its ``[data].path`` must be a Parquet file, folder or glob.
    fit_rows : int, default 20,000
        Rows sampled (seeded, uniform over the rows passing ``[data].select``,
        kept in input order) for in-memory fits; all of them when fewer.
    option : str
        The command-line option named in errors (``--dask`` or ``--scheduler``).

    Raises
    ------
    SpecError
        The data are not Parquet.
    DataError
        A column the spec names is missing.
    """

    dask = True

    def __init__(
        self,
        spec,
        *,
        fit_rows: int = DEFAULT_FIT_ROWS,
        option: str = "--dask",
        scheduler: str | None = None,
    ):
        import dask.dataframe as dd

        from bayesmix.spec import check_spec_columns

        if isinstance(fit_rows, bool) or not isinstance(fit_rows, int) or fit_rows < 1:
            raise SpecError(
                f"'fit_rows' must be a positive integer; got {fit_rows!r}", key="fit_rows"
            )
        self.spec = spec
        self.fit_rows = fit_rows
        self.path = self._parquet_path(spec.data.source, option, "[data].path")
        _check_parts(self.path)
        self.ddf = dd.read_parquet(self.path)
        names = tuple(str(c) for c in self.ddf.columns)
        check_spec_columns(spec, names, figures=False)
        self.part = _Partition(spec.data.source, names)
        self.n_partitions = int(self.ddf.npartitions)
        self.scheduler = scheduler

    @property
    def info(self) -> dict[str, Any]:
        """JSON-able record of the Dask run for ``summary.json`` (key ``dask``)."""
        from bayesmix.workflows.outputs import fit_figures

        figures = list(self.spec.output.figures)
        return {
            "scheduler": self.scheduler or "threads (default)",
            "input": self.path,
            "n_partitions": self.n_partitions,
            "fit_rows": self.fit_rows,
            "figures_skipped": [f for f in figures if f not in fit_figures(figures)],
        }

    @staticmethod
    def _parquet_path(source, option: str, key: str) -> str:
        path = source.path
        if path is None or not parquet_files(path):
            where = f"'{path}'" if path is not None else source.name
            raise SpecError(
                f"{option} needs a Parquet {key} (a .parquet file, a folder of them or a "
                f"glob); the spec's data is {where}",
                key=key,
            )
        return str(path)

    @property
    def column_names(self) -> Sequence[str]:  # noqa: D102 - see Rows
        return self.part.names

    def _sample(self, ddf, part: _Partition, n_max: int, seed: int):
        """Return a seeded uniform sample of at most ``n_max`` selected rows, in input order."""
        import dask
        import pandas as pd

        parts = ddf.to_delayed()
        counts = np.asarray(
            dask.compute(*[dask.delayed(_count_selected)(p, part) for p in parts]), dtype=np.int64
        )
        total = int(counts.sum())
        if total == 0:
            raise DataError(
                f"[data].select keeps none of the rows of {self.source}", argument="select"
            )
        m = min(int(n_max), total)
        idx = (
            np.arange(total)
            if m == total
            else np.sort(np.random.default_rng(seed).choice(total, m, replace=False))
        )
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        picks = []
        for p, s, c in zip(parts, starts, counts, strict=True):
            local = idx[(idx >= s) & (idx < s + c)] - s
            if local.size:
                picks.append(dask.delayed(_take_selected)(p, part, local))
        frames = dask.compute(*picks)
        sample = pd.concat(frames, axis=0) if frames else ddf._meta
        sample = sample.reset_index(drop=True)
        return _frame_to_table(sample, [str(c) for c in sample.columns]), total

    def fit_table(self, fit_rows: int | None = None):
        """Return a seeded sample of the selected rows: (table, all-true mask, rows drawn from)."""
        t, total = self._sample(self.ddf, self.part, fit_rows or self.fit_rows, self.spec.seed)
        return t, np.ones(len(t), dtype=bool), total

    def _side_table(self, source, key: str, n_max: int, seed: int):
        """Return a GPz side table (population, training): Parquet sampled, else read."""
        if source.path is not None and parquet_files(source.path):
            import dask.dataframe as dd

            pddf = dd.read_parquet(str(source.path))
            part = _Partition(source, tuple(str(c) for c in pddf.columns))
            return self._sample(pddf, part, n_max, seed)
        t = source.read()
        t = t[source.mask(t, where=key)]
        n = len(t)
        if n > n_max:
            keep = np.sort(np.random.default_rng(seed).choice(n, n_max, replace=False))
            t = t[keep]
        return t, n

    def population_table(self, fit_rows: int | None = None):
        """Return the GPz population: a seeded sample (seed + 1) of at most ``fit_rows`` rows."""
        pop = self.spec.data.population
        return self._side_table(
            pop, "[data.population]", fit_rows or self.fit_rows, self.spec.seed + 1
        )

    def _training(self, fit_rows):
        """Return ``[data.training]`` sampled as the population is, with seed + 2 (or None)."""
        tr = self.spec.data.training
        if tr is None:
            return None
        return self._side_table(
            tr, "[data.training]", fit_rows or self.fit_rows, self.spec.seed + 2
        )

    def matrix(self, features: Callable[[Any], tuple[np.ndarray, np.ndarray]], n_features: int):
        """Return the usable rows' feature matrix as a Dask dataframe of columns ``f0..``.

        ``features(table) -> (X, finite)`` gives a partition's features; rows
        passing ``[data].select`` with finite features are kept.
        """
        import pandas as pd

        cols = [f"f{j}" for j in range(n_features)]

        def part_fn(pdf):
            t = self.part.table(pdf)
            X, finite = features(t)
            keep = self.part.selected(t) & finite
            return pd.DataFrame(X[keep], columns=cols)

        meta = pd.DataFrame({c: np.array([], dtype=np.float64) for c in cols})
        return self.ddf.map_partitions(part_fn, meta=meta), cols

    def _score(self, score, dtypes, path, overwrite, stats, write) -> Scored:
        """Score every partition and write the Parquet folder ``path`` (atomically)."""
        import dask
        import pandas as pd

        from bayesmix._files import atomic_write_folder

        sums, counts = stats
        meta = self.ddf._meta.copy()
        for name, dtype in dtypes.items():
            meta[name] = pd.Series([], dtype=dtype, index=meta.index[:0])
        out = self.ddf.map_partitions(_score_partition, self.part, score, tuple(dtypes), meta=meta)
        extra: dict[str, Any] = {
            "reasons": out[REASON_COLUMN].value_counts(),
            "n_rows": out.shape[0],
        }
        if sums:
            extra["sums"] = out[list(sums)].sum()
        for c in counts:
            extra[f"count:{c}"] = out[c].value_counts()
        found: dict[str, Any] = {}

        def write_parquet(tmp: str) -> None:
            job = out.to_parquet(tmp, write_index=False, compute=False)
            _, found["values"] = dask.compute(job, extra)

        if write:
            atomic_write_folder(path, write_parquet, overwrite=overwrite)
        else:  # pragma: no cover - scoring without writing is not used by the runners
            found["values"] = dask.compute(extra)[0]
        v = found["values"]
        reasons = {str(k): int(n) for k, n in sorted(v["reasons"].items()) if str(k) != ""}
        return Scored(
            n_rows=int(v["n_rows"]),
            reasons=reasons,
            sums={c: float(v["sums"][c]) for c in sums},
            counts={c: {str(k): int(n) for k, n in v[f"count:{c}"].items()} for c in counts},
        )


def open_rows(
    spec,
    *,
    dask: bool = False,
    fit_rows: int | None = None,
    option: str = "--dask",
    scheduler: str | None = None,
):
    """Return :class:`DaskRows` (``dask``) or :class:`MemoryRows` for ``spec``."""
    if dask:
        return DaskRows(
            spec, fit_rows=fit_rows or DEFAULT_FIT_ROWS, option=option, scheduler=scheduler
        )
    if fit_rows is not None:
        raise SpecError("'fit_rows' applies to runs over Dask only", key="fit_rows")
    return MemoryRows(spec)
