"""Numbers behind the figures: zoom windows, reliability curves, radial and probability profiles.

Every function here takes arrays (membership probabilities, positions, posterior
draws) and returns plain numbers or small frozen records; nothing draws (the
figures are in :mod:`bayesmix.plot`) and nothing samples.  Keeping the binning
here lets it be tested against independent references (``scipy.stats``,
brute-force loops) without a plotting backend.

* :func:`robust_limits`, :func:`zoom_window`: axis limits of the whole field
  and of the region where the cluster is (for :func:`bayesmix.plot.plot_zoomed_membership`).
* :func:`reliability_curve`, :func:`reliability_from_bins`: predicted
  membership probability against the observed member fraction, with binomial
  (Wilson) intervals, from simulated or injected data whose truth is known
  (per object, or binned sums pooled over runs).
* :func:`probability_histogram`: the distribution of membership probabilities.
* :func:`parallax_distance`: summary and histogram of a cluster's parallax
  posterior and the matching distance.
* :func:`cluster_astrometry`: the fitted cluster mean and spread that the
  astrometry figure draws, from a sampled :func:`bayesmix.builders.cluster_field` fit.

Radial profiles of members against the fitted Plummer profile are in
:mod:`bayesmix.analysis.profiles`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmix._validate import check_array_1d, check_int, check_matrix, check_same_length
from bayesmix.exceptions import DataError

__all__ = [
    "ClusterAstrometry",
    "ParallaxDistance",
    "ProbabilityBins",
    "ProbabilityHistogram",
    "ReliabilityCurve",
    "ZoomWindow",
    "check_probability",
    "cluster_astrometry",
    "parallax_distance",
    "probability_histogram",
    "reliability_curve",
    "reliability_from_bins",
    "robust_limits",
    "zoom_window",
]


def check_probability(
    p: ArrayLike, *, name: str = "probability", n: int | None = None
) -> NDArray[np.float64]:
    """Return ``p`` as a 1-D float array in [0, 1]; NaN (not scored) is allowed.

    Raises
    ------
    DataError
        Naming ``name`` and the first row outside [0, 1].
    """
    arr = check_array_1d(p, name=name, n=n, allow_nan=True)
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite.min() < -1e-9 or finite.max() > 1 + 1e-9):
        i = int(np.flatnonzero(np.isfinite(arr) & ((arr < -1e-9) | (arr > 1 + 1e-9)))[0])
        raise DataError(
            f"'{name}' must lie in [0, 1]; got {arr[i]:.6g} at row {i}", argument=name, rows=[i]
        )
    return np.clip(arr, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# axis limits
# --------------------------------------------------------------------------------------------


def robust_limits(
    values: ArrayLike, *, quantiles: tuple[float, float] = (0.005, 0.995), pad: float = 0.05
) -> tuple[float, float]:
    """Axis limits covering the bulk of ``values``, ignoring far outliers and NaN.

    Parameters
    ----------
    values : array-like
        Any shape; non-finite values are ignored.
    quantiles : tuple of float, default (0.005, 0.995)
        Lower and upper quantiles kept.
    pad : float, default 0.05
        Fraction of the span added on each side.

    Returns
    -------
    tuple of float
        ``(lower, upper)``; ``(-1, 1)`` around the value when all finite values are
        equal, ``(0, 1)`` when there are none.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.quantile(v, quantiles)
    span = hi - lo
    if span <= 0:
        return float(lo) - 1.0, float(hi) + 1.0
    return float(lo - pad * span), float(hi + pad * span)


@dataclass(frozen=True)
class ZoomWindow:
    """Axis limits of the region where a cluster is, in a two-feature plane.

    Attributes
    ----------
    center : tuple of float
        Window centre (the cluster mean, or the members' median).
    xlim, ylim : tuple of float
        ``(lower, upper)`` on each axis, in the features' units.
    n_inside : int
        Objects (any probability) inside the window.
    n_members_inside : float
        Expected members inside (sum of the probabilities there).
    n_members : float
        Expected members overall (sum of all finite probabilities).
    """

    center: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    n_inside: int
    n_members_inside: float
    n_members: float


