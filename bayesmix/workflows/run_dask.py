"""Run an analysis spec over Dask on a Parquet catalogue (``bayesmix run SPEC --dask``).

:func:`run_spec_dask` is :func:`bayesmix.workflows.run.run_spec` for catalogues
that need not fit in memory.  The spec's ``[data].path`` must be Parquet: a
file, a folder of files or a glob (:func:`load_spec_dask` accepts folders and
globs, which the in-memory loader does not).  The output table is a Parquet
folder (``[output].table`` with its suffix replaced by ``.parquet``) written
partition by partition: every input row, in input order, input columns
untouched, the same new columns as the in-memory run, and
``unscored_reason`` (empty for scored rows).

- **EM** (``gmm``): every candidate is fitted by :func:`bayesmix.scale.fit` over
  the rows passing ``[data].select`` with finite features, with the seeds
  :func:`bayesmix.em.select_n_components` uses, and K is chosen by BIC/AIC;
  memberships come from :func:`bayesmix.scale.predict_proba`.  When the rows
  fit in ``scale.fit``'s initialisation sample (100,000) the numbers equal
  the in-memory run's to rounding.
- **GPz** (``gpz_weights``, ``gpz_divide``): the mixtures are fitted in memory
  on seeded samples of at most ``fit_rows`` rows (the population and the
  training set), then :func:`bayesmix.scale.gpz_weights` /
  :func:`bayesmix.scale.gpz_divide` score every row.
- **Bayesian builders**: the model is built and sampled in memory on a seeded
  sample of at most ``fit_rows`` of the rows passing ``[data].select`` (all of
  them when there are fewer; then the posterior equals the in-memory run's),
  and the membership of every row is computed partition by partition from the
  posterior draws (sent to each worker once, as :func:`bayesmix.scale.membership`
  does).  A row the model cannot score (missing value, bad error, ...) keeps
  its place with NaN and the reason.

Figures: those drawn from the fit alone are written as in memory (``pgm``,
``pair``, ``bic_aic``, ``em_history``); those that draw every row
(``membership``, ``histograms``, and the cluster ``sky``/``cmd`` maps) are
skipped and listed in ``summary.json`` under ``dask.figures_skipped``.
``divide.csv`` (gpz_pype's CSV) is not written: its columns are in the
Parquet table.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError, SpecError
from bayesmix.io import table_to_array, write_figure, write_json, write_text
from bayesmix.spec import Spec, SpecData, load_spec, parse_spec
from bayesmix.workflows.run import (
    RunResult,
    _bayes_inputs,
    _bayes_report,
    _build,
    _build_cluster_field,
    _caught_messages,
    _check_outputs,
    _gpz_kwargs,
    _parameter_summary,
    _write_posterior,
    bayes_summary_head,
    check_pair_vars,
    posterior_filename,
    sample_spec,
)

__all__ = ["DEFAULT_FIT_ROWS", "dask_output_paths", "load_spec_dask", "run_spec_dask"]

#: rows sampled for in-memory fits (Bayesian builders, GPz mixtures) unless told otherwise
DEFAULT_FIT_ROWS = 20_000
_REASON = "unscored_reason"
_PARQUET = (".parquet", ".pq")
# figures that draw the fit only (the others draw every row and are skipped)
_FIT_FIGURES = {
    "pgm": "pgm.png",
    "pair": "pair.png",
    "bic_aic": "bic_aic.png",
    "em_history": "em_history.png",
}
_TINY = np.finfo(np.float64).tiny
_ROW_REF = re.compile(r"\brow \d+(?: \(id [^)]*\))?")


# --------------------------------------------------------------------------------------------
# the spec and its Parquet source
# --------------------------------------------------------------------------------------------


def _parquet_files(path: Path) -> list[Path]:
    """Parquet files of a file, folder or glob (empty when ``path`` is none of them)."""
    if path.is_file():
        return [path] if path.name.lower().endswith(_PARQUET) else []
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _PARQUET)
    if any(ch in path.name for ch in "*?["):
        return sorted(p for p in path.parent.glob(path.name) if p.is_file())
    return []


def load_spec_dask(path: str | os.PathLike) -> Spec:
    """Load a spec as :func:`~bayesmix.spec.load_spec`; ``[data].path`` may be a Parquet glob."""
    try:
        return load_spec(path)
    except SpecError as exc:
        if exc.key != "[data].path":
            raise
        import tomllib

        p = Path(path).resolve()
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
        raw = doc.get("data", {}).get("path") if isinstance(doc.get("data"), dict) else None
        if not isinstance(raw, str):
            raise
        q = Path(os.path.expanduser(raw))
        q = q if q.is_absolute() else p.parent / q
        files = _parquet_files(q)
        if not files:
            raise
        doc["data"]["path"] = str(files[0])  # parse with one file, then point at them all
        spec = parse_spec(doc, path=p)
        source = replace(spec.data.source, path=q, format="parquet")
        return replace(spec, data=replace(spec.data, source=source))


def _check_parquet(spec: Spec, option: str) -> str:
    src = spec.data.source
    path = src.path
    ok = path is not None and (
        (src.format or "").lower() == "parquet" or bool(_parquet_files(path))
    )
    if not ok:
        where = f"'{path}'" if path is not None else src.name
        raise SpecError(
            f"{option} needs a Parquet [data].path (a .parquet file, a folder of them or a "
            f"glob); the spec's data is {where}",
            key="[data].path",
        )
    return str(path)


def _table_name(spec: Spec) -> str:
    name = spec.output.table
    if name.lower().endswith(_PARQUET):
        return name
    return name.split(".")[0] + ".parquet"


def dask_output_paths(spec: Spec, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every file or folder :func:`run_spec_dask` writes for ``spec`` in ``out_dir``, by kind."""
    out = Path(out_dir)
    paths = {
        "table": out / _table_name(spec),
        "summary_json": out / "summary.json",
        "summary_txt": out / "summary.txt",
    }
    if spec.kind == "bayes" and spec.output.posterior:
        paths["posterior"] = out / posterior_filename()
    if spec.kind in ("gpz_weights", "gpz_divide"):
        paths["model"] = out / "gpz_model.npz"
    for fig in spec.output.figures:
        if fig in _FIT_FIGURES:
            paths[f"figure_{fig}"] = out / _FIT_FIGURES[fig]
    return paths


