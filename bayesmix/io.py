"""Tables in and out, and atomic file writes.

Tables are read and written with :mod:`astropy.table` (CSV, gzipped CSV,
ECSV, FITS, VOTable, Parquet).  Every write goes to a temporary file in the
destination folder which is then moved into place, so a reader never sees a
half-written file, and an existing file is never replaced unless
``overwrite=True``.

This module never imports matplotlib or PyMC; :func:`write_figure` only calls
the figure's own ``savefig`` method.
"""

from __future__ import annotations

import difflib
import gzip
import io as _stdio
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._files import atomic_write
from bayesmix.exceptions import DataError, FormatError

if TYPE_CHECKING:  # astropy is imported only when a table is read or written
    from astropy.table import Table
    from matplotlib.figure import Figure

__all__ = [
    "TABLE_FORMATS",
    "read_table",
    "table_to_array",
    "write_datatree",
    "write_figure",
    "write_json",
    "write_table",
    "write_text",
]

# file-name ending -> astropy format name (longest endings are matched first)
TABLE_FORMATS: dict[str, str] = {
    ".csv": "ascii.csv",
    ".csv.gz": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".ecsv.gz": "ascii.ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def _table_format(path: Path, format: str | None) -> tuple[str, str]:
    """Return (astropy format, matched suffix) for ``path``."""
    name = path.name.lower()
    suffix = ""
    for ending in sorted(TABLE_FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            suffix = ending
            break
    if format is not None:
        return format, suffix
    if not suffix:
        raise FormatError(
            f"cannot tell the table format of '{path}' from its name; use one of the endings "
            f"{sorted(TABLE_FORMATS)} (or pass format=, an astropy format name)"
        )
    return TABLE_FORMATS[suffix], suffix


def _needs_pyarrow(fmt: str) -> None:
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise FormatError(
                "reading or writing Parquet needs the optional package pyarrow: "
                "pip install pyarrow"
            ) from None


def _check_columns(available: Sequence[str], columns: Sequence[str], *, source: str) -> None:
    """Raise a DataError naming the first unknown column and listing the available ones."""
    missing = [c for c in columns if c not in available]
    if missing:
        c = missing[0]
        close = difflib.get_close_matches(c, list(available), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"unknown column {c!r} in {source}; available columns: {', '.join(available)}.{hint}",
            argument="columns",
        )


def read_table(path: str | os.PathLike, *, columns: Sequence[str] | None = None,
               format: str | None = None) -> Table:
    """Read a table file into an :class:`astropy.table.Table`.

    Parameters
    ----------
    path : str or path-like
        The file.  The format follows from the name: ``.csv``, ``.csv.gz``,
        ``.ecsv``, ``.fits``/``.fit`` (first table HDU), ``.vot``/``.votable``/
        ``.xml`` (VOTable), ``.parquet``/``.pq``.
    columns : sequence of str, optional
        Keep only these columns, in this order.  Every name must exist.
    format : str, optional
        An astropy format name overriding the file-name rule.

    Returns
    -------
    astropy.table.Table
        All rows, in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataError
        If a requested column is missing (the message lists the available
        columns) or the file cannot be parsed.
    FormatError
        If the format is unknown, or Parquet is requested without pyarrow.
    """
    from astropy.table import Table

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"table file '{p}' does not exist" if not p.exists() else f"'{p}' is not a file"
        )
    fmt, _ = _table_format(p, format)
    _needs_pyarrow(fmt)
    try:
        # FITS: astropy reads the first table HDU (and warns if there are several)
        with warnings.catch_warnings():
            # Parquet written by pandas/pyarrow has no astropy string-length metadata;
            # astropy then sizes string columns by their longest value, which is right
            warnings.filterwarnings("ignore", message=r"No table::len::", category=UserWarning)
            table = Table.read(str(p), format=fmt)
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read '{p}' as {fmt}: {msg}", argument="path") from exc
    if columns is not None:
        columns = [str(c) for c in columns]
        _check_columns(table.colnames, columns, source=f"'{p}'")
        table = table[columns]
    return table


def table_to_array(
    table: Table, columns: Sequence[str], *, source: str = "the table"
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Return the named numeric columns as a float array and a mask of usable rows.

    Parameters
    ----------
    table : astropy.table.Table
    columns : sequence of str
        Column names; each must exist and be numeric.
    source : str, optional
        How to name the table in error messages (e.g. its file name).

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns)
        Values as float64; masked entries become NaN.
    usable : ndarray of bool, shape (n_rows,)
        True where every value of the row is finite.

    Raises
    ------
    DataError
        If a column is unknown (listing the available ones) or not numeric.
    """
    columns = [str(c) for c in columns]
    if not columns:
        raise DataError("'columns' must name at least one column", argument="columns")
    _check_columns(table.colnames, columns, source=source)
    out = np.empty((len(table), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        col = table[name]
        if getattr(col, "ndim", 1) != 1:
            raise DataError(f"column {name!r} in {source} is not a scalar column "
                            f"(shape {col.shape})", argument="columns")
        if col.dtype.kind not in "biuf":
            raise DataError(
                f"column {name!r} in {source} is not numeric (dtype {col.dtype})",
                argument="columns",
            )
        values = np.asarray(col, dtype=np.float64).copy()
        mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else None
        if mask is not None and mask.any():
            values[mask] = np.nan
        out[:, j] = values
    usable = np.isfinite(out).all(axis=1)
    return out, usable


# --------------------------------------------------------------------------------------------
# writing (atomic, never replacing an existing file unless asked: bayesmix._files)
# --------------------------------------------------------------------------------------------


def write_table(table: Table, path: str | os.PathLike, *, overwrite: bool = False,
                format: str | None = None) -> Path:
    """Write an astropy Table atomically; the format follows from the file name.

    Parameters
    ----------
    table : astropy.table.Table
    path : str or path-like
        Destination; see :func:`read_table` for the recognised endings
        (``.csv.gz`` and ``.ecsv.gz`` are gzip-compressed).
    overwrite : bool, default False
        Replace an existing file.  Without it an existing file is an error.
    format : str, optional
        An astropy format name overriding the file-name rule.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    FormatError
        If the format is unknown or needs a missing optional package.
    """
    p = Path(path)
    fmt, suffix = _table_format(p, format)
    _needs_pyarrow(fmt)
    compress = suffix.endswith(".gz") and fmt.startswith("ascii")

    def write(tmp: str) -> None:
        if compress:
            buf = _stdio.StringIO()
            table.write(buf, format=fmt)
            with gzip.open(tmp, "wt", encoding="utf-8", newline="") as fh:
                fh.write(buf.getvalue())
        elif fmt == "fits" and suffix == ".fits.gz":
            buf = _stdio.BytesIO()
            table.write(buf, format=fmt)
            with gzip.open(tmp, "wb") as fh:
                fh.write(buf.getvalue())
        else:
            table.write(tmp, format=fmt, overwrite=True)

    return atomic_write(p, write, overwrite=overwrite)


def write_text(text: str, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write UTF-8 text atomically (refusing to replace an existing file unless asked)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return atomic_write(path, write, overwrite=overwrite)


def _jsonable(obj: Any) -> Any:
    """Convert numpy values, paths and non-finite floats to plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(obj: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``obj`` as JSON atomically, keys sorted, 2-space indented.

    numpy scalars and arrays become numbers and lists; NaN and infinities
    (not valid JSON) become ``null``.
    """
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_text(text, path, overwrite=overwrite)


def write_figure(fig: Figure, path: str | os.PathLike, *, overwrite: bool = False,
                 dpi: float = 150) -> Path:
    """Save a matplotlib figure atomically; the format follows from the suffix (e.g. ``.png``)."""
    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    if not fmt:
        raise FormatError(f"figure path '{p}' needs a suffix such as .png or .pdf")

    def write(tmp: str) -> None:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")

    return atomic_write(p, write, overwrite=overwrite)


def write_datatree(tree: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an ``xarray.DataTree`` (a posterior) atomically: netCDF-4 or a zipped zarr store.

    The format follows from the name: ``.nc`` is netCDF-4 (needs ``h5netcdf``
    or ``netCDF4``); anything else (``posterior.zarr.zip``) a zarr store in a
    zip file, read with ``xarray.open_datatree(zarr.storage.ZipStore(path),
    engine="zarr")``.
    """
    p = Path(path)

    def write(tmp: str) -> None:
        if p.name.endswith(".nc"):
            tree.to_netcdf(tmp)
            return
        import zarr

        os.unlink(tmp)  # ZipStore creates the file itself
        store = zarr.storage.ZipStore(tmp, mode="w")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zarr format-3 notes on string dtypes
                tree.to_zarr(store, mode="w")
        finally:
            store.close()

    return atomic_write(p, write, overwrite=overwrite)
