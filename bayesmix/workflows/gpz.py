"""The GPz runner: training-set weights and mixture divides (``gpz_weights``, ``gpz_divide``).

One runner for tables in memory and Parquet catalogues over Dask
(:mod:`bayesmix.workflows.rows`).  The population mixture (and, for weights,
the training mixture) is fitted by :class:`bayesmix.gpz.GPzAugment` on the
population rows and the training rows passing ``[data].select`` whose features
are finite (over Dask: on seeded samples of at most ``fit_rows`` rows); then
every row of ``[data]`` is scored: ``weights``, or gpz_pype's divide columns
``best, m0.., p0.., [weights], unassigned``.  Rows with a missing or
non-finite feature (or a missing, non-finite or negative error, with
``error_prefix``) keep their place with an ``unscored_reason``, as in every
other command.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError
from bayesmix.workflows.outputs import (
    REASON_COLUMN,
    RunResult,
    caught_messages,
    finish,
    summary_head,
)

__all__ = ["divide_layout", "gpz_report", "run_gpz"]


def _given(options, params) -> dict[str, Any]:
    """Return the ``options`` of a spec's ``[builder]`` that are among ``params``."""
    return {p.name: options[p.name] for p in params if p.name in options}


def _check_error_columns(t, spec, prefix, source: str) -> None:
    """Refuse (naming ``[builder].error_prefix``) features whose error column is missing."""
    from bayesmix.gpz import parse_feature

    for expr in spec.data.features:
        for _, col in parse_feature(expr, t.colnames):
            err = prefix[1] + col[len(prefix[0]) :] if col.startswith(prefix[0]) else None
            if err is None or err not in t.colnames:
                what = (
                    f"error column {err!r} is not in {source}"
                    if err is not None
                    else f"column {col!r} does not start with {prefix[0]!r}"
                )
                raise DataError(
                    f"[builder].error_prefix {':'.join(prefix)!r} gives no error column for "
                    f"{col!r} (in feature {expr!r}): {what}",
                    argument="[builder].error_prefix",
                )


def _error_columns(t, spec, prefix) -> list[str]:
    """Return the error columns the features' terms use (``[builder].error_prefix``)."""
    from bayesmix.gpz import parse_feature

    out: list[str] = []
    for expr in spec.data.features:
        for _, col in parse_feature(expr, t.colnames):
            err = prefix[1] + col[len(prefix[0]) :]
            if err not in out:
                out.append(err)
    return out


def _features(t, spec):
    """Features (and errors) of a table; which rows are usable; why the others are not."""
    from bayesmix.gpz import feature_matrix

    o = spec.options
    prefix = tuple(o["error_prefix"]) if "error_prefix" in o else None
    if prefix is not None:
        _check_error_columns(t, spec, prefix, spec.data.source.name)
    X, E = feature_matrix(
        t, list(spec.data.features), error_prefix=prefix, name=spec.data.source.name
    )
    finite = np.isfinite(X).all(axis=1)
    reason = np.where(finite, "", "missing or non-finite feature value").astype(object)
    if E is not None:
        # feature_matrix adds the terms' errors in quadrature: look at the columns for signs
        negative = np.zeros(len(t), dtype=bool)
        for col in _error_columns(t, spec, prefix):
            v = np.ma.filled(np.ma.asarray(t[col], dtype=np.float64), np.nan)
            negative |= v < 0
        bad_e = finite & (~np.isfinite(E).all(axis=1) | negative)
        reason[bad_e] = "missing, non-finite or negative feature error"
        finite &= ~bad_e
    return X, E, finite, reason


