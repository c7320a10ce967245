"""The :class:`MixtureModel` record every builder returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesmix.components.mixture import log_joint

__all__ = ["ComponentSpec", "MixtureModel"]


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
    prepare_data : callable
        ``prepare_data(mapping) -> (data, ids)``: validates new objects' data the
        way the builder validated its own.
    """

    model: Any
    components: tuple[ComponentSpec, ...]
    coords: Mapping[str, tuple]
    data: Mapping[str, np.ndarray]
    spec: Mapping[str, Any]
    var_names: tuple[str, ...]
    log_terms: Callable[..., Any] = field(repr=False)
    prepare_data: Callable[..., Any] = field(repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def component_labels(self) -> tuple[str, ...]:
        """Labels of the components, in order."""
        return tuple(c.label for c in self.components)

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
        """Draw the model as a probabilistic graphical model with daft.

        Random variables are open circles, observed variables shaded, data and
        other fixed quantities small points, deterministics dashed and
        potentials (extra log-density terms) rectangles; variables over the
        ``object`` dim sit in a plate.  The layout follows the model graph:
        each node's row is one below its deepest parent.

        Parameters
        ----------
        **kwargs
            Passed to :class:`daft.PGM` (e.g. ``dpi``, ``node_unit``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from bayesmix.builders._pgm import draw_pgm

        return draw_pgm(self.model, plate_dim="object", **kwargs)
