"""Gaussian-mixture analysis of table columns in memory: EM fits, BIC/AIC selection.

:func:`fit_gmm_selection` turns a table and a choice of columns into fitted
mixtures (:class:`GMMAnalysis`); :func:`membership_table` gives every input row,
in input order, input columns untouched, with membership columns added;
:func:`format_report` and :func:`analysis_summary` the report and summary an
EM run writes.  Writing files is the EM runner's job
(:func:`bayesmix.workflows.em.run_em`, behind ``bayesmix run`` and ``bayesmix
gmm fit``); :func:`relabel` and :class:`FittedMixture` are shared with it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._random import derive_seed
from bayesmix._validate import check_candidates, check_choice, check_int
from bayesmix.em import CRITERIA
from bayesmix.exceptions import DataError, SpecError
from bayesmix.io import table_to_array

__all__ = [
    "FittedMixture",
    "GMMAnalysis",
    "analysis_summary",
    "describe_components",
    "fit_gmm_selection",
    "format_report",
    "membership_table",
    "parse_candidates",
    "relabel",
]


def parse_candidates(text: str | int | Iterable[int], *, name: str = "n_components") -> list[int]:
    """Parse candidate component counts: ``"1-6"``, ``"2"``, ``"1,2,4"`` or integers.

    Returns
    -------
    list of int
        Sorted, unique, each >= 1.

    Raises
    ------
    SpecError
        On anything else, naming ``name``.
    """
    return list(check_candidates(text, name=name))


@dataclass(frozen=True)
class FittedMixture:
    """A fitted mixture with readable, stably ordered component labels.

    Attributes
    ----------
    model : bayesmix.em.GaussianMixture
        The fitted estimator (its own component order).
    order : ndarray of int
        ``order[i]`` is the estimator's index of labelled component ``i``.
    labels : tuple of str
        Component labels, in labelled order.
    """

    model: Any
    order: NDArray[np.int64]
    labels: tuple[str, ...]

    @property
    def n_components(self) -> int:
        """Number of Gaussian components."""
        return len(self.labels)

    @property
    def weights(self) -> NDArray[np.float64]:
        """Weights in labelled order."""
        return np.asarray(self.model.weights_)[self.order]

    @property
    def means(self) -> NDArray[np.float64]:
        """Means, shape (n_components, n_features), in labelled order."""
        return np.asarray(self.model.means_)[self.order]

    @property
    def covariances(self) -> NDArray[np.float64]:
        """Full covariances, shape (n_components, n_features, n_features), labelled order."""
        return np.asarray(self.model.full_covariances())[self.order]

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Membership probabilities, shape (n_objects, n_components), labelled order."""
        return np.asarray(self.model.predict_proba(X))[:, self.order]

    def components(self, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """JSON-able parameters per label: weight, mean and std per column, covariance."""
        comps = {}
        for i, lab in enumerate(self.labels):
            cov = self.covariances[i]
            comps[lab] = {
                "weight": float(self.weights[i]),
                "mean": dict(zip(columns, self.means[i].tolist(), strict=True)),
                "covariance": cov.tolist(),
                "std": dict(zip(columns, np.sqrt(np.diag(cov)).tolist(), strict=True)),
            }
        return comps

    def summary(self, X: NDArray[np.float64], columns: Sequence[str]) -> dict[str, Any]:
        """JSON-able description: parameters per labelled component and fit statistics."""
        m = self.model
        comps = self.components(columns)
        return {
            "n_components": self.n_components,
            "labels": list(self.labels),
            "components": comps,
            "covariance_order": list(columns),
            "converged": bool(m.converged_),
            "n_iter": int(m.n_iter_),
            "mean_log_likelihood": float(m.score(X)),
            "bic": float(m.bic(X)),
            "aic": float(m.aic(X)),
            "n_parameters": int(m.n_parameters()),
        }


def relabel(model, *, by: int = 0, labels: Sequence[str] | None = None) -> FittedMixture:
    """Order a fitted model's components by their mean in feature ``by`` and label them.

    Default labels are ``c0, c1, ...`` in ascending order of that mean, so the
    labels do not depend on the initialisation.
    """
    means = np.asarray(model.means_)
    order = np.argsort(means[:, by], kind="stable")
    k = len(order)
    if labels is None:
        labels = [f"c{i}" for i in range(k)]
    if len(labels) != k:
        raise SpecError(f"'labels' needs {k} entries; got {len(labels)}", key="labels")
    return FittedMixture(model=model, order=order, labels=tuple(labels))


@dataclass(frozen=True)
class GMMAnalysis:
    """Result of :func:`fit_gmm_selection`.

    Attributes
    ----------
    table : astropy.table.Table
        The input table (unchanged).
    columns : list of str
        The fitted columns (features), in order.
    X : ndarray of shape (n_rows, n_features)
        Their values; rows that cannot be scored hold NaN.
    usable : ndarray of bool, shape (n_rows,)
        Rows used in the fit and scored.
    selection : SelectionResult
        From :func:`bayesmix.em.select_n_components`.
    selected : FittedMixture
        The model chosen by the criterion, relabelled.
    criterion : str
    seed : int
        Seed of every random choice (re-run with it to get the same numbers).
    settings : dict
        The EM settings used.
    warnings : list of str
        Warnings raised while fitting (e.g. non-convergence).
    source : str
        Where the table came from.
    """

    table: Any
    columns: list[str]
    X: NDArray[np.float64]
    usable: NDArray[np.bool_]
    selection: Any
    selected: FittedMixture
    criterion: str
    seed: int
    settings: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    source: str = "table"

    @property
    def n_unscored(self) -> int:
        """Number of rows that could not be scored."""
        return int((~self.usable).sum())

    def model_for(self, n_components: int):
        """Return the fitted candidate model with ``n_components`` components."""
        models = self.selection.models
        if isinstance(models, Mapping):
            return models[n_components]
        ks = [int(k) for k in np.asarray(self.selection.table["n_components"])]
        return list(models)[ks.index(n_components)]

    def selection_rows(self) -> list[dict[str, Any]]:
        """Return the BIC/AIC table as a list of rows (one per candidate)."""
        from bayesmix.workflows.em import selection_rows

        return selection_rows(self.selection)


def fit_gmm_selection(
    table,
    columns: Sequence[str],
    *,
    candidates: Iterable[int] = range(1, 7),
    criterion: str = "bic",
    covariance_type: str = "full",
    n_init: int = 4,
    max_iter: int = 500,
    tol: float = 1e-5,
    rng: int | np.random.Generator | None = None,
    order_by: str | None = None,
    source: str = "table",
    progress: Callable[[str], None] | None = None,
    verbose: bool = False,
) -> GMMAnalysis:
    """Fit Gaussian mixtures to table columns and select the number of components.

    Parameters
    ----------
    table : astropy.table.Table
        Input rows.  Rows with a missing or non-finite value in ``columns``
        are left out of the fit and get NaN memberships (they are counted,
        never dropped from the output).
    columns : sequence of str
        Numeric columns to model (the features).
    candidates : iterable of int, default 1..6
        Numbers of components to try.
    criterion : {"bic", "aic"}, default "bic"
        Lower is better.
    covariance_type : {"full", "diag", "spherical", "tied"}, default "full"
    n_init : int, default 4
        EM restarts per candidate (k-means++ seeded); the best is kept.
    max_iter : int, default 500
    tol : float, default 1e-5
        Convergence threshold on the change of the mean log-likelihood.
    rng : int, numpy Generator or None
        Seed.  None draws a fresh seed, which is recorded in the result.
    order_by : str, optional
        Column whose component means order the labels ``c0, c1, ...``
        (ascending); default the first column.
    source : str, default "table"
        Name of the table in messages.
    progress : callable, optional
        Called with a short message before long steps.
    verbose : bool, default False
        Let EM report every restart on stderr (progress for long fits).

    Returns
    -------
    GMMAnalysis

    Raises
    ------
    DataError
        Unknown or non-numeric columns; fewer usable rows than the largest
        candidate.
    SpecError
        Bad options.
    """
    from bayesmix.workflows.em import em_settings, select

    columns = [str(c) for c in columns]
    criterion = check_choice(criterion, name="criterion", choices=CRITERIA)
    cands = parse_candidates(list(candidates) if not isinstance(candidates, str) else candidates)
    n_init = check_int(n_init, name="n_init", minimum=1)
    max_iter = check_int(max_iter, name="max_iter", minimum=1)
    if order_by is not None and order_by not in columns:
        raise SpecError(
            f"'order_by' must be one of the fitted columns {columns}; got {order_by!r}",
            key="order_by",
        )
    X, usable = table_to_array(table, columns, source=source)
    n_ok = int(usable.sum())
    if n_ok < max(cands):
        raise DataError(
            f"{source} has {n_ok} usable row(s) in columns {columns} but up to {max(cands)} "
            "components were requested; use fewer components or more rows",
            argument="columns",
        )
    if rng is None:
        seed = derive_seed(np.random.default_rng())
    elif isinstance(rng, np.random.Generator):
        seed = derive_seed(rng)
    else:
        seed = check_int(rng, name="seed", minimum=0)
    options = {"n_components": cands, "criterion": criterion, "covariance_type": covariance_type}
    settings = em_settings({**options, "n_init": n_init, "max_iter": max_iter, "tol": tol})
    if progress is not None:
        progress(
            f"fitting Gaussian mixtures with {', '.join(map(str, cands))} components to "
            f"{n_ok} rows of {', '.join(columns)} ({n_init} EM starts each, seed {seed})"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sel = select(X[usable], settings, seed=seed, verbose=verbose)
    messages = []
    for w in caught:
        msg = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if msg not in messages:
            messages.append(msg)
    by = columns.index(order_by) if order_by is not None else 0
    return GMMAnalysis(
        table=table,
        columns=columns,
        X=X,
        usable=usable,
        selection=sel,
        selected=relabel(sel.best, by=by),
        criterion=criterion,
        seed=seed,
        settings=settings,
        warnings=messages,
        source=source,
    )


def membership_table(
    table,
    fitted: FittedMixture,
    X: NDArray[np.float64],
    usable: NDArray[np.bool_],
    *,
    prefix: str = "p_",
    label_column: str = "component",
    unscored_reason: str | None = None,
):
    """Return a copy of ``table`` with membership columns added.

    Parameters
    ----------
    table : astropy.table.Table
        Input rows; kept in order with every column untouched.
    fitted : FittedMixture
    X : ndarray of shape (n_rows, n_features)
    usable : ndarray of bool, shape (n_rows,)
        Rows to score; the others get NaN probabilities, an empty label and
        an ``unscored_reason`` column (added only when some row is unscored).
    prefix : str, default ``"p_"``
        Probability columns are ``<prefix><label>``.
    label_column : str, default ``"component"``
        Column holding the most probable component's label.
    unscored_reason : str, optional
        Text for unscored rows (default: says which columns were missing).

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    DataError
        If a new column name already exists in ``table``.
    """
    from astropy.table import Table

    out = Table(table, copy=True)
    new = [f"{prefix}{lab}" for lab in fitted.labels] + [label_column]
    clash = [c for c in new if c in out.colnames]
    if clash:
        raise DataError(
            f"the input table already has a column named {clash[0]!r}; rename it so that the "
            "membership columns do not replace input data",
            argument="table",
        )
    n = len(out)
    proba = np.full((n, fitted.n_components), np.nan)
    if usable.any():
        proba[usable] = fitted.predict_proba(X[usable])
    labels = np.array(fitted.labels)
    best = np.full(n, "", dtype=f"<U{max(len(s) for s in fitted.labels)}")
    if usable.any():
        best[usable] = labels[np.argmax(proba[usable], axis=1)]
    for j, lab in enumerate(fitted.labels):
        out[f"{prefix}{lab}"] = proba[:, j]
    out[label_column] = best
    if not usable.all():
        reason = unscored_reason or "missing or non-finite value in a fitted column"
        out["unscored_reason"] = np.where(usable, "", reason)
    return out


def analysis_summary(analysis: GMMAnalysis) -> dict[str, Any]:
    """JSON-able summary of an analysis, as ``summary.json`` of an EM run records it."""
    from bayesmix.workflows.em import selected_summary
    from bayesmix.workflows.outputs import count_reasons

    n = len(analysis.table)
    n_used = int(analysis.usable.sum())
    reasons = count_reasons(
        np.where(
            analysis.usable,
            "",
            f"missing or non-finite value in {', '.join(analysis.columns)}",
        )
    )
    sel = analysis.selected
    return {
        "data": {
            "source": analysis.source,
            "n_rows": n,
            "n_used": n_used,
            "n_unscored": n - n_used,
            "unscored_reasons": reasons,
        },
        "source": analysis.source,
        "columns": analysis.columns,
        "n_rows": n,
        "n_used": n_used,
        "n_unscored": n - n_used,
        "seed": analysis.seed,
        "settings": analysis.settings,
        "selection": analysis.selection_rows(),
        "selected_is_largest_candidate": sel.n_components == max(analysis.settings["candidates"]),
        "selected": selected_summary(sel, analysis.selection, analysis.columns, n_used),
        "warnings": analysis.warnings,
    }


def format_report(analysis: GMMAnalysis) -> str:
    """Return the readable report of an analysis (BIC/AIC table, chosen model), as ``gmm fit``."""
    from bayesmix.workflows.em import em_report

    return em_report(analysis_summary(analysis))


def describe_components(fitted: FittedMixture, columns: Sequence[str]) -> list[str]:
    """Lines describing each component: weight, mean, standard deviations, correlation."""
    from bayesmix.workflows.em import describe_lines

    return describe_lines(
        {
            "labels": list(fitted.labels),
            "components": fitted.components(columns),
            "covariance_order": list(columns),
        }
    )