def _fit(spec, rows, progress):
    """Fit the GPz mixtures on the population and (weights) the training rows."""
    from bayesmix.gpz import GPzAugment
    from bayesmix.gpz.tables import MODEL_OPTIONS
    from bayesmix.gpz.weights import WEIGHT_OPTIONS

    o = spec.options
    weight = spec.kind == "gpz_weights" or bool(o.get("weight", False))
    pop, n_pop = rows.population_table()
    Xp, Ep, okp, _ = _features(pop, spec)
    Xt = Et = None
    n_train = None
    if weight:
        train, sel, n_train = rows.training_table()
        X, E, ok, _ = _features(train, spec)
        Xt = X[sel & ok]
        Et = None if E is None else E[sel & ok]
    K = int(spec.settings()["n_components"])
    for what, n_ok, key in (
        ("population", int(okp.sum()), "[data.population]"),
        ("training sample", None if Xt is None else len(Xt), "[data]"),
    ):
        if n_ok is not None and n_ok < K:
            raise DataError(
                f"the {what} ({key}) has {n_ok} row(s) with every feature (and error) usable, "
                f"fewer than the {K} mixture components; fix the missing values or use fewer "
                "components",
                argument=key,
            )
    if progress:
        progress(
            f"fitting the population mixture ({int(okp.sum())} rows)"
            + (f" and the training mixture ({len(Xt)} rows)" if Xt is not None else "")
            + f", seed {spec.seed}"
        )
    kw = _given(o, MODEL_OPTIONS)  # a spec has no rng: the seed is spec.seed
    augment = GPzAugment(
        Xp[okp],
        Xt,
        rng=spec.seed,
        X_err_pop=None if Ep is None else Ep[okp],
        X_err_train=Et,
        **kw,
    )
    if weight:
        # the weighting rule, fitted once on the training and population rows of the fit;
        # every row (every partition) is then weighted by the same rule
        augment.fit_weights(Xt, Xp[okp], X_err=Et, **_given(o, WEIGHT_OPTIONS))
    fit = {
        "population_rows": int(okp.sum()),
        "population_of_rows": int(n_pop),
        "training_rows": None if Xt is None else len(Xt),
        "training_of_rows": n_train,
    }
    return augment, Xp[okp], Xt, fit


def _weights_columns(augment, spec):

    def score(t, selected):
        X, _, ok, reason = _features(t, spec)
        usable = selected & ok
        w = np.full(len(t), np.nan)
        if usable.any():
            w[usable] = augment.weights(X[usable])
        reason = np.where(selected, reason, "excluded by [data].select")
        return {"weights": w, REASON_COLUMN: reason.astype(str)}

    return score, {"weights": "float64", REASON_COLUMN: "str"}


def _divide_columns(augment, spec):
    from bayesmix.gpz.weights import WEIGHT_OPTIONS

    o = spec.options
    weight = bool(o.get("weight", False))
    K = augment.n_components
    wopts = _given(o, WEIGHT_OPTIONS)

    def score(t, selected):
        X, E, ok, reason = _features(t, spec)
        usable = selected & ok
        n = len(t)
        out: dict[str, np.ndarray] = {"best": np.full(n, -1, dtype=np.int64)}
        m = np.zeros((n, K), dtype=bool)
        p = np.full((n, K), np.nan)
        w = np.full(n, np.nan)
        un = np.zeros(n, dtype=bool)
        if usable.any():
            with warnings.catch_warnings():
                # a partition's divide may leave a sample small; the whole divide is judged
                warnings.simplefilter("ignore")
                div = augment.divide(
                    X[usable],
                    weight=weight,
                    threshold=o.get("threshold", 0.5),
                    assign=o.get("assign", "threshold"),
                    return_density=True,
                    X_err=None if E is None or not augment.uses_errors_ else E[usable],
                    **(wopts if weight else {}),
                )
            out["best"][usable] = np.asarray(div["best"])
            for k in range(K):
                m[usable, k] = np.asarray(div[f"m{k}"])
                p[usable, k] = np.asarray(div[f"p{k}"])
            if weight:
                w[usable] = np.asarray(div["weights"])
            un[usable] = np.asarray(div["unassigned"])
        for k in range(K):
            out[f"m{k}"] = m[:, k]
        for k in range(K):
            out[f"p{k}"] = p[:, k]
        if weight:
            out["weights"] = w
        out["unassigned"] = un
        out[REASON_COLUMN] = np.where(selected, reason, "excluded by [data].select").astype(str)
        return out

    dtypes = {"best": "int64"} | {f"m{k}": "bool" for k in range(K)}
    dtypes |= {f"p{k}": "float64" for k in range(K)}
    dtypes |= ({"weights": "float64"} if weight else {}) | {"unassigned": "bool"}
    return score, dtypes | {REASON_COLUMN: "str"}


