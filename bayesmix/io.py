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

import contextlib
import difflib
import gzip
import io as _stdio
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._files import atomic_write
from bayesmix._validate import suggest
from bayesmix.exceptions import DataError, FormatError

if TYPE_CHECKING:  # astropy is imported only when a table is read or written
    from astropy.table import Table
    from matplotlib.figure import Figure

__all__ = [
    "TABLE_FORMATS",
    "read_table",
    "readable_formats",
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


def readable_formats() -> list[str]:
    """Return the astropy format names :func:`read_table` accepts as ``format=``, sorted."""
    from astropy.io import registry
    from astropy.table import Table

    formats = registry.get_formats(Table, "Read")
    return sorted(
        str(f)
        for f, dep in zip(formats["Format"], formats["Deprecated"], strict=True)
        if str(dep) != "Yes"
    )


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
                "reading or writing Parquet needs the optional package pyarrow: pip install pyarrow"
            ) from None


def _check_columns(available: Sequence[str], columns: Sequence[str], *, source: str) -> None:
    """Raise a DataError naming the first repeated or unknown column (listing the available)."""
    for j, c in enumerate(columns):
        if c in columns[:j]:
            raise DataError(
                f"column {c!r} of {source} is named twice in 'columns' (a model would see two "
                "identical features)",
                argument="columns",
            )
    missing = [c for c in columns if c not in available]
    if missing:
        c = missing[0]
        close = difflib.get_close_matches(c, list(available), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"unknown column {c!r} in {source}; available columns: {', '.join(available)}.{hint}",
            argument="columns",
        )


