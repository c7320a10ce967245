"""Bayesian membership probabilities of new objects over Dask, the draws sent once.

A thin adapter over :func:`bayesmix.membership.membership`: the posterior draws
travel as one :class:`~bayesmix.membership.PosteriorDraws` record (no PyMC
model, no training data), scattered to every worker of a distributed client or
put in the graph once; each block of rows is scored by ``membership`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesmix._validate import check_choice
from bayesmix.exceptions import DataError, SpecError
from bayesmix.membership import QUANTILES, PosteriorDraws
from bayesmix.membership import membership as membership_in_memory
from bayesmix.scale._dask import import_dask

__all__ = ["membership", "membership_variables"]


def membership_variables(quantiles: bool) -> list[str]:
    """Return the variables :func:`bayesmix.membership.membership` reports, in order."""
    out = ["probability", "probability_sd"]
    if quantiles:
        out += [f"probability_q{int(q)}" for q in QUANTILES]
    return out


class _MembershipBlock:
    """Picklable block function for :func:`membership` (holds only small options)."""

    def __init__(self, names, nvars, chunk_size, quantiles):
        self.names, self.nvars = names, nvars
        self.chunk_size, self.quantiles = chunk_size, quantiles

    def __call__(self, draws: PosteriorDraws, *arrays):
        data = {k: np.asarray(v) for k, v in zip(self.names, arrays, strict=True)}
        n = next(iter(data.values())).shape[0]
        K = len(draws.component_labels)
        out = np.full((n, K, self.nvars), np.nan)
        ok = np.ones(n, dtype=bool)
        for k, v in data.items():
            if k == "ids":
                continue
            with np.errstate(invalid="ignore"):
                ok &= np.isfinite(np.asarray(v, dtype=np.float64)).reshape(n, -1).all(axis=1)
        if ok.any():
            sub = {k: v[ok] for k, v in data.items()}
            ds = membership_in_memory(
                draws, sub, chunk_size=self.chunk_size, quantiles=self.quantiles
            )
            for j, var in enumerate(membership_variables(self.quantiles)):
                out[ok, :, j] = np.asarray(ds[var].transpose("object", "component").values)
        return out


def _aligned(data: Mapping[str, Any], da) -> tuple[list[str], list[Any]]:
    """Return the non-None arrays of ``data`` as Dask arrays with the first one's rows."""
    names = [k for k, v in data.items() if v is not None]
    arrays: list[Any] = []
    first = None
    for k in names:
        v = data[k]
        if not isinstance(v, da.Array):
            v = da.from_array(np.asarray(v), chunks=(1_000_000,) + (-1,) * (np.ndim(v) - 1))
        if first is None:
            if any(math.isnan(c) for c in v.chunks[0]):
                v = v.compute_chunk_sizes()
            first = v = v.rechunk({i: -1 for i in range(1, v.ndim)})
        else:
            if v.shape[0] != first.shape[0]:
                raise DataError(
                    f"data[{k!r}] must have {first.shape[0]} rows like data[{names[0]!r}]; got "
                    f"{v.shape[0]}",
                    argument="data",
                )
            v = v.rechunk({0: first.chunks[0], **{i: -1 for i in range(1, v.ndim)}})
        arrays.append(v)
    return names, arrays


def _draws_handle(draws: PosteriorDraws, broadcast: str):
    """Return the record scattered to every worker of an active client, or as one task."""
    dask, _ = import_dask()
    client = None
    if broadcast in ("auto", "scatter"):
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
        if client is None and broadcast == "scatter":
            raise SpecError(
                "broadcast='scatter' needs an active dask.distributed client", key="broadcast"
            )
    if client is not None:
        return client.scatter(draws, broadcast=True, hash=False)
    return dask.delayed(draws, pure=False)


def membership(
    fit,
    data: Mapping[str, Any],
    *,
    chunk_size: int | None = None,
    quantiles: bool = True,
    broadcast: str = "auto",
):
    """Lazy Bayesian membership probabilities of new objects, block by block.

    Parameters
    ----------
    fit : Fit or PosteriorDraws
        Result of :func:`bayesmix.sample`, or its
        :class:`~bayesmix.membership.PosteriorDraws`.
    data : mapping of str to dask array
        New objects' data keyed as the builder's arguments (e.g. ``{"X": ...,
        "X_err": ...}`` for ``gaussian_mixture``, ``{"x": ..., "y": ...,
        "y_err": ...}`` for ``line_outlier``), row-aligned Dask arrays (numpy
        arrays are wrapped); rechunked to the first array's rows.
    chunk_size : int, optional
        Posterior draws per chunk inside each block (see
        :func:`bayesmix.membership.membership`).
    quantiles : bool, default True
        Also the 16th, 50th and 84th percentiles over draws.
    broadcast : {"auto", "scatter", "delayed"}, default "auto"
        How the posterior draws reach the workers, once: ``"scatter"`` sends
        them to every worker of the active ``distributed`` client now
        (``client.scatter(..., broadcast=True)``); ``"delayed"`` puts them in
        the graph once as a single task that every block depends on.
        ``"auto"``: scatter when a distributed client is active.

    Returns
    -------
    xarray.Dataset
        Dask-backed variables over (``object``, ``component``):
        ``probability``, ``probability_sd`` and, with ``quantiles``,
        ``probability_q16``/``q50``/``q84``, equal to
        ``bayesmix.membership.membership(fit, data)`` on the same objects.
        Rows with a non-finite value are NaN (``attrs["unscored"]`` explains).
        No ``object`` coordinate (ids would have to be computed).
    """
    import xarray as xr

    _, da = import_dask()
    broadcast = check_choice(broadcast, name="broadcast", choices={"auto", "scatter", "delayed"})
    if not isinstance(data, Mapping) or not data:
        raise DataError(
            "'data' must be a non-empty mapping of argument name to array", argument="data"
        )
    draws = fit if isinstance(fit, PosteriorDraws) else PosteriorDraws.from_fit(fit)
    names, arrays = _aligned(data, da)
    handle = _draws_handle(draws, broadcast)
    vars_ = membership_variables(quantiles)
    K = len(draws.component_labels)
    letters = "abcdefgh"
    args: list[Any] = []
    for v in arrays:
        args += [v, "i" + letters[: v.ndim - 1]]
    fn = _MembershipBlock(tuple(names), len(vars_), chunk_size, bool(quantiles))
    out = da.blockwise(
        fn,
        "ikv",
        handle,
        None,
        *args,
        new_axes={"k": K, "v": len(vars_)},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
    )
    dims = ("object", "component")
    return xr.Dataset(
        {var: (dims, out[:, :, j]) for j, var in enumerate(vars_)},
        coords={"component": list(draws.component_labels)},
        attrs={
            "unscored": "rows with a non-finite value in any data array are NaN",
            "formula": "mean over draws of exp(ln w_k + ln p_k - logsumexp_j(ln w_j + ln p_j))",
        },
    )
