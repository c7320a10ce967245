"""The EM runner: Gaussian mixtures by EM with BIC/AIC selection (``[builder].name = "gmm"``).

One runner for a table in memory and for a Parquet catalogue over Dask
(:mod:`bayesmix.workflows.rows`): every candidate number of components is
fitted by EM to the rows passing ``[data].select`` whose features are finite
(:func:`bayesmix.em.select_n_components` in memory,
:func:`bayesmix.scale.select_n_components` over Dask blocks: the same
algorithm, seeds and selection), the components are ordered by their mean in
``order_by`` and labelled ``c0, c1, ...``, and every row gets ``p_<label>``,
``component`` and ``unscored_reason``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError
from bayesmix.io import table_to_array
from bayesmix.workflows.outputs import (
    REASON_COLUMN,
    RunResult,
    best_probability_axes,
    caught_messages,
    finish,
    scatter_columns,
    summary_head,
)

__all__ = [
    "describe_lines",
    "em_report",
    "em_settings",
    "run_em",
    "select",
    "selected_summary",
    "selection_rows",
]

_DEFAULTS = {
    "n_components": (1, 2, 3, 4, 5, 6),
    "criterion": "bic",
    "covariance_type": "full",
    "n_init": 4,
    "max_iter": 500,
    "tol": 1e-5,
}


def em_settings(options) -> dict[str, Any]:
    """Return the EM settings of a spec's ``[builder]`` options, defaults filled in (JSON-able)."""
    s = {k: options.get(k, v) for k, v in _DEFAULTS.items()}
    return {
        "candidates": sorted({int(k) for k in s["n_components"]}),
        "criterion": s["criterion"],
        "covariance_type": s["covariance_type"],
        "n_init": int(s["n_init"]),
        "max_iter": int(s["max_iter"]),
        "tol": float(s["tol"]),
        "init": "kmeans++",
    }


def select(X, settings, *, seed: int, verbose: bool = False, columns=None):
    """Fit the candidates of ``settings`` (:func:`em_settings`) to ``X``; pick by the criterion.

    ``X`` is an array (:func:`bayesmix.em.select_n_components`) or, with
    ``columns``, a Dask dataframe (:func:`bayesmix.scale.select_n_components`).
    """
    kw = {
        "criterion": settings["criterion"],
        "covariance_type": settings["covariance_type"],
        "n_init": settings["n_init"],
        "max_iter": settings["max_iter"],
        "tol": settings["tol"],
        "rng": seed,
        "verbose": verbose,
    }
    if columns is not None:
        from bayesmix.scale import select_n_components

        return select_n_components(X, settings["candidates"], columns=columns, **kw)
    from bayesmix.em import select_n_components

    return select_n_components(X, settings["candidates"], **kw)


def selected_summary(fitted, selection, columns, n_used: int) -> dict[str, Any]:
    """JSON-able description of the selected, relabelled mixture and its fit statistics."""
    m = fitted.model
    t = selection.table
    i = [int(k) for k in np.asarray(t["n_components"])].index(fitted.n_components)
    return {
        "n_components": fitted.n_components,
        "labels": list(fitted.labels),
        "components": fitted.components(columns),
        "covariance_order": list(columns),
        "converged": bool(m.converged_),
        "n_iter": int(m.n_iter_),
        "mean_log_likelihood": float(np.asarray(t["log_likelihood"])[i]) / n_used,
        "bic": float(np.asarray(t["bic"])[i]),
        "aic": float(np.asarray(t["aic"])[i]),
        "n_parameters": int(np.asarray(t["n_parameters"])[i]),
    }


def selection_rows(selection) -> list[dict[str, Any]]:
    """Return the BIC/AIC table of a selection as a list of rows (one per candidate)."""
    t = selection.table
    rows = []
    for i in range(len(np.asarray(t["n_components"]))):
        rows.append(
            {
                "n_components": int(np.asarray(t["n_components"])[i]),
                "bic": float(np.asarray(t["bic"])[i]),
                "aic": float(np.asarray(t["aic"])[i]),
                "log_likelihood": float(np.asarray(t["log_likelihood"])[i]),
                "converged": bool(np.asarray(t["converged"])[i]),
            }
        )
    return rows


