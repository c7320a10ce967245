"""A spec's data: bundled data sets, reading the tables and checking their columns.

:func:`check_columns` is the one check that a column named in a spec exists;
it takes an astropy table, a pandas or Dask frame (its ``columns``) or just a
list of column names, so the Dask runner can check a Parquet catalogue's
columns from its metadata before reading any partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bayesmix._validate import suggest
from bayesmix.exceptions import DataError
from bayesmix.spec.model import CLUSTER_FIGURE_COLUMNS, SpecData, TableSource

if TYPE_CHECKING:
    from bayesmix.spec.model import Spec

__all__ = [
    "available_datasets",
    "check_columns",
    "check_spec_columns",
    "column_names",
    "figure_column",
    "read_data",
]


def available_datasets() -> list[str]:
    """Names accepted by ``[data].dataset``: the ``load_<name>`` functions of bayesmix.datasets."""
    import bayesmix.datasets as ds

    return sorted(
        n[len("load_") :] for n in dir(ds) if n.startswith("load_") and callable(getattr(ds, n))
    )


def column_names(table: Any) -> list[str]:
    """Return the column names of an astropy table, a pandas/Dask frame or a list of names."""
    names = getattr(table, "colnames", None)
    if names is None:
        names = getattr(table, "columns", table)
    return [str(n) for n in names]


def check_columns(table: Any, names: Iterable[str], *, key: str, source: str) -> None:
    """Raise unless every column in ``names`` exists.

    Parameters
    ----------
    table : astropy.table.Table, pandas.DataFrame, dask.dataframe.DataFrame or sequence of str
        The table, or just its column names (e.g. a Dask frame's ``columns``).
    names : iterable of str
        The columns the spec needs.
    key : str
        The spec key naming them, e.g. ``"[data].features"``.
    source : str
        The table's name in the message (e.g. the file name).

    Raises
    ------
    DataError
        Naming the key, the first missing column, the closest existing one and
        the available columns (``argument`` is ``key``).
    """
    available = column_names(table)
    for n in names:
        if n not in available:
            raise DataError(
                f"{key} names column {n!r}, which is not in {source}{suggest(n, available)} "
                f"(available: {', '.join(available)})",
                argument=key,
            )


def figure_column(spec: Spec, gaia_name: str) -> str:
    """Return the table column of the Gaia quantity ``gaia_name`` (after ``[data.columns]``)."""
    mapped = spec.data.columns.get(gaia_name, gaia_name)
    return mapped if isinstance(mapped, str) else gaia_name


def check_spec_columns(spec: Spec, table: Any, *, figures: bool = True) -> None:
    """Check that the analysed table has every column ``spec`` names.

    ``[data].ids``, ``[data].select``, ``[data.columns]``, EM ``[data].features``,
    ``[output].scatter`` and (with ``figures``) the columns of the cluster
    figures ``sky`` and ``cmd``.  GPz feature expressions are checked by
    :func:`read_data`, which knows the population too.

    Parameters
    ----------
    spec : Spec
    table : astropy.table.Table, pandas/Dask frame or sequence of str
        The table or its column names.
    figures : bool
        Check the columns of the figures (off for runners that skip them).

    Raises
    ------
    DataError
        The first missing column, with its key path.
    """
    d = spec.data
    src = d.source.name
    names = column_names(table)
    if d.ids is not None:
        check_columns(names, [d.ids], key="[data].ids", source=src)
    for sel in d.source.select:
        check_columns(names, [sel.column], key="[data].select", source=src)
    for arg, cols in d.columns.items():
        cols = [cols] if isinstance(cols, str) else list(cols)
        check_columns(names, cols, key=f"[data.columns].{arg}", source=src)
    if spec.kind == "em":
        check_columns(names, d.features, key="[data].features", source=src)
    if spec.output.scatter is not None:
        check_columns(names, spec.output.scatter, key="[output].scatter", source=src)
    for fig in spec.output.figures if figures else ():
        for gaia_name in CLUSTER_FIGURE_COLUMNS.get(fig, ()):
            col = figure_column(spec, gaia_name)
            if col not in names:
                raise DataError(
                    f"[output].figures: figure {fig!r} needs column {col!r}, which is not in "
                    f'{src}; map it in [data.columns] ({gaia_name} = "<column>") or remove '
                    f"{fig!r} from [output].figures",
                    argument="[output].figures",
                )


def _check_features(features: Sequence[str], table: Any, source: str) -> None:
    """Every column of every GPz feature expression exists in ``table``."""
    from bayesmix.gpz import parse_feature

    names = column_names(table)
    for i, f in enumerate(features):
        cols = [c for _, c in parse_feature(f, names)]
        check_columns(names, cols, key=f"[data].features[{i}]", source=source)


def read_data(spec: Spec) -> SpecData:
    """Read the spec's table(s) and check every named column exists (before any fitting).

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    SpecData
        The analysed table (every row, file order), the rows passing
        ``[data].select``, and the GPz population and training tables (their
        selections applied).

    Raises
    ------
    DataError
        Unknown columns (named with their key path), unreadable files,
        selections that keep no row.
    """
    d = spec.data
    table = _read(d.source, "[data]")
    source = d.source.name
    selected = d.source.mask(table, where="[data]")
    if not selected.any():
        raise DataError(
            f"[data].select keeps none of the {len(table)} rows of {source}",
            argument="[data].select",
        )
    check_spec_columns(spec, table)
    population = training = None
    if d.population is not None:
        population = _read_selected(d.population, "[data.population]")
        _check_features(d.features, table, source)
        _check_features(d.features, population, d.population.name)
    if d.training is not None:
        training = _read_selected(d.training, "[data.training]")
        _check_features(d.features, training, d.training.name)
    return SpecData(table=table, selected=selected, population=population, training=training)


def _read_selected(src: TableSource, where: str) -> Any:
    """Read a GPz table source and apply its ``select`` (which must keep a row)."""
    t = _read(src, where)
    keep = src.mask(t, where=where)
    if not keep.any():
        raise DataError(
            f"{where}.select keeps none of the {len(t)} rows of {src.name}",
            argument=f"{where}.select",
        )
    return t[keep]


def _read(src: TableSource, where: str) -> Any:
    """Read a table source; a file's DataError names the spec key (``[data].path``)."""
    try:
        return src.read()
    except DataError as exc:
        if exc.argument in (None, "path"):
            exc.argument = f"{where}.path" if src.path is not None else f"{where}.dataset"
        raise