def read_table(
    path: str | os.PathLike,
    *,
    columns: Sequence[str] | None = None,
    format: str | None = None,
    allow_empty: bool = False,
) -> Table:
    """Read a table file into an :class:`astropy.table.Table`.

    The file is checked before it is trusted: a file that is empty, a corrupt
    or truncated gzip, CSV/ECSV text that is not UTF-8, a damaged FITS,
    VOTable or Parquet file, a table without columns or (unless
    ``allow_empty``) without rows, a column without a name and two columns
    with the same name are each a one-line :class:`DataError` naming the path
    (and the line, byte or column); nothing is renamed or guessed.  A UTF-8
    byte-order mark is not part of the first column's name.

    Parameters
    ----------
    path : str or path-like
        The file.  The format follows from the name: ``.csv``, ``.csv.gz``,
        ``.ecsv``, ``.fits``/``.fit``/``.fits.gz`` (first table HDU),
        ``.vot``/``.votable``/``.xml`` (VOTable, first table), ``.parquet``/``.pq``.
    columns : sequence of str, optional
        Keep only these columns, in this order.  Every name must exist, once.
    format : str, optional
        An astropy format name overriding the file-name rule.
    allow_empty : bool, default False
        Accept a table with columns but no rows (e.g. one Parquet part of many).

    Returns
    -------
    astropy.table.Table
        All rows, in file order, columns named as in the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataError
        If the file cannot be read as a table (see above) or a requested
        column is missing or repeated (the message lists the available
        columns).
    FormatError
        If the format is unknown, or Parquet is requested without pyarrow.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"table file '{p}' does not exist" if not p.exists() else f"'{p}' is not a file"
        )
    fmt, suffix = _table_format(p, format)
    if format is not None and format not in (known := readable_formats()):
        raise FormatError(
            f"cannot read '{p}': unknown table format {format!r}{suggest(format, known)} "
            f"(astropy reads {', '.join(known)})"
        )
    _needs_pyarrow(fmt)
    if p.stat().st_size == 0:
        raise DataError(f"cannot read '{p}': the file is empty (0 bytes)", argument="path")
    table = _read_any(p, fmt, suffix)
    if not table.colnames:
        raise DataError(f"cannot read '{p}' as {fmt}: it has no columns", argument="path")
    if len(table) == 0 and not allow_empty:
        raise DataError(
            f"cannot use '{p}': it has columns ({', '.join(table.colnames)}) but no rows",
            argument="path",
        )
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
        If a column is unknown (listing the available ones), named twice or
        not numeric.
    """
    columns = [str(c) for c in columns]
    if not columns:
        raise DataError("'columns' must name at least one column", argument="columns")
    _check_columns(table.colnames, columns, source=source)
    out = np.empty((len(table), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        col = table[name]
        if getattr(col, "ndim", 1) != 1:
            raise DataError(
                f"column {name!r} in {source} is not a scalar column (shape {col.shape})",
                argument="columns",
            )
        if col.dtype.kind not in "biuf":
            raise _not_numeric(col, name, source)
        values = np.asarray(col, dtype=np.float64).copy()
        mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else None
        if mask is not None and mask.any():
            values[mask] = np.nan
        out[:, j] = values
    usable = np.isfinite(out).all(axis=1)
    return out, usable


def _not_numeric(col: Any, name: str, source: str) -> DataError:
    """Return the error for a non-numeric column, naming its first value that is no number."""
    if col.dtype.kind in "US":
        values = np.ma.getdata(col)
        masked = np.ma.getmaskarray(col)
        for i, v in enumerate(values):
            if masked[i]:
                continue
            try:
                float(v)
            except ValueError:
                return DataError(
                    f"column {name!r} in {source} is not numeric: row {i} holds {str(v)!r}",
                    argument="columns",
                    rows=[i],
                )
    return DataError(
        f"column {name!r} in {source} is not numeric (dtype {col.dtype})", argument="columns"
    )


def _read_any(p: Path, fmt: str, suffix: str) -> Table:
    """Read ``p`` as ``fmt``; every failure is a DataError naming the path."""
    from astropy.table import Table

    try:
        with open(p, "rb") as fh:
            gzipped = fh.read(2) == _GZIP_MAGIC
        if suffix.endswith(".gz") and not gzipped:
            raise DataError(
                f"cannot read '{p}': its name ends in .gz but it is not gzip-compressed",
                argument="path",
            )
        if fmt.startswith("ascii"):
            raw = _gunzip(p) if gzipped else p.read_bytes()
            text = _utf8_text(raw, p)
            names = _text_header(text, fmt)
            if names is not None:
                _check_names(names, p)
            try:
                with _damage_is_an_error(p, fmt):
                    table = Table.read(text, format=fmt, guess=False)
            except ValueError:
                if fmt == "ascii.csv":
                    _check_row_lengths(text, p)
                raise
            if fmt == "ascii.csv" and table.has_masked_values:
                _check_row_lengths(text, p)  # astropy pads short rows with masked values
            if names is not None and list(table.colnames) != names:
                raise DataError(  # a reader renamed a column: never hand on names the file lacks
                    f"cannot read '{p}' as {fmt}: its header names {names} but the reader gave "
                    f"{list(table.colnames)}",
                    argument="path",
                )
        elif fmt == "votable":
            table = _read_votable(p)
        else:
            data = _gunzip(p) if gzipped else None

            def source() -> Any:
                return str(p) if data is None else _stdio.BytesIO(data)

            if fmt == "parquet":
                import pyarrow.parquet as pq

                _check_names(pq.read_schema(source()).names, p)
            elif fmt == "fits":
                _check_names(_fits_names(source(), p), p)
            with _damage_is_an_error(p, fmt):
                # Parquet written by pandas/pyarrow has no astropy string-length metadata;
                # astropy then sizes string columns by their longest value, which is right
                warnings.filterwarnings("ignore", message=r"No table::len::", category=UserWarning)
                table = Table.read(source(), format=fmt)
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
        raise DataError(f"cannot read '{p}' as {fmt}: {_first_line(exc)}", argument="path") from exc
    return table


_GZIP_MAGIC = b"\x1f\x8b"
#: astropy warnings that mean the file is damaged (the data read would be wrong)
_DAMAGE = re.compile(r"truncat|corrupt", re.I)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _gunzip(p: Path) -> bytes:
    """Decompress all of a gzip file (so a truncated or corrupt one fails here, whole)."""
    import zlib

    try:
        with gzip.open(p, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"cannot read '{p}': corrupt or truncated gzip file ({_first_line(exc)})",
            argument="path",
        ) from None
    if not data:
        raise DataError(f"cannot read '{p}': the gzip file holds no data", argument="path")
    return data


def _utf8_text(raw: bytes, p: Path) -> str:
    """Decode UTF-8 (a byte-order mark dropped); else a DataError naming line and byte."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"cannot read '{p}': it is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line "
            f"{line}); save it as UTF-8",
            argument="path",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError(
            f"cannot read '{p}': it holds a NUL byte on line {line} (a binary file?)",
            argument="path",
        )
    if not text.strip():
        raise DataError(f"cannot read '{p}': the file holds only blank lines", argument="path")
    # astropy reads a string holding a line break as the table itself (never as a file name)
    return text if text.endswith(("\n", "\r")) else text + "\n"


def _text_header(text: str, fmt: str) -> list[str] | None:
    """Column names as written in a CSV or ECSV file (None for other text formats)."""
    import csv

    if fmt == "ascii.csv":  # astropy's CSV header: the first non-blank line ('#' included)
        first = next((ln for ln in text.splitlines() if ln.strip()), None)
        if first is None:
            return None
        return [n.strip() for n in next(csv.reader([first], skipinitialspace=True))]
    lines = (ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))
    first = next(lines, None)
    if first is None:
        return None
    if fmt == "ascii.ecsv":
        delimiter = "," if re.search(r"^# delimiter: *','", text, re.M) else " "
        return next(csv.reader([first], delimiter=delimiter, skipinitialspace=True))
    return None


def _check_row_lengths(text: str, p: Path) -> None:
    """Raise a DataError naming the first CSV line whose number of values is not the header's."""
    import csv

    if '"' not in text:  # fast path: without quotes, equal comma counts mean equal lengths
        counts = {ln.count(",") for ln in text.splitlines() if ln.strip()}
        if len(counts) <= 1:
            return
    reader = csv.reader(_stdio.StringIO(text))
    header: list[str] | None = None
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if header is None:
            header, header_line = row, reader.line_num
        elif len(row) != len(header):
            hint = (
                f" (line {header_line}, {','.join(header)!r}, is the header: CSV has no "
                "comment lines)"
                if header[0].lstrip().startswith("#")
                else ""
            )
            raise DataError(
                f"cannot read '{p}': line {reader.line_num} has {len(row)} value"
                f"{'s' if len(row) != 1 else ''}, the header {len(header)}{hint}",
                argument="path",
            )


def _check_names(names: Sequence[str], p: Path) -> None:
    """Raise a DataError naming the first column without a name or with a repeated name."""
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        if not str(name).strip():
            raise DataError(
                f"cannot read '{p}': column {i} has no name; name every column",
                argument="path",
            )
        if name in seen:
            raise DataError(
                f"cannot read '{p}': column name {name!r} appears twice (columns "
                f"{list(names).index(name) + 1} and {i}); rename one of them",
                argument="path",
            )
        seen.add(name)


def _fits_names(source: Any, p: Path) -> list[str]:
    """TTYPE names of the first table HDU of a FITS file (header only)."""
    from astropy.io import fits

    with (
        _damage_is_an_error(p, "fits"),
        fits.open(source, memmap=False, lazy_load_hdus=True) as hdus,
    ):
        for hdu in hdus:
            if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)):
                n = int(hdu.header.get("TFIELDS", 0))
                return [str(hdu.header.get(f"TTYPE{i}", "")).strip() for i in range(1, n + 1)]
    return []


