"""The Bayesian runner: build a PyMC mixture model, sample it, score every row, report.

One runner for a table in memory and a Parquet catalogue over Dask
(:mod:`bayesmix.workflows.rows`):

1. the spec's builder (:mod:`bayesmix.builders`) is built on the rows passing
   ``[data].select`` (over Dask: a seeded sample of at most ``fit_rows`` of
   them); rows with a missing value the model needs are not fitted;
2. the model is sampled with the spec's sampler settings and seed
   (:func:`bayesmix.inference.sample`);
3. every row gets ``p_<component>`` (posterior mean), ``p_<component>_sd``,
   ``_q16``, ``_q50``, ``_q84``, ``component`` and ``unscored_reason``: in
   memory from the fit's own membership (:func:`bayesmix.membership.membership`),
   over Dask partition by partition from the posterior draws;
4. the summary (parameters, diagnostics, membership counts, and for
   ``cluster_field`` the cluster report of :mod:`bayesmix.analysis`) is
   written before the posterior and the figures.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError, SpecError
from bayesmix.io import table_to_array
from bayesmix.workflows.outputs import (
    REASON_COLUMN,
    RunResult,
    caught_messages,
    finish,
    scatter_columns,
    summary_head,
)

__all__ = [
    "bayes_report",
    "build_model",
    "check_pair_vars",
    "first_pass_record",
    "no_cluster_hint",
    "pair_variables",
    "run_bayes",
    "sample_spec",
]

_PROB_VARS = (
    ("probability", ""),
    ("probability_sd", "_sd"),
    ("probability_q16", "_q16"),
    ("probability_q50", "_q50"),
    ("probability_q84", "_q84"),
)
_ZERO_DENSITY = "zero density under every component in some posterior draw"
_ROW_REF = re.compile(r"\brow \d+(?: \(id [^)]*\))?")


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------


def _spec_key(spec, key: str | None) -> str:
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


def _column_arrays(spec, t, selected):
    """Arrays of the builder's column arguments; which rows have them all; reasons."""
    usable = np.asarray(selected, dtype=bool).copy()
    reasons = np.where(usable, "", "excluded by [data].select").astype(object)
    arrays: dict[str, np.ndarray] = {}
    for arg, cols in spec.data.columns.items():
        names = [cols] if isinstance(cols, str) else list(cols)
        X, ok = table_to_array(t, names, source=spec.data.source.name)
        reasons[usable & ~ok] = f"missing or non-finite value in {', '.join(names)}"
        usable &= ok
        arrays[arg] = X[:, 0] if isinstance(cols, str) else X
    ids = np.asarray(t[spec.data.ids]) if spec.data.ids is not None else np.arange(len(t))
    return arrays, ids, usable, reasons


def build_model(spec, table, selected):
    """Build the spec's model on ``table``'s selected rows.

    Returns
    -------
    mm : MixtureModel
    fitted : ndarray of int
        Row numbers (in ``table``) of the model's objects, in object order.
    reasons : ndarray of str, shape (len(table),)
        Empty for fitted rows, else why the row is not fitted.

    Raises
    ------
    SpecError, DataError
        From the builder, with the spec's key path and the data source named.
    """
    import bayesmix.builders as builders

    fn = getattr(builders, spec.builder)
    opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.options.items()}
    priors = dict(spec.priors) or None
    sel_rows = np.flatnonzero(selected)
    try:
        if spec.builder == "cluster_field":
            for k in ("features", "sky_center"):
                if k in opts:
                    opts[k] = tuple(opts[k])
            columns = {k: str(v) for k, v in spec.data.columns.items()}
            if spec.data.ids is not None:
                columns.setdefault("source_id", spec.data.ids)
            mm = fn(table[sel_rows], **opts, columns=columns or None, priors=priors, rng=spec.seed)
            used, why = mm.rows.used, mm.rows.reasons
            reasons = np.where(selected, "", "excluded by [data].select").astype(object)
            reasons[sel_rows] = np.asarray(why, dtype=object)
            return mm, sel_rows[np.asarray(used, dtype=bool)], reasons.astype(str)
        arrays, ids, usable, reasons = _column_arrays(spec, table, selected)
        kwargs = {k: v[usable] for k, v in arrays.items()}
        mm = fn(**kwargs, **opts, priors=priors, ids=ids[usable])
        return mm, np.flatnonzero(usable), reasons.astype(str)
    except SpecError as exc:
        key = _spec_key(spec, exc.key)
        raise SpecError(f"{key}: {exc}", key=key) from exc
    except DataError as exc:
        note = (
            " (row numbers count only the rows used in the fit; ids, when given, identify the row)"
            if spec.builder != "cluster_field" and not np.asarray(selected).all()
            else ""
        )
        raise DataError(
            f"{spec.data.source.name}: {exc}{note}", argument=exc.argument, rows=exc.rows
        ) from exc


