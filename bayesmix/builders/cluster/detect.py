r"""First pass of :func:`~bayesmix.builders.cluster_field`: is there a cluster, and where.

:func:`detect_cluster` looks for the most *significant compact over-density
against the smooth field*, not the densest peak: a star cluster is a group of
stars at one distance, moving together to about 1 km/s, in a small part of the
sky.  It searches the astrometry (proper motion and, when the table has it,
parallax) over several scales, measures each candidate's excess over its own
surroundings, and tests whether the candidate's stars are concentrated on the
sky compared with stars of similar astrometry.  The result carries a
significance, so a run can say "no cluster found" on an empty field and tell
the user which hint to give.  :func:`find_center` wraps it for the builder: the
centre becomes the prior mean and starting point of the cluster's parameters,
and the sky centre chooses the control field
(:mod:`bayesmix.builders.cluster.field`).

The method, step by step (symbols as in the code):

1. **Apertures.**  With parallaxes, parallax levels :math:`\varpi_j` spaced by
   :math:`\sqrt2` and, at each, ellipsoidal apertures of proper-motion
   half-width :math:`h = v\,\varpi_j/4.74` for velocity half-widths
   :math:`v \in` :data:`VELOCITY_SCALES` (km/s) and parallax half-width
   :math:`h_\varpi = \max(0.15\,\varpi_j, 2\,\mathrm{median}\,\sigma_\varpi)`.
   The aperture is *velocity-resolved* when :math:`h_\varpi \le \varpi_j/3`
   (its stars' distances agree to a factor 2); where it is not (faint stars,
   large errors), a second, resolved aperture uses only the stars with
   :math:`\sigma_\varpi \le \varpi_j/6`.  Without parallaxes: proper-motion
   half-widths :data:`PM_SCALES` (mas/yr), never resolved.
2. **Candidates.**  For seed stars (at most ``n_seeds`` per aperture), the
   count :math:`N_{on}` inside the aperture against :math:`N_{off}` in the shell
   between 2 and 4 aperture radii, scaled by the volume ratio
   :math:`\alpha = 1/(4^D - 2^D)`; Li & Ma (1983, eq. 17) significance
   :math:`z_{pm}`.  The best ``n_per_scale`` separated peaks per aperture are
   refined by mean shift.
3. **Astrometric significance** (resolved apertures only):
   :math:`z_{pm}` turned into a p-value and multiplied by the number of
   (seed, aperture) trials (Bonferroni): :math:`z_A`.  In unresolved
   apertures a smooth field has genuine cusps (distant stars pile up at the
   solar reflex motion: the Pleiades cone's field peak at pm (0.1, -0.9)), so
   their astrometric excess is not evidence.
4. **Sky concentration** of the candidate's stars S against reference stars R
   (the nearest in astrometry beyond 3 aperture radii, matched in G when
   ``phot_g_mean_mag`` exists, at least 4|S|): Li-Ma significance of S against
   R in square sky boxes (half-sides :data:`SKY_FRACTIONS` of the footprint
   radius, on a 64 x 64 grid), maximised over boxes, with R's expected count
   inflated by :data:`SKY_EXCESS` (25 %): field stars of different astrometry
   differ on the sky by that much (extinction, scanning-law and catalogue
   patterns), a cluster by more.  The maximum's null distribution comes from
   ``n_perm`` random relabellings of S and R, fitted by a Gumbel law;
   multiplied by the number of sky tests: :math:`z_S`.
5. **Claim.**  :math:`z = (z_A + z_S)/\sqrt2` for resolved candidates, else
   :math:`z = z_S`; the best candidate is the cluster when :math:`z \ge`
   ``z_min`` (default 5).  Measured behaviour (real fields and injections) is in
   ``docs/cluster_field.md``.

References
----------
Li, T.-P. & Ma, Y.-Q. 1983, ApJ 272, 317.
Cantat-Gaudin, T. et al. 2020, A&A 640, A1.
Hunt, E. L. & Reffert, S. 2021, A&A 646, A104.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix._random import as_generator
from bayesmix.exceptions import DataError
from bayesmix.gaia import column_values, gaia_unit, table_columns
from bayesmix.sky import Footprint, from_tangent_plane

__all__ = [
    "PM_SCALES",
    "SKY_EXCESS",
    "SKY_FRACTIONS",
    "VELOCITY_SCALES",
    "Z_MIN",
    "Detection",
    "detect_cluster",
    "find_center",
    "lima_significance",
]

#: km/s per (mas/yr) / mas: tangential velocity = K_TAN * pm / parallax
K_TAN = 4.740470446
#: velocity half-widths of the astrometric apertures (km/s)
VELOCITY_SCALES = (0.5, 1.0, 2.0, 4.0)
#: proper-motion half-widths (mas/yr) when there are no parallaxes
PM_SCALES = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
#: smallest proper-motion half-width (mas/yr)
PM_MIN = 0.05
#: relative parallax half-width of an aperture (cluster depth plus distance spread)
PARALLAX_RELATIVE = 0.15
#: sky boxes: half-sides as fractions of the footprint's radius
SKY_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
#: sky over-density that field stars of other astrometry may show without a cluster
SKY_EXCESS = 0.25
#: significance at which a cluster is claimed
Z_MIN = 5.0
_EULER = 0.5772156649015329
_SKY_CELLS = 64
#: fewer usable rows than this: no search (find_center falls back to the density peak)
_MIN_ROWS = 20
#: the shell around an aperture is counted on at most this many stars of its pool
_SHELL_STARS = 8000


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Detection:
    """Result of :func:`detect_cluster`.

    Attributes
    ----------
    found : bool
        A cluster is claimed (``significance >= z_min``).
    significance : float
        z of the best candidate after the look-elsewhere correction (NaN when
        nothing could be scored).
    z_astrometry, z_sky : float
        Its astrometric (NaN when not velocity-resolved) and sky significances.
    pm_center : ndarray of shape (2,) or None
        (pmra, pmdec) of the best candidate (mas/yr).
    parallax : float or None
        Its parallax (mas), when parallaxes were used.
    sky_center : (float, float) or None
        (ra, dec) of its sky over-density (deg).
    sky_radius : float or None
        Half-side of the most significant sky box (deg).
    pm_scale, parallax_scale : float or None
        Half-widths of its aperture (mas/yr, mas).
    resolved : bool
        Whether its aperture resolves velocities (see the module notes).
    selected : ndarray of bool, shape (n_rows,)
        Input rows inside its astrometric aperture.
    candidates : tuple of dict
        The scored candidates, best first (floats only; JSON-able).
    method : str
        ``"astrometry+sky"``, ``"astrometry"`` (no positions) or ``"density excess"``
        (no proper motions: no significance).
    message : str
        One line for the user: what was found, or which hint to give.
    """

    found: bool
    significance: float
    z_astrometry: float
    z_sky: float
    pm_center: NDArray[np.float64] | None
    parallax: float | None
    sky_center: tuple[float, float] | None
    sky_radius: float | None
    pm_scale: float | None
    parallax_scale: float | None
    resolved: bool
    selected: NDArray[np.bool_]
    candidates: tuple[dict[str, Any], ...] = field(default=())
    method: str = "astrometry+sky"
    message: str = ""

    @property
    def n_selected(self) -> int:
        """Rows inside the best candidate's aperture."""
        return int(self.selected.sum())

    @property
    def p_value(self) -> float:
        """One-sided p-value of :attr:`significance`."""
        from scipy.stats import norm

        return float(norm.sf(self.significance))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no per-row arrays; the five best candidates)."""

        def f(v):
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "found": bool(self.found),
            "significance": f(self.significance),
            "z_astrometry": f(self.z_astrometry),
            "z_sky": f(self.z_sky),
            "pm_center": None if self.pm_center is None else [float(v) for v in self.pm_center],
            "parallax": f(self.parallax),
            "sky_center": None if self.sky_center is None else list(self.sky_center),
            "sky_radius": f(self.sky_radius),
            "pm_scale": f(self.pm_scale),
            "parallax_scale": f(self.parallax_scale),
            "resolved": bool(self.resolved),
            "n_selected": self.n_selected,
            "method": self.method,
            "message": self.message,
            "candidates": list(self.candidates[:5]),
        }


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def lima_significance(n_on: Any, n_off: Any, alpha: Any) -> NDArray[np.float64]:
    r"""Signed Li & Ma (1983, eq. 17) significance of ``n_on`` counts against ``alpha * n_off``.

    :math:`S = \pm\sqrt2\,\{N_{on}\ln[\tfrac{1+\alpha}{\alpha}\tfrac{N_{on}}{N_{on}+N_{off}}]
    + N_{off}\ln[(1+\alpha)\tfrac{N_{off}}{N_{on}+N_{off}}]\}^{1/2}`, positive for an
    excess.  ``alpha`` is the ratio of the on to the off exposure (here volumes).
    """
    n_on = np.asarray(n_on, dtype=float)
    n_off = np.asarray(n_off, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    tot = n_on + n_off
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(n_on > 0, n_on * np.log((1 + alpha) / alpha * n_on / tot), 0.0)
        b = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / tot), 0.0)
    s = np.sqrt(np.clip(2.0 * (a + b), 0.0, None))
    return np.where(n_on > alpha * n_off, s, -s)


def _gumbel_logsf(t: float, sample: NDArray[np.float64]) -> float:
    """Return log P(T >= t) under a Gumbel law fitted to ``sample`` (maxima) by moments."""
    beta = max(float(np.std(sample, ddof=1)) * math.sqrt(6.0) / math.pi, 1e-9)
    mu = float(np.mean(sample)) - _EULER * beta
    y = (t - mu) / beta
    if y > 30:
        return -y
    return math.log(-math.expm1(-math.exp(-y)))


def _z_from_logp(logp: float) -> float:
    """Return the z of a one-sided log p-value (0 for p >= 0.5; asymptotic beyond exp(-700))."""
    logp = min(logp, math.log(0.5))
    if logp > -700.0:
        from scipy.stats import norm

        return float(norm.isf(math.exp(logp)))
    return float(math.sqrt(-2.0 * logp - math.log(-4.0 * math.pi * logp)))


class _SkyTest:
    """Max Li-Ma of S against R over square sky boxes on a grid (summed-area tables)."""

    def __init__(self, xi: NDArray, eta: NDArray, extent: float):
        n = _SKY_CELLS
        self.lo = np.array([xi.min(), eta.min()])
        self.cell = max(float(np.ptp(xi)), float(np.ptp(eta)), 1e-6) / n
        ix = np.minimum(((xi - self.lo[0]) / self.cell).astype(int), n - 1)
        iy = np.minimum(((eta - self.lo[1]) / self.cell).astype(int), n - 1)
        self.flat = ix * n + iy
        self.half = [max(int(round(f * extent / self.cell)), 1) for f in SKY_FRACTIONS]
        g = np.arange(n)
        self.edges = [(np.clip(g - w, 0, n), np.clip(g + w + 1, 0, n)) for w in self.half]

    def _boxes(self, idx: NDArray) -> list[NDArray]:
        n = _SKY_CELLS
        c = np.zeros((n + 1, n + 1))
        c[1:, 1:] = np.bincount(self.flat[idx], minlength=n * n).reshape(n, n).cumsum(0).cumsum(1)
        return [c[b][:, b] - c[a][:, b] - c[b][:, a] + c[a][:, a] for a, b in self.edges]

    def stat(self, s_idx: NDArray, r_idx: NDArray, excess: float = 0.0) -> tuple[float, int, int]:
        """(max significance, box size index, flat cell index)."""
        alpha = (1.0 + excess) * s_idx.size / r_idx.size
        z = lima_significance(np.stack(self._boxes(s_idx)), np.stack(self._boxes(r_idx)), alpha)
        i = int(np.argmax(z))
        k, cell = divmod(i, _SKY_CELLS * _SKY_CELLS)
        return float(z.flat[i]), k, cell

    def center(self, i: int) -> NDArray:
        ix, iy = divmod(i, _SKY_CELLS)
        return self.lo + (np.array([ix, iy]) + 0.5) * self.cell


# --------------------------------------------------------------------------------------------
# search
# --------------------------------------------------------------------------------------------


def _apertures(A: NDArray, plx_err: NDArray | None) -> list[dict[str, Any]]:
    """Search apertures: metric (1 / half-widths), seed and pool masks, resolved or not."""
    n, D = A.shape
    if D == 2:
        return [
            {
                "metric": np.array([1 / h, 1 / h]),
                "h_pm": h,
                "h_plx": None,
                "resolved": False,
                "seed": np.ones(n, bool),
                "pool": np.ones(n, bool),
            }
            for h in PM_SCALES
        ]
    plx = A[:, 2]
    has_err = plx_err is not None and bool(np.isfinite(plx_err).any())
    floor = 2.0 * float(np.nanmedian(plx_err)) if has_err else 0.1
    lo = max(
        float(np.percentile(plx, 1)), 0.05, 3.0 * float(np.nanmin(plx_err)) if has_err else floor
    )
    hi = max(float(np.percentile(plx, 99.9)), lo)
    levels = lo * np.sqrt(2.0) ** np.arange(int(np.ceil(2 * np.log2(hi / lo))) + 1)
    out = []
    for j, pj in enumerate(levels):
        h_all = max(PARALLAX_RELATIVE * pj, floor)
        variants = [(h_all, np.ones(n, bool), h_all <= pj / 3.0)]
        if has_err and h_all > pj / 3.0:
            # velocity-resolved search among the stars whose parallaxes resolve this level
            good = plx_err <= pj / 6.0
            near = good & (np.abs(plx - pj) < 0.5 * pj)
            if near.sum() >= 20:
                h_good = min(
                    max(PARALLAX_RELATIVE * pj, 2.0 * float(np.median(plx_err[near]))), pj / 3.0
                )
                variants.append((h_good, good, True))
        lo_seed = pj / 2**0.25 if j else -np.inf
        for h_plx, subset, resolved in variants:
            seed = subset & (plx >= lo_seed) & (plx < pj * 2**0.25)
            pool = subset & (np.abs(plx - pj) < 5 * h_plx)
            for h in sorted({max(v * pj / K_TAN, PM_MIN) for v in VELOCITY_SCALES}):
                out.append(
                    {
                        "metric": np.array([1 / h, 1 / h, 1 / h_plx]),
                        "h_pm": h,
                        "h_plx": h_plx,
                        "resolved": resolved,
                        "seed": seed,
                        "pool": pool,
                    }
                )
    return out


def _candidates(A: NDArray, plx_err, gen, n_seeds: int, n_per_scale: int):
    """Local Li-Ma peaks of the aperture counts against their shells, refined by mean shift."""
    D = A.shape[1]
    alpha = 1.0 / (4**D - 2**D)
    cand: list[dict[str, Any]] = []
    n_trials = 0
    for ap in _apertures(A, plx_err):
        pool = np.flatnonzero(ap["pool"])
        seeds = np.flatnonzero(ap["seed"])
        if seeds.size < 5:
            continue
        if seeds.size > n_seeds:
            seeds = np.sort(gen.choice(seeds, n_seeds, replace=False))
        m = ap["metric"]
        from scipy.spatial import cKDTree

        tree = cKDTree(A[pool] * m)
        Y = A[seeds] * m
        n_trials += seeds.size
        n1 = np.asarray(tree.query_ball_point(Y, 1.0, return_length=True))
        # the shell is counted on a random subset of a large pool (its fraction q scales
        # alpha): same statistic, thinned background
        q = min(1.0, _SHELL_STARS / pool.size)
        shell = (
            tree
            if q == 1.0
            else cKDTree(A[np.sort(gen.choice(pool, int(q * pool.size), replace=False))] * m)
        )
        n2 = np.asarray(shell.query_ball_point(Y, 2.0, return_length=True))
        n4 = np.asarray(shell.query_ball_point(Y, 4.0, return_length=True))
        z = lima_significance(n1, n4 - n2, alpha / q)
        z[n1 < 5] = -np.inf
        picked: list[NDArray] = []
        for i in np.argsort(-z, kind="stable"):
            if len(picked) >= n_per_scale or not z[i] > 2.0:
                break
            c = A[seeds[i]].copy()
            if any(np.sum(np.square((c - p) * m)) < 4.0 for p in picked):
                continue
            for _ in range(10):  # mean shift with a flat kernel of radius 1 (metric units)
                idx = tree.query_ball_point(c * m, 1.0)
                if len(idx) < 3:
                    break
                c = A[pool[idx]].mean(axis=0)
            picked.append(c)
            cand.append(
                {
                    "center": c,
                    "metric": m,
                    "pool": ap["pool"],
                    "h_pm": ap["h_pm"],
                    "h_plx": ap["h_plx"],
                    "resolved": ap["resolved"],
                    "z_pm": float(z[i]),
                    "contrast": float(n1[i] / max(alpha * (n4[i] - n2[i]), 0.5)),
                }
            )
    return cand, n_trials


def _matched(out: NDArray, s_idx: NDArray, mag: NDArray, n_ref: int, n_bins: int = 8):
    """Return the nearest stars of ``out`` (sorted by distance) with S's G distribution."""
    edges = np.quantile(mag[s_idx], np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    bs = np.clip(np.searchsorted(edges, mag[s_idx], side="right") - 1, 0, n_bins - 1)
    bo = np.clip(np.searchsorted(edges, mag[out], side="right") - 1, 0, n_bins - 1)
    frac = np.bincount(bs, minlength=n_bins) / s_idx.size
    return np.concatenate([out[bo == b][: int(round(frac[b] * n_ref))] for b in range(n_bins)])


def _aperture_distance(A: NDArray, c: dict[str, Any]) -> NDArray:
    d = np.sqrt(np.sum(np.square((A - c["center"]) * c["metric"]), axis=1))
    d[~c["pool"]] = np.inf
    return d


def _sky_scores(cand, A, mag, sky: _SkyTest, extent, gen, n_sky, n_perm, n_cap) -> None:
    """Add the sky test (``logp_sky_local``, box) to the strongest candidates of each kind."""
    cand.sort(key=lambda c: -c["z_pm"])
    res = [c for c in cand if c["resolved"]]
    unres = [c for c in cand if not c["resolved"]]
    k_res = min(len(res), max(n_sky // 2, n_sky - len(unres)))
    for c in res[:k_res] + unres[: n_sky - k_res]:
        d = _aperture_distance(A, c)
        s_idx = np.flatnonzero(d < 1.0)
        out = np.flatnonzero((d >= 3.0) & np.isfinite(d))
        out = out[np.argsort(d[out], kind="stable")]
        n_ref = min(out.size, max(4 * s_idx.size, 1000))
        r_idx = _matched(out, s_idx, mag, n_ref) if mag is not None else out[:n_ref]
        c["n_on"] = int(s_idx.size)
        if s_idx.size > n_cap:
            s_idx = np.sort(gen.choice(s_idx, n_cap, replace=False))
        if r_idx.size < 20 or s_idx.size < 5:
            continue
        t, k, i = sky.stat(s_idx, r_idx, SKY_EXCESS)
        u = np.concatenate([s_idx, r_idx])
        null = np.empty(n_perm)
        for b in range(n_perm):
            p = gen.permutation(u)
            null[b] = sky.stat(p[: s_idx.size], p[s_idx.size :])[0]
        c.update(
            logp_sky_local=_gumbel_logsf(t, null),
            sky_box=SKY_FRACTIONS[k] * extent,
            sky_xy=sky.center(i),
        )


def _read(data: Any, cols: Mapping[str, str], use_parallax: bool):
    t = table_columns(data)

    def get(name):
        nm = cols.get(name, name)
        return column_values(t[nm], nm, unit=gaia_unit(name)) if nm in t else None

    return {k: get(k) for k in ("pmra", "pmdec", "ra", "dec", "phot_g_mean_mag")} | {
        "parallax": get("parallax") if use_parallax else None,
        "parallax_error": get("parallax_error") if use_parallax else None,
    }


def _empty(n_rows: int, method: str, message: str) -> Detection:
    nan = float("nan")
    return Detection(
        False,
        nan,
        nan,
        nan,
        None,
        None,
        None,
        None,
        None,
        None,
        False,
        np.zeros(n_rows, dtype=bool),
        (),
        method,
        message,
    )


def detect_cluster(
    data: Any,
    *,
    use_parallax: bool = True,
    z_min: float = Z_MIN,
    n_seeds: int = 2000,
    n_per_scale: int = 3,
    n_sky: int = 40,
    n_perm: int = 60,
    n_cap: int = 3000,
    columns: Mapping[str, str] | None = None,
    rng: int | np.random.Generator | None = 0,
) -> Detection:
    """Find the most significant compact cluster-like over-density in a Gaia table.

    Parameters
    ----------
    data : astropy.table.Table, pandas.DataFrame or mapping
        Gaia-named columns: ``pmra``, ``pmdec`` (mas/yr) are needed; ``parallax``
        (mas) and ``parallax_error``, ``ra``, ``dec`` (deg) and
        ``phot_g_mean_mag`` are used when present.
    use_parallax : bool, default True
        Use the ``parallax`` column when there is one.
    z_min : float, default 5
        Significance at which a cluster is claimed.
    n_seeds : int, default 2000
        Seed stars per aperture (a random subset when there are more).
    n_per_scale : int, default 3
        Candidates kept per aperture.
    n_sky : int, default 40
        Candidates given the sky test (half resolved, half not, by ``z_pm``).
    n_perm : int, default 60
        Relabellings for each sky test's null distribution.
    n_cap : int, default 3000
        At most this many candidate stars enter a sky test (a random subset).
    columns : mapping, optional
        Gaia name -> column name.
    rng : int, numpy.random.Generator or None, default 0
        Seed of the seed-star subsets and the relabellings.

    Returns
    -------
    Detection

    Raises
    ------
    DataError
        No ``pmra``/``pmdec`` column, or fewer than 20 rows with proper motions.

    Notes
    -----
    See the module documentation for the method.  Rows with a missing proper
    motion, parallax (when used) or position are not searched.  Positions are
    needed for the sky test; without them only velocity-resolved candidates
    can be claimed (``method="astrometry"``).
    """
    cols = dict(columns or {})
    gen = as_generator(rng)
    v = _read(data, cols, use_parallax)
    if v["pmra"] is None or v["pmdec"] is None:
        raise DataError("detect_cluster needs the 'pmra' and 'pmdec' columns", argument="data")
    n_rows = v["pmra"].size
    if (
        v["parallax"] is not None
        and np.sum(np.isfinite(v["parallax"]) & np.isfinite(v["pmra"]) & np.isfinite(v["pmdec"]))
        < _MIN_ROWS
    ):
        v["parallax"] = v["parallax_error"] = None  # (almost) no parallaxes: proper motions only
    parts = [v["pmra"], v["pmdec"]] + ([v["parallax"]] if v["parallax"] is not None else [])
    A = np.column_stack(parts)
    ok = np.isfinite(A).all(axis=1)
    has_sky = v["ra"] is not None and v["dec"] is not None
    if has_sky:
        ok &= np.isfinite(v["ra"]) & np.isfinite(v["dec"])
    rows = np.flatnonzero(ok)
    if rows.size < 20:
        raise DataError(
            f"detect_cluster needs at least 20 rows with proper motions; got {rows.size}",
            argument="data",
        )
    A = A[ok]
    plx_err = None
    if v["parallax_error"] is not None and v["parallax"] is not None:
        e = v["parallax_error"][ok]
        plx_err = np.where(e > 0, e, np.nan)
    mag = v["phot_g_mean_mag"]
    if mag is not None:
        mag = mag[ok]
        mag = (
            np.where(np.isfinite(mag), mag, np.nanmax(mag) + 1.0)
            if np.isfinite(mag).any()
            else None
        )
    cand, n_trials = _candidates(A, plx_err, gen, n_seeds, n_per_scale)
    method = "astrometry+sky" if has_sky else "astrometry"
    fp = None
    if has_sky and cand:
        fp = Footprint.from_data(v["ra"][rows], v["dec"][rows])
        xi, eta, _ = fp.project(v["ra"][rows], v["dec"][rows])
        extent = float(fp.radius) if fp.kind == "cone" else 0.5 * max(np.ptp(xi), np.ptp(eta))
        sky = _SkyTest(np.asarray(xi), np.asarray(eta), extent)
        _sky_scores(cand, A, mag, sky, extent, gen, n_sky, n_perm, n_cap)
    best = _rank(cand, n_trials)
    if best is None:
        return _empty(
            n_rows,
            method,
            "no cluster candidate could be scored"
            + ("" if has_sky else " (no ra/dec for the sky test)")
            + "; give the cluster's centre as a hint ([builder].center)",
        )
    return _result(best, cand, A, rows, n_rows, v, fp, z_min, method)


def _rank(cand: list[dict[str, Any]], n_trials: int) -> dict[str, Any] | None:
    """Global significances (look-elsewhere corrected) and the best candidate."""
    n_sky_tests = sum("logp_sky_local" in c for c in cand)
    scored = []
    for c in cand:
        z_s = (
            _z_from_logp(c["logp_sky_local"] + math.log(n_sky_tests))
            if "logp_sky_local" in c
            else float("nan")
        )
        z_a = (
            _z_from_logp(float(_norm().logsf(c["z_pm"])) + math.log(max(n_trials, 1)))
            if c["resolved"]
            else float("nan")
        )
        if np.isfinite(z_a) and np.isfinite(z_s):
            z = (z_a + z_s) / math.sqrt(2.0)
        elif np.isfinite(z_s):
            z = z_s
        elif np.isfinite(z_a) and n_sky_tests == 0:
            z = z_a  # no positions: the astrometry alone
        else:
            continue
        c.update(z_astrometry=z_a, z_sky=z_s, z=z)
        scored.append(c)
    scored.sort(key=lambda c: -c["z"])
    cand[:] = scored
    return scored[0] if scored else None


def _result(best, cand, A, rows, n_rows, v, fp, z_min, method) -> Detection:
    """Return the Detection of the best candidate: its stars, sky centre and message."""
    D = A.shape[1]
    sel = _aperture_distance(A, best) < 1.0
    selected = np.zeros(n_rows, dtype=bool)
    selected[rows[sel]] = True
    sky_center = None
    if fp is not None and "sky_xy" in best:
        ra0, dec0 = fp.tangent_point
        xi, eta, _ = fp.project(v["ra"][rows], v["dec"][rows])
        # centroid of the candidate's stars in (twice) the most significant sky box
        box = (np.abs(xi - best["sky_xy"][0]) <= 2 * best["sky_box"]) & (
            np.abs(eta - best["sky_xy"][1]) <= 2 * best["sky_box"]
        )
        inner = sel & box
        cx, cy = (
            (float(np.median(xi[inner])), float(np.median(eta[inner])))
            if inner.sum() >= 3
            else (float(best["sky_xy"][0]), float(best["sky_xy"][1]))
        )
        sra, sdec = from_tangent_plane(cx, cy, ra0, dec0)
        sky_center = (float(sra) % 360.0, float(sdec))
    elif v["ra"] is not None and sel.any():
        r = np.radians(v["ra"][rows][sel])
        sky_center = (
            float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360),
            float(np.median(v["dec"][rows][sel])),
        )
    pm = best["center"][:2].astype(float)
    plx = float(best["center"][2]) if D == 3 else None
    z = float(best["z"])
    found = bool(z >= z_min)
    where = (
        f"pm ({pm[0]:.3f}, {pm[1]:.3f}) mas/yr"
        + ("" if plx is None else f", parallax {plx:.3f} mas")
        + ("" if sky_center is None else f", sky ({sky_center[0]:.3f}, {sky_center[1]:.3f}) deg")
    )
    if found:
        message = f"cluster found at {where}: z = {z:.1f} ({int(sel.sum())} stars in its aperture)"
    else:
        message = (
            f"no significant cluster: the best candidate, at {where}, has z = {z:.1f} < "
            f"{z_min:g}; if the cluster is in these data, give its centre "
            "([builder].center, and sky_center = [ra, dec])"
        )
    keys = ("z", "z_astrometry", "z_sky", "z_pm", "contrast", "h_pm", "h_plx", "n_on")
    summary = tuple(
        {
            **{
                k: (None if c.get(k) is None or not np.isfinite(c[k]) else float(c[k]))
                for k in keys
            },
            "resolved": bool(c["resolved"]),
            "center": [float(x) for x in c["center"]],
        }
        for c in cand[:10]
    )
    return Detection(
        found=found,
        significance=z,
        z_astrometry=float(best["z_astrometry"]),
        z_sky=float(best["z_sky"]),
        pm_center=pm,
        parallax=plx,
        sky_center=sky_center,
        sky_radius=best.get("sky_box"),
        pm_scale=float(best["h_pm"]),
        parallax_scale=None if best["h_plx"] is None else float(best["h_plx"]),
        resolved=bool(best["resolved"]),
        selected=selected,
        candidates=summary,
        method=method,
        message=message,
    )


# --------------------------------------------------------------------------------------------
# the builder's first pass
# --------------------------------------------------------------------------------------------


def _excess_peak(X: np.ndarray, bandwidth: float) -> np.ndarray:
    """Location of the largest excess of density at ``bandwidth`` over density at 4x it.

    Histogram on a grid of bandwidth/2 over the central 98 % of the data, smoothed
    with Gaussian kernels of width h and 4h; the peak of (fine - coarse), refined
    by mean shift.  Used only for tables without proper motions.
    """
    from scipy.ndimage import gaussian_filter

    D = X.shape[1]
    lo = np.percentile(X, 1, axis=0)
    hi = np.percentile(X, 99, axis=0)
    nb = np.clip(np.ceil((hi - lo) / (bandwidth / 2.0)).astype(int), 4, 2000)
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


def find_center(
    data: Any,
    features: Sequence[str] = ("pmra", "pmdec"),
    *,
    bandwidth: float = 0.5,
    columns: Mapping[str, str] | None = None,
    z_min: float = Z_MIN,
    rng: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """Locate a cluster for :func:`~bayesmix.builders.cluster_field` and say if there is one.

    Parameters
    ----------
    data : astropy.table.Table, pandas.DataFrame or mapping
        Gaia-named columns (see :func:`detect_cluster`).
    features : sequence of str
        Features whose cluster value is wanted (e.g. ``("parallax", "pmra", "pmdec")``).
    bandwidth : float, default 0.5
        Kernel width of the density-excess peak used only without proper motions
        (the feature's unit).
    columns : mapping, optional
        Gaia name -> column name.
    z_min : float, default 5
        Significance at which a cluster is claimed.
    rng : int, numpy.random.Generator or None, default 0
        Seed of :func:`detect_cluster`.

    Returns
    -------
    dict
        ``center`` (array over ``features``: the detection's proper motion and
        parallax, other features the median over the selected stars),
        ``pm_center`` (or None), ``sky_center`` (ra, dec) or None, ``selected``
        (bool over rows: the stars in the cluster's aperture), ``found`` (bool),
        ``significance`` (z, NaN without proper motions), ``message`` (one
        line: what was found, or which hint to give) and ``detection`` (the
        :class:`Detection`, or None without proper motions).

    Raises
    ------
    DataError
        A feature's column is missing from ``data``.
    """
    cols = dict(columns or {})
    t = table_columns(data)

    def get(name):
        nm = cols.get(name, name)
        return column_values(t[nm], nm, unit=gaia_unit(name)) if nm in t else None

    for f in features:
        if get(f) is None:
            raise DataError(f"'data' has no column {cols.get(f, f)!r}", argument="data")
    det = None
    pmra, pmdec = get("pmra"), get("pmdec")
    if (
        pmra is not None
        and pmdec is not None
        and np.sum(np.isfinite(pmra) & np.isfinite(pmdec)) >= _MIN_ROWS
    ):
        det = detect_cluster(data, z_min=z_min, columns=columns, rng=rng)
        selected = det.selected
        known = {
            "pmra": None if det.pm_center is None else det.pm_center[0],
            "pmdec": None if det.pm_center is None else det.pm_center[1],
            "parallax": det.parallax,
        }
    else:  # no proper motions (or too few stars): the density-excess peak, no significance
        F = np.column_stack([get(f) for f in features])
        fin = np.isfinite(F).all(axis=1)
        c = _excess_peak(F[fin], bandwidth)
        d2 = np.sum(np.square(np.where(fin[:, None], F, 0.0) - c), axis=1)
        selected = fin & (d2 < (2 * bandwidth) ** 2)
        known = dict(zip(features, c, strict=True))
    center = []
    for f in features:
        if known.get(f) is not None:
            center.append(float(known[f]))
            continue
        vals = get(f)
        sel = selected & np.isfinite(vals)
        center.append(float(np.median(vals[sel])) if sel.any() else float(np.nanmedian(vals)))
    sky = None if det is None else det.sky_center
    ra, dec = get("ra"), get("dec")
    if sky is None and ra is not None and dec is not None and selected.any():
        r = np.radians(ra[selected])
        sky = (
            float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0),
            float(np.median(dec[selected])),
        )
    return {
        "center": np.array(center),
        "pm_center": None if det is None else det.pm_center,
        "sky_center": sky,
        "selected": selected,
        "found": True if det is None else det.found,
        "significance": float("nan") if det is None else det.significance,
        "message": (
            "density-excess peak (no proper motions: no significance)"
            if det is None
            else det.message
        ),
        "detection": det,
    }


def _norm():
    """scipy.stats.norm, imported on first use (scipy.stats costs ~0.7 s to import)."""
    from scipy.stats import norm

    return norm