def zoom_window(
    X: ArrayLike,
    probability: ArrayLike,
    *,
    center: ArrayLike | None = None,
    scale: ArrayLike | float | None = None,
    n_sigma: float = 5.0,
    threshold: float = 0.5,
    coverage: float = 0.98,
    square: bool = True,
) -> ZoomWindow:
    r"""Limits of a window around the cluster in a plane such as (pmra, pmdec).

    The half-width on each axis is the largest of: ``n_sigma * scale`` (the
    fitted spread, e.g. :math:`\sqrt{\sigma_{\rm int}^2 + \mathrm{median}(\sigma_n^2)}`),
    and 1.5 times the ``coverage`` quantile of the likely members' distance from
    the centre on that axis; so the window shows the fitted cluster and all but
    a few of its likely members, and the field stars next to them.  It never
    exceeds the whole field's :func:`robust_limits`.

    Parameters
    ----------
    X : array-like of shape (n_objects, 2)
        The plane's coordinates (e.g. pmra, pmdec in mas/yr); NaN rows are ignored.
    probability : array-like of shape (n_objects,)
        Membership probability of the cluster (NaN: not scored).
    center : array-like of shape (2,), optional
        Fitted cluster mean; default the median of the likely members.
    scale : float or array-like of shape (2,), optional
        Fitted spread per axis (same units as ``X``).
    n_sigma : float, default 5
        Half-width in units of ``scale``.
    threshold : float, default 0.5
        Likely members have ``probability > threshold``.
    coverage : float, default 0.98
        Quantile of the members' offsets that the window covers.
    square : bool, default True
        Same half-width on both axes (for planes in one unit, like proper motion).

    Returns
    -------
    ZoomWindow

    Raises
    ------
    DataError
        Shape mismatch, or neither ``center`` nor any likely member.
    """
    X = check_matrix(X, name="X", allow_nan=True, n_features=2)
    p = check_probability(probability, n=X.shape[0])
    ok = np.isfinite(X).all(axis=1)
    member = ok & np.isfinite(p) & (p > threshold)
    if center is None:
        if not member.any():
            raise DataError(
                f"no object has probability > {threshold:g}; give 'center' (the fitted "
                "cluster mean) to place the window",
                argument="center",
            )
        c = np.median(X[member], axis=0)
    else:
        c = np.asarray(center, dtype=np.float64).reshape(2)
    half = np.zeros(2)
    if scale is not None:
        half = np.maximum(half, n_sigma * np.broadcast_to(np.asarray(scale, float), (2,)))
    if member.sum() >= 3:
        off = np.abs(X[member] - c)
        half = np.maximum(half, 1.5 * np.quantile(off, coverage, axis=0))
    full = [robust_limits(X[ok, j]) for j in range(2)]
    span = np.array([hi - lo for lo, hi in full])
    if not (half > 0).any():
        half = 0.05 * span
    if square:
        half = np.full(2, half.max())
    half = np.minimum(half, span / 2)
    half = np.where(half > 0, half, 1.0)
    lims = [(float(c[j] - half[j]), float(c[j] + half[j])) for j in range(2)]
    inside = ok & (np.abs(X - c) <= half).all(axis=1) if ok.any() else ok
    pf = np.where(np.isfinite(p), p, 0.0)
    return ZoomWindow(
        center=(float(c[0]), float(c[1])),
        xlim=lims[0],
        ylim=lims[1],
        n_inside=int(inside.sum()),
        n_members_inside=float(pf[inside].sum()),
        n_members=float(pf.sum()),
    )


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbabilityBins:
    """Objects per membership-probability bin: what every probability histogram holds.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges on [0, 1] (the last bin includes 1).
    counts : ndarray of shape (n_bins,)
        Objects per bin.
    n_unscored : int
        Objects with NaN probability (in no bin).
    """

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    n_unscored: int