def check_pair_vars(spec, mm) -> None:
    """Raise :class:`SpecError` if ``[output].pair_vars`` names no variable of ``mm``."""
    sampled = [v.name for v in (*mm.model.free_RVs, *mm.model.deterministics)]
    for i, name in enumerate(spec.output.pair_vars or ()):
        if name not in sampled:
            key = f"[output].pair_vars[{i}]"
            raise SpecError(
                f"{key} must name a model variable ({', '.join(sorted(sampled))}), got {name!r}",
                key=key,
            )


def sample_spec(spec, mm, *, progress=None, progressbar: bool = False):
    """Sample ``mm`` with the spec's sampler settings and seed (reporting progress)."""
    from bayesmix.inference import sample  # looked up at call time (tests replace it)

    s = spec.sampler
    if progress:
        progress(
            f"sampling with {s.sampler}: {s.chains} chain{'s' if s.chains != 1 else ''} x "
            f"{s.draws} draws ({s.tune} tuning), seed {spec.seed}; compiling the model first"
        )
    # [sampler]'s keys are sample's own options (the spec registry reads them from it)
    return sample(mm, **dataclasses.asdict(s), rng=spec.seed, progressbar=progressbar)


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def _columns(labels, ds, rows: np.ndarray, reasons: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Membership columns for ``n`` rows; ``ds`` (a membership Dataset) scores ``rows``."""
    out: dict[str, np.ndarray] = {}
    prob = np.asarray(ds["probability"].transpose("object", "component").values)
    for var, suf in _PROB_VARS:
        vals = np.asarray(ds[var].transpose("object", "component").values) if var in ds else None
        for k, lab in enumerate(labels):
            col = np.full(n, np.nan)
            if vals is not None:
                col[rows] = vals[:, k]
            out[f"p_{lab}{suf}"] = col
    finite = np.isfinite(prob).all(axis=1)
    best = np.full(n, "", dtype=object)
    best[rows[finite]] = np.asarray(labels, dtype=object)[np.argmax(prob[finite], axis=1)]
    reasons = np.asarray(reasons, dtype=object).copy()
    reasons[rows[~finite]] = _ZERO_DENSITY
    out["component"] = best.astype(str)
    out[REASON_COLUMN] = reasons.astype(str)
    return out


def _dtypes(labels) -> dict[str, str]:
    d = {f"p_{lab}{suf}": "float64" for lab in labels for _, suf in _PROB_VARS}
    return d | {"component": "str", REASON_COLUMN: "str"}


def _drop_bad_rows(call, todo: np.ndarray, reasons: np.ndarray):
    """``call(todo)``, dropping rows it refuses (a DataError naming them) with their reason.

    Returns ``(result, todo)``; ``result`` is None when no row is left.
    """
    while todo.size:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. Gaia correlation notes, once per block
                return call(todo), todo
        except DataError as exc:
            # the message's row number counts rows of this block: say "this row" instead
            msg = _ROW_REF.sub("this row", " ".join(str(exc).split()))
            bad = [int(r) for r in exc.rows if 0 <= int(r) < todo.size]
            if not bad:
                reasons[todo] = msg
                return None, todo[:0]
            reasons[todo[bad]] = msg
            todo = np.delete(todo, bad)
    return None, todo


def _partition_scorer(spec, draws) -> Callable[[Any, np.ndarray], dict[str, np.ndarray]]:
    """Score a partition's rows from the posterior draws (rows the model cannot take: reason)."""

    def score(t, selected):
        from bayesmix.membership import membership

        labels = [str(v) for v in draws.component_labels]
        n = len(t)
        reasons = np.where(selected, "", "excluded by [data].select").astype(object)
        if spec.builder == "cluster_field":
            # rows missing a value the model needs are left out, with the builder's reason
            info, todo = _drop_bad_rows(
                lambda idx: draws.prepare_rows(t[idx])[1], np.flatnonzero(selected), reasons
            )
            if info is not None:
                reasons[todo[~info.used]] = np.asarray(info.reasons)[~info.used]
                todo = todo[info.used]

            def subset(idx):
                return t[idx]

        else:
            data, _, ok, col_reasons = _column_arrays(spec, t, selected)
            reasons = col_reasons.astype(object)
            todo = np.flatnonzero(ok)

            def subset(idx):
                return {k: np.asarray(v)[idx] for k, v in data.items()}

        ds, todo = _drop_bad_rows(
            lambda idx: membership(draws, subset(idx), quantiles=True), todo, reasons
        )
        if ds is None:
            empty = {f"p_{lab}{suf}": np.full(n, np.nan) for lab in labels for _, suf in _PROB_VARS}
            return empty | {
                "component": np.full(n, "", dtype=str),
                REASON_COLUMN: reasons.astype(str),
            }
        return _columns(labels, ds, todo, reasons, n)

    return score


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def bayes_report(summary: dict[str, Any]) -> str:
    """Return the readable report (``summary.txt``) of a Bayesian run, from its summary."""
    from bayesmix.analysis import format_cluster_report

    d = summary["data"]
    s = summary["sampler"]
    diag = summary["diagnostics"]
    chains = f"{s['chains']} chain{'s' if s['chains'] != 1 else ''}"
    lines = []
    if summary.get("status") == "no cluster":
        lines += [
            "NO CLUSTER FOUND: the data do not need a cluster besides the field (see 'is there "
            "a cluster?' below); the membership probabilities are not those of a cluster.",
            f"  {summary['no_cluster_hint']}",
            "",
        ]
    lines += [summary["title"]]
    fp = summary.get("first_pass")
    if fp and fp.get("message"):
        lines.append(f"first pass: {fp['message']}")
    lines += [
        f"builder: {summary['builder']}; data: {d['source']}: {d['n_rows']} rows, "
        f"{d['n_used']} used" + (f", {d['n_unscored']} not scored" if d["n_unscored"] else ""),
    ]
    for reason, count in d["unscored_reasons"].items():
        lines.append(f"  not scored: {count} row(s): {reason}")
    if "fit_sample" in summary:
        f = summary["fit_sample"]
        lines.append(
            f"  fitted on {f['n_rows']} of the {f['of_rows']} rows passing [data].select "
            f"(seeded sample, at most {f['max_rows']}); every row scored over Dask"
        )
    lines += [
        f"seed: {summary['seed']} (sampler seed {summary['sampler_seed']}); sampler "
        f"{s['sampler']}, {chains} x {s['draws']} draws ({s['tune']} tuning)",
        f"diagnostics: max R-hat {_fmt(diag.get('max_rhat'), '.3f')}, min ESS bulk "
        f"{_fmt(diag.get('min_ess_bulk'), '.0f')} / tail {_fmt(diag.get('min_ess_tail'), '.0f')}"
        f", {diag.get('divergences', 0)} divergences",
        "",
        f"{'parameter':<28} {'mean':>11} {'sd':>10} {'16%':>11} {'50%':>11} {'84%':>11} "
        f"{'R-hat':>6} {'ESS':>6}  unit",
    ]
    shown = set(summary["model_variables"])
    for name, p in summary["parameters"].items():
        if name.split("[")[0] not in shown:
            continue
        lines.append(
            f"{name:<28} {p['mean']:>11.4g} {p['sd']:>10.3g} {p['q16']:>11.4g} "
            f"{p['q50']:>11.4g} {p['q84']:>11.4g} {_fmt(p['r_hat'], '.3f'):>6} "
            f"{_fmt(p['ess_bulk'], '.0f'):>6}  {p.get('unit') or ''}".rstrip()
        )
    lines += [
        "(the model's parameters; summary.json lists every posterior variable)",
        "",
        "membership (posterior mean probabilities):",
    ]
    for lab, m in summary["membership"].items():
        lines.append(
            f"  {lab}: expected count {m['expected_count']:.1f}, most probable for "
            f"{m['n_most_probable']} row(s)"
        )
    lines += [f"warning: {w}" for w in summary["warnings"]]
    text = "\n".join(lines) + "\n"
    if "cluster" in summary:
        text += format_cluster_report(summary["cluster"])
    return text


def _fmt(v, f: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, f)


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def run_bayes(spec, rows, paths, *, overwrite: bool, progress=None, progressbar: bool = False):
    """Build, sample, score and write a Bayesian spec (see the module docstring).

    The arguments are those :func:`bayesmix.workflows.run.run_spec` passes on: the
    spec (of this kind), its rows (:func:`~bayesmix.workflows.rows.open_rows`), the
    outputs to write (kind -> path) and the options; returns a
    :class:`~bayesmix.workflows.outputs.RunResult`.
    """
    from bayesmix.analysis import cluster_report, parameter_summary
    from bayesmix.membership import membership

    if rows.dask and spec.builder == "cluster_field" and spec.options.get("field") == "edsd":
        raise SpecError(
            "[builder].field = 'edsd' is not supported with --dask (scoring new stars needs "
            "the per-star integration windows of the fit)",
            key="[builder].field",
        )
    table, selected, n_from = rows.fit_table()
    if progress:
        progress(f"building {spec.builder} on {int(np.sum(selected))} of {len(table)} rows")
    with warnings.catch_warnings(record=True) as build_caught:
        warnings.simplefilter("always")
        mm, fitted_rows, reasons = build_model(spec, table, selected)
    build_messages = [
        m
        for m in caught_messages(build_caught)
        if not m.startswith(("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning"))
    ]
    check_pair_vars(spec, mm)
    labels = [str(v) for v in mm.component_labels]
    rows.check_new_columns(_dtypes(labels))  # before sampling
    first_pass = first_pass_record(spec, mm)
    if first_pass is not None and first_pass.get("found") is False:
        return _no_cluster_found(spec, rows, paths, mm, labels, first_pass, overwrite=overwrite)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sample_spec(spec, mm, progress=progress, progressbar=progressbar)
        params = parameter_summary(fit)
        if rows.dask:
            from bayesmix.membership import PosteriorDraws

            score = _partition_scorer(spec, PosteriorDraws.from_fit(fit))
            fit_cols = None
        else:
            if progress:
                progress("computing membership probabilities over the posterior draws")
            ds = membership(fit, quantiles=True)
            fit_cols = _columns(labels, ds, fitted_rows, reasons, len(table))

            def score(t, sel):
                return fit_cols

        if progress:
            progress(f"writing the membership of every row to {paths['table'].name}")
        scored = rows.score(
            score,
            _dtypes(labels),
            paths["table"],
            overwrite=overwrite,
            sums=[f"p_{lab}" for lab in labels],
            counts=["component"],
        )
        cluster = None
        if spec.builder == "cluster_field":
            if progress:
                progress("summarising the cluster and comparing with the field alone")
            p_cluster = (
                fit_cols["p_cluster"][fitted_rows]
                if fit_cols is not None
                else np.asarray(
                    membership(fit, quantiles=False)["probability"].sel(component="cluster").values
                )
            )
            cluster = cluster_report(fit, p_cluster, reference=spec.reference, rng=spec.seed)
    messages = build_messages + [
        m
        for m in caught_messages(caught)
        if m.startswith(("DiagnosticsWarning", "ConvergenceWarning"))
    ]
    summary = _summary(spec, rows, fit, mm, scored, params, labels, messages, paths)
    if rows.dask:
        summary["fit_sample"] = {
            "n_rows": len(table),
            "of_rows": int(n_from),
            "seed": spec.seed,
            "max_rows": rows.fit_rows,
            "how": "uniform without replacement over the rows passing [data].select, kept "
            "in input order (all of them when there are at most max_rows)",
        }
    if first_pass is not None:
        summary["first_pass"] = first_pass
    status = "ok"
    if cluster is not None:
        summary["cluster"] = cluster
        cmp = cluster.get("compare_to_field")
        if cmp is not None and not cmp.get("cluster", True):
            status = "no cluster"
            summary["no_cluster_hint"] = no_cluster_hint(spec)
    summary["status"] = status
    result = RunResult(paths=paths, summary=summary, report="", notes=notes, status=status)
    files = {}
    if "posterior" in paths:
        from bayesmix.io import write_datatree

        files["posterior"] = lambda p: write_datatree(fit.idata, p, overwrite=overwrite)
    p_objects = (
        None
        if fit_cols is None or "p_cluster" not in fit_cols
        else (fit_cols["p_cluster"][fitted_rows])
    )
    figures = _figures(spec, rows, paths, fit, mm, scored, labels, notes, p_objects)
    return finish(result, files=files, figures=figures, report=bayes_report, overwrite=overwrite)


def _summary(spec, rows, fit, mm, scored, params, labels, messages, paths):
    s = spec.sampler
    summary = summary_head(spec, n_rows=scored.n_rows, reasons=scored.reasons)
    summary.update(
        {
            "title": f"{spec.name}: {spec.description}" if spec.description else spec.name,
            "sampler_seed": fit.seed,
            "sampler": {
                "sampler": fit.sampler,
                "draws": s.draws,
                "tune": s.tune,
                "chains": s.chains,
                "target_accept": s.target_accept,
            },
            "diagnostics": {
                k: (float(v) if isinstance(v, float) else v) for k, v in fit.diagnostics.items()
            },
            "parameters": params,
            "components": labels,
            "membership": {
                lab: {
                    "expected_count": scored.sums[f"p_{lab}"],
                    "n_most_probable": int(scored.counts["component"].get(lab, 0)),
                }
                for lab in labels
            },
            "model_variables": list(mm.var_names),
            "builder_spec": dict(mm.spec),
            "warnings": messages,
            "files": sorted(p.name for p in paths.values()),
        }
    )
    if rows.dask:
        summary["dask"] = rows.info
    return summary


def _figures(spec, rows, paths, fit, mm, scored, labels, notes, p_objects=None):
    figs: dict[str, Callable[[], Any]] = {}
    if "figure_pgm" in paths:

        def pgm():
            from bayesmix.plot import plot_pgm

            return plot_pgm(mm)

        figs["figure_pgm"] = pgm
    if "figure_pair" in paths:

        def pair():
            from bayesmix.plot import plot_pair

            names = list(spec.output.pair_vars or pair_variables(fit, mm))
            f = plot_pair(fit, names, detach=True)
            notes.append(f"pair plot of {', '.join(names)} drawn with {f.get_label()}")
            return f

        figs["figure_pair"] = pair
    t = scored.table
    if t is None:
        return figs
    if "figure_membership" in paths and spec.builder == "cluster_field":
        zoomed = _cluster_astrometry_figure(spec, fit, t, p_objects)
        if zoomed is not None:
            figs["figure_membership"] = zoomed
    if "figure_membership" in paths and "figure_membership" not in figs:
        cols = scatter_columns(spec)

        def membership_fig():
            from bayesmix.plot import new_axes, plot_membership

            xy, _ = table_to_array(t, list(cols), source="the table")
            x, y = xy[:, 0], xy[:, 1]
            ax = new_axes(figsize=(7, 5))
            # colour by the component of interest, its likely members drawn on top
            lab = next((c for c in ("cluster", "outlier") if c in labels), labels[-1])
            p = np.asarray(t[f"p_{lab}"], dtype=float)
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

        figs["figure_membership"] = membership_fig
    if "figure_sky" in paths or "figure_cmd" in paths:
        from bayesmix.spec import figure_column

        p_cluster = np.asarray(t["p_cluster"], dtype=float)

        def sky():
            from bayesmix.plot import new_axes, plot_sky

            xy, _ = table_to_array(
                t, [figure_column(spec, "ra"), figure_column(spec, "dec")], source="the table"
            )
            centre = mm.spec.get("sky_center")
            ax = new_axes(figsize=(7, 6))
            plot_sky(
                xy[:, 0],
                xy[:, 1],
                p_cluster,
                center=None if centre is None else tuple(centre),
                ax=ax,
                s=6.0 if len(t) >= 200 else 30.0,
            )
            ax.set_title("sky, coloured by cluster membership")
            return ax.figure

        def cmd():
            from bayesmix.plot import new_axes, plot_cmd

            xy, _ = table_to_array(
                t,
                [figure_column(spec, "bp_rp"), figure_column(spec, "phot_g_mean_mag")],
                source="the table",
            )
            ax = new_axes(figsize=(6, 7))
            plot_cmd(xy[:, 0], xy[:, 1], p_cluster, threshold=0.5, ax=ax)
            ax.set_title("colour-magnitude diagram, probable members")
            return ax.figure

        if "figure_sky" in paths:
            figs["figure_sky"] = sky
        if "figure_cmd" in paths:
            figs["figure_cmd"] = cmd
    return figs


def _cluster_astrometry_figure(spec, fit, t, p_objects):
    """Return a drawer of the cluster's pm (and parallax) planes zoomed on it, or None."""
    from bayesmix.analysis.figures_data import cluster_astrometry
    from bayesmix.spec import figure_column

    pm = (figure_column(spec, "pmra"), figure_column(spec, "pmdec"))
    if spec.output.scatter is not None and tuple(spec.output.scatter) != pm:
        return None  # the user asked for another plane
    astro = cluster_astrometry(fit, p_objects)
    if astro is None:
        return None

    def draw():
        from bayesmix.plot import plot_astrometry

        cols = [figure_column(spec, n) for n in ("pmra", "pmdec", "parallax")]
        have_plx = cols[2] in t.colnames and len(astro.mean) == 3
        xy, _ = table_to_array(t, cols[: 3 if have_plx else 2], source="the table")
        return plot_astrometry(
            xy[:, 0],
            xy[:, 1],
            np.asarray(t["p_cluster"], dtype=float),
            parallax=xy[:, 2] if have_plx else None,
            cluster_mean=astro.mean,
            cluster_cov=astro.cov,
        )

    return draw


def first_pass_record(spec, mm) -> dict[str, Any] | None:
    """Return what a cluster model's first pass found (JSON-able), or None.

    ``found`` is None when the first pass was not asked (the spec gives
    ``[builder].center``) or could not judge; False when it found no
    significant cluster.
    """
    if spec.builder != "cluster_field":
        return None
    det = dict(mm.spec.get("first_pass") or mm.spec.get("detection") or {})
    if not det:
        return None
    if "center" in spec.options:
        det["found"] = None  # the user gave the centre: the fit goes there
    return det


def _no_cluster_found(spec, rows, paths, mm, labels, first_pass, *, overwrite: bool):
    """No significant cluster in the first pass and no centre given: say so, write, stop."""
    reason = "not scored: the first pass found no significant cluster (see summary.txt)"

    def score(t, selected):
        n = len(t)
        out = {f"p_{lab}{suf}": np.full(n, np.nan) for lab in labels for _, suf in _PROB_VARS}
        out["component"] = np.full(n, "", dtype=str)
        out[REASON_COLUMN] = np.where(selected, reason, "excluded by [data].select")
        return out

    scored = rows.score(score, _dtypes(labels), paths["table"], overwrite=overwrite)
    summary = summary_head(spec, n_rows=scored.n_rows, reasons=scored.reasons)
    summary.update(
        {
            "title": f"{spec.name}: {spec.description}" if spec.description else spec.name,
            "status": "no cluster",
            "first_pass": first_pass,
            "no_cluster_hint": first_pass.get("message") or no_cluster_hint(spec),
            "components": labels,
            "builder_spec": dict(mm.spec),
            "warnings": [],
            "files": sorted(p.name for k, p in paths.items() if k in _FIRST_PASS_FILES),
        }
    )
    kept = {k: p for k, p in paths.items() if k in _FIRST_PASS_FILES}
    result = RunResult(paths=kept, summary=summary, report="", status="no cluster")
    result.notes.append("nothing was sampled: no posterior and no figures")
    return finish(result, files={}, figures={}, report=_first_pass_report, overwrite=overwrite)


_FIRST_PASS_FILES = ("table", "summary_json", "summary_txt")


def _first_pass_report(summary: dict[str, Any]) -> str:
    fp = summary["first_pass"]
    d = summary["data"]
    z = fp.get("significance")
    lines = [
        "NO CLUSTER FOUND: the first pass found no significant cluster in these data"
        + (f" (best candidate z = {z:.1f} < 5)" if isinstance(z, (int, float)) else "")
        + "; nothing was sampled.",
        f"  {summary['no_cluster_hint']}",
        "",
        summary["title"],
        f"builder: {summary['builder']}; data: {d['source']}: {d['n_rows']} rows",
    ]
    return "\n".join(lines) + "\n"


def no_cluster_hint(spec) -> str:
    """Return what to give when a cluster model finds no cluster (the spec keys to set)."""
    feats = list(spec.options.get("features", ("pmra", "pmdec")))
    known = [f for f in feats if f not in ("ra", "dec")]
    hint = (
        "If the cluster is in these data, give its first-pass centre: [builder].center = "
        f"[{', '.join(known)}] (the cluster's values, in the features' units)"
    )
    if "sky_center" not in spec.options:
        hint += " and/or [builder].sky_center = [ra, dec] (deg)"
    return hint + "; or check [data].select and the field model."


def pair_variables(fit, mm, *, max_panels: int = 8) -> list[str]:
    """Return the model variables a default pair plot shows: at most ``max_panels`` rows.

    The model's parameters in their order (the mixing weights last), without
    variables constant over the draws (e.g. a Cholesky factor's zero upper
    triangle) and counting a weight vector of K components as K - 1 rows (its
    last element is one minus the others and is not drawn).
    """
    post = fit.posterior
    names = [v for v in mm.var_names if v != "weights"] + (
        ["weights"] if "weights" in mm.var_names else []
    )
    out, used = [], 0
    for v in names:
        da = post[v]
        if not bool((da.std(("chain", "draw")) > 0).all()):
            continue
        n = int(np.prod([da.sizes[d] for d in da.dims if d not in ("chain", "draw")]))
        n -= 1 if v == "weights" else 0
        if n >= 1 and used + n <= max_panels:
            out.append(v)
            used += n
    return out


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
