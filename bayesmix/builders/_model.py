"""The :class:`MixtureModel` record every builder returns, and its :class:`RowRecord`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix.components.mixture import log_joint
from bayesmix.gaia import UsedRows

__all__ = ["ComponentSpec", "MixtureModel", "RowRecord"]


@dataclass(frozen=True)
class ComponentSpec:
    """Description of one mixture component inside a built model.

    Attributes
    ----------
    label : str
        The component's label on the ``component`` dim (e.g. ``"outlier"``).
    component : Component
        The component object whose ``logp`` is evaluated.
    parameters : mapping of str to str
        How each of the component's parameters is computed from model variables
        and data (human-readable, e.g. ``{"mean": "slope * x + intercept"}``).
    """

    label: str
    component: Any
    parameters: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class RowRecord(UsedRows):
    """Which input rows became a model's objects, and why the other rows did not.

    Every builder records it (:attr:`MixtureModel.rows`), so that reports and
    output tables can put each input row back in its place without re-reading
    the input.  A builder given arrays uses every row; :func:`cluster_field`,
    given a table, leaves out rows missing a value it needs.

    Attributes
    ----------
    used : ndarray of bool, shape (n_rows,)
        Which input rows are objects of the model (in input order; the objects
        are the used rows, in the same order).
    reasons : ndarray of str, shape (n_rows,)
        Empty for used rows; else why the row is not used (e.g.
        ``"missing pmra, pmra_error"``).
    all_ids : ndarray of shape (n_rows,)
        Id of every input row (Gaia ``source_id``, the ``ids`` given, else the
        row number).
    columns : mapping of str to array, default {}
        The input table's columns (every row), kept for output tables; empty
        when the builder was given arrays.
    masks : mapping of str to ndarray of bool, default {}
        Named subsets of the objects, each of shape (n_objects,) in object
        order.  :func:`~bayesmix.builders.cluster_field` records ``"control"``,
        the stars its fixed (XD) field was fitted to.

    ``n_rows``, ``n_excluded`` and ``column(name)`` come from
    :class:`bayesmix.gaia.UsedRows`, as for :class:`bayesmix.gaia.GaiaData`.
    """

    used: NDArray[np.bool_]
    reasons: NDArray[np.str_]
    all_ids: NDArray[Any]
    columns: Mapping[str, Any] = field(default_factory=dict, repr=False)
    masks: Mapping[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_ids(cls, ids: NDArray[Any]) -> RowRecord:
        """Record of a model built from every row (ids in row order), with no table."""
        ids = np.asarray(ids)
        return cls(
            used=np.ones(ids.shape[0], dtype=bool),
            reasons=np.full(ids.shape[0], "", dtype=str),
            all_ids=ids,
        )

    @property
    def ids(self) -> NDArray[Any]:
        """Ids of the used rows, i.e. of the model's objects (``coords["object"]``)."""
        return self.all_ids[self.used]


@dataclass(frozen=True, eq=False)
class MixtureModel:
    """A built PyMC mixture model plus what scoring, plotting and reloading need.

    Attributes
    ----------
    model : pymc.Model
        The model, with named dims ``object``, ``component`` (and ``feature``).
    components : tuple of ComponentSpec
        One entry per component, in the order of the ``component`` dim.
    coords : mapping of str to tuple
        The model's coordinates.
    data : mapping of str to numpy.ndarray
        The validated data arrays the model was built from.
    spec : mapping
        JSON-able record of the builder name and its arguments (priors included).
    var_names : tuple of str
        Posterior variables needed to evaluate the component log-densities.
    log_terms : callable
        ``log_terms(values, data, *, backend) -> (log_weights, [logp_k])``: the
        same function builds the likelihood inside PyMC (``backend="pytensor"``)
        and scores objects from posterior draws (``backend="numpy"``, values with
        a leading draw axis).
    prepare_rows : callable
        ``prepare_rows(table) -> (data, rows)``: validates new objects' data
        (a table or mapping of columns, as the builder takes) the way the
        builder validated its own; ``data`` holds the usable rows' arrays and
        ``rows`` is the :class:`RowRecord` of every row of ``table`` (which
        were used, their ids, why the others were not).
    rows : RowRecord
        The builder's own input rows: which were used, their ids, why the
        others were not, and named subsets (``rows.masks``).
    """

    model: Any
    components: tuple[ComponentSpec, ...]
    coords: Mapping[str, tuple]
    data: Mapping[str, np.ndarray]
    spec: Mapping[str, Any]
    var_names: tuple[str, ...]
    log_terms: Callable[..., Any] = field(repr=False)
    prepare_rows: Callable[..., Any] = field(repr=False)
    rows: RowRecord = field(repr=False)

    @property
    def component_labels(self) -> tuple[str, ...]:
        """Labels of the components, in order."""
        return tuple(c.label for c in self.components)

    def prepare_data(self, data: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Validate new objects' data; return ``(data, ids)`` of the usable ones.

        Parameters
        ----------
        data : table or mapping of str to array-like
            What the builder takes (e.g. ``{"x": ..., "y": ..., "y_err": ...}``
            for :func:`~bayesmix.builders.line_outlier`, a Gaia table for
            :func:`~bayesmix.builders.cluster_field`).

        Returns
        -------
        data : dict of str to ndarray
        ids : ndarray
            Ids of the objects in ``data`` (see :meth:`prepare_rows` for the rows
            that were left out and why).
        """
        arrays, rows = self.prepare_rows(data)
        return arrays, rows.ids

    @property
    def n_objects(self) -> int:
        """Number of objects the model was built from."""
        return len(self.coords["object"])

    def log_joint(
        self,
        values: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        backend: str = "numpy",
    ) -> Any:
        """Return ``ln w_k + ln p_k(y_n)``, shape (..., n_components, n_objects).

        Parameters
        ----------
        values : mapping of str to array
            Values of ``var_names``, each with the same leading batch axes
            (e.g. a chunk of posterior draws).
        data : mapping of str to array, optional
            Data arrays (default: the model's own data).
        backend : {"numpy", "pytensor"}
        """
        lw, lps = self.log_terms(values, self.data if data is None else data, backend=backend)
        return log_joint(lw, lps, backend=backend)

    def pgm(self, **kwargs: Any):
        """Draw the model as a probabilistic graphical model (deprecated).

        .. deprecated::
            Use :func:`bayesmix.plot.plot_pgm` (``plot_pgm(mixture_model)``); only
            :mod:`bayesmix.plot` draws.

        Parameters
        ----------
        **kwargs
            Passed to :func:`bayesmix.plot.plot_pgm`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        warnings.warn(
            "MixtureModel.pgm() moved to bayesmix.plot.plot_pgm(mixture_model); call that instead",
            FutureWarning,
            stacklevel=2,
        )
        from bayesmix.plot.pgm import plot_pgm

        return plot_pgm(self, **kwargs)
