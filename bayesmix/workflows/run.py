"""Run an analysis spec end to end: validate, fit, write the outputs (``bayesmix run``).

:func:`run_spec` takes a :class:`~bayesmix.spec.Spec`, reads its data, checks
every column and that no output would be replaced (unless ``overwrite``), and
only then fits.  It writes to the output folder:

- the input table with the new columns (every input row, in input order,
  input columns untouched; rows that were not scored get NaN and a reason in
  ``unscored_reason``), named by ``[output].table``;
- ``summary.json`` and the readable ``summary.txt``;
- for Bayesian builders, the posterior (``posterior.nc``, netCDF, when
  netCDF4 or h5netcdf is installed; otherwise ``posterior.zarr.zip``, a zipped
  zarr store that ``xarray.open_datatree(..., engine="zarr")`` reads);
- figures, listed by ``[output].figures``.

For ``cluster_field`` specs the report and ``summary.json`` (key ``cluster``)
also hold the cluster summary (posterior means and 90 % intervals of the
cluster's parameters and of the expected number of members, next to the
spec's ``[reference]`` values), the membership counts (p > 0.5, p > 0.9 and
the sum of the probabilities) and, for fixed fields, whether the data need a
cluster at all (:func:`~bayesmix.builders.cluster_field.compare_to_field`).

Every file is written atomically; nothing is replaced unless ``overwrite``.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix.analysis import cluster_report as _cluster_report
from bayesmix.analysis import format_cluster_report as _cluster_text
from bayesmix.analysis import parameter_summary as _parameter_summary
from bayesmix.exceptions import DataError, SpecError
from bayesmix.io import table_to_array, write_figure, write_json, write_table, write_text
from bayesmix.spec import Spec, SpecData, read_data

__all__ = ["RunResult", "output_paths", "posterior_filename", "run_spec"]

_FIGURE_FILES = {
    "pgm": "pgm.png",
    "membership": "membership.png",
    "pair": "pair.png",
    "bic_aic": "bic_aic.png",
    "em_history": "em_history.png",
    "histograms": "histograms.png",
    "sky": "sky.png",
    "cmd": "cmd.png",
}

Progress = Callable[[str], None] | None


def posterior_filename() -> str:
    """``posterior.nc`` when a netCDF-4 writer is installed, else ``posterior.zarr.zip``."""
    for mod in ("h5netcdf", "netCDF4"):
        if importlib.util.find_spec(mod) is not None:
            return "posterior.nc"
    return "posterior.zarr.zip"


def output_paths(spec: Spec, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every file :func:`run_spec` writes for ``spec`` in ``out_dir``, by kind."""
    out = Path(out_dir)
    paths = {
        "table": out / spec.output.table,
        "summary_json": out / "summary.json",
        "summary_txt": out / "summary.txt",
    }
    if spec.kind == "bayes" and spec.output.posterior:
        paths["posterior"] = out / posterior_filename()
    if spec.kind == "gpz_weights":
        paths["model"] = out / "gpz_model.npz"
    if spec.kind == "gpz_divide":
        paths["divide"] = out / "divide.csv"
        paths["model"] = out / "gpz_model.npz"
    for fig in spec.output.figures:
        if fig == "membership" and _scatter_columns(spec) is None:
            continue
        paths[f"figure_{fig}"] = out / _FIGURE_FILES[fig]
    return paths


@dataclass
class RunResult:
    """What :func:`run_spec` did.

    Attributes
    ----------
    paths : dict of str to Path
        Written files by kind.
    summary : dict
        The content of ``summary.json``.
    report : str
        The content of ``summary.txt``.
    notes : list of str
        Things the user should know (e.g. the pair plot's fallback).
    """

    paths: dict[str, Path]
    summary: dict[str, Any]
    report: str
    notes: list[str] = field(default_factory=list)


def check_output_paths(spec: Spec, out_dir: str | os.PathLike, *, overwrite: bool) -> None:
    """Raise (naming the file) if a file :func:`run_spec` would write exists.

    Unless ``overwrite``; called before any fitting.
    """
    _check_outputs(output_paths(spec, out_dir), overwrite=overwrite)


def _check_outputs(paths, *, overwrite: bool) -> None:
    from bayesmix.workflows.gmm import check_outputs

    check_outputs(paths.values(), overwrite=overwrite)


