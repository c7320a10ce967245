"""What a run writes, written once for every kind of analysis and both row sources.

- :func:`output_paths` names every file (or Parquet folder) of a spec's run;
  :func:`check_output_paths` refuses, before any fitting, outputs that exist
  (unless ``overwrite``) or cannot be written.
- :func:`new_columns` adds a run's columns to the input columns without ever
  replacing or renaming one of them.
- :class:`RunResult` is what every runner returns; :func:`finish` writes its
  files in the order that never loses a finished fit: the table, the summary,
  model files, then the figures, each of which may fail with a warning
  recorded in the summary (which is then rewritten).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix._files import check_outputs
from bayesmix.exceptions import DataError
from bayesmix.spec.model import PARQUET_SUFFIXES

__all__ = [
    "FIGURE_FILES",
    "REASON_COLUMN",
    "RunResult",
    "best_probability_axes",
    "caught_messages",
    "check_output_paths",
    "check_run_outputs",
    "count_reasons",
    "finish",
    "fit_figures",
    "new_columns",
    "output_paths",
    "posterior_filename",
    "scatter_columns",
    "summary_head",
]

#: file name of each figure kind a spec may list in ``[output].figures``
FIGURE_FILES = {
    "pgm": "pgm.png",
    "membership": "membership.png",
    "pair": "pair.png",
    "bic_aic": "bic_aic.png",
    "em_history": "em_history.png",
    "histograms": "histograms.png",
    "sky": "sky.png",
    "cmd": "cmd.png",
}
#: figures drawn from the fit alone (the others draw every row and are skipped over Dask)
_FIT_FIGURES = ("pgm", "pair", "bic_aic", "em_history")
#: the column naming why a row was not scored (empty for scored rows)
REASON_COLUMN = "unscored_reason"
_TINY = np.finfo(np.float64).tiny


def posterior_filename() -> str:
    """``posterior.nc`` when a netCDF-4 writer is installed, else ``posterior.zarr.zip``."""
    for mod in ("h5netcdf", "netCDF4"):
        if importlib.util.find_spec(mod) is not None:
            return "posterior.nc"
    return "posterior.zarr.zip"


def scatter_columns(spec) -> tuple[str, str] | None:
    """Return the two table columns the ``membership`` figure draws (None: no such figure).

    ``[output].scatter`` when given; else ``pmra``/``pmdec`` (after the column
    mapping) for ``cluster_field``; ``x``/``y``, the first two columns of ``X``
    or the first two one-column arguments for other Bayesian builders; the
    first two features for EM and GPz.
    """
    if spec.output.scatter is not None:
        return tuple(spec.output.scatter)
    cols = spec.data.columns
    if spec.builder == "cluster_field":
        return (str(cols.get("pmra", "pmra")), str(cols.get("pmdec", "pmdec")))
    if spec.kind == "bayes":
        if "x" in cols and "y" in cols:
            return (str(cols["x"]), str(cols["y"]))
        if "X" in cols and len(cols["X"]) >= 2:
            return (cols["X"][0], cols["X"][1])
        singles = [v for v in cols.values() if isinstance(v, str)]
        return (singles[0], singles[1]) if len(singles) >= 2 else None
    feats = list(spec.data.features)
    return (feats[0], feats[1]) if len(feats) >= 2 else None


def best_probability_axes(xy: np.ndarray, p: np.ndarray, cols, what: str):
    """Draw rows in a plane coloured by their most probable component's probability.

    ``xy`` (n, 2) are the plane's values, ``p`` (n, K) the membership columns
    (NaN rows are not scored), ``cols`` the axis labels, ``what`` the
    colour bar's component word ("assigned", "best").  Returns the Axes.
    """
    from bayesmix.plot import new_axes, plot_membership

    best = np.where(np.isfinite(p).all(axis=1), np.nanmax(p, axis=1, initial=0.0), np.nan)
    ax = new_axes(figsize=(7, 5))
    plot_membership(
        xy[:, 0],
        xy[:, 1],
        best,
        ax=ax,
        xlabel=cols[0],
        ylabel=cols[1],
        cmap="viridis",
        colorbar_label=f"probability of the {what} component",
    )
    return ax


def fit_figures(figures: Iterable[str]) -> list[str]:
    """Return the figures of ``figures`` drawn from the fit alone (those of ``--dask`` runs)."""
    return [f for f in figures if f in _FIT_FIGURES]


def _table_name(spec, *, dask: bool) -> str:
    name = spec.output.table
    if not dask or name.lower().endswith(PARQUET_SUFFIXES):
        return name
    return name.split(".")[0] + ".parquet"


def output_paths(spec, out_dir: str | os.PathLike, *, dask: bool = False) -> dict[str, Path]:
    """Every file (or, for the Parquet table of ``dask`` runs, folder) a run of ``spec`` writes.

    Parameters
    ----------
    spec : bayesmix.spec.Spec
    out_dir : path-like
        The output folder.
    dask : bool, default False
        The paths of a run over Dask (a Parquet table folder; only the figures
        drawn from the fit; no gpz_pype divide CSV).

    Returns
    -------
    dict of str to Path
        By kind: ``table``, ``summary_json``, ``summary_txt``, ``posterior``
        (Bayesian, unless ``[output].posterior = false``), ``model`` (GPz),
        ``divide`` (GPz divide, in memory), ``figure_<name>``.
    """
    out = Path(out_dir)
    paths = {
        "table": out / _table_name(spec, dask=dask),
        "summary_json": out / "summary.json",
        "summary_txt": out / "summary.txt",
    }
    if spec.kind == "bayes" and spec.output.posterior:
        paths["posterior"] = out / posterior_filename()
    if spec.kind in ("gpz_weights", "gpz_divide"):
        paths["model"] = out / "gpz_model.npz"
    if spec.kind == "gpz_divide" and not dask:
        paths["divide"] = out / "divide.csv"
    figures = fit_figures(spec.output.figures) if dask else spec.output.figures
    for fig in figures:
        if fig == "membership" and scatter_columns(spec) is None:
            continue
        paths[f"figure_{fig}"] = out / FIGURE_FILES[fig]
    return paths


def check_output_paths(
    spec, out_dir: str | os.PathLike, *, overwrite: bool, dask: bool = False
) -> dict[str, Path]:
    """Return :func:`output_paths`, after checking (before any fitting) they can be written.

    Raises
    ------
    FileExistsError
        An output exists and ``overwrite`` is false.
    IsADirectoryError, NotADirectoryError, PermissionError
        An output cannot be written there.
    """
    paths = output_paths(spec, out_dir, dask=dask)
    folders = [os.fspath(paths["table"])] if dask else []
    check_outputs(paths.values(), overwrite=overwrite, folders=folders)
    return paths


def _input_paths(spec) -> list[Path]:
    d = spec.data
    sources = [d.source, d.population, getattr(d, "training", None)]
    return [Path(s.path).resolve() for s in sources if s is not None and s.path is not None]


def check_run_outputs(spec, paths, *, dask: bool) -> None:
    """Refuse, before any fitting, outputs that are inputs or whose table format is unknown.

    Raises
    ------
    DataError
        An output path is one of the spec's input tables (or inside an input
        folder), or a table output's name has no known table ending.
    """
    from bayesmix.io import TABLE_FORMATS

    inputs = _input_paths(spec)
    for kind, raw in paths.items():
        p = Path(raw).resolve()
        for src in inputs:
            if p == src or (src.is_dir() and src in p.parents):
                raise DataError(
                    f"output '{raw}' ({kind}) would replace the input '{src}'; choose another "
                    "output path or folder",
                    argument="output",
                )
        if kind in ("table", "divide") and not (dask and kind == "table"):
            name = p.name.lower()
            if not any(name.endswith(e) for e in TABLE_FORMATS):
                raise DataError(
                    f"output '{raw}' has no table ending; use one of "
                    f"{', '.join(sorted(TABLE_FORMATS))}",
                    argument="output",
                )


def new_columns(
    colnames: Iterable[str], columns: Mapping[str, np.ndarray], *, source: str = "the input table"
) -> dict[str, np.ndarray]:
    """Check that no new column replaces an input column; return the columns ready to add.

    Float columns have subnormal values (``|v| < 2.2e-308``, e.g. a probability
    of 1e-320) set to 0: text readers warn on them and lose them anyway.

    Raises
    ------
    DataError
        An input column already has one of the new names (named in the message).
    """
    existing = set(colnames)
    for name in columns:
        if name in existing:
            raise DataError(
                f"{source} already has a column named {name!r}, which this run adds; rename "
                "that input column so that it is not replaced",
                argument="table",
            )
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        v = np.asarray(values)
        if v.dtype.kind == "f":
            v = np.where(np.abs(v) < _TINY, 0.0, v)
        out[name] = v
    return out


def count_reasons(reasons: np.ndarray) -> dict[str, int]:
    """Count the rows per non-empty reason, sorted by reason."""
    r = np.asarray(reasons).astype(str)
    vals, counts = np.unique(r[r != ""], return_counts=True)
    return {str(v): int(c) for v, c in zip(vals, counts, strict=True)}


def caught_messages(caught: Iterable[warnings.WarningMessage]) -> list[str]:
    """One line per distinct caught warning: ``Category: message``."""
    out: list[str] = []
    for w in caught:
        msg = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        if msg not in out:
            out.append(msg)
    return out


def summary_head(spec, *, n_rows: int, reasons: Mapping[str, int]) -> dict[str, Any]:
    """Return the first entries of every ``summary.json``: versions, spec, seed, data counts."""
    import bayesmix

    n_unscored = int(sum(reasons.values()))
    return {
        "bayesmix_version": bayesmix.__version__,
        "spec": spec.to_dict(),
        "kind": spec.kind,
        "builder": spec.builder,
        "seed": spec.seed,
        "data": {
            "source": spec.data.source.name,
            "n_rows": int(n_rows),
            "n_used": int(n_rows) - n_unscored,
            "n_unscored": n_unscored,
            "unscored_reasons": dict(reasons),
        },
    }


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    paths : dict of str to Path
        Written files by kind.
    summary : dict
        The content of ``summary.json``.
    report : str
        The content of ``summary.txt``.
    notes : list of str
        Things the user should know (e.g. figures skipped).
    status : str
        ``"ok"``, or ``"no cluster"`` when a cluster model found no cluster
        (the command then exits with its own code).
    """

    paths: dict[str, Path]
    summary: dict[str, Any]
    report: str
    notes: list[str] = field(default_factory=list)
    status: str = "ok"