# --------------------------------------------------------------------------------------------
# partitions
# --------------------------------------------------------------------------------------------


def _frame_to_table(pdf, names):
    """Return some columns of a pandas partition as an astropy Table, typed as ``read_table`` would.

    Floats stay floats (missing values NaN); other numbers keep their type, missing
    values masked; text becomes str (missing values masked).
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


def _no_subnormals(values: np.ndarray) -> np.ndarray:
    # as the in-memory run: |v| < 2.2e-308 becomes 0 (text readers lose such values anyway)
    return np.where(np.abs(values) < _TINY, 0.0, values)


def _attach(pdf, new: dict[str, np.ndarray]):
    """Return the partition with the new columns appended (input columns untouched)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            k: pd.Series(v, index=pdf.index, dtype="str" if v.dtype == object else v.dtype)
            for k, v in new.items()
        },
        index=pdf.index,
    )
    return pd.concat([pdf, frame], axis=1)


@dataclass(frozen=True)
class _Rows:
    """What every partition needs to know about the spec (small; travels with the tasks)."""

    spec: Spec
    needed: tuple[str, ...]

    def table(self, pdf):
        return _frame_to_table(pdf, self.needed)

    def selected(self, t) -> np.ndarray:
        return self.spec.data.source.mask(t, where="[data]")


def _em_partition(pdf, proba, rows: _Rows, feats, order, labels):
    t = rows.table(pdf)
    selected = rows.selected(t)
    X, finite = table_to_array(t, feats, source=rows.spec.data.source.name)
    usable = selected & finite
    n = len(pdf)
    p = np.asarray(proba, dtype=np.float64)[:, order]
    p = np.where(usable[:, None], p, np.nan)
    new: dict[str, np.ndarray] = {}
    for j, lab in enumerate(labels):
        new[f"p_{lab}"] = _no_subnormals(p[:, j])
    best = np.full(n, "", dtype=object)
    ok = usable & np.isfinite(p).all(axis=1)
    best[ok] = np.asarray(labels, dtype=object)[np.argmax(p[ok], axis=1)]
    new["component"] = best
    new[_REASON] = np.where(
        ~selected,
        "excluded by [data].select",
        np.where(~finite, f"missing or non-finite value in {', '.join(feats)}", ""),
    ).astype(object)
    return _attach(pdf, new)


def _feature_partition(pdf, rows: _Rows, feats, *, usable_only: bool, gpz: bool):
    """Return the features as float columns f0, f1, ... (all rows, or only the usable ones)."""
    import pandas as pd

    t = rows.table(pdf)
    if gpz:
        from bayesmix.gpz import feature_matrix

        X, _ = feature_matrix(t, list(feats), name=rows.spec.data.source.name)
        finite = np.isfinite(X).all(axis=1)
    else:
        X, finite = table_to_array(t, list(feats), source=rows.spec.data.source.name)
    cols = [f"f{j}" for j in range(len(feats))]
    if usable_only:
        keep = rows.selected(t) & finite
        return pd.DataFrame(X[keep], columns=cols)
    return pd.DataFrame(X, columns=cols, index=pdf.index)


def _gpz_reasons(pdf, rows: _Rows, feats):
    from bayesmix.gpz import feature_matrix

    t = rows.table(pdf)
    selected = rows.selected(t)
    X, _ = feature_matrix(t, list(feats), name=rows.spec.data.source.name)
    finite = np.isfinite(X).all(axis=1)
    reasons = np.where(
        ~selected,
        "excluded by [data].select",
        np.where(~finite, "missing or non-finite feature value", ""),
    ).astype(object)
    return selected & finite, reasons


def _weights_partition(pdf, w, rows: _Rows, feats):
    usable, reasons = _gpz_reasons(pdf, rows, feats)
    w = np.where(usable, np.asarray(w, dtype=np.float64), np.nan)
    return _attach(pdf, {"weights": _no_subnormals(w), _REASON: reasons})


def _divide_partition(pdf, div, rows: _Rows, feats, K: int, weight: bool):
    usable, reasons = _gpz_reasons(pdf, rows, feats)
    n = len(pdf)
    new: dict[str, np.ndarray] = {}
    best = np.full(n, -1, dtype=np.int64)
    best[usable] = div["best"].to_numpy()[usable]
    new["best"] = best
    for k in range(K):
        new[f"m{k}"] = usable & div[f"m{k}"].to_numpy(dtype=bool)
    for k in range(K):
        p = np.where(usable, div[f"p{k}"].to_numpy(dtype=np.float64), np.nan)
        new[f"p{k}"] = _no_subnormals(p)
    if weight:
        new["weights"] = _no_subnormals(
            np.where(usable, div["weights"].to_numpy(dtype=np.float64), np.nan)
        )
    new["unassigned"] = usable & div["unassigned"].to_numpy(dtype=bool)
    new[_REASON] = reasons
    return _attach(pdf, new)