def describe_lines(selected: dict[str, Any]) -> list[str]:
    """Lines describing each component of :func:`selected_summary`: weight, mean, sd, corr."""
    columns = selected["covariance_order"]
    lines = []
    for lab in selected["labels"]:
        c = selected["components"][lab]
        mean = ", ".join(f"{k}={c['mean'][k]:+.6g}" for k in columns)
        cov = np.asarray(c["covariance"])
        sd = np.sqrt(np.diag(cov))
        corr = f", corr {cov[0, 1] / (sd[0] * sd[1]):+.2f}" if len(columns) == 2 else ""
        lines.append(
            f"  {lab:>6}: weight {c['weight']:.3f}, mean ({mean}), "
            f"sd ({', '.join(f'{v:.4g}' for v in sd)}){corr}"
        )
        if len(columns) == 2:
            lines.append(
                f"          covariance [[{cov[0, 0]:.6g}, {cov[0, 1]:+.6g}], "
                f"[{cov[1, 0]:+.6g}, {cov[1, 1]:.6g}]]"
            )
    return lines


def em_report(summary: dict[str, Any]) -> str:
    """Return the readable report (``summary.txt``) of an EM run, from its summary."""
    d = summary["data"]
    sel = summary["selected"]
    n_un = d["n_unscored"]
    lines = []
    if summary.get("title"):
        lines.append(summary["title"])
    lines += [
        f"data: {d['source']}: {d['n_rows']} rows, columns {', '.join(summary['columns'])}; "
        f"{d['n_used']} used" + (f", {n_un} not scored" if n_un else ""),
        f"seed: {summary['seed']}",
        "",
        f"{'K':>3} {'BIC':>12} {'AIC':>12} {'log L':>12}  converged",
    ]
    best = sel["n_components"]
    for r in summary["selection"]:
        mark = "  <- selected" if r["n_components"] == best else ""
        lines.append(
            f"{r['n_components']:>3} {r['bic']:>12.2f} {r['aic']:>12.2f} "
            f"{r['log_likelihood']:>12.2f}  {'yes' if r['converged'] else 'NO'}{mark}"
        )
    crit = summary["settings"]["criterion"].upper()
    lines += ["", f"selected by {crit}: K = {best}"]
    if summary["selected_is_largest_candidate"] and len(summary["selection"]) > 1:
        lines.append(
            f"  note: K = {best} is the largest candidate, so {crit} might prefer even more "
            "components; try a larger range"
        )
    lines += describe_lines(sel)
    lines += [f"not scored: {c} row(s): {r}" for r, c in d["unscored_reasons"].items()]
    lines += [f"warning: {w}" for w in summary["warnings"]]
    lines += [f"note: {w}" for w in summary.get("notes", ())]
    return "\n".join(lines) + "\n"


def _in_table_terms(exc: DataError, feats, source: str, row_index) -> DataError:
    """Say an EM data error in the table's terms: its column, its file, its row number."""

    def column(m):
        j = int(m.group(1))
        return f"column {feats[j]!r} of {source}" if j < len(feats) else m.group(0)

    def row(m):
        i = int(m.group(1))
        ok = row_index is not None and i < len(row_index)
        return f"row {int(row_index[i])}" if ok else m.group(0)

    msg = re.sub(r"feature (\d+)(?: \('[^']*'\))? of 'X'", column, str(exc))
    msg = re.sub(r"\brow (\d+)\b", row, msg)
    rows = (
        [int(row_index[r]) for r in exc.rows if r < len(row_index)]
        if row_index is not None
        else exc.rows
    )
    return DataError(msg, argument="[data].features", rows=rows)