def finish(
    result: RunResult,
    *,
    files: Mapping[str, Callable[[Path], Any]],
    figures: Mapping[str, Callable[[], Any]],
    report: Callable[[dict[str, Any]], str],
    overwrite: bool,
) -> RunResult:
    """Write a run's summary, model files and figures in the order that never loses a fit.

    The table has been written by the runner.  Then: ``summary.json`` and
    ``summary.txt`` (when in ``result.paths``: a command may write fewer
    files); ``files`` (kind -> writer of ``result.paths[kind]``, e.g. the
    posterior or a saved model); then each figure (kind -> function returning
    a matplotlib Figure).  A figure that fails is skipped with a
    warning recorded in ``summary["warnings"]`` and the report, and the two
    summary files are rewritten.
    """
    from bayesmix.io import write_figure, write_json, write_text

    def write_summaries(replace: bool) -> None:
        result.report = report(result.summary)
        if "summary_json" in result.paths:
            write_json(result.summary, result.paths["summary_json"], overwrite=overwrite or replace)
        if "summary_txt" in result.paths:
            write_text(result.report, result.paths["summary_txt"], overwrite=overwrite or replace)

    write_summaries(False)
    for kind, write in files.items():
        write(result.paths[kind])
    failed: list[str] = []
    for kind, make in figures.items():
        path = result.paths[kind]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # tight-layout notes of matplotlib
                fig = make()
            write_figure(fig, path, overwrite=overwrite)
        except (FileExistsError, PermissionError):
            raise
        except Exception as exc:  # noqa: BLE001 - a figure never costs the user the fit
            failed.append(
                f"FigureWarning: {path.name} was not drawn: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())}"
            )
            result.paths.pop(kind)
    if failed:
        result.summary.setdefault("warnings", []).extend(failed)
        result.summary["files"] = sorted(p.name for p in result.paths.values())
        write_summaries(True)
    return result