def _gaia_rows(t, selected, mm, columns: dict[str, str], correlations: bool):
    """cluster_field: the Gaia arrays of each row, which rows have every value, reasons."""
    from bayesmix.gaia import correlation_column, error_column

    feats = list(mm.spec["features"])
    names = []
    for f in feats:
        names.append(columns.get(f, f))
    # the full model uses positions without their (mas) errors or correlations
    err_feats = [f for f in feats if f not in ("ra", "dec")]
    for f in err_feats:
        names.append(columns.get(error_column(f), error_column(f)))
    if correlations:
        for i in range(len(err_feats)):
            for j in range(i + 1, len(err_feats)):
                c = correlation_column(err_feats[i], err_feats[j])
                if c is not None and columns.get(c, c) in t.colnames:
                    names.append(columns.get(c, c))
    n = len(t)
    data: dict[str, np.ndarray] = {}
    bad = np.zeros((n, len(names)), dtype=bool)
    for j, name in enumerate(names):
        col = t[name]
        vals = np.array(np.ma.getdata(col), dtype=np.float64)
        vals[np.ma.getmaskarray(col)] = np.nan
        data[name] = vals
        bad[:, j] = ~np.isfinite(vals)
    ok = selected & ~bad.any(axis=1)
    reasons = np.where(selected, "", "excluded by [data].select").astype(object)
    for i in np.flatnonzero(selected & bad.any(axis=1)):
        reasons[i] = "missing " + ", ".join(nm for nm, b in zip(names, bad[i], strict=True) if b)
    return data, ok, reasons


def _bayes_partition(pdf, draws, mm, rows: _Rows, gaia_opts):
    """Membership of every row of a partition from the posterior draws (NaN + reason if not)."""
    from bayesmix.membership import membership
    from bayesmix.scale import _DrawsFit

    t = rows.table(pdf)
    n = len(t)
    selected = rows.selected(t)
    if gaia_opts is not None:
        data, ok, reasons = _gaia_rows(t, selected, mm, *gaia_opts)
    else:
        data, _, ok, reasons = _bayes_inputs(rows.spec, SpecData(table=t, selected=selected))
        reasons = reasons.astype(object)
    labels = [str(v) for v in mm.component_labels]
    K = len(labels)
    vars_ = [
        "probability",
        "probability_sd",
        "probability_q16",
        "probability_q50",
        "probability_q84",
    ]
    out = np.full((n, K, len(vars_)), np.nan)
    todo = np.flatnonzero(ok)
    fit = _DrawsFit(mm, draws)
    while todo.size:
        sub = {k: np.asarray(v)[todo] for k, v in data.items()}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. Gaia correlation notes, once per block
                ds = membership(fit, sub, quantiles=True)
        except DataError as exc:
            # a row the model cannot score: keep it with the reason, score the others
            # the message's row number counts rows of this block: say "this row" instead
            msg = _ROW_REF.sub("this row", " ".join(str(exc).split()))
            bad = [int(r) for r in exc.rows if 0 <= int(r) < todo.size]
            if not bad:
                reasons[todo] = msg
                break
            reasons[todo[bad]] = msg
            todo = np.delete(todo, bad)
            continue
        for j, var in enumerate(vars_):
            out[todo, :, j] = np.asarray(ds[var].transpose("object", "component").values)
        break
    new: dict[str, np.ndarray] = {}
    suffixes = ["", "_sd", "_q16", "_q50", "_q84"]
    for k, lab in enumerate(labels):
        for j, suf in enumerate(suffixes):
            new[f"p_{lab}{suf}"] = _no_subnormals(out[:, k, j])
    prob = out[:, :, 0]
    scored = np.flatnonzero(ok)
    scored = scored[reasons[scored] == ""]
    finite = np.isfinite(prob[scored]).all(axis=1)
    best = np.full(n, "", dtype=object)
    best[scored[finite]] = np.asarray(labels, dtype=object)[np.argmax(prob[scored[finite]], axis=1)]
    reasons[scored[~finite]] = "zero density under every component in some posterior draw"
    new["component"] = best
    new[_REASON] = reasons
    return _attach(pdf, new)


# --------------------------------------------------------------------------------------------
# Dask plumbing
# --------------------------------------------------------------------------------------------


def _zip_partitions(ddf, blocks, fn, meta, *args):
    """``fn(partition, block, *args)`` for each partition and its aligned block, as a dataframe."""
    import dask
    import dask.dataframe as dd

    parts = ddf.to_delayed()
    if blocks is None:
        blocks = [None] * len(parts)
    if len(blocks) != len(parts):  # pragma: no cover - the scale functions keep partitions
        raise RuntimeError(f"{len(blocks)} blocks for {len(parts)} partitions")
    f = dask.delayed(fn, pure=True)
    return dd.from_delayed(
        [f(p, b, *args) for p, b in zip(parts, blocks, strict=True)], meta=meta, verify_meta=False
    )