def divide_layout(table, *, density: bool = True):
    """gpz_pype's divide table of a scored table: ``index`` (input row), ``best``, ``m0..``, ...

    Every input row is kept: ``index`` is its row number; rows that were not
    scored have ``best = -1``, every ``m`` False, NaN probabilities and their
    ``unscored_reason`` (a column present only when some row was not scored).
    ``density``: include the ``p0..`` columns.
    """
    from astropy.table import Table

    out = Table()
    out["index"] = np.arange(len(table), dtype=np.int64)
    names = [c for c in ("best",) if c in table.colnames]
    names += [c for c in table.colnames if c[:1] == "m" and c[1:].isdigit()]
    if density:
        names += [c for c in table.colnames if c[:1] == "p" and c[1:].isdigit()]
    names += [c for c in ("weights", "unassigned") if c in table.colnames]
    if REASON_COLUMN in table.colnames and (np.asarray(table[REASON_COLUMN]) != "").any():
        names.append(REASON_COLUMN)
    for c in names:
        out[c] = table[c]
    return out


def gpz_report(summary: dict[str, Any]) -> str:
    """Return the readable report (``summary.txt``) of a GPz run, from its summary."""
    d = summary["data"]
    f = summary["fit"]
    lines = [summary["title"]]
    if summary["kind"] == "gpz_weights":
        w = summary["weights"]
        diag = w["diagnostics"]
        lines += [
            f"training: {d['source']}, {d['n_rows']} rows, {d['n_used']} used; "
            f"population: {d['population']}, {f['population_of_rows']} rows",
            f"features: {', '.join(summary['features'])}; {w['n_components']} components; "
            f"seed {summary['seed']}",
            "weights: "
            + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in diag.items()
            ),
            f"KL(train || population), nats: unweighted {summary['kl_score']['unweighted']:.4f}, "
            f"weighted {summary['kl_score']['weighted']:.4f}",
        ]
    else:
        counts = summary["members"]
        lines += [
            f"divided: {d['source']}, {d['n_rows']} rows, {d['n_used']} used; population "
            f"{f['population_rows']} rows; {summary['n_components']} components, threshold "
            f"{summary['threshold']}, seed {summary['seed']}",
            "members: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"; unassigned {summary['n_unassigned']}",
        ]
    if f["population_rows"] < f["population_of_rows"]:
        lines.append(
            f"population mixture fitted on {f['population_rows']} of its "
            f"{f['population_of_rows']} rows"
            + (
                f" (a seeded sample of at most {summary['dask']['fit_rows']})"
                if "dask" in summary
                else " (the others miss a feature or error)"
            )
        )
    lines += [f"not scored: {c} row(s): {r}" for r, c in d["unscored_reasons"].items()]
    lines += [f"warning: {m}" for m in summary["warnings"]]
    return "\n".join(lines) + "\n"


