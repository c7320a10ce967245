"""Monte Carlo membership probabilities from posterior draws.

For posterior draws theta_s (s = 1..S) of a mixture with weights w and
component densities p_k (DESIGN.md),

    p(q_n = k | data) ~= (1/S) sum_s exp( ln w_k,s + ln p_k(y_n | theta_s)
                                          - logsumexp_j [ln w_j,s + ln p_j(y_n | theta_s)] ).

The weights are included and everything stays in log space until the
normalised per-draw responsibilities are exponentiated, so objects thousands
of sigma from every component get well-defined probabilities.  The draws are
streamed in chunks: memory is O(n_objects x n_components x chunk_size), never
O(draws x objects x components).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._validate import check_choice, check_int
from bayesmix.components.mixture import log_responsibilities
from bayesmix.exceptions import DataError

__all__ = ["QUANTILES", "PosteriorDraws", "membership", "posterior_values", "to_table"]

#: default number of float64 values held per chunk (32 MiB)
_CHUNK_ELEMENTS = 2**22
#: default number of float64 values held per object block for exact percentiles (32 MiB)
_QUANTILE_ELEMENTS = 2**22
#: the percentiles over draws that :func:`membership` reports with ``quantiles=True``
QUANTILES = (16.0, 50.0, 84.0)


def posterior_values(fit, var_names) -> dict[str, np.ndarray]:
    """Posterior draws of ``var_names`` flattened to a leading draw axis (chain-major)."""
    post = fit.posterior
    out = {}
    for name in var_names:
        v = np.asarray(post[name].transpose("chain", "draw", ...).values, dtype=np.float64)
        out[name] = v.reshape((-1,) + v.shape[2:])
    return out


@dataclass(frozen=True, eq=False)
class PosteriorDraws:
    """Posterior draws plus what scoring new objects needs, without the PyMC model.

    A small, picklable record (the draws and the builder's numpy scoring
    functions; no ``pymc.Model``, no training data) that :func:`membership`
    accepts in place of a Fit: what Dask workers receive to score partitions
    (:func:`bayesmix.scale.membership`).

    Attributes
    ----------
    values : mapping of str to ndarray
        Draws of each of ``var_names``, flattened to a leading draw axis
        (chain-major), as from :func:`posterior_values`.
    var_names : tuple of str
        The posterior variables the component log-densities need.
    component_labels : tuple of str
        Labels of the components, in order.
    log_terms : callable
        The builder's ``log_terms(values, data, *, backend)`` (see
        :class:`~bayesmix.builders.MixtureModel`).
    prepare_rows : callable
        The builder's ``prepare_rows(data) -> (arrays, rows)`` validating new
        objects' data.
    spec : mapping
        The builder's JSON-able record (name and arguments).
    """

    values: Mapping[str, NDArray[np.float64]]
    var_names: tuple[str, ...]
    component_labels: tuple[str, ...]
    log_terms: Callable[..., Any]
    prepare_rows: Callable[..., Any]
    spec: Mapping[str, Any]

    @classmethod
    def from_fit(cls, fit) -> PosteriorDraws:
        """Return the record of a Fit (anything with ``model`` and ``posterior``)."""
        mm = fit.model
        return cls(
            values=posterior_values(fit, mm.var_names),
            var_names=tuple(mm.var_names),
            component_labels=tuple(mm.component_labels),
            log_terms=mm.log_terms,
            prepare_rows=mm.prepare_rows,
            spec=dict(mm.spec),
        )

    @property
    def n_draws(self) -> int:
        """Number of posterior draws."""
        return int(next(iter(self.values.values())).shape[0])

    def prepare_data(self, data: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Validate new objects' data as the builder does; return ``(data, ids)``."""
        arrays, rows = self.prepare_rows(data)
        return arrays, rows.ids

    def log_responsibilities(self, values, data) -> NDArray[np.float64]:
        """Per-draw log responsibilities, shape (n_draws in ``values``, K, n_objects)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lw, lps = self.log_terms(values, data, backend="numpy")
            return log_responsibilities(lw, lps, backend="numpy")


def _percentiles(p: np.ndarray, qs) -> np.ndarray:
    """Percentiles over axis 0 (numpy's default 'linear' method), shape (len(qs), ...).

    Sorting a contiguous copy along the last axis is ~8x faster than
    ``np.percentile(p, qs, axis=0)`` (which partitions once per quantile).
    """
    a = np.sort(np.moveaxis(p, 0, -1), axis=-1)
    n = a.shape[-1]
    out = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        t = pos - lo
        out.append(a[..., lo] + (a[..., hi] - a[..., lo]) * t)
    return np.stack(out)


def _block(data: Mapping[str, np.ndarray], sl: slice) -> dict[str, np.ndarray]:
    return {k: v[sl] for k, v in data.items()}


def membership(
    fit,
    data: Mapping[str, Any] | None = None,
    *,
    chunk_size: int | None = None,
    quantiles: bool = True,
    max_quantile_elements: int = _QUANTILE_ELEMENTS,
):
    """Per-object, per-component membership probabilities from a Fit.

    Parameters
    ----------
    fit : Fit or PosteriorDraws
        Result of :func:`bayesmix.sample`, or its :class:`PosteriorDraws`.
    data : mapping, optional
        Data of objects to score, keyed as the builder's arguments (e.g.
        ``{"x": ..., "y": ..., "y_err": ..., "ids": ...}`` for
        :func:`~bayesmix.builders.line_outlier`, ``{"X": ..., "X_err": ...}``
        for :func:`~bayesmix.builders.gaussian_mixture`); validated like the
        builder's input.  Default (a Fit only): the objects the model was
        fitted to.
    chunk_size : int, optional
        Posterior draws per chunk (default: as many as fit in 2**22 values of
        shape (chunk, n_components, n_objects), i.e. 32 MiB).
    quantiles : bool, default True
        Also compute the 16th, 50th and 84th percentiles over draws.
    max_quantile_elements : int, default 2**22
        Memory bound (in float64 values, default 32 MiB) of the percentile
        pass, which evaluates all draws for blocks of objects.

    Returns
    -------
    xarray.Dataset
        Over (``object``, ``component``): ``probability`` (the posterior mean
        above), ``probability_sd`` (standard deviation over draws of the
        per-draw responsibility), and, with ``quantiles``, ``probability_q16``,
        ``probability_q50``, ``probability_q84``.  Attributes: ``n_draws``,
        ``chunk_size``, ``n_unscored`` (objects with zero density under every
        component in some draw; their values are NaN).

    Notes
    -----
    Mean and standard deviation are accumulated over draw chunks with Chan et
    al.'s pairwise update (stable, exact to rounding).  The percentiles are
    exact too, not approximated: a second pass streams over blocks of objects,
    holding all S draws for ``max_quantile_elements // (S K)`` objects at a
    time, so memory stays bounded whatever N and S are; the price is a second
    evaluation of the component densities.

    References
    ----------
    Hogg, D. W., Bovy, J. & Lang, D. 2010, arXiv:1008.4686, eq. 19.
    Chan, T. F., Golub, G. H. & LeVeque, R. J. 1983, Am. Stat. 37, 242.
    """
    import xarray as xr

    if isinstance(fit, PosteriorDraws):
        draws = fit
        if data is None:
            raise DataError(
                "'data' is required with PosteriorDraws (it holds no objects); pass the "
                "objects to score",
                argument="data",
            )
        d, ids = draws.prepare_data(data)
    else:
        draws = PosteriorDraws.from_fit(fit)
        mm = fit.model
        if data is None:
            d, ids = dict(mm.data), np.asarray(mm.coords["object"])
        else:
            d, ids = mm.prepare_data(data)
    values = draws.values
    S = draws.n_draws
    K = len(draws.component_labels)
    N = len(ids)
    if chunk_size is None:
        chunk_size = max(1, min(S, _CHUNK_ELEMENTS // max(1, K * N)))
    chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)

    count = 0
    mean = np.zeros((K, N))
    m2 = np.zeros((K, N))
    for start in range(0, S, chunk_size):
        chunk = {k: v[start : start + chunk_size] for k, v in values.items()}
        p = np.exp(draws.log_responsibilities(chunk, d))
        c = p.shape[0]
        c_mean = p.mean(axis=0)
        c_m2 = np.square(p - c_mean).sum(axis=0)
        delta = c_mean - mean
        tot = count + c
        mean = mean + delta * (c / tot)
        m2 = m2 + c_m2 + np.square(delta) * (count * c / tot)
        count = tot
    sd = np.sqrt(m2 / count)

    dims = ("object", "component")
    coords = {"object": ids, "component": list(draws.component_labels)}
    out = {"probability": (dims, mean.T), "probability_sd": (dims, sd.T)}
    if quantiles:
        qs = np.empty((len(QUANTILES), K, N))
        block = max(1, int(max_quantile_elements) // max(1, S * K))
        for start in range(0, N, block):
            sl = slice(start, min(N, start + block))
            p = np.exp(draws.log_responsibilities(values, _block(d, sl)))
            qs[:, :, sl] = _percentiles(p, QUANTILES)
        for q, arr in zip(QUANTILES, qs, strict=True):
            out[f"probability_q{int(q)}"] = (dims, arr.T)
    unscored = ~np.isfinite(mean).all(axis=0)
    return xr.Dataset(
        out,
        coords=coords,
        attrs={
            "n_draws": int(S),
            "chunk_size": int(chunk_size),
            "n_unscored": int(unscored.sum()),
            "formula": "mean over draws of exp(ln w_k + ln p_k - logsumexp_j(ln w_j + ln p_j))",
        },
    )


def to_table(ds, *, kind: str = "astropy"):
    """Turn a :func:`membership` Dataset into a table, one row per object.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`membership`.
    kind : {"astropy", "pandas"}, default "astropy"

    Returns
    -------
    astropy.table.Table or pandas.DataFrame
        Column ``object`` (ids, input order), then for each component label L:
        ``p_L``, ``p_L_sd`` and, when present, ``p_L_q16``, ``p_L_q50``, ``p_L_q84``.
    """
    kind = check_choice(kind, name="kind", choices={"astropy", "pandas"})
    cols: dict[str, np.ndarray] = {"object": np.asarray(ds["object"].values)}
    suffixes = [("probability", ""), ("probability_sd", "_sd")] + [
        (f"probability_q{int(q)}", f"_q{int(q)}") for q in QUANTILES
    ]
    for label in ds["component"].values.tolist():
        for var, suffix in suffixes:
            if var in ds:
                cols[f"p_{label}{suffix}"] = np.asarray(ds[var].sel(component=label).values)
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame(cols)
    from astropy.table import Table

    return Table(cols)


class _CallableModule(types.ModuleType):
    """Module type that makes ``bayesmix.membership`` callable as :func:`membership`.

    ``bayesmix.membership`` is both this submodule and the public function: once
    the submodule is imported, Python binds the package attribute to the module,
    so calling the module forwards to the function and both spellings work.
    """

    def __call__(self, *args, **kwargs):
        return membership(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