def _meta(ddf, new: dict[str, Any]):
    import pandas as pd

    meta = ddf._meta.copy()
    clash = [c for c in new if c in meta.columns]
    if clash:
        what = (
            "rename it so that it is not replaced"
            if clash[0] == _REASON
            else ("rename it so that the new columns do not replace input data")
        )
        raise DataError(
            f"the input table already has a column named {clash[0]!r}; {what}", argument="table"
        )
    for name, dtype in new.items():
        meta[name] = pd.Series([], dtype=dtype, index=meta.index[:0])
    return meta


def _write_parquet(out, path: Path, *, overwrite: bool, extra: dict[str, Any]):
    """Write ``out`` as a Parquet folder (atomically) and compute ``extra`` in the same pass."""
    import dask

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=path.parent, prefix=".bayesmix-run-", suffix=".tmp")
    try:
        write = out.to_parquet(tmp, write_index=False, compute=False)
        _, values = dask.compute(write, extra)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"output '{path}' already exists; use --overwrite")
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return values


def _reason_counts(series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(series.items()) if str(k) != ""}


def _sample_selected(ddf, rows: _Rows, n_max: int, seed: int):
    """Draw a seeded uniform sample of at most ``n_max`` rows passing ``[data].select``.

    Returns the sample (pandas, rows in input order) and the number of rows it was drawn from.
    """
    import dask
    import pandas as pd

    parts = ddf.to_delayed()

    def count(pdf):
        return int(rows.selected(rows.table(pdf)).sum())

    counts = np.asarray(dask.compute(*[dask.delayed(count)(p) for p in parts]), dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise DataError(
            f"[data].select keeps none of the rows of {rows.spec.data.source.name}",
            argument="select",
        )
    m = min(int(n_max), total)
    idx = (
        np.arange(total)
        if m == total
        else np.sort(np.random.default_rng(seed).choice(total, m, replace=False))
    )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def take(pdf, local):
        pos = np.flatnonzero(rows.selected(rows.table(pdf)))[local]
        return pdf.iloc[pos]

    picks = []
    for p, s, c in zip(parts, starts, counts, strict=True):
        local = idx[(idx >= s) & (idx < s + c)] - s
        if local.size:
            picks.append(dask.delayed(take)(p, local))
    frames = dask.compute(*picks)
    sample = pd.concat(frames, axis=0) if frames else ddf._meta
    return sample.reset_index(drop=True), total


def _draws_handle(post):
    """Send the posterior draws once: scattered to every worker of a client, else one task."""
    import dask

    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        return client.scatter(post, broadcast=True, hash=False)
    return dask.delayed(post, pure=True)


def _scheduler_context(scheduler):
    from bayesmix.scale import scheduler_context

    return scheduler_context(scheduler)


def _compute(*args):
    import dask

    return dask.compute(*args)


# --------------------------------------------------------------------------------------------
# the kinds of analysis
# --------------------------------------------------------------------------------------------


def _run_em_dask(spec, ddf, paths, rows, *, overwrite, progress, verbose, info) -> RunResult:
    import bayesmix
    from bayesmix._random import as_generator, derive_seed
    from bayesmix.em import GaussianMixture
    from bayesmix.em.selection import SelectionResult
    from bayesmix.scale import fit as dask_fit
    from bayesmix.scale import predict_proba
    from bayesmix.scale import score_samples as dask_score_samples
    from bayesmix.workflows.gmm import describe_components, parse_candidates, relabel

    o = spec.options
    feats = list(spec.data.features)
    cands = parse_candidates(list(o.get("n_components", (1, 2, 3, 4, 5, 6))))
    criterion = o.get("criterion", "bic")
    fmeta = {f"f{j}": np.array([], dtype=np.float64) for j in range(len(feats))}
    import pandas as pd

    used = ddf.map_partitions(
        _feature_partition, rows, feats, usable_only=True, gpz=False, meta=pd.DataFrame(fmeta)
    )
    cols = list(fmeta)
    n_used, n_rows = (int(v) for v in _compute(used.shape[0], ddf.shape[0]))
    if n_used < max(cands):
        raise DataError(
            f"{spec.data.source.name} has {n_used} usable row(s) in columns {feats} but up to "
            f"{max(cands)} components were requested; use fewer components or more rows",
            argument="columns",
        )
    gen = as_generator(spec.seed)  # the seeds select_n_components draws, candidate by candidate
    models, table_rows = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in cands:
            if progress:
                progress(f"fitting K = {k} by EM over Dask ({n_used} rows, seed {spec.seed})")
            gm = GaussianMixture(
                k,
                rng=derive_seed(gen),
                covariance_type=o.get("covariance_type", "full"),
                n_init=o.get("n_init", 4),
                max_iter=o.get("max_iter", 500),
                tol=o.get("tol", 1e-5),
                verbose=verbose,
            )
            dask_fit(gm, used, columns=cols)
            total = float(_compute(dask_score_samples(gm, used, columns=cols).sum())[0])
            p = gm.n_parameters()
            table_rows.append(
                (k, -2 * total + p * np.log(n_used), -2 * total + 2 * p, total, p, gm.converged_)
            )
            models.append(gm)
    table = {
        key: np.array([r[i] for r in table_rows])
        for i, key in enumerate(
            ("n_components", "bic", "aic", "log_likelihood", "n_parameters", "converged")
        )
    }
    best_i = int(np.argmin(table[criterion]))
    sel = SelectionResult(table, models[best_i], cands[best_i], criterion, models)
    order_by = o.get("order_by")
    fitted = relabel(sel.best, by=feats.index(order_by) if order_by else 0)
    labels = list(fitted.labels)

    if progress:
        progress(f"writing the membership of every row to {paths['table'].name}")
    allx = ddf.map_partitions(
        _feature_partition, rows, feats, usable_only=False, gpz=False, meta=pd.DataFrame(fmeta)
    )
    proba = predict_proba(fitted.model, allx, columns=cols)
    blocks = list(proba.to_delayed().ravel())
    new = {f"p_{lab}": "float64" for lab in labels} | {"component": "str", _REASON: "str"}
    out = _zip_partitions(
        ddf, blocks, _em_partition, _meta(ddf, new), rows, feats, fitted.order, labels
    )
    counts = _write_parquet(
        out, paths["table"], overwrite=overwrite, extra={"reasons": out[_REASON].value_counts()}
    )
    reasons = _reason_counts(counts["reasons"])
    sel_rows = [
        {
            "n_components": int(r[0]),
            "bic": float(r[1]),
            "aic": float(r[2]),
            "log_likelihood": float(r[3]),
            "converged": bool(r[5]),
        }
        for r in table_rows
    ]
    m = fitted.model
    best = table_rows[best_i]
    comps = {}
    for i, lab in enumerate(labels):
        cov = fitted.covariances[i]
        comps[lab] = {
            "weight": float(fitted.weights[i]),
            "mean": dict(zip(feats, fitted.means[i].tolist(), strict=True)),
            "covariance": cov.tolist(),
            "std": dict(zip(feats, np.sqrt(np.diag(cov)).tolist(), strict=True)),
        }
    messages = sorted(set(_caught_messages(caught)))
    summary: dict[str, Any] = {
        "bayesmix_version": bayesmix.__version__,
        "source": spec.data.source.name,
        "columns": feats,
        "n_rows": n_rows,
        "n_used": n_used,
        "n_unscored": n_rows - n_used,
        "seed": spec.seed,
        "settings": {
            "candidates": cands,
            "criterion": criterion,
            "covariance_type": o.get("covariance_type", "full"),
            "n_init": o.get("n_init", 4),
            "max_iter": o.get("max_iter", 500),
            "tol": float(o.get("tol", 1e-5)),
            "init": "kmeans++",
        },
        "selection": sel_rows,
        "selected_is_largest_candidate": fitted.n_components == max(cands),
        "selected": {
            "n_components": fitted.n_components,
            "labels": labels,
            "components": comps,
            "covariance_order": feats,
            "converged": bool(m.converged_),
            "n_iter": int(m.n_iter_),
            "mean_log_likelihood": best[3] / n_used,
            "bic": float(best[1]),
            "aic": float(best[2]),
            "n_parameters": int(best[4]),
        },
        "warnings": messages,
        "spec": spec.to_dict(),
        "kind": "em",
        "builder": "gmm",
        "unscored_reasons": reasons,
        "dask": info,
        "files": sorted(p.name for p in paths.values()),
    }
    lines = [
        f"data: {spec.data.source.name}: {n_rows} rows, columns {', '.join(feats)}; {n_used} "
        f"used"
        + (f", {n_rows - n_used} not scored" if n_rows > n_used else "")
        + " (EM over Dask)",
        f"seed: {spec.seed}",
        "",
        f"{'K':>3} {'BIC':>12} {'AIC':>12} {'log L':>12}  converged",
    ]
    for r in sel_rows:
        mark = "  <- selected" if r["n_components"] == fitted.n_components else ""
        lines.append(
            f"{r['n_components']:>3} {r['bic']:>12.2f} {r['aic']:>12.2f} "
            f"{r['log_likelihood']:>12.2f}  {'yes' if r['converged'] else 'NO'}{mark}"
        )
    lines += ["", f"selected by {criterion.upper()}: K = {fitted.n_components}"]
    lines += describe_components(fitted, feats)
    lines += [f"warning: {w}" for w in messages]
    lines += [f"not scored: {c} row(s): {r}" for r, c in reasons.items()]
    report = "\n".join(lines) + "\n"
    from bayesmix.plot import new_axes, plot_log_likelihood_history, plot_selection

    if "figure_bic_aic" in paths:
        ax = new_axes(figsize=(6, 4.5))
        plot_selection(sel, ax=ax)
        write_figure(ax.figure, paths["figure_bic_aic"], overwrite=overwrite)
    if "figure_em_history" in paths:
        ax = new_axes(figsize=(6, 4.5))
        plot_log_likelihood_history(m, ax=ax)
        write_figure(ax.figure, paths["figure_em_history"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report)


def _gpz_sample(spec, source, ddf, rows, feats, fit_rows: int, seed: int, name: str):
    """Features of a seeded sample of usable rows (a Parquet source over Dask, else in memory)."""
    from bayesmix.gpz import feature_matrix

    if ddf is not None:
        sample, n_from = _sample_selected(ddf, rows, fit_rows, seed)
        t = _frame_to_table(sample, list(sample.columns))
    else:
        t = source.read()
        t = t[source.mask(t, where="[data.population]")]
        n_from = len(t)
    X, _ = feature_matrix(t, feats, name=name)
    X = X[np.isfinite(X).all(axis=1)]
    if ddf is None and len(X) > fit_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), fit_rows, replace=False))
        X = X[keep]
    return X, n_from