def _scatter_columns(spec: Spec) -> tuple[str, str] | None:
    if spec.output.scatter is not None:
        return spec.output.scatter
    if spec.builder == "cluster_field":
        cols = spec.data.columns
        return (str(cols.get("pmra", "pmra")), str(cols.get("pmdec", "pmdec")))
    if spec.kind == "bayes":
        cols = spec.data.columns
        if "x" in cols and "y" in cols:
            return (str(cols["x"]), str(cols["y"]))
        if "X" in cols and len(cols["X"]) >= 2:
            return (cols["X"][0], cols["X"][1])
        singles = [v for v in cols.values() if isinstance(v, str)]
        return (singles[0], singles[1]) if len(singles) >= 2 else None
    feats = list(spec.data.features)
    return (feats[0], feats[1]) if len(feats) >= 2 else None


def _caught_messages(caught) -> list[str]:
    out: list[str] = []
    for w in caught:
        msg = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        if msg not in out:
            out.append(msg)
    return out


def _reasons_column(out, reasons: np.ndarray) -> None:
    if "unscored_reason" in out.colnames:
        raise DataError(
            "the input table already has a column named 'unscored_reason'; rename "
            "it so that it is not replaced",
            argument="table",
        )
    out["unscored_reason"] = reasons


def _add_columns(out, columns: dict[str, np.ndarray]) -> None:
    clash = [c for c in columns if c in out.colnames]
    if clash:
        raise DataError(
            f"the input table already has a column named {clash[0]!r}; rename it "
            "so that the new columns do not replace input data",
            argument="table",
        )
    for name, values in columns.items():
        if values.dtype.kind == "f":
            # subnormal values (|v| < 2.2e-308, e.g. a probability of 1e-320) become 0: text
            # readers such as astropy's fast CSV reader warn on them and lose them anyway
            values = np.where(np.abs(values) < np.finfo(np.float64).tiny, 0.0, values)
        out[name] = values


def _count_reasons(reasons: np.ndarray) -> dict[str, int]:
    vals, counts = np.unique(reasons[reasons != ""], return_counts=True)
    return {str(v): int(c) for v, c in zip(vals, counts, strict=True)}


