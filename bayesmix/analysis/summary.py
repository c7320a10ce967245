"""Posterior summaries of any fit: per-parameter table, thinning, units of cluster quantities.

These functions read only the :class:`~bayesmix.inference.Fit` they are given;
they are used by the ``bayesmix run`` reports and work on any builder's fit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

__all__ = ["parameter_summary", "summarize_draws", "thin_draws", "unit_of"]


def parameter_summary(fit: Any) -> dict[str, dict[str, float | None]]:
    """Mean, sd, quantiles, R-hat and ESS of every scalar element of every posterior variable.

    Parameters
    ----------
    fit : Fit
        A sampled model (:func:`bayesmix.inference.sample`).

    Returns
    -------
    dict
        ``label -> {"mean", "sd", "q03", "q16", "q50", "q84", "q97", "r_hat",
        "ess_bulk", "ess_tail"}`` in the variable's own unit.  Labels are the
        variable name, with the element's coordinates for non-scalar variables
        (``"weights[cluster]"``, ``"cov_chol[0, x, x]"``).  Elements constant over
        all draws (e.g. the zero upper triangle of a Cholesky factor) are left
        out; R-hat or ESS that cannot be computed are None.

    Notes
    -----
    R-hat is the rank-normalised split R-hat and the ESS are the bulk and tail
    effective sample sizes of Vehtari et al. (2021), from
    :mod:`bayesmix.inference.convergence` (the tail ESS at the 5 and 95 % quantiles, as
    ``bayesmix.inference.diagnostics`` reports it).

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. 2021,
    Bayesian Analysis 16, 667.
    """
    from bayesmix.inference.convergence import posterior_diagnostics

    post = fit.posterior
    diag = posterior_diagnostics(post)
    out: dict[str, dict[str, float | None]] = {}
    for name in post.data_vars:
        da = post[name].transpose("chain", "draw", ...)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        vals = np.asarray(da.values, dtype=np.float64).reshape(
            da.sizes["chain"] * da.sizes["draw"], -1
        )
        r = np.asarray(diag[name]["r_hat"], dtype=float).reshape(-1)
        eb = np.asarray(diag[name]["ess_bulk"], dtype=float).reshape(-1)
        et = np.asarray(diag[name]["ess_tail"], dtype=float).reshape(-1)
        coords = [list(da[d].values) for d in extra]
        for j in range(vals.shape[1]):
            col = vals[:, j]
            if extra:
                idx = np.unravel_index(j, [len(c) for c in coords])
                label = f"{name}[{', '.join(str(coords[i][k]) for i, k in enumerate(idx))}]"
            else:
                label = name
            if np.ptp(col) == 0:
                continue  # e.g. the zero upper triangle of a Cholesky factor
            q = np.percentile(col, [3, 16, 50, 84, 97])
            out[label] = {
                "mean": float(col.mean()),
                "sd": float(col.std(ddof=1)),
                "q03": float(q[0]),
                "q16": float(q[1]),
                "q50": float(q[2]),
                "q84": float(q[3]),
                "q97": float(q[4]),
                "r_hat": float(r[j]) if np.isfinite(r[j]) else None,
                "ess_bulk": float(eb[j]) if np.isfinite(eb[j]) else None,
                "ess_tail": float(et[j]) if np.isfinite(et[j]) else None,
                "unit": unit_of(str(name)),
            }
    return out


def thin_draws(fit: Any, max_draws: int) -> Any:
    """Return ``fit`` keeping every k-th draw of each chain, at most ``max_draws`` in all.

    Parameters
    ----------
    fit : Fit
        A sampled model.
    max_draws : int
        Largest number of draws (over all chains) to keep.

    Returns
    -------
    Fit
        ``fit`` itself when it has at most ``max_draws`` draws; otherwise a copy
        whose posterior holds draws 0, k, 2k, ... of every chain, with
        k = ceil(n_chains * n_draws / max_draws).  Only the ``posterior`` group
        is kept.
    """
    import xarray as xr

    post = fit.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    step = -(-total // max_draws)
    if step == 1:
        return fit
    tree = xr.DataTree.from_dict({"posterior": post.isel(draw=slice(None, None, step))})
    return replace(fit, idata=tree)


#: dimensionless quantities of a cluster fit (counts, fractions, shape parameters)
_DIMENSIONLESS = (
    "n_members",
    "cluster_fraction",
    "weights",
    "field_weights",
    "field_alpha",
    "field_beta",
)


def unit_of(name: str) -> str | None:
    """Return the unit of a posterior quantity from its name (``""`` when dimensionless).

    Parameters
    ----------
    name : str
        A posterior variable, a :func:`~bayesmix.analysis.cluster_summary` entry or a
        ``[reference]`` key (an element label such as ``"weights[cluster]"`` is read by its
        variable), e.g. ``"cluster_pmra"`` (mas/yr), ``"cluster_parallax"`` (mas),
        ``"cluster_distance_pc"`` and ``"cluster_galcen_x_pc"`` (pc),
        ``"cluster_icrs_vx_kms"`` and ``"cluster_radial_velocity_dispersion"`` (km/s),
        ``"cluster_ra"`` (deg), ``"field_length_scale"`` (kpc), ``"n_members"`` (``""``).

    Returns
    -------
    str or None
        The unit, ``""`` for counts, fractions and other dimensionless quantities, None
        when the name does not say (e.g. a line fit's ``slope``, in units of y per x, or
        the free field's ``field_means`` over features of different units).
    """
    name = name.split("[", 1)[0]
    if name in _DIMENSIONLESS:
        return ""
    if name.endswith("_pc"):
        return "pc"
    if name.endswith("_kms") or "radial_velocity" in name:
        return "km/s"
    if name == "field_length_scale":
        return "kpc"
    if "parallax" in name or name == "zero_point":
        return "mas"
    if name.startswith("cluster_") and ("pm" in name or name == "cluster_chol"):
        return "mas/yr"
    if name.endswith(("_ra", "_dec", "_radius")):
        return "deg"
    return None


def summarize_draws(draws: Any, *, interval: float = 0.9) -> dict[str, Any]:
    """Mean, sd and central interval of draws, over the draws where the quantity is defined.

    Parameters
    ----------
    draws : array-like
        Draws of one scalar quantity (any shape; flattened); NaN marks a draw where the
        quantity is undefined (e.g. a distance for a non-positive parallax).
    interval : float, default 0.9
        Central credible interval.

    Returns
    -------
    dict
        ``mean``, ``sd`` (ddof 1; NaN with fewer than 2 defined draws), ``lower``,
        ``upper`` over the defined draws (all NaN when none is); when some draws are
        undefined, also ``n_undefined`` and ``n_draws``.
    """
    x = np.asarray(draws, dtype=float).ravel()
    ok = np.isfinite(x)
    n_ok = int(ok.sum())
    nan = float("nan")
    if n_ok == 0:
        out = {"mean": nan, "sd": nan, "lower": nan, "upper": nan}
    else:
        v = x[ok]
        lo, hi = np.percentile(v, [(1 - interval) / 2 * 100, (1 + interval) / 2 * 100])
        out = {
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if n_ok > 1 else nan,
            "lower": float(lo),
            "upper": float(hi),
        }
    if n_ok < x.size:
        out |= {"n_undefined": int(x.size - n_ok), "n_draws": int(x.size)}
    return out