def _run_gpz_dask(spec, ddf, paths, rows, *, fit_rows, overwrite, progress, info) -> RunResult:
    import dask.dataframe as dd
    import pandas as pd

    import bayesmix
    from bayesmix.gpz import GPzAugment, kl_score, weight_diagnostics
    from bayesmix.scale import gpz_divide, gpz_weights

    o = dict(spec.options)
    if "error_prefix" in o:
        raise SpecError(
            "[builder].error_prefix (extreme deconvolution) is not supported with --dask",
            key="[builder].error_prefix",
        )
    feats = list(spec.data.features)
    kw = _gpz_kwargs(spec)
    pop = spec.data.population
    pop_ddf = pop_rows = None
    if pop is not None and pop.path is not None and _parquet_files(pop.path):
        pop_ddf = dd.read_parquet(str(pop.path))
        pop_rows = _Rows(
            replace(spec, data=replace(spec.data, source=pop)),
            tuple(str(c) for c in pop_ddf.columns),
        )
    if progress:
        progress(f"sampling at most {fit_rows} population and training rows, seed {spec.seed}")
    Xp, n_pop = _gpz_sample(
        spec, pop, pop_ddf, pop_rows, feats, fit_rows, spec.seed, "the population"
    )
    weight = spec.kind == "gpz_weights" or bool(o.get("weight", False))
    Xt, n_train = (None, None)
    if weight:
        Xt, n_train = _gpz_sample(
            spec, spec.data.source, ddf, rows, feats, fit_rows, spec.seed + 1, spec.data.source.name
        )
    if progress:
        progress(
            f"fitting the mixtures ({len(Xp)} population rows"
            + (f", {len(Xt)} training rows" if Xt is not None else "")
            + ")"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        augment = GPzAugment(
            Xp,
            Xt,
            n_components=kw.get("n_components", 10),
            n_init=kw.get("n_init", 1),
            tol=kw.get("tol", 1e-3),
            rng=spec.seed,
            scale=kw.get("scale", True),
            covariance_type=kw.get("covariance_type", "full"),
            **({"threshold": o.get("threshold", 0.5)} if spec.kind == "gpz_divide" else {}),
        )
    fmeta = pd.DataFrame({f"f{j}": np.array([], dtype=np.float64) for j in range(len(feats))})
    allx = ddf.map_partitions(
        _feature_partition, rows, feats, usable_only=False, gpz=True, meta=fmeta
    )
    cols = list(fmeta.columns)
    wopts = {k: kw[k] for k in ("max_weight", "min_weight", "eta") if k in kw}
    K = augment.n_components
    if spec.kind == "gpz_weights":
        w = gpz_weights(augment, allx, columns=cols, **wopts)
        out = _zip_partitions(
            ddf,
            list(w.to_delayed().ravel()),
            _weights_partition,
            _meta(ddf, {"weights": "float64", _REASON: "str"}),
            rows,
            feats,
        )
    else:
        div = gpz_divide(
            augment,
            allx,
            columns=cols,
            weight=weight,
            threshold=o.get("threshold", 0.5),
            assign=o.get("assign", "threshold"),
            return_density=True,
            **wopts,
        )
        new = {"best": "int64"} | {f"m{k}": "bool" for k in range(K)}
        new |= {f"p{k}": "float64" for k in range(K)}
        new |= ({"weights": "float64"} if weight else {}) | {"unassigned": "bool", _REASON: "str"}
        out = _zip_partitions(
            ddf, div.to_delayed(), _divide_partition, _meta(ddf, new), rows, feats, K, weight
        )
    extra: dict[str, Any] = {"reasons": out[_REASON].value_counts(), "n_rows": out.shape[0]}
    if spec.kind == "gpz_divide":
        extra["members"] = out[[f"m{k}" for k in range(K)]].sum()
        extra["unassigned"] = out["unassigned"].sum()
    if progress:
        progress(f"scoring every row and writing {paths['table'].name}")
    vals = _write_parquet(out, paths["table"], overwrite=overwrite, extra=extra)
    reasons = _reason_counts(vals["reasons"])
    n_rows = int(vals["n_rows"])
    n_unscored = sum(reasons.values())
    summary: dict[str, Any] = {
        "bayesmix_version": bayesmix.__version__,
        "spec": spec.to_dict(),
        "kind": spec.kind,
        "builder": spec.builder,
        "seed": spec.seed,
        "data": {
            "source": spec.data.source.name,
            "n_rows": n_rows,
            "n_used": n_rows - n_unscored,
            "n_unscored": n_unscored,
            "unscored_reasons": reasons,
            "population": pop.name if pop else None,
            "n_population": n_pop,
        },
        "features": feats,
        "fit_sample": {
            "population_rows": len(Xp),
            "population_seed": spec.seed,
            "training_rows": None if Xt is None else len(Xt),
            "training_seed": None if Xt is None else spec.seed + 1,
            "max_rows": fit_rows,
        },
        "warnings": _caught_messages(caught),
        "dask": info,
        "files": sorted(p.name for p in paths.values()),
    }
    lines = [f"{spec.name}: {spec.description}" if spec.description else spec.name]
    if spec.kind == "gpz_weights":
        wt = augment.calc_weights(Xt, **wopts)
        diag = weight_diagnostics(
            wt, max_weight=wopts.get("max_weight", 100), min_weight=wopts.get("min_weight")
        )
        kl_raw, kl_w = kl_score(Xp, Xt, wt)
        summary["weights"] = {
            "features": feats,
            "n_components": K,
            **wopts,
            "diagnostics_of_the_training_sample": diag,
        }
        summary["kl_score"] = {
            "unweighted": kl_raw,
            "weighted": kl_w,
            "note": "over the fit samples",
        }
        lines += [
            f"training: {spec.data.source.name}, {n_rows} rows, {n_rows - n_unscored} weighted; "
            f"population: {pop.name if pop else '-'}, {n_pop} rows",
            f"fitted on {len(Xp)} population and {len(Xt)} training rows (seeded samples of at "
            f"most {fit_rows}); {K} components; seed {spec.seed}",
            f"KL(train || population) over the fit samples, nats: unweighted {kl_raw:.4f}, "
            f"weighted {kl_w:.4f}",
        ]
    else:
        members = {f"m{k}": int(vals["members"][f"m{k}"]) for k in range(K)}
        summary.update(
            {
                "n_components": K,
                "threshold": o.get("threshold", 0.5),
                "assign": o.get("assign", "threshold"),
                "members": members,
                "n_unassigned": int(vals["unassigned"]),
            }
        )
        lines += [
            f"divided: {spec.data.source.name}, {n_rows} rows, {n_rows - n_unscored} used; "
            f"population fitted on {len(Xp)} of {n_pop} rows; {K} components, threshold "
            f"{summary['threshold']}, seed {spec.seed}",
            "members: "
            + ", ".join(f"{k} {v}" for k, v in members.items())
            + f"; unassigned {summary['n_unassigned']}",
        ]
    lines += [f"not scored: {c} row(s): {r}" for r, c in reasons.items()]
    lines += [f"warning: {m}" for m in summary["warnings"]]
    report = "\n".join(lines) + "\n"
    augment.save(paths["model"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report)


def _run_bayes_dask(
    spec, ddf, paths, rows, *, fit_rows, overwrite, progress, progressbar, info
) -> RunResult:
    from bayesmix.scale import _light_model

    if spec.builder == "cluster_field" and spec.options.get("field") == "edsd":
        raise SpecError(
            "[builder].field = 'edsd' is not supported with --dask (scoring new stars needs "
            "the per-star integration windows of the fit)",
            key="[builder].field",
        )
    if progress:
        progress(f"sampling at most {fit_rows} rows passing [data].select, seed {spec.seed}")
    pdf, n_selected = _sample_selected(ddf, rows, fit_rows, spec.seed)
    table = _frame_to_table(pdf, [str(c) for c in pdf.columns])
    data = SpecData(table=table, selected=np.ones(len(table), dtype=bool))
    if spec.builder == "cluster_field":
        if progress:
            progress(f"building cluster_field on {len(table)} sampled rows")
        mm = _build_cluster_field(spec, data)
        columns = {k: str(v) for k, v in spec.data.columns.items()}
        gaia_opts = (columns, bool(spec.options.get("correlations", True)))
    else:
        arrays, ids, usable, _ = _bayes_inputs(spec, data)
        if progress:
            progress(f"building {spec.builder} on {int(usable.sum())} of {len(table)} sampled rows")
        mm = _build(spec, arrays, ids, usable)
        gaia_opts = None
    check_pair_vars(spec, mm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sample_spec(spec, mm, progress=progress, progressbar=progressbar)
        params = _parameter_summary(fit)
    messages = [
        m
        for m in _caught_messages(caught)
        if m.startswith(("DiagnosticsWarning", "ConvergenceWarning"))
    ]

    labels = [str(v) for v in mm.component_labels]
    new: dict[str, str] = {}
    for lab in labels:
        for suf in ("", "_sd", "_q16", "_q50", "_q84"):
            new[f"p_{lab}{suf}"] = "float64"
    new |= {"component": "str", _REASON: "str"}
    meta = _meta(ddf, new)
    post = fit.posterior[list(mm.var_names)].load()
    draws = _draws_handle(post)
    import dask

    out = _zip_partitions(
        ddf, None, _bayes_one, meta, draws, dask.delayed(_light_model(mm)), rows, gaia_opts
    )
    if progress:
        progress(f"computing the membership of every row and writing {paths['table'].name}")
    extra = {
        "reasons": out[_REASON].value_counts(),
        "n_rows": out.shape[0],
        "expected": out[[f"p_{lab}" for lab in labels]].sum(),
        "best": out["component"].value_counts(),
    }
    vals = _write_parquet(out, paths["table"], overwrite=overwrite, extra=extra)
    reasons = _reason_counts(vals["reasons"])
    n_rows = int(vals["n_rows"])
    n_unscored = sum(reasons.values())
    best_counts = {str(k): int(v) for k, v in vals["best"].items()}
    summary: dict[str, Any] = {
        **bayes_summary_head(spec, fit),
        "data": {
            "source": spec.data.source.name,
            "n_rows": n_rows,
            "n_used": n_rows - n_unscored,
            "n_unscored": n_unscored,
            "unscored_reasons": reasons,
        },
        "fit_sample": {
            "n_rows": len(table),
            "of_rows": n_selected,
            "seed": spec.seed,
            "max_rows": fit_rows,
            "how": "uniform without replacement over the rows passing [data].select, "
            "kept in input order (all of them when there are at most max_rows)",
        },
        "diagnostics": {
            k: (float(v) if isinstance(v, float) else v) for k, v in fit.diagnostics.items()
        },
        "parameters": params,
        "components": labels,
        "membership": {
            lab: {
                "expected_count": float(vals["expected"][f"p_{lab}"]),
                "n_most_probable": best_counts.get(lab, 0),
            }
            for lab in labels
        },
        "model_variables": list(mm.var_names),
        "builder_spec": dict(mm.spec),
        "warnings": messages,
        "dask": info,
        "files": sorted(p.name for p in paths.values()),
    }
    report = _bayes_report(spec, summary)
    report += (
        f"fitted on {len(table)} of the {n_selected} rows passing [data].select "
        f"(seeded sample, at most {fit_rows}); every row scored over Dask\n"
    )
    notes: list[str] = []
    if "posterior" in paths:
        _write_posterior(fit.idata, paths["posterior"], overwrite=overwrite)
    if "figure_pgm" in paths:
        write_figure(mm.pgm(), paths["figure_pgm"], overwrite=overwrite)
    if "figure_pair" in paths:
        from bayesmix.plot import plot_pair

        if spec.output.pair_vars:
            names = list(spec.output.pair_vars)
        else:
            names = [
                v for v in mm.var_names if bool((fit.posterior[v].std(("chain", "draw")) > 0).all())
            ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            f = plot_pair(fit, names, detach=True)
        notes.append(f"pair plot drawn with {f.get_label()}")
        write_figure(f, paths["figure_pair"], overwrite=overwrite)
    write_json(summary, paths["summary_json"], overwrite=overwrite)
    write_text(report, paths["summary_txt"], overwrite=overwrite)
    return RunResult(paths=paths, summary=summary, report=report, notes=notes)


def _bayes_one(pdf, _block, draws, mm, rows, gaia_opts):
    return _bayes_partition(pdf, draws, mm, rows, gaia_opts)


# --------------------------------------------------------------------------------------------


def run_spec_dask(
    spec: Spec,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    fit_rows: int = DEFAULT_FIT_ROWS,
    overwrite: bool = False,
    progress=None,
    progressbar: bool = False,
    verbose: bool = False,
    option: str = "--dask",
) -> RunResult:
    """Run ``spec`` over Dask on its Parquet data; write the outputs to ``out_dir``.

    Parameters
    ----------
    spec : Spec
        From :func:`load_spec_dask` (command-line overrides applied).
    out_dir : path-like
        Output folder (created if needed).
    scheduler : str, optional
        A ``dask.distributed`` scheduler address (``tcp://host:8786``), or
        ``threads``/``processes``/``synchronous``; default: the active Dask
        scheduler (threads unless a distributed client is active).
    fit_rows : int, default 20,000
        Rows sampled (seeded, uniform over the rows passing ``[data].select``)
        for the in-memory fits of Bayesian builders and GPz mixtures; all rows
        when there are fewer.  EM specs are fitted over every row.
    overwrite : bool, default False
        Replace existing outputs; otherwise any existing output is an error
        raised before fitting.
    progress, progressbar, verbose
        As for :func:`bayesmix.workflows.run.run_spec`.
    option : str, default "--dask"
        The option named in errors (``--scheduler`` when that was given).

    Returns
    -------
    RunResult
        ``summary["dask"]`` records the scheduler, the partitions and the
        figures skipped.

    Raises
    ------
    SpecError
        The data are not Parquet, or the spec asks for something the Dask path
        does not support (named in the message).
    DataError, FileNotFoundError, FileExistsError
        As for :func:`~bayesmix.workflows.run.run_spec`.
    """
    import dask.dataframe as dd

    from bayesmix.spec import _need_columns

    path = _check_parquet(spec, option)
    if not isinstance(fit_rows, int) or fit_rows < 1:
        raise SpecError(f"'fit_rows' must be a positive integer; got {fit_rows!r}", key="fit_rows")
    paths = dask_output_paths(spec, out_dir)
    _check_outputs(paths, overwrite=overwrite)
    with _scheduler_context(scheduler):
        ddf = dd.read_parquet(path)
        names = [str(c) for c in ddf.columns]
        probe = _frame_to_table(ddf._meta, names)
        d = spec.data
        src = d.source.name
        if d.ids is not None:
            _need_columns(probe, [d.ids], "[data].ids", src)
        for arg, cols in d.columns.items():
            _need_columns(
                probe, [cols] if isinstance(cols, str) else list(cols), f"[data.columns].{arg}", src
            )
        if spec.kind == "em":
            _need_columns(probe, d.features, "[data].features", src)
        for sel in d.source.select:
            _need_columns(probe, [sel.column], "[data].select", src)
        rows = _Rows(spec, tuple(names))
        skipped = [f for f in spec.output.figures if f not in _FIT_FIGURES]
        info = {
            "scheduler": scheduler or "threads (default)",
            "input": path,
            "n_partitions": int(ddf.npartitions),
            "output_table": paths["table"].name,
            "figures_skipped": skipped,
        }
        common = {"overwrite": overwrite, "progress": progress, "info": info}
        if spec.kind == "em":
            result = _run_em_dask(spec, ddf, paths, rows, verbose=verbose, **common)
        elif spec.kind == "bayes":
            result = _run_bayes_dask(
                spec, ddf, paths, rows, fit_rows=fit_rows, progressbar=progressbar, **common
            )
        else:
            result = _run_gpz_dask(spec, ddf, paths, rows, fit_rows=fit_rows, **common)
    if skipped:
        result.notes.append(
            f"figures not drawn with --dask (they plot every row): {', '.join(skipped)}"
        )
    return result