def run_gpz(spec, rows, paths, *, overwrite: bool, progress=None):
    """Fit the GPz mixtures, score every row and write the outputs (module docstring).

    The arguments are those :func:`bayesmix.workflows.run.run_spec` passes on: the
    spec (of this kind), its rows (:func:`~bayesmix.workflows.rows.open_rows`), the
    outputs to write (kind -> path) and the options; returns a
    :class:`~bayesmix.workflows.outputs.RunResult`.
    """
    from bayesmix.gpz import kl_score, weight_diagnostics
    from bayesmix.gpz.weights import WEIGHT_OPTIONS

    o = spec.settings()
    K = int(o["n_components"])
    if spec.kind == "gpz_weights":
        planned = ["weights"]
    else:
        planned = ["best", *[f"m{k}" for k in range(K)], *[f"p{k}" for k in range(K)]]
        planned += (["weights"] if o.get("weight") else []) + ["unassigned"]
    rows.check_new_columns([*planned, REASON_COLUMN])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        augment, Xp, Xt, fit = _fit(spec, rows, progress)
        make = _weights_columns if spec.kind == "gpz_weights" else _divide_columns
        score, dtypes = make(augment, spec)
        K = augment.n_components
        sums = [f"m{k}" for k in range(K)] + ["unassigned"] if spec.kind == "gpz_divide" else []
        if progress:
            progress("scoring every row")
        scored = rows.score(
            score,
            dtypes,
            paths.get("table"),
            overwrite=overwrite,
            sums=sums,
            write="table" in paths,
        )
        o = spec.options
        summary = summary_head(spec, n_rows=scored.n_rows, reasons=scored.reasons)
        pop = spec.data.population
        summary["data"]["population"] = pop.name if pop is not None else None
        summary["data"]["n_population"] = fit["population_of_rows"]
        summary.update(
            {
                "title": f"{spec.name}: {spec.description}" if spec.description else spec.name,
                "features": list(spec.data.features),
                "fit": fit,
            }
        )
        if spec.kind == "gpz_weights":
            w_fit = augment.weights(Xt)
            kl_raw, kl_w = kl_score(Xp, Xt, w_fit)
            settings = spec.settings()
            summary["weights"] = {
                "features": list(spec.data.features),
                "n_components": K,
                **{p.name: settings.get(p.name) for p in WEIGHT_OPTIONS},
                "diagnostics": weight_diagnostics(w_fit, weighting=augment.weighting_),
            }
            summary["kl_score"] = {"unweighted": kl_raw, "weighted": kl_w}
        else:
            from bayesmix.gpz.divide import warn_divide

            n_used = summary["data"]["n_used"]
            n_un = int(scored.sums["unassigned"])
            counts = [int(scored.sums[f"m{k}"]) for k in range(K)]
            summary.update(
                {
                    "n_components": K,
                    "threshold": o.get("threshold", 0.5),
                    "assign": o.get("assign", "threshold"),
                    "members": {f"m{k}": c for k, c in enumerate(counts)},
                    "n_unassigned": n_un,
                }
            )
            # the divide of every scored row is judged as a whole (partitions are not)
            warn_divide(
                {
                    "n_objects": n_used,
                    "n_components": K,
                    "threshold": summary["threshold"],
                    "assign": summary["assign"],
                    "member_counts": counts,
                    "n_unassigned": n_un,
                    "unassigned_fraction": n_un / n_used if n_used else 0.0,
                }
            )
    summary["warnings"] = caught_messages(caught)
    summary["files"] = sorted(p.name for p in paths.values())
    if rows.dask:
        summary["dask"] = rows.info
    result = RunResult(paths=paths, summary=summary, report="")
    files = {}
    if "model" in paths:
        files["model"] = lambda p: augment.save(p, overwrite=overwrite)
    if "divide" in paths:
        from bayesmix.gpz import write_divide_csv

        files["divide"] = lambda p: write_divide_csv(
            divide_layout(scored.table, density=o.get("return_density", True)),
            p,
            overwrite=overwrite,
        )
    figures = {}
    if "figure_histograms" in paths:

        def histograms():
            from bayesmix.plot import plot_weighted_histograms

            w = augment.weights(Xt)
            return plot_weighted_histograms(Xp, Xt, w, names=list(spec.data.features))

        figures["figure_histograms"] = histograms
    if "figure_membership" in paths and scored.table is not None:
        figures["figure_membership"] = lambda: _divide_figure(spec, scored.table, K)
    return finish(result, files=files, figures=figures, report=gpz_report, overwrite=overwrite)


def _divide_figure(spec, table, K):
    from bayesmix.io import table_to_array
    from bayesmix.workflows.outputs import best_probability_axes, scatter_columns

    cols = scatter_columns(spec)
    if cols[0] in table.colnames and cols[1] in table.colnames:
        xy, _ = table_to_array(table, list(cols), source="the table")
    else:  # feature expressions
        xy, _, _, _ = _features(table, spec)
    p = np.column_stack([np.asarray(table[f"p{k}"], float) for k in range(K)])
    return best_probability_axes(xy, p, cols, "best").figure