@dataclass(frozen=True)
class ReliabilityCurve(ProbabilityBins):
    """Predicted probability against observed frequency, per probability bin.

    Attributes
    ----------
    edges, counts, n_unscored
        As for :class:`ProbabilityBins`; the unscored objects are left out of
        every number below.
    mean_probability : ndarray of shape (n_bins,)
        Mean predicted probability of the objects in each bin (NaN if empty).
    observed_fraction : ndarray of shape (n_bins,)
        Fraction of true members among them (NaN if empty).
    lower, upper : ndarray of shape (n_bins,)
        Wilson score interval of the observed fraction at ``interval``.
    interval : float
        Probability content of ``lower``..``upper``.
    brier_score : float
        Mean of (p - truth)^2 over scored objects.
    calibration_error : float
        Expected calibration error: counts-weighted mean of
        abs(observed_fraction - mean_probability).
    """

    mean_probability: NDArray[np.float64]
    observed_fraction: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    interval: float
    brier_score: float
    calibration_error: float


def _wilson(k: NDArray, n: NDArray, interval: float) -> tuple[NDArray, NDArray]:
    """Wilson score interval of a binomial proportion k/n (NaN where n = 0)."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + interval / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = k / n
        den = 1 + z**2 / n
        mid = (phat + z**2 / (2 * n)) / den
        half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / den
    return np.clip(mid - half, 0.0, 1.0), np.clip(mid + half, 0.0, 1.0)


def reliability_curve(
    probability: ArrayLike,
    truth: ArrayLike,
    *,
    bins: int | ArrayLike = 10,
    interval: float = 0.68,
) -> ReliabilityCurve:
    """Bin predicted membership probabilities and compare with the true member fraction.

    A well calibrated classifier has, among objects given probability p, a
    fraction p of true members: the curve follows the diagonal.  Use it on
    simulated data (:mod:`bayesmix` tests' simulators) or on injection-recovery
    runs, where the truth is known; several runs can be concatenated.

    Parameters
    ----------
    probability : array-like of shape (n_objects,)
        Predicted membership probability (NaN: not scored, counted in ``n_unscored``).
    truth : array-like of bool of shape (n_objects,)
        Whether each object is a true member.
    bins : int or array-like, default 10
        Number of equal-width bins on [0, 1], or the edges (increasing, from 0 to 1).
    interval : float, default 0.68
        Probability content of the Wilson score interval of each bin's fraction.

    Returns
    -------
    ReliabilityCurve

    Raises
    ------
    DataError
        Lengths differ, probabilities outside [0, 1], bad edges.

    References
    ----------
    Wilson, E. B. 1927, J. Am. Stat. Assoc. 22, 209.
    DeGroot, M. H. & Fienberg, S. E. 1983, The Statistician 32, 12.
    """
    p = check_probability(probability)
    t = np.asarray(truth).reshape(-1)
    if t.shape != p.shape:
        raise DataError(
            f"'truth' must have one value per object ({p.size}); got {t.size}", argument="truth"
        )
    if t.dtype != bool:
        tv = np.asarray(t, dtype=float)
        bad = ~np.isin(tv, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"'truth' must be boolean (0/1); got {t[i]!r} at row {i}",
                argument="truth",
                rows=[i],
            )
        t = tv.astype(bool)
    edges, ok, idx = _bin_index(p, bins)
    ps, ts = p[ok], t[ok]
    nb = edges.size - 1
    return reliability_from_bins(
        np.bincount(idx, minlength=nb),
        np.bincount(idx, weights=ts.astype(float), minlength=nb),
        np.bincount(idx, weights=ps, minlength=nb),
        edges=edges,
        interval=interval,
        squared_error=float(np.sum((ps - ts) ** 2)),
        n_unscored=int((~ok).sum()),
    )


def reliability_from_bins(
    counts: ArrayLike,
    members: ArrayLike,
    sum_probability: ArrayLike,
    *,
    edges: ArrayLike | None = None,
    interval: float = 0.68,
    squared_error: float | None = None,
    n_unscored: int = 0,
) -> ReliabilityCurve:
    """Reliability curve from binned sums, e.g. pooled over many injection-recovery runs.

    Runs that keep only per-bin sums (objects, true members, sum of predicted
    probabilities) can add them up over runs and pass the totals here;
    :func:`reliability_curve` does the same from per-object arrays.

    Parameters
    ----------
    counts : array-like of shape (n_bins,)
        Objects per probability bin.
    members : array-like of shape (n_bins,)
        True members among them.
    sum_probability : array-like of shape (n_bins,)
        Sum of their predicted probabilities.
    edges : array-like of shape (n_bins + 1,), optional
        Bin edges on [0, 1] (default: equal-width bins).
    interval : float, default 0.68
        Probability content of the Wilson interval of each bin's fraction.
    squared_error : float, optional
        Sum over objects of (p - truth)^2; gives the Brier score (NaN without it).
    n_unscored : int, default 0
        Objects without a probability, reported as they are.

    Returns
    -------
    ReliabilityCurve
    """
    n_b, k, psum = check_same_length(
        {"counts": counts, "members": members, "sum_probability": sum_probability},
        argument="members",
    )
    if (n_b < 0).any() or (k < 0).any() or (k > n_b).any() or (psum > n_b + 1e-9).any():
        b = int(np.flatnonzero((n_b < 0) | (k < 0) | (k > n_b) | (psum > n_b + 1e-9))[0])
        raise DataError(
            f"bin {b}: need 0 <= members <= counts and sum_probability <= counts; got "
            f"counts {n_b[b]:g}, members {k[b]:g}, sum_probability {psum[b]:g}",
            argument="members",
        )
    if not 0 < interval < 1:
        raise DataError(f"'interval' must lie in (0, 1); got {interval!r}", argument="interval")
    e = _edges(n_b.size) if edges is None else _edges(edges)
    if e.size != n_b.size + 1:
        raise DataError(f"'edges' must have {n_b.size + 1} values; got {e.size}", argument="edges")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(n_b > 0, psum / n_b, np.nan)
        frac = np.where(n_b > 0, k / n_b, np.nan)
    lo, hi = _wilson(k, n_b, interval)
    n = float(n_b.sum())
    ece = float(np.nansum(n_b * np.abs(frac - mean_p)) / n) if n else math.nan
    brier = squared_error / n if (squared_error is not None and n) else math.nan
    return ReliabilityCurve(
        edges=e,
        mean_probability=mean_p,
        observed_fraction=frac,
        lower=lo,
        upper=hi,
        counts=np.rint(n_b).astype(np.int64),
        interval=float(interval),
        brier_score=float(brier),
        calibration_error=ece,
        n_unscored=int(n_unscored),
    )


def _edges(bins: int | ArrayLike) -> NDArray[np.float64]:
    """Bin edges on [0, 1] from a count or given edges."""
    if np.ndim(bins) == 0:
        nb = check_int(bins, name="bins", minimum=1)
        return np.linspace(0.0, 1.0, nb + 1)
    edges = np.asarray(bins, dtype=np.float64).reshape(-1)
    if edges.size < 2 or not (np.diff(edges) > 0).all() or edges[0] != 0 or edges[-1] != 1:
        raise DataError(
            f"'bins' edges must increase from 0 to 1; got {edges.tolist()}", argument="bins"
        )
    return edges


@dataclass(frozen=True)
class ProbabilityHistogram(ProbabilityBins):
    """Counts of membership probabilities per bin.

    Attributes
    ----------
    edges, counts, n_unscored
        As for :class:`ProbabilityBins`.
    n_above : int
        Objects with probability above ``threshold``.
    threshold : float
    expected_members : float
        Sum of the probabilities (the expected number of members).
    """

    n_above: int
    threshold: float
    expected_members: float


def _bin_index(p: NDArray[np.float64], bins: int | ArrayLike):
    """Return (edges, scored mask, bin of each scored probability) of ``p`` on [0, 1]."""
    edges = _edges(bins)
    ok = np.isfinite(p)
    idx = np.clip(np.searchsorted(edges, p[ok], side="right") - 1, 0, edges.size - 2)
    return edges, ok, idx


def probability_histogram(
    probability: ArrayLike, *, bins: int | ArrayLike = 20, threshold: float = 0.5
) -> ProbabilityHistogram:
    """Histogram of membership probabilities on [0, 1], with the unscored count.

    Parameters
    ----------
    probability : array-like of shape (n_objects,)
        Membership probability (NaN: not scored).
    bins : int or array-like, default 20
        Number of equal-width bins, or edges from 0 to 1.
    threshold : float, default 0.5
        Probability above which an object counts in ``n_above``.

    Returns
    -------
    ProbabilityHistogram
    """
    p = check_probability(probability)
    edges, ok, idx = _bin_index(p, bins)
    counts = np.bincount(idx, minlength=edges.size - 1).astype(np.int64)
    return ProbabilityHistogram(
        edges=edges,
        counts=counts,
        n_unscored=int((~ok).sum()),
        n_above=int((p[ok] > threshold).sum()),
        threshold=float(threshold),
        expected_members=float(p[ok].sum()),
    )


# --------------------------------------------------------------------------------------------
# parallax and distance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParallaxDistance:
    """Posterior of a cluster's parallax and the matching distance.

    Attributes
    ----------
    parallax : dict
        ``mean``, ``sd``, ``median``, ``lower``, ``upper`` (mas).
    distance : dict
        The same for 1000 / parallax (pc); ``lower``/``upper`` are the
        transformed parallax bounds (the interval maps exactly).
    edges : ndarray of shape (n_bins + 1,)
        Histogram bin edges of the parallax draws (mas).
    density : ndarray of shape (n_bins,)
        Histogram normalised to unit area (mas^-1).
    interval : float
    """

    parallax: dict[str, float]
    distance: dict[str, float]
    edges: NDArray[np.float64]
    density: NDArray[np.float64]
    interval: float


def parallax_distance(
    parallax_draws: ArrayLike, *, bins: int = 40, interval: float = 0.9
) -> ParallaxDistance:
    """Summarise posterior draws of a cluster's mean parallax and its distance.

    Parameters
    ----------
    parallax_draws : array-like
        Draws of the true mean parallax (mas), e.g. ``cluster_parallax`` over
        (chain, draw); flattened.
    bins : int, default 40
        Histogram bins.
    interval : float, default 0.9
        Central credible interval.

    Returns
    -------
    ParallaxDistance

    Raises
    ------
    DataError
        Non-finite or non-positive draws (a distance needs a positive parallax).

    Notes
    -----
    The distance of the cluster's mean parallax, 1000/ϖ pc, is a monotonic
    transform, so quantiles map exactly; the mean of 1000/ϖ over draws is
    reported as is (for the distance of each member, see Bailer-Jones 2015).
    """
    plx = check_array_1d(
        np.asarray(parallax_draws, dtype=np.float64).reshape(-1), name="parallax_draws"
    )
    if not (plx > 0).all():
        i = int(np.flatnonzero(plx <= 0)[0])
        raise DataError(
            f"'parallax_draws' must be positive for a distance; draw {i} is {plx[i]:.4g} mas",
            argument="parallax_draws",
            rows=[i],
        )
    q = [50.0, 50 * (1 - interval), 50 * (1 + interval)]
    med, lo, hi = np.percentile(plx, q)
    dist = 1000.0 / plx
    density, edges = np.histogram(plx, bins=check_int(bins, name="bins", minimum=1), density=True)
    return ParallaxDistance(
        parallax={
            "mean": float(plx.mean()),
            "sd": float(plx.std(ddof=1)) if plx.size > 1 else 0.0,
            "median": float(med),
            "lower": float(lo),
            "upper": float(hi),
        },
        distance={
            "mean": float(dist.mean()),
            "sd": float(dist.std(ddof=1)) if dist.size > 1 else 0.0,
            "median": float(1000.0 / med),
            "lower": float(1000.0 / hi),
            "upper": float(1000.0 / lo),
        },
        edges=edges,
        density=density,
        interval=float(interval),
    )


# --------------------------------------------------------------------------------------------
# inputs of the figures from a cluster_field fit
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterAstrometry:
    """Fitted cluster mean and spread in (pmra, pmdec[, parallax]).

    Attributes
    ----------
    names : tuple of str
        ``("pmra", "pmdec")`` or ``("pmra", "pmdec", "parallax")``.
    mean : ndarray of shape (n_names,)
        Posterior mean of the cluster's mean (mas/yr, mas).
    intrinsic_cov : ndarray of shape (n_names, n_names)
        Posterior mean of the cluster's intrinsic covariance.
    error_cov : ndarray of shape (n_names, n_names)
        Median measurement-error covariance of the likely members.
    cov : ndarray of shape (n_names, n_names)
        ``intrinsic_cov + error_cov``: the spread of the members' measured values,
        what :func:`bayesmix.plot.plot_astrometry` draws as ellipses.
    """

    names: tuple[str, ...]
    mean: NDArray[np.float64]
    intrinsic_cov: NDArray[np.float64]
    error_cov: NDArray[np.float64]
    cov: NDArray[np.float64]


def _posterior_mean(post, name: str) -> NDArray[np.float64]:
    """Posterior mean of a variable over chains and draws."""
    return np.asarray(post[name].mean(("chain", "draw")).values, dtype=np.float64)


def cluster_astrometry(
    fit: Any, probability: ArrayLike | None = None, *, threshold: float = 0.5
) -> ClusterAstrometry | None:
    """Fitted cluster mean and spread in proper motion (and parallax) of a cluster fit.

    Parameters
    ----------
    fit : Fit
        A sampled :func:`bayesmix.builders.cluster_field` model.
    probability : array-like of shape (n_objects,), optional
        Cluster membership probability of the fitted objects; the error
        covariance is the median over those with ``probability > threshold``
        (over all objects when omitted or when none is).
    threshold : float, default 0.5
        Likely members have ``probability > threshold``.

    Returns
    -------
    ClusterAstrometry or None
        None when the model has no (pmra, pmdec) pair (1-D and parallax-only
        models).
    """
    post = fit.posterior
    mm = fit.model
    features = [str(f) for f in mm.coords["feature"]]
    if not {"pmra", "pmdec"} <= set(features):
        return None
    names = ("pmra", "pmdec", "parallax") if "parallax" in features else ("pmra", "pmdec")
    idx = [features.index(n) for n in names]
    mean = np.array([float(_posterior_mean(post, f"cluster_{n}")) for n in names])
    intrinsic = np.zeros((len(names), len(names)))
    if "cluster_chol" in post:
        L = np.asarray(post["cluster_chol"].transpose("chain", "draw", ...).values)
        intrinsic[:2, :2] = (L @ np.swapaxes(L, -1, -2)).mean(axis=(0, 1))
    else:
        intrinsic[:2, :2] = np.eye(2) * float(
            (np.asarray(post["cluster_pm_dispersion"].values) ** 2).mean()
        )
    if "parallax" in names:
        intrinsic[2, 2] = float(
            (np.asarray(post["cluster_parallax_dispersion"].values) ** 2).mean()
        )
    X_cov = np.asarray(mm.data["X_cov"], dtype=np.float64)[:, idx][:, :, idx]
    use = np.ones(X_cov.shape[0], dtype=bool)
    if probability is not None:
        p = check_probability(probability, n=X_cov.shape[0])
        likely = np.isfinite(p) & (p > threshold)
        if likely.any():
            use = likely
    error = np.median(X_cov[use], axis=0)
    return ClusterAstrometry(
        names=names, mean=mean, intrinsic_cov=intrinsic, error_cov=error, cov=intrinsic + error
    )
