"""The first pass before issue 12 (frozen copy of find_center at e21eb15), for comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError
from bayesmix.gaia import column_values, table_columns

__all__ = ["find_center"]


def _excess_peak(X: np.ndarray, bandwidth: float) -> np.ndarray:
    """Location of the largest excess of density at ``bandwidth`` over density at 4x it.

    Histogram on a grid of bandwidth/2 over the central 98 % of the data, smoothed
    with Gaussian kernels of width h and 4h; the peak of (fine - coarse) picks a
    compact clump, not the broad field maximum.  Refined by mean shift (flat
    kernel of radius 2h, 20 steps).
    """
    from scipy.ndimage import gaussian_filter

    D = X.shape[1]
    lo = np.percentile(X, 1, axis=0)
    hi = np.percentile(X, 99, axis=0)
    step = bandwidth / 2.0
    nb = np.clip(np.ceil((hi - lo) / step).astype(int), 4, 2000)
    hist, edges = np.histogramdd(X, bins=list(nb), range=list(zip(lo, hi, strict=True)))
    fine = gaussian_filter(hist, 2.0, mode="constant")
    coarse = gaussian_filter(hist, 8.0, mode="constant")
    idx = np.unravel_index(np.argmax(fine - coarse), hist.shape)
    c = np.array([0.5 * (edges[d][idx[d]] + edges[d][idx[d] + 1]) for d in range(D)])
    for _ in range(20):
        near = np.sum(np.square(X - c), axis=1) < (2.0 * bandwidth) ** 2
        if near.sum() < 3:
            break
        c = X[near].mean(axis=0)
    return c


def _near(values: np.ndarray, center: np.ndarray, bandwidth: float) -> np.ndarray:
    """Rows with finite values within 2 bandwidths of ``center``."""
    ok = np.isfinite(values).all(axis=1)
    d2 = np.sum(np.square(np.where(ok[:, None], values, 0.0) - center), axis=1)
    return ok & (d2 < (2 * bandwidth) ** 2)


def find_center(
    data: Any,
    features: Sequence[str] = ("pmra", "pmdec"),
    *,
    bandwidth: float = 0.5,
    columns: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Locate a cluster: proper-motion density peak, then its sky centre and features.

    Parameters
    ----------
    data : astropy.table.Table, pandas.DataFrame or mapping
        Gaia-named columns (``pmra``, ``pmdec`` in mas/yr; ``ra``, ``dec`` in deg).
    features : sequence of str
        Features whose cluster value is wanted (e.g. ``("parallax",)``).
    bandwidth : float, default 0.5
        Kernel width (mas/yr, or the feature's unit without proper motions).
    columns : mapping, optional
        Gaia name -> column name (see :func:`bayesmix.gaia.gaia_arrays`).

    Returns
    -------
    dict
        ``center`` (array over ``features``), ``pm_center`` (pmra, pmdec) or None,
        ``sky_center`` (ra, dec in deg) or None, ``selected`` (bool over rows: the
        stars within 2 bandwidths of the proper-motion peak).

    Raises
    ------
    DataError
        A feature's column is missing from ``data``.

    Notes
    -----
    The peak is the maximum of the density excess, density smoothed at
    ``bandwidth`` minus density smoothed at 4 x ``bandwidth``, in the
    proper-motion plane when ``pmra``/``pmdec`` exist (a cluster is a compact
    clump there, while the field is broad), else in ``features``.  It is refined
    by mean shift.  Other features' centres are medians over the stars within
    2 bandwidths of the peak; the sky centre is their circular mean RA and
    median Dec.
    """
    cols = dict(columns or {})
    table = table_columns(data)

    def get(name):
        nm = cols.get(name, name)
        return column_values(table[nm], nm) if nm in table else None

    pmra, pmdec = get("pmra"), get("pmdec")
    if pmra is not None and pmdec is not None:
        P = np.column_stack([pmra, pmdec])
        pm_c = _excess_peak(P[np.isfinite(P).all(axis=1)], bandwidth)
        selected = _near(P, pm_c, bandwidth)
    else:
        pm_c = None
        F = np.column_stack([get(f) for f in features])
        c = _excess_peak(F[np.isfinite(F).all(axis=1)], bandwidth)
        selected = _near(F, c, bandwidth)
    center = []
    for f in features:
        v = get(f)
        if v is None:
            raise DataError(f"'data' has no column {cols.get(f, f)!r}", argument="data")
        sel = selected & np.isfinite(v)
        center.append(float(np.median(v[sel])) if sel.any() else float(np.nanmedian(v)))
    ra, dec = get("ra"), get("dec")
    sky = None
    if ra is not None and dec is not None and selected.any():
        r = np.radians(ra[selected])
        sky = (
            float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0),
            float(np.median(dec[selected])),
        )
    return {"center": np.array(center), "pm_center": pm_c, "sky_center": sky, "selected": selected}