def run_em(spec, rows, paths, *, overwrite: bool, progress=None, verbose: bool = False):
    """Fit, select, score and write an EM spec (see the module docstring).

    The arguments are those :func:`bayesmix.workflows.run.run_spec` passes on: the
    spec (of this kind), its rows (:func:`~bayesmix.workflows.rows.open_rows`), the
    outputs to write (kind -> path) and the options; returns a
    :class:`~bayesmix.workflows.outputs.RunResult`.
    """
    from bayesmix.workflows.gmm import relabel

    feats = [str(f) for f in spec.data.features]
    settings = em_settings(spec.options)
    source = rows.source
    largest = max(settings["candidates"])
    rows.check_new_columns([f"p_c{k}" for k in range(largest)] + ["component", REASON_COLUMN])

    def features(t):
        return table_to_array(t, feats, source=source)

    finite = None
    if rows.dask:
        X_fit, cols = rows.matrix(features, len(feats))
        n_used = int(X_fit.shape[0].compute())
    else:
        X, finite = features(rows.table)
        X_fit, cols = X[rows.selected & finite], None
        n_used = len(X_fit)
    if n_used < max(settings["candidates"]):
        raise DataError(
            f"{source} has {n_used} usable row(s) in columns {feats} but up to "
            f"{max(settings['candidates'])} components were requested; use fewer components "
            "or more rows",
            argument="columns",
        )
    if progress:
        how = " over Dask blocks" if rows.dask else ""
        progress(
            f"fitting Gaussian mixtures with {', '.join(map(str, settings['candidates']))} "
            f"components to {n_used} rows of {', '.join(feats)}{how} ({settings['n_init']} EM "
            f"starts each, seed {spec.seed})"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            selection = select(X_fit, settings, seed=spec.seed, verbose=verbose, columns=cols)
        except DataError as exc:
            rows_in_table = None if rows.dask else np.flatnonzero(rows.selected & finite)
            raise _in_table_terms(exc, feats, source, rows_in_table) from exc
    order_by = spec.options.get("order_by")
    fitted = relabel(selection.best, by=feats.index(order_by) if order_by else 0)
    labels = list(fitted.labels)

    def score(t, selected):
        X, finite = features(t)
        usable = selected & finite
        p = np.full((len(t), len(labels)), np.nan)
        if usable.any():
            p[usable] = fitted.predict_proba(X[usable])
        best = np.full(len(t), "", dtype=object)
        best[usable] = np.asarray(labels, dtype=object)[np.argmax(p[usable], axis=1)]
        out = {f"p_{lab}": p[:, j] for j, lab in enumerate(labels)}
        out["component"] = best.astype(str)
        out[REASON_COLUMN] = np.where(
            ~selected,
            "excluded by [data].select",
            np.where(~finite, f"missing or non-finite value in {', '.join(feats)}", ""),
        )
        return out

    dtypes = {f"p_{lab}": "float64" for lab in labels} | {"component": "str", REASON_COLUMN: "str"}
    if progress:
        progress(f"scoring every row and writing {paths['table'].name}")
    scored = rows.score(score, dtypes, paths["table"], overwrite=overwrite)
    summary = summary_head(spec, n_rows=scored.n_rows, reasons=scored.reasons)
    summary.update(
        {
            # the EM summary's historical top-level entries
            "source": source,
            "n_rows": scored.n_rows,
            "n_used": summary["data"]["n_used"],
            "n_unscored": summary["data"]["n_unscored"],
            "unscored_reasons": scored.reasons,
            "columns": feats,
            "settings": settings,
            "selection": selection_rows(selection),
            "selected_is_largest_candidate": fitted.n_components == max(settings["candidates"]),
            "selected": selected_summary(fitted, selection, feats, n_used),
            "warnings": caught_messages(caught),
            "files": sorted(p.name for p in paths.values()),
        }
    )
    if rows.dask:
        summary["dask"] = rows.info
    result = RunResult(paths=paths, summary=summary, report="")
    return finish(
        result,
        files={},
        figures=_figures(spec, paths, selection, fitted, scored, feats),
        report=em_report,
        overwrite=overwrite,
    )


def _figures(spec, paths, selection, fitted, scored, feats):
    figs = {}
    if "figure_bic_aic" in paths:

        def bic_aic():
            from bayesmix.plot import new_axes, plot_selection

            ax = new_axes(figsize=(6, 4.5))
            plot_selection(selection, ax=ax)
            return ax.figure

        figs["figure_bic_aic"] = bic_aic
    if "figure_em_history" in paths:

        def history():
            from bayesmix.plot import new_axes, plot_log_likelihood_history

            ax = new_axes(figsize=(6, 4.5))
            plot_log_likelihood_history(fitted.model, ax=ax)
            return ax.figure

        figs["figure_em_history"] = history
    if "figure_membership" in paths and scored.table is not None:
        cols = scatter_columns(spec)

        def membership():
            from bayesmix.plot import plot_ellipses

            t = scored.table
            xy, _ = table_to_array(t, list(cols), source="the table")
            p = np.column_stack([np.asarray(t[f"p_{lab}"], float) for lab in fitted.labels])
            ax = best_probability_axes(xy, p, cols, "assigned")
            if list(cols) == feats[:2]:
                plot_ellipses(
                    fitted.means[:, :2],
                    fitted.covariances[:, :2, :2],
                    ax=ax,
                    labels=list(fitted.labels),
                )
                ax.legend(loc="best", fontsize="small")
            return ax.figure

        figs["figure_membership"] = membership
    return figs
