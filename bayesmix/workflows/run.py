"""Run an analysis spec end to end: check, fit, write the outputs (``bayesmix run``).

:func:`run_spec` takes a :class:`~bayesmix.spec.Spec`, checks that every output
can be written (and that none would be replaced, unless ``overwrite``), reads
and checks the data, and only then fits, with the runner of the spec's kind:

- Bayesian builders: :func:`bayesmix.workflows.bayes.run_bayes`;
- EM (``gmm``): :func:`bayesmix.workflows.em.run_em`;
- GPz (``gpz_weights``, ``gpz_divide``): :func:`bayesmix.workflows.gpz.run_gpz`.

Each serves a table in memory and, with ``dask=True`` (or a ``scheduler``), a
Parquet catalogue (file, folder or glob) over Dask
(:mod:`bayesmix.workflows.rows`).  The output folder receives:

- the input table with the new columns (every input row, in input order,
  input columns untouched; rows that were not scored get NaN and a reason in
  ``unscored_reason``), named by ``[output].table`` (over Dask a Parquet
  folder with the suffix ``.parquet``);
- ``summary.json`` and the readable ``summary.txt``, written before anything
  that could fail later (posterior, figures);
- for Bayesian builders, the posterior (``posterior.nc``, netCDF, when
  netCDF4 or h5netcdf is installed; otherwise ``posterior.zarr.zip``);
- the GPz mixtures (``gpz_model.npz``) and, for divides, gpz_pype's
  ``divide.csv``;
- figures, listed by ``[output].figures`` (over Dask, only those drawn from
  the fit: ``pgm``, ``pair``, ``bic_aic``, ``em_history``).

For ``cluster_field`` specs the report and ``summary.json`` (key ``cluster``)
also hold the cluster report of :func:`bayesmix.analysis.cluster_report`.
Every file is written atomically; nothing is replaced unless ``overwrite``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from bayesmix.workflows.outputs import (
    RunResult,
    check_output_paths,
    check_run_outputs,
    fit_figures,
    output_paths,
    posterior_filename,
)
from bayesmix.workflows.rows import DEFAULT_FIT_ROWS, open_rows

__all__ = [
    "DEFAULT_FIT_ROWS",
    "RunResult",
    "check_output_paths",
    "output_paths",
    "posterior_filename",
    "run_spec",
    "run_spec_dask",
]

Progress = Callable[[str], None] | None


def run_spec(
    spec,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: Progress = None,
    progressbar: bool = False,
    verbose: bool = False,
    dask: bool = False,
    scheduler: str | None = None,
    fit_rows: int | None = None,
    option: str = "--dask",
    paths: Mapping[str, str | os.PathLike] | None = None,
) -> RunResult:
    """Check the outputs and the data, fit the spec's analysis and write every output.

    Parameters
    ----------
    spec : Spec
        From :func:`bayesmix.spec.load_spec` (apply command-line overrides with
        :meth:`Spec.with_overrides` first).
    out_dir : path-like
        Output folder (created if needed).
    overwrite : bool, default False
        Replace existing outputs; otherwise any existing output is an error
        raised before fitting.
    progress : callable, optional
        Called with a short message before each long step.
    progressbar : bool, default False
        Show the sampler's progress bar (Bayesian builders).
    verbose : bool, default False
        Let EM report its restarts on stderr.
    dask : bool, default False
        Run over Dask on the spec's Parquet data (file, folder or glob).
    scheduler : str, optional
        A ``dask.distributed`` scheduler address (``tcp://host:8786``) or
        ``threads``/``processes``/``synchronous``; implies ``dask``.
    fit_rows : int, optional
        Over Dask: rows sampled (seeded, uniform over the rows passing
        ``[data].select``) for the in-memory fits of Bayesian builders and
        GPz mixtures (default 20,000; all rows when there are fewer).  EM
        specs are fitted over every row.
    option : str, default "--dask"
        The command-line option named in errors about Dask input.
    paths : mapping, optional
        Write only these outputs (kind -> path; kinds as in
        :func:`~bayesmix.workflows.outputs.output_paths`) instead of the
        spec's; used by commands that write a single file.

    Returns
    -------
    RunResult

    Raises
    ------
    SpecError, DataError, FileNotFoundError
        Bad spec, data or columns (raised before any fitting).
    FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError
        An output exists (and ``overwrite`` is False) or cannot be written
        (raised before any fitting).
    """
    use_dask = bool(dask or scheduler is not None)
    if paths is None:
        written = check_output_paths(spec, out_dir, overwrite=overwrite, dask=use_dask)
    else:
        from bayesmix._files import check_outputs

        written = {k: Path(v) for k, v in paths.items()}
        folders = [os.fspath(written["table"])] if use_dask and "table" in written else []
        check_outputs(written.values(), overwrite=overwrite, folders=folders)
    check_run_outputs(spec, written, dask=use_dask)
    ctx: contextlib.AbstractContextManager = contextlib.nullcontext()
    if use_dask:
        from bayesmix.scale import scheduler_context

        ctx = scheduler_context(scheduler)
    with ctx:
        rows = open_rows(spec, dask=use_dask, fit_rows=fit_rows, option=option, scheduler=scheduler)
        if spec.kind == "bayes":
            from bayesmix.workflows.bayes import run_bayes

            result = run_bayes(
                spec, rows, written, overwrite=overwrite, progress=progress, progressbar=progressbar
            )
        elif spec.kind == "em":
            from bayesmix.workflows.em import run_em

            result = run_em(
                spec, rows, written, overwrite=overwrite, progress=progress, verbose=verbose
            )
        else:
            from bayesmix.workflows.gpz import run_gpz

            result = run_gpz(spec, rows, written, overwrite=overwrite, progress=progress)
    if use_dask and paths is None:
        skipped = [f for f in spec.output.figures if f not in fit_figures(spec.output.figures)]
        if skipped:
            result.notes.append(
                f"figures not drawn with {option} (they plot every row): {', '.join(skipped)}"
            )
    return result


def run_spec_dask(
    spec,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    fit_rows: int = DEFAULT_FIT_ROWS,
    **kwargs,
) -> RunResult:
    """:func:`run_spec` over Dask (``dask=True``); the other arguments are :func:`run_spec`'s."""
    return run_spec(spec, out_dir, dask=True, scheduler=scheduler, fit_rows=fit_rows, **kwargs)