def _robust_limits(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Zoom to the central 99.6 % of the points when a few far ones would squash the rest."""
    for v, setter in ((x, ax.set_xlim), (y, ax.set_ylim)):
        v = v[np.isfinite(v)]
        if v.size < 50:
            continue
        lo, hi = np.percentile(v, [0.2, 99.8])
        if hi > lo and (v.max() - v.min()) > 3 * (hi - lo):
            pad = 0.05 * (hi - lo)
            setter(lo - pad, hi + pad)


def _scatter_values(table, cols: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    X, _ = table_to_array(table, list(cols), source="the table")
    return X[:, 0], X[:, 1]


# --------------------------------------------------------------------------------------------
# Bayesian builders
# --------------------------------------------------------------------------------------------


def _builder_function(name: str):
    if name == "cluster_field":
        from bayesmix.builders.cluster_field import cluster_field

        return cluster_field
    import bayesmix.builders as b

    return getattr(b, name)


def _spec_key(spec: Spec, key: str | None) -> str:
    """Map a builder's argument name to the spec's key path."""
    if key is None:
        return "[builder]"
    if key.startswith("priors"):
        rest = key[len("priors") :].lstrip(".")
        return "[priors]" + (f".{rest}" if rest else "")
    if key in spec.options:
        return f"[builder].{key}"
    if key in spec.data.columns:
        return f"[data.columns].{key}"
    return f"[builder].{key}"


def _bayes_inputs(spec: Spec, data: SpecData):
    table = data.table
    n = len(table)
    usable = data.selected.copy()
    reasons = np.where(data.selected, "", "excluded by [data].select").astype(object)
    arrays: dict[str, np.ndarray] = {}
    for arg, cols in spec.data.columns.items():
        names = [cols] if isinstance(cols, str) else list(cols)
        X, ok = table_to_array(table, names, source=spec.data.source.name)
        bad = data.selected & ~ok & (reasons == "")
        reasons[bad] = f"missing or non-finite value in {', '.join(names)}"
        usable &= ok
        arrays[arg] = X[:, 0] if isinstance(cols, str) else X
    if spec.data.ids is not None:
        ids = np.asarray(table[spec.data.ids])
    else:
        ids = np.arange(n)
    return arrays, ids, usable, reasons.astype(str)


def _build(spec: Spec, arrays, ids, usable):
    fn = _builder_function(spec.builder)
    kwargs = {k: v[usable] for k, v in arrays.items()}
    opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.options.items()}
    try:
        return fn(**kwargs, **opts, priors=dict(spec.priors) or None, ids=ids[usable])
    except SpecError as exc:
        key = _spec_key(spec, exc.key)
        raise SpecError(f"{key}: {exc}", key=key) from exc
    except DataError as exc:
        note = (
            ""
            if usable.all()
            else (
                " (row numbers count only the rows used in the fit; "
                "ids, when given, identify the row)"
            )
        )
        raise DataError(
            f"{spec.data.source.name}: {exc}{note}", argument=exc.argument, rows=exc.rows
        ) from exc


def _build_cluster_field(spec: Spec, data: SpecData):
    """Build :func:`~bayesmix.builders.cluster_field.cluster_field` on the selected rows."""
    from bayesmix.builders.cluster_field import cluster_field

    opts: dict[str, Any] = {}
    for k, v in spec.options.items():
        opts[k] = tuple(v) if k in ("features", "sky_center") else v
    columns = {k: str(v) for k, v in spec.data.columns.items()}
    if spec.data.ids is not None:
        columns.setdefault("source_id", spec.data.ids)
    sub = data.table[data.selected]
    try:
        return cluster_field(
            sub,
            **opts,
            columns=columns or None,
            priors=dict(spec.priors) or None,
            rng=spec.seed,
        )
    except SpecError as exc:
        key = _spec_key(spec, exc.key)
        raise SpecError(f"{key}: {exc}", key=key) from exc
    except DataError as exc:
        raise DataError(
            f"{spec.data.source.name}: {exc}", argument=exc.argument, rows=exc.rows
        ) from exc


def _bayes_report(spec: Spec, summary: dict[str, Any]) -> str:
    d = summary["data"]
    s = summary["sampler"]
    diag = summary["diagnostics"]
    lines = [
        f"{spec.name}: {spec.description}" if spec.description else spec.name,
        f"builder: {spec.builder}; data: {d['source']}: {d['n_rows']} rows, {d['n_used']} used"
        + (f", {d['n_unscored']} not scored" if d["n_unscored"] else ""),
    ]
    for reason, count in d["unscored_reasons"].items():
        lines.append(f"  not scored: {count} row(s): {reason}")
    lines += [
        f"seed: {summary['seed']} (sampler seed {summary['sampler_seed']}); sampler "
        f"{s['sampler']}, {s['chains']} chains x {s['draws']} draws ({s['tune']} tuning)",
        f"diagnostics: max R-hat {diag['max_rhat']:.3f}, min ESS bulk "
        f"{diag['min_ess_bulk']:.0f} / tail {diag['min_ess_tail']:.0f}, "
        f"{diag['divergences']} divergences",
        "",
        f"{'parameter':<28} {'mean':>11} {'sd':>10} {'16%':>11} {'50%':>11} {'84%':>11} "
        f"{'R-hat':>6} {'ESS':>6}",
    ]
    shown = set(summary["model_variables"])
    for name, p in summary["parameters"].items():
        if name.split("[")[0] not in shown:
            continue
        rh = f"{p['r_hat']:.3f}" if p["r_hat"] is not None else "-"
        ess = f"{p['ess_bulk']:.0f}" if p["ess_bulk"] is not None else "-"
        lines.append(
            f"{name:<28} {p['mean']:>11.4g} {p['sd']:>10.3g} {p['q16']:>11.4g} "
            f"{p['q50']:>11.4g} {p['q84']:>11.4g} {rh:>6} {ess:>6}"
        )
    lines += [
        "(the model's parameters; summary.json lists every posterior variable)",
        "",
        "membership (posterior mean probabilities):",
    ]
    for lab, m in summary["membership"].items():
        lines.append(
            f"  {lab:>10}: expected count {m['expected_count']:.1f}, most probable "
            f"for {m['n_most_probable']} object(s)"
        )
    for w in summary["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"


def bayes_summary_head(spec: Spec, fit) -> dict[str, Any]:
    """Return the first entries of a Bayesian run's ``summary.json`` (versions, seeds, ...)."""
    import bayesmix

    s = spec.sampler
    return {
        "bayesmix_version": bayesmix.__version__,
        "spec": spec.to_dict(),
        "kind": "bayes",
        "builder": spec.builder,
        "seed": spec.seed,
        "sampler_seed": fit.seed,
        "sampler": {
            "sampler": fit.sampler,
            "draws": s.draws,
            "tune": s.tune,
            "chains": s.chains,
            "target_accept": s.target_accept,
        },
    }


def check_pair_vars(spec: Spec, mm) -> None:
    """Raise :class:`SpecError` if ``[output].pair_vars`` names no variable of ``mm``."""
    sampled = [v.name for v in (*mm.model.free_RVs, *mm.model.deterministics)]
    for i, name in enumerate(spec.output.pair_vars or ()):
        if name not in sampled:
            key = f"[output].pair_vars[{i}]"
            raise SpecError(
                f"{key} must name a model variable ({', '.join(sorted(sampled))}), got {name!r}",
                key=key,
            )


def sample_spec(spec: Spec, mm, *, progress=None, progressbar: bool = False):
    """Sample ``mm`` with the spec's sampler settings and seed (reporting progress)."""
    from bayesmix.inference import sample  # looked up at call time (tests replace it)

    s = spec.sampler
    if progress:
        progress(
            f"sampling with {s.sampler}: {s.chains} chains x {s.draws} draws "
            f"({s.tune} tuning), seed {spec.seed}; compiling the model first"
        )
    return sample(
        mm,
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        rng=spec.seed,
        sampler=s.sampler,
        target_accept=s.target_accept,
        progressbar=progressbar,
    )


def _run_bayes(
    spec: Spec, data: SpecData, paths, *, overwrite: bool, progress: Progress, progressbar: bool
) -> RunResult:
    from bayesmix.membership import membership

    if spec.builder == "cluster_field":
        usable, reasons = (
            data.selected.copy(),
            np.where(data.selected, "", "excluded by [data].select"),
        )
        if progress:
            progress(f"building cluster_field on the {int(usable.sum())} selected rows")
        mm = _build_cluster_field(spec, data)
    else:
        arrays, ids, usable, reasons = _bayes_inputs(spec, data)
        if progress:
            progress(f"building {spec.builder} on {int(usable.sum())} of {len(data.table)} rows")
        mm = _build(spec, arrays, ids, usable)
    check_pair_vars(spec, mm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sample_spec(spec, mm, progress=progress, progressbar=progressbar)
        if progress:
            progress("computing membership probabilities over the posterior draws")
        if spec.builder == "cluster_field":
            from bayesmix.builders.cluster_field import membership_table as cf_table

            mt = cf_table(fit, keep_columns=False, quantiles=True)
            if progress:
                progress("summarising the cluster and comparing with the field alone")
            cluster = _cluster_report(
                fit,
                np.asarray(mt["p_cluster"], dtype=np.float64),
                reference=spec.reference,
                rng=spec.seed,
            )
        else:
            ds = membership(fit)
        params = _parameter_summary(fit)
    messages = [
        m
        for m in _caught_messages(caught)
        if m.startswith(("DiagnosticsWarning", "ConvergenceWarning"))
    ]

    # the output table: input rows and columns untouched, new columns added
    from astropy.table import Table

    out = Table(data.table, copy=True)
    n = len(out)
    labels = [str(v) for v in mm.component_labels]
    new: dict[str, np.ndarray] = {}
    if spec.builder == "cluster_field":
        # rows of the selected sub-table -> rows of the input table
        sel_rows = np.flatnonzero(data.selected)
        excluded = np.asarray(mt["excluded_reason"]).astype(str)
        reasons = reasons.astype(object)
        reasons[sel_rows] = excluded
        reasons = reasons.astype(str)
        usable = np.zeros(n, dtype=bool)
        usable[sel_rows[excluded == ""]] = True
        for name in mt.colnames:
            if name.startswith("p_"):
                col = np.full(n, np.nan)
                col[sel_rows] = np.asarray(mt[name], dtype=np.float64)
                new[name] = col
        prob = np.column_stack([new[f"p_{lab}"][usable] for lab in labels])
    else:
        prob = np.asarray(ds["probability"].values)  # (n_used, K)
        suffixes = [
            ("probability", ""),
            ("probability_sd", "_sd"),
            ("probability_q16", "_q16"),
            ("probability_q50", "_q50"),
            ("probability_q84", "_q84"),
        ]
        for k, lab in enumerate(labels):
            for var, suf in suffixes:
                if var in ds:
                    col = np.full(n, np.nan)
                    col[usable] = np.asarray(ds[var].values)[:, k]
                    new[f"p_{lab}{suf}"] = col
    best = np.full(n, "", dtype=f"<U{max(len(x) for x in labels)}")
    ok_rows = np.flatnonzero(usable)
    finite = np.isfinite(prob).all(axis=1)
    best[ok_rows[finite]] = np.asarray(labels)[np.argmax(prob[finite], axis=1)]
    new["component"] = best
    zero = ok_rows[~finite]
    reasons = reasons.copy().astype(object)
    reasons[zero] = "zero density under every component in some posterior draw"
    reasons = reasons.astype(str)
    _add_columns(out, new)
    _reasons_column(out, reasons)

    n_used = int(usable.sum())
    summary: dict[str, Any] = {
        **bayes_summary_head(spec, fit),
        "data": {
            "source": spec.data.source.name,
            "n_rows": n,
            "n_used": n_used,
            "n_unscored": int((reasons != "").sum()),
            "unscored_reasons": _count_reasons(reasons),
        },
        "diagnostics": {
            k: (float(v) if isinstance(v, float) else v) for k, v in fit.diagnostics.items()
        },
        "parameters": params,
        "components": labels,
        "membership": {
            lab: {
                "expected_count": float(np.nansum(prob[:, k])),
                "n_most_probable": int((best == lab).sum()),
            }
            for k, lab in enumerate(labels)
        },
        "model_variables": list(mm.var_names),
        "builder_spec": dict(mm.spec),
        "warnings": messages,
        "files": sorted(p.name for p in paths.values()),
    }
    report = _bayes_report(spec, summary)
    if spec.builder == "cluster_field":
        summary["cluster"] = cluster
        report += _cluster_text(cluster)
    notes: list[str] = []

    if progress:
        progress(f"writing {len(paths)} files")
    write_table(out, paths["table"], overwrite=overwrite)
    if "posterior" in paths:
        _write_posterior(fit.idata, paths["posterior"], overwrite=overwrite)
    figs: dict[str, Callable[[], Any]] = {}
    if "figure_pgm" in paths:
        figs["figure_pgm"] = mm.pgm
    if "figure_membership" in paths:
        cols = _scatter_columns(spec)
        assert cols is not None  # output_paths only lists the figure when there are columns

        def _membership_fig():
            from bayesmix.plot import new_axes, plot_membership

            x, y = _scatter_values(data.table, cols)
            ax = new_axes(figsize=(7, 5))
            # colour by the component of interest, its likely members drawn on top
            lab = next((c for c in ("cluster", "outlier") if c in labels), labels[-1])
            p = new[f"p_{lab}"]
            order = np.argsort(np.where(np.isfinite(p), p, -1.0), kind="stable")
            plot_membership(
                x[order],
                y[order],
                p[order],
                ax=ax,
                xlabel=cols[0],
                ylabel=cols[1],
                colorbar_label=f"p({lab})",
                cmap="coolwarm",
                s=30.0 if len(x) < 200 else 6.0,
            )
            _robust_limits(ax, x, y)
            return ax.figure

        figs["figure_membership"] = _membership_fig
    if "figure_sky" in paths or "figure_cmd" in paths:
        from bayesmix.spec import figure_column

        p_cluster = new["p_cluster"]

        def _sky_fig():
            from bayesmix.plot import new_axes, plot_sky

            ra, dec = _scatter_values(
                data.table, (figure_column(spec, "ra"), figure_column(spec, "dec"))
            )
            centre = mm.spec.get("sky_center")
            ax = new_axes(figsize=(7, 6))
            plot_sky(
                ra,
                dec,
                p_cluster,
                center=None if centre is None else tuple(centre),
                ax=ax,
                s=6.0 if len(ra) >= 200 else 30.0,
            )
            ax.set_title("sky, coloured by cluster membership")
            return ax.figure

        def _cmd_fig():
            from bayesmix.plot import new_axes, plot_cmd

            colour, mag = _scatter_values(
                data.table, (figure_column(spec, "bp_rp"), figure_column(spec, "phot_g_mean_mag"))
            )
            ax = new_axes(figsize=(6, 7))
            plot_cmd(colour, mag, p_cluster, threshold=0.5, ax=ax)
            ax.set_title("colour-magnitude diagram, probable members")
            return ax.figure

        if "figure_sky" in paths:
            figs["figure_sky"] = _sky_fig
        if "figure_cmd" in paths:
            figs["figure_cmd"] = _cmd_fig
    if "figure_pair" in paths:

        def _pair_fig():
            from bayesmix.plot import plot_pair

            if spec.output.pair_vars:
                names = list(spec.output.pair_vars)
            else:  # the model's parameters, without any with constant elements (cov_chol)
                post = fit.posterior
                names = [
                    v for v in mm.var_names if bool((post[v].std(("chain", "draw")) > 0).all())
                ]
            f = plot_pair(fit, names, detach=True)
            notes.append(f"pair plot drawn with {f.get_label()}")
            return f

        figs["figure_pair"] = _pair_fig
    for key, make in figs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tight-layout notes from matplotlib
            fig = make()
        write_figure(fig, paths[key], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report, notes=notes)


def _write_posterior(tree, path: Path, *, overwrite: bool) -> None:
    """Write the DataTree atomically: netCDF-4 or a zipped zarr store (by file name)."""
    from bayesmix._files import atomic_write

    def write(tmp: str) -> None:
        if path.name.endswith(".nc"):
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

    atomic_write(path, write, overwrite=overwrite)


# --------------------------------------------------------------------------------------------
# EM (gmm)
# --------------------------------------------------------------------------------------------


def _run_em(
    spec: Spec, data: SpecData, paths, *, overwrite: bool, progress: Progress, verbose: bool
) -> RunResult:
    from dataclasses import replace

    from bayesmix.workflows.gmm import (
        fit_gmm_selection,
        format_report,
        membership_table,
        summary_dict,
    )

    o = spec.options
    table = data.table
    feats = list(spec.data.features)
    X, finite = table_to_array(table, feats, source=spec.data.source.name)
    usable = data.selected & finite
    sub = table[usable]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = fit_gmm_selection(
            sub,
            feats,
            candidates=o.get("n_components", (1, 2, 3, 4, 5, 6)),
            criterion=o.get("criterion", "bic"),
            covariance_type=o.get("covariance_type", "full"),
            n_init=o.get("n_init", 4),
            max_iter=o.get("max_iter", 500),
            tol=o.get("tol", 1e-5),
            rng=spec.seed,
            order_by=o.get("order_by"),
            source=spec.data.source.name,
            progress=progress,
            verbose=verbose,
        )
    # the analysis of the used rows, seen over the whole input table
    analysis = replace(
        analysis,
        table=table,
        X=X,
        usable=usable,
        warnings=sorted(set(analysis.warnings) | set(_caught_messages(caught))),
    )
    reasons = np.where(
        ~data.selected,
        "excluded by [data].select",
        np.where(~finite, f"missing or non-finite value in {', '.join(feats)}", ""),
    )
    out = membership_table(table, analysis.selected, X, usable)
    for lab in analysis.selected.labels:
        col = np.asarray(out[f"p_{lab}"], dtype=np.float64)
        out[f"p_{lab}"] = np.where(np.abs(col) < np.finfo(np.float64).tiny, 0.0, col)
    if "unscored_reason" in out.colnames:
        out.remove_column("unscored_reason")
    _reasons_column(out, reasons)
    import bayesmix

    summary = summary_dict(analysis)
    summary.update(
        {
            "bayesmix_version": bayesmix.__version__,
            "spec": spec.to_dict(),
            "kind": "em",
            "builder": "gmm",
            "unscored_reasons": _count_reasons(reasons),
            "files": sorted(p.name for p in paths.values()),
        }
    )
    report = format_report(analysis)
    for reason, count in _count_reasons(reasons).items():
        report += f"not scored: {count} row(s): {reason}\n"

    write_table(out, paths["table"], overwrite=overwrite)
    from bayesmix.plot import (
        new_axes,
        plot_ellipses,
        plot_log_likelihood_history,
        plot_membership,
        plot_selection,
    )

    sel = analysis.selected
    if "figure_bic_aic" in paths:
        ax = new_axes(figsize=(6, 4.5))
        plot_selection(analysis.selection, ax=ax)
        write_figure(ax.figure, paths["figure_bic_aic"], overwrite=overwrite)
    if "figure_em_history" in paths:
        ax = new_axes(figsize=(6, 4.5))
        plot_log_likelihood_history(sel.model, ax=ax)
        write_figure(ax.figure, paths["figure_em_history"], overwrite=overwrite)
    if "figure_membership" in paths:
        cols = _scatter_columns(spec)
        assert cols is not None
        x, y = _scatter_values(table, cols)
        proba = np.full(len(table), np.nan)
        if usable.any():
            proba[usable] = sel.predict_proba(X[usable]).max(axis=1)
        ax = new_axes(figsize=(7, 5))
        plot_membership(
            x,
            y,
            proba,
            ax=ax,
            xlabel=cols[0],
            ylabel=cols[1],
            cmap="viridis",
            colorbar_label="probability of the assigned component",
        )
        if list(cols) == feats[:2]:
            plot_ellipses(
                sel.means[:, :2], sel.covariances[:, :2, :2], ax=ax, labels=list(sel.labels)
            )
            ax.legend(loc="best", fontsize="small")
        write_figure(ax.figure, paths["figure_membership"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report)


# --------------------------------------------------------------------------------------------
# GPz
# --------------------------------------------------------------------------------------------


def _gpz_kwargs(spec: Spec) -> dict[str, Any]:
    o = dict(spec.options)
    kw: dict[str, Any] = {
        k: o[k]
        for k in (
            "n_components",
            "n_init",
            "tol",
            "scale",
            "covariance_type",
            "max_weight",
            "min_weight",
            "eta",
        )
        if k in o
    }
    if "error_prefix" in o:
        kw["error_prefix"] = tuple(o["error_prefix"])
    kw["rng"] = spec.seed
    return kw


def _gpz_rows(spec: Spec, data: SpecData):
    from bayesmix.gpz import feature_matrix

    table = data.table
    X, _ = feature_matrix(table, spec.data.features, name=spec.data.source.name)
    finite = np.isfinite(X).all(axis=1)
    usable = data.selected & finite
    reasons = np.where(
        ~data.selected,
        "excluded by [data].select",
        np.where(~finite, "missing or non-finite feature value", ""),
    )
    return X, usable, reasons


def _gpz_summary(spec: Spec, data: SpecData, usable, reasons, paths) -> dict[str, Any]:
    import bayesmix

    return {
        "bayesmix_version": bayesmix.__version__,
        "spec": spec.to_dict(),
        "kind": spec.kind,
        "builder": spec.builder,
        "seed": spec.seed,
        "data": {
            "source": spec.data.source.name,
            "n_rows": len(data.table),
            "n_used": int(usable.sum()),
            "n_unscored": int((reasons != "").sum()),
            "unscored_reasons": _count_reasons(reasons),
            "population": spec.data.population.name if spec.data.population else None,
            "n_population": len(data.population) if data.population is not None else None,
        },
        "features": list(spec.data.features),
        "files": sorted(p.name for p in paths.values()),
    }


def _run_gpz_weights(
    spec: Spec, data: SpecData, paths, *, overwrite: bool, progress: Progress
) -> RunResult:
    from bayesmix.gpz import feature_matrix, gpz_weights_table, kl_score

    X, usable, reasons = _gpz_rows(spec, data)
    train = data.table[usable]
    if progress:
        progress(
            f"fitting population ({len(data.population)} rows) and training "
            f"({len(train)} rows) mixtures, seed {spec.seed}"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wt, augment = gpz_weights_table(
            data.population, train, list(spec.data.features), **_gpz_kwargs(spec)
        )
    w = np.full(len(data.table), np.nan)
    w[usable] = np.asarray(wt["weights"])
    from astropy.table import Table

    out = Table(data.table, copy=True)
    _add_columns(out, {"weights": w})
    _reasons_column(out, reasons)
    Xp, _ = feature_matrix(data.population, spec.data.features, name="the population")
    kl_raw, kl_w = kl_score(Xp, X[usable], w[usable])
    summary = _gpz_summary(spec, data, usable, reasons, paths)
    summary.update(
        {
            "weights": wt.meta["gpz_weights"],
            "kl_score": {"unweighted": kl_raw, "weighted": kl_w},
            "warnings": _caught_messages(caught),
        }
    )
    diag = wt.meta["gpz_weights"]["diagnostics"]
    report_lines = [
        f"{spec.name}: {spec.description}" if spec.description else spec.name,
        f"training: {spec.data.source.name}, {len(data.table)} rows, {int(usable.sum())} used; "
        f"population: {spec.data.population.name if spec.data.population else '-'}, "
        f"{len(data.population)} rows",
        f"features: {', '.join(spec.data.features)}; {augment.n_components} components; "
        f"seed {spec.seed}",
        "weights: "
        + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in diag.items()
        ),
        f"KL(train || population), nats: unweighted {kl_raw:.4f}, weighted {kl_w:.4f}",
    ]
    for reason, count in _count_reasons(reasons).items():
        report_lines.append(f"not scored: {count} row(s): {reason}")
    report_lines += [f"warning: {m}" for m in summary["warnings"]]
    report = "\n".join(report_lines) + "\n"
    write_table(out, paths["table"], overwrite=overwrite)
    augment.save(paths["model"], overwrite=overwrite)
    if "figure_histograms" in paths:
        from bayesmix.plot import plot_weighted_histograms

        fig = plot_weighted_histograms(Xp, X[usable], w[usable], names=spec.data.features)
        write_figure(fig, paths["figure_histograms"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report)


def _run_gpz_divide(
    spec: Spec, data: SpecData, paths, *, overwrite: bool, progress: Progress
) -> RunResult:
    from bayesmix.gpz import gpz_divide_table, write_divide_csv

    X, usable, reasons = _gpz_rows(spec, data)
    sub = data.table[usable]
    o = spec.options
    kw = _gpz_kwargs(spec)
    if progress:
        progress(f"fitting the population mixture ({len(data.population)} rows), seed {spec.seed}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        div, augment = gpz_divide_table(
            data.population,
            sub,
            list(spec.data.features),
            train_table=sub if o.get("weight", False) else None,
            threshold=o.get("threshold", 0.5),
            assign=o.get("assign", "threshold"),
            return_density=True,
            weight=o.get("weight", False),
            **kw,
        )
    from astropy.table import Table

    n = len(data.table)
    K = augment.n_components
    new: dict[str, np.ndarray] = {}
    best = np.full(n, -1, dtype=np.int64)
    best[usable] = np.asarray(div["best"])
    new["best"] = best
    for k in range(K):
        m = np.zeros(n, dtype=bool)
        m[usable] = np.asarray(div[f"m{k}"])
        new[f"m{k}"] = m
    for k in range(K):
        p = np.full(n, np.nan)
        p[usable] = np.asarray(div[f"p{k}"])
        new[f"p{k}"] = p
    if "weights" in div.colnames:
        w = np.full(n, np.nan)
        w[usable] = np.asarray(div["weights"])
        new["weights"] = w
    un = np.zeros(n, dtype=bool)
    un[usable] = np.asarray(div["unassigned"])
    new["unassigned"] = un
    out = Table(data.table, copy=True)
    _add_columns(out, new)
    _reasons_column(out, reasons)
    counts = {f"m{k}": int(np.asarray(div[f"m{k}"]).sum()) for k in range(K)}
    summary = _gpz_summary(spec, data, usable, reasons, paths)
    summary.update(
        {
            "n_components": K,
            "threshold": o.get("threshold", 0.5),
            "assign": o.get("assign", "threshold"),
            "members": counts,
            "n_unassigned": int(np.asarray(div["unassigned"]).sum()),
            "warnings": _caught_messages(caught),
            "note": "divide.csv is gpz_pype's layout for the used rows; its 'index' counts those "
            "rows (0..n_used-1) in input order",
        }
    )
    lines = [
        f"{spec.name}: {spec.description}" if spec.description else spec.name,
        f"divided: {spec.data.source.name}, {n} rows, {int(usable.sum())} used; population "
        f"{len(data.population)} rows; {K} components, threshold {summary['threshold']}, "
        f"seed {spec.seed}",
        "members: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; unassigned {summary['n_unassigned']}",
    ]
    for reason, count in _count_reasons(reasons).items():
        lines.append(f"not scored: {count} row(s): {reason}")
    lines += [f"warning: {m}" for m in summary["warnings"]]
    report = "\n".join(lines) + "\n"
    write_table(out, paths["table"], overwrite=overwrite)
    write_divide_csv(div, paths["divide"], overwrite=overwrite)
    augment.save(paths["model"], overwrite=overwrite)
    if "figure_membership" in paths:
        from bayesmix.plot import new_axes, plot_membership

        cols = _scatter_columns(spec)
        assert cols is not None
        if cols[0] in data.table.colnames and cols[1] in data.table.colnames:
            x, y = _scatter_values(data.table, cols)
        else:  # feature expressions
            x, y = X[:, 0], X[:, 1]
        pmax = np.full(n, np.nan)
        pmax[usable] = np.max(np.column_stack([new[f"p{k}"][usable] for k in range(K)]), axis=1)
        ax = new_axes(figsize=(7, 5))
        plot_membership(
            x,
            y,
            pmax,
            ax=ax,
            xlabel=cols[0],
            ylabel=cols[1],
            cmap="viridis",
            colorbar_label="probability of the best component",
        )
        write_figure(ax.figure, paths["figure_membership"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report)


# --------------------------------------------------------------------------------------------


def run_spec(
    spec: Spec,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: Progress = None,
    progressbar: bool = False,
    verbose: bool = False,
) -> RunResult:
    """Validate the data, fit the spec's analysis and write every output to ``out_dir``.

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

    Returns
    -------
    RunResult

    Raises
    ------
    SpecError, DataError, FileNotFoundError
        Bad spec, data or columns (raised before any fitting).
    FileExistsError
        An output exists and ``overwrite`` is False.
    """
    data = read_data(spec)
    paths = output_paths(spec, out_dir)
    _check_outputs(paths, overwrite=overwrite)
    if spec.kind == "bayes":
        return _run_bayes(
            spec, data, paths, overwrite=overwrite, progress=progress, progressbar=progressbar
        )
    if spec.kind == "em":
        return _run_em(spec, data, paths, overwrite=overwrite, progress=progress, verbose=verbose)
    if spec.kind == "gpz_weights":
        return _run_gpz_weights(spec, data, paths, overwrite=overwrite, progress=progress)
    return _run_gpz_divide(spec, data, paths, overwrite=overwrite, progress=progress)