def _read_votable(p: Path) -> Table:
    """Read the first table of a VOTable, checking its FIELD names."""
    from astropy.io.votable import parse

    with _damage_is_an_error(p, "votable"):
        tables = list(parse(str(p)).iter_tables())
    if not tables:
        raise DataError(f"cannot read '{p}' as votable: it holds no table", argument="path")
    _check_names([f.name for f in tables[0].fields], p)
    return tables[0].to_table()


def _is_damage(message: Warning) -> bool:
    """Tell whether a warning says the file is damaged (what was read would be wrong)."""
    return type(message).__name__ == "VerifyWarning" or bool(_DAMAGE.search(str(message)))


@contextlib.contextmanager
def _damage_is_an_error(p: Path, fmt: str) -> Iterator[None]:
    """Turn warnings that mean a damaged file into a DataError; pass the others on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if _is_damage(w.message):
            raise DataError(
                f"cannot read '{p}' as {fmt}: damaged file ({_first_line(w.message)})",
                argument="path",
            )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# --------------------------------------------------------------------------------------------
# writing (atomic, never replacing an existing file unless asked: bayesmix._files)
# --------------------------------------------------------------------------------------------


def write_table(
    table: Table, path: str | os.PathLike, *, overwrite: bool = False, format: str | None = None
) -> Path:
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


def write_figure(
    fig: Figure, path: str | os.PathLike, *, overwrite: bool = False, dpi: float = 150
) -> Path:
    """Save a matplotlib figure atomically; the format follows from the suffix (e.g. ``.png``)."""
    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    if not fmt:
        raise FormatError(f"figure path '{p}' needs a suffix such as .png or .pdf")

    def write(tmp: str) -> None:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")

    return atomic_write(p, write, overwrite=overwrite)


@contextlib.contextmanager
def _no_distributed_probe() -> Iterator[None]:
    """Keep xarray's netCDF writer from importing ``dask.distributed`` just to look for a client.

    ``to_netcdf`` asks dask for the active scheduler, and dask imports ``distributed`` (~0.2 s)
    to look for a running client.  A process that has not imported ``distributed`` has no
    client, so while the writer runs the import is made to fail (``sys.modules`` entry None,
    removed afterwards) and dask falls back to its local answer.  Where ``distributed`` is
    already imported (Dask workers, a user's client) nothing changes.
    """
    import sys

    if "distributed" in sys.modules:
        yield
        return
    sys.modules["distributed"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("distributed", 0) is None:
            del sys.modules["distributed"]


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
            with _no_distributed_probe():
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
