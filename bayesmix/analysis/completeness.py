"""Expected detection, recall and precision of a fitted cluster, from injection–recovery maps.

``bench/injection_recovery.py`` (issue 12) injects simulated clusters into real
Gaia fields without a cluster and runs the package on them: the first pass
(:func:`bayesmix.builders.cluster.detect.detect_cluster`) and the whole pipeline
(:func:`~bayesmix.builders.cluster_field`, short chains, membership p > 0.5 against
the injected truth).  :func:`build_completeness_table` turns those runs into a table
of counts; the package ships one (``bayesmix/analysis/data/completeness.json``,
described in ``bayesmix/analysis/data/README.md``) and
:func:`expected_completeness` reads it: given where a fitted cluster sits, it
returns the measured rates around that point with their binomial intervals and a
one-line sentence, or says plainly that the point is outside the measured maps.

Where a cluster sits is three numbers (:func:`cluster_position`):

* ``n_members``: members (the expected number, sum of membership probabilities);
* ``separation``: distance of the cluster's mean proper motion from the field's
  median proper motion in units of the cluster's observed spread
  s = hypot(intrinsic pm dispersion, median ``pmra_error`` of its members);
* ``field_contrast``: field stars per member whose proper motion lies within 2 s of
  the cluster's mean (how crowded the field is under the cluster).

The maps are binned in these three (:data:`N_EDGES`, :data:`SEPARATION_EDGES`,
:data:`CONTRAST_EDGES`) and kept per model (features of ``cluster_field``:
``pm2d``, ``astrometric``, ``full``).

Rates and intervals.  Detection: injected clusters the first pass claims *and*
locates (most stars it picks are members) out of those injected, with the exact
(Clopper & Pearson 1934) 95 % interval.  Recall (precision): members with p > 0.5
out of the injected members (out of the stars with p > 0.5), pooled over the runs of
the cell; a run whose first pass found nothing counts all its members as missed.
Stars of one run are not independent trials (one fit's bias moves them together),
so the interval is quasi-binomial: the counts are divided by the over-dispersion
phi = Pearson chi^2 / (runs - 1) >= 1 (McCullagh & Nelder 1989, sec. 4.5): the
cell's own with at least 3 runs, else the model's value pooled over its cells.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmix.exceptions import DataError

__all__ = [
    "CONTRAST_EDGES",
    "CompletenessEstimate",
    "GOAL_MIN_MEMBERS",
    "GOAL_MIN_SEPARATION",
    "MODELS",
    "N_EDGES",
    "Rate",
    "SEPARATION_EDGES",
    "binomial_interval",
    "binomial_rate",
    "build_completeness_table",
    "cluster_position",
    "completeness_of_fit",
    "completeness_report",
    "expected_completeness",
    "load_completeness_table",
    "model_of_features",
    "pooled_rate",
]

#: Bin edges in the number of members (N = 20, 50, 100, 200, 500-1000, 2000 fall inside).
N_EDGES = (14.0, 30.0, 70.0, 140.0, 400.0, 1400.0, 2800.0)
#: Bin edges in the separation from the field's bulk (cluster's observed pm spreads).
SEPARATION_EDGES = (0.0, 1.5, 4.0, 6.0, 8.5, 13.0, 40.0, 300.0)
#: Bin edges in field stars per member within 2 spreads of the cluster's proper motion.
CONTRAST_EDGES = (0.0, 0.1, 1.0, 10.0, 1e6)
#: ``cluster_field`` features -> the model's name in the maps.
MODELS = {
    ("pmra", "pmdec"): "pm2d",
    ("parallax", "pmra", "pmdec"): "astrometric",
    ("ra", "dec", "parallax", "pmra", "pmdec"): "full",
}
#: Where issue 12's goals apply: at least this many members ...
GOAL_MIN_MEMBERS = 50
#: ... standing at least this many cluster spreads from the field's bulk.
GOAL_MIN_SEPARATION = 5.0
_TABLE = "completeness.json"
_AXES = (
    ("n_members", N_EDGES),
    ("separation", SEPARATION_EDGES),
    ("field_contrast", CONTRAST_EDGES),
)


# --------------------------------------------------------------------------------------------
# rates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A measured rate with its interval.

    Attributes
    ----------
    value : float
        Successes / trials (NaN without trials).
    lower, upper : float
        Clopper–Pearson interval of the effective counts.
    successes, trials : float
        The raw pooled counts.
    runs : int
        Injection runs behind them.
    overdispersion : float
        phi >= 1 by which the counts were divided for the interval.
    level : float
        Probability content of the interval.
    """

    value: float
    lower: float
    upper: float
    successes: float
    trials: float
    runs: int
    overdispersion: float = 1.0
    level: float = 0.95

    def text(self) -> str:
        """``"0.97 [0.95, 0.99]"`` (``"not measured"`` without trials)."""
        if not self.trials:
            return "not measured"
        return f"{self.value:.2f} [{self.lower:.2f}, {self.upper:.2f}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return asdict(self)


def binomial_interval(
    successes: float, trials: float, *, level: float = 0.95, sided: str = "two"
) -> tuple[float, float]:
    """Clopper–Pearson (exact) interval of a binomial proportion.

    Parameters
    ----------
    successes, trials : float
        Counts (non-integer effective counts are allowed: the beta quantiles are
        continuous in them).
    level : float, default 0.95
        Probability content.
    sided : {"two", "upper"}, default "two"
        ``"upper"`` gives (0, one-sided upper bound); with 0 successes in n trials
        the bound is 1 - (1 - level)^(1/n), about 3/n at 95 %.

    Returns
    -------
    (float, float)
        Lower and upper limits; (0, 1) without trials.

    References
    ----------
    Clopper, C. J. & Pearson, E. S. 1934, Biometrika 26, 404.
    """
    from scipy.stats import beta

    if not 0 < level < 1:
        raise DataError(f"'level' must lie in (0, 1); got {level!r}", argument="level")
    if sided not in ("two", "upper"):
        raise DataError(f"'sided' must be 'two' or 'upper'; got {sided!r}", argument="sided")
    k, n = float(successes), float(trials)
    if not (0 <= k <= n) or not math.isfinite(n):
        raise DataError(f"need 0 <= successes <= trials; got {k:g} of {n:g}", argument="trials")
    if n == 0:
        return 0.0, 1.0
    a = 1.0 - level if sided == "upper" else (1.0 - level) / 2.0
    lo = 0.0 if (k == 0 or sided == "upper") else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def _pearson(successes: np.ndarray, trials: np.ndarray) -> tuple[float, int]:
    """Pearson chi^2 of per-run counts about their pooled proportion, and its dof."""
    keep = trials > 0
    k, n = successes[keep], trials[keep]
    if k.size < 2:
        return 0.0, 0
    p = k.sum() / n.sum()
    if p <= 0 or p >= 1:
        return 0.0, 0
    return float(np.sum((k - n * p) ** 2 / (n * p * (1 - p)))), int(k.size - 1)


def pooled_rate(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    level: float = 0.95,
    overdispersion: float = 1.0,
    min_runs_own: int = 3,
) -> Rate:
    """Pool per-run counts into one rate with a quasi-binomial interval.

    Parameters
    ----------
    successes, trials : array-like of shape (runs,)
        Per-run counts (e.g. members recovered, members injected).
    level : float, default 0.95
        Probability content of the interval.
    overdispersion : float, default 1
        phi when fewer than ``min_runs_own`` runs have trials (e.g. the model's
        value pooled over its cells).
    min_runs_own : int, default 3
        Runs with trials needed to use the runs' own Pearson phi instead.

    Returns
    -------
    Rate
        value = sum(successes) / sum(trials); the interval of
        (sum(successes) / phi, sum(trials) / phi) with phi = max(1, chi^2 / (runs - 1))
        from the runs themselves, or max(1, ``overdispersion``) with fewer runs.
    """
    k = np.asarray(successes, dtype=float).reshape(-1)
    n = np.asarray(trials, dtype=float).reshape(-1)
    if k.shape != n.shape:
        raise DataError(
            f"'successes' and 'trials' need the same length; got {k.size} and {n.size}",
            argument="trials",
        )
    runs = int(np.sum(n > 0))
    K, N = float(k.sum()), float(n.sum())
    phi = max(1.0, float(overdispersion))
    if runs >= min_runs_own:
        chi2, dof = _pearson(k, n)
        phi = max(1.0, chi2 / dof) if dof else 1.0
    lo, hi = binomial_interval(K / phi, N / phi, level=level)
    value = K / N if N else math.nan
    return Rate(value, lo, hi, K, N, runs, phi, level)


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


def _cell(n_members: float, separation: float, contrast: float) -> tuple[int, int, int] | None:
    """Bin indices of a point, or None outside the edges."""
    out = []
    for v, (_, edges) in zip((n_members, separation, contrast), _AXES, strict=True):
        if not math.isfinite(v) or v < edges[0] or v >= edges[-1]:
            return None
        out.append(int(np.searchsorted(edges, v, side="right") - 1))
    return out[0], out[1], out[2]


def _position_of(rec: Mapping[str, Any]) -> tuple[int, int, int] | None:
    return _cell(
        float(rec["n"]),
        float(rec.get("offset_in_cluster_sd", math.nan)),
        float(rec.get("field_contrast", math.nan)),
    )


def _in_goal(rec: Mapping[str, Any]) -> bool:
    return (
        rec["n"] >= GOAL_MIN_MEMBERS
        and float(rec.get("offset_in_cluster_sd", -1.0)) >= GOAL_MIN_SEPARATION
    )


def _calibration(recs: list[Mapping[str, Any]], *, rng: int = 0, n_boot: int = 1000):
    """Pooled reliability bins and ECE (all stars; p >= 0.05) with a bootstrap over runs."""
    from bayesmix.analysis.figures_data import reliability_from_bins

    rows = [r for r in recs if r.get("calib_n")]
    if not rows:
        return None
    cnt = np.array([r["calib_n"] for r in rows], dtype=float)
    mem = np.array([r["calib_members"] for r in rows], dtype=float)
    sp = np.array([r["calib_sum_p"] for r in rows], dtype=float)

    def ece(idx, skip_first):
        c, m, s = cnt[idx].sum(0), mem[idx].sum(0), sp[idx].sum(0)
        if skip_first:
            c[0] = m[0] = s[0] = 0.0
        return reliability_from_bins(c, m, s) if c.sum() else None

    every = np.arange(len(rows))
    out: dict[str, Any] = {"runs": len(rows)}
    gen = np.random.default_rng(rng)
    boots = [gen.integers(0, len(rows), len(rows)) for _ in range(n_boot)]
    for key, skip in (("ece", False), ("ece_p_ge_0.05", True)):
        rc = ece(every, skip)
        vals = [e.calibration_error for e in (ece(b, skip) for b in boots) if e is not None]
        out[key] = {
            "value": rc.calibration_error,
            "lower": float(np.quantile(vals, 0.025)),
            "upper": float(np.quantile(vals, 0.975)),
        }
        if not skip:
            out["bins"] = [
                {"mean_p": float(p), "member_fraction": float(f), "stars": int(c)}
                for p, f, c in zip(
                    rc.mean_probability, rc.observed_fraction, rc.counts, strict=True
                )
                if c > 0
            ]
    return out


def build_completeness_table(
    detections: Sequence[Mapping[str, Any]],
    fits: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    source: str = "",
    level: float = 0.95,
) -> dict[str, Any]:
    """Bin injection–recovery runs into the completeness table (JSON-able).

    Parameters
    ----------
    detections : sequence of dict
        First-pass runs (``bench/injection_recovery.py`` ``detect.jsonl``): injected
        ones carry ``n``, ``offset_in_cluster_sd``, ``field_contrast``, ``recovered``
        and ``host``; empty sub-fields have ``design == "null"`` and ``found``.
    fits : mapping of model name -> sequence of dict
        Pipeline runs per model (``fit.jsonl`` is ``pm2d``): injected ones carry
        ``n_hits``, ``n_truth_scored``, ``n_pos``, ``claim`` and the calibration bin
        sums ``calib_n``, ``calib_members``, ``calib_sum_p``; empty ones ``claim``.
    source : str
        Where the runs come from (stored).
    level : float, default 0.95
        Interval content of the summary numbers (``goals``).

    Returns
    -------
    dict
        ``edges`` (per axis), ``detection`` (cells: bin indices, runs, detected,
        hosts), ``models`` (per model: ``cells`` with per-run [hits, members,
        positives, claim] lists, ``overdispersion`` of recall and precision,
        ``calibration``, ``false_claims`` of compare_to_field on empty fields),
        ``false_claims`` (first pass on empty fields) and ``goals`` (issue 12's
        quantities where they apply, with intervals).
    """
    ok = [r for r in detections if not r.get("error")]
    det_cells: dict[tuple, dict[str, Any]] = {}
    for r in ok:
        if r.get("design") == "null":
            continue
        c = _position_of(r)
        if c is None:
            continue
        d = det_cells.setdefault(c, {"cell": list(c), "runs": 0, "detected": 0, "hosts": []})
        d["runs"] += 1
        d["detected"] += bool(r["recovered"])
        if r["host"] not in d["hosts"]:
            d["hosts"].append(r["host"])
    nulls = [r for r in ok if r.get("design") == "null"]
    k0 = sum(bool(r["found"]) for r in nulls)
    goal_det = [bool(r["recovered"]) for r in ok if r.get("design") != "null" and _in_goal(r)]
    dr = pooled_rate(np.array(goal_det, dtype=float), np.ones(len(goal_det)), level=level)
    goals: dict[str, Any] = {
        "detection_rate": dr.to_dict(),
        "first_pass_false_claims": {
            "runs": len(nulls),
            "claims": k0,
            "upper_95_one_sided": binomial_interval(k0, len(nulls), sided="upper")[1]
            if nulls
            else None,
        },
    }
    models: dict[str, Any] = {}
    for model, recs in fits.items():
        recs = [r for r in recs if not r.get("error")]
        models[model] = _model_section(recs, level)
        goals[model] = models[model].pop("goals")
    return {
        "source": source,
        "definition": (
            "detection: first pass claims the injected cluster and most stars it picks are "
            "members; recall/precision: p > 0.5 vs the injected truth, pooled over runs "
            "(a run whose first pass found nothing misses all its members); intervals: "
            "Clopper-Pearson, quasi-binomial for star counts"
        ),
        "level": level,
        "edges": {name: list(e) for name, e in _AXES},
        "detection": sorted(det_cells.values(), key=lambda d: d["cell"]),
        "models": models,
        "false_claims": {"runs": len(nulls), "claims": k0},
        "goals": goals,
    }


def _model_section(recs: list[Mapping[str, Any]], level: float) -> dict[str, Any]:
    cells: dict[tuple, dict[str, Any]] = {}
    inj = [r for r in recs if r.get("design") != "null" and r.get("n_truth_scored") is not None]
    for r in inj:
        c = _position_of(r)
        if c is None:
            continue
        cells.setdefault(c, {"cell": list(c), "runs": [], "hosts": []})
        cells[c]["runs"].append(
            [int(r["n_hits"]), int(r["n_truth_scored"]), int(r["n_pos"]), bool(r.get("claim"))]
        )
        if r["host"] not in cells[c]["hosts"]:
            cells[c]["hosts"].append(r["host"])
    phi = {}
    for j, q in ((1, "recall"), (2, "precision")):
        chi2 = dof = 0
        for c in cells.values():
            a = np.array(c["runs"], dtype=float)
            x, d = _pearson(a[:, 0], a[:, j])
            chi2, dof = chi2 + x, dof + d
        phi[q] = max(1.0, chi2 / dof) if dof else 1.0
    goal = [r for r in inj if _in_goal(r)]
    a = np.array([[r["n_hits"], r["n_truth_scored"], r["n_pos"]] for r in goal], dtype=float)
    a = a.reshape(-1, 3)
    nulls = [r for r in recs if r.get("design") == "null"]
    kc = sum(bool(r.get("claim")) for r in nulls)
    rec_goal = pooled_rate(a[:, 0], a[:, 1], level=level, overdispersion=phi["recall"])
    pre_goal = pooled_rate(a[:, 0], a[:, 2], level=level, overdispersion=phi["precision"])
    cal = _calibration(inj)
    return {
        "cells": sorted(cells.values(), key=lambda d: d["cell"]),
        "overdispersion": phi,
        "calibration": cal,
        "false_claims": {"runs": len(nulls), "claims": kc},
        "goals": {
            "recall": rec_goal.to_dict(),
            "precision": pre_goal.to_dict(),
            "runs_with_recall_ge_0.95": [
                int(np.sum(a[:, 0] >= 0.95 * a[:, 1])),
                int(a.shape[0]),
            ],
            "calibration_error_p_ge_0.05": None if cal is None else cal["ece_p_ge_0.05"],
            "compare_to_field_false_claims": {
                "runs": len(nulls),
                "claims": kc,
                "upper_95_one_sided": binomial_interval(kc, len(nulls), sided="upper")[1]
                if nulls
                else None,
            },
        },
    }


def load_completeness_table(path: str | Path | None = None) -> dict[str, Any]:
    """Read a completeness table (default: the one shipped with the package).

    Raises
    ------
    DataError
        When the file lacks the table's keys or its edges differ from this module's.
    """
    if path is None:
        text = resources.files("bayesmix.analysis").joinpath("data", _TABLE).read_text()
        where = f"bayesmix/analysis/data/{_TABLE}"
    else:
        text = Path(path).read_text()
        where = str(path)
    table = json.loads(text)
    missing = {"edges", "detection", "models", "goals"} - set(table)
    if missing:
        raise DataError(
            f"{where}: not a completeness table (missing {sorted(missing)})", argument="path"
        )
    for name, edges in _AXES:
        if [float(v) for v in table["edges"].get(name, ())] != [float(v) for v in edges]:
            raise DataError(
                f"{where}: edges of {name!r} differ from bayesmix.analysis.completeness's "
                f"(rebuild the table with build_completeness_table)",
                argument="path",
            )
    return table


# --------------------------------------------------------------------------------------------
# the lookup
# --------------------------------------------------------------------------------------------


def model_of_features(features: Sequence[str]) -> str | None:
    """Return the maps' name of a ``cluster_field`` features tuple (None: not measured)."""
    return MODELS.get(tuple(str(f) for f in features))


@dataclass(frozen=True)
class CompletenessEstimate:
    """What the injection–recovery maps say about clusters like a fitted one.

    Attributes
    ----------
    inside : bool
        The point lies in a measured cell of the maps.
    query : dict
        ``n_members``, ``separation``, ``field_contrast`` (None: pooled over the
        field densities) and ``model``.
    cell : dict or None
        The ranges of the cell (per axis, [low, high)).
    detection, recall, precision : Rate or None
        Measured in the cell (recall and precision of the query's model; None when
        that model was not fitted there).
    claim_rate : Rate or None
        How often ``compare_to_field`` claimed the injected clusters of the cell.
    calibration_error : dict or None
        The model's expected calibration error over all its injection fits
        (stars with p >= 0.05), with its bootstrap interval.
    sentence : str
        One line for reports.
    """

    inside: bool
    query: dict[str, Any]
    cell: dict[str, list[float]] | None
    detection: Rate | None
    recall: Rate | None
    precision: Rate | None
    claim_rate: Rate | None
    calibration_error: dict[str, float] | None
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (rates as dicts)."""
        out = asdict(self)
        return out


def _describe(n: float, sep: float, contrast: float | None) -> str:
    text = f"N ~ {n:.0f}, {sep:.1f} dispersions from the field's bulk"
    if contrast is not None:
        text += f", {contrast:.2g} field stars per member under it"
    return text


def expected_completeness(
    n_members: float,
    separation: float,
    field_contrast: float | None = None,
    *,
    features: Sequence[str] = ("pmra", "pmdec"),
    table: Mapping[str, Any] | None = None,
) -> CompletenessEstimate:
    """Measured detection rate, recall and precision for clusters like this one.

    Parameters
    ----------
    n_members : float
        Number of members (e.g. the expected number, sum of p).
    separation : float
        Distance of the cluster's mean pm from the field's median pm, in the
        cluster's observed spreads (see :func:`cluster_position`).
    field_contrast : float, optional
        Field stars per member within 2 spreads of the cluster's pm; None pools the
        cells of every field density at (n_members, separation).
    features : sequence of str, default ("pmra", "pmdec")
        The ``cluster_field`` features of the fit (which model's recall and precision).
    table : mapping, optional
        A table from :func:`build_completeness_table` (default: the shipped one).

    Returns
    -------
    CompletenessEstimate
    """
    tab = load_completeness_table() if table is None else table
    model = model_of_features(features)
    query = {
        "n_members": float(n_members),
        "separation": float(separation),
        "field_contrast": None if field_contrast is None else float(field_contrast),
        "model": model,
    }
    c0 = 0.5 if field_contrast is None else float(field_contrast)  # any in-range value
    cell = _cell(float(n_members), float(separation), c0)
    what = _describe(float(n_members), float(separation), query["field_contrast"])
    ranges = _ranges(tab)

    def outside(why: str) -> CompletenessEstimate:
        return CompletenessEstimate(
            False,
            query,
            None,
            None,
            None,
            None,
            None,
            None,
            f"this cluster ({what}) is outside the measured "
            f"completeness maps ({why}): no measured detection "
            "rate, recall or precision",
        )

    if cell is None:
        return outside(ranges)
    same = (
        (lambda c: tuple(c[:2]) == cell[:2])
        if field_contrast is None
        else (lambda c: tuple(c) == cell)
    )
    det = [d for d in tab["detection"] if same(d["cell"])]
    runs = sum(d["runs"] for d in det)
    if not runs:
        return outside("no injected cluster in its cell; " + ranges)
    detection = binomial_rate(sum(d["detected"] for d in det), runs, tab.get("level", 0.95))
    recall = precision = claims = cal = None
    msec = tab["models"].get(model) if model else None
    if msec is not None:
        rows = [run for c in msec["cells"] if same(c["cell"]) for run in c["runs"]]
        if rows:
            a = np.array([r[:3] for r in rows], dtype=float)
            phi = msec["overdispersion"]
            lev = tab.get("level", 0.95)
            recall = pooled_rate(a[:, 0], a[:, 1], level=lev, overdispersion=phi["recall"])
            precision = pooled_rate(a[:, 0], a[:, 2], level=lev, overdispersion=phi["precision"])
            claims = binomial_rate(sum(bool(r[3]) for r in rows), len(rows), lev)
        if msec.get("calibration"):
            cal = dict(msec["calibration"]["ece_p_ge_0.05"])
    idx = list(cell) if field_contrast is not None else [*cell[:2], None]
    cell_ranges = {
        name: (None if i is None else [edges[i], edges[i + 1]])
        for (name, edges), i in zip(_AXES, idx, strict=True)
    }
    if recall is not None:
        text = (
            f"clusters like this one ({what}) are recovered by the {model} model with recall "
            f"{recall.text()} and precision {precision.text()}; first-pass detection "
            f"{detection.text()} ({_plural(runs, 'injected cluster')}, {recall.runs} fitted)"
        )
    else:
        not_fit = f"the {model} model" if model else f"features {tuple(features)}"
        text = (
            f"clusters like this one ({what}) are detected by the first pass at a rate of "
            f"{detection.text()} ({_plural(runs, 'injected cluster')}); recall and precision "
            f"were not measured for {not_fit} there"
        )
    return CompletenessEstimate(
        True, query, cell_ranges, detection, recall, precision, claims, cal, text
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def binomial_rate(successes: int, trials: int, level: float = 0.95) -> Rate:
    """Return a rate of independent trials (runs) with its Clopper–Pearson interval."""
    lo, hi = binomial_interval(successes, trials, level=level)
    return Rate(
        successes / trials if trials else math.nan,
        lo,
        hi,
        float(successes),
        float(trials),
        int(trials),
        1.0,
        level,
    )


def _ranges(tab: Mapping[str, Any]) -> str:
    e = tab["edges"]
    return (
        f"measured for N in [{e['n_members'][0]:g}, {e['n_members'][-1]:g}), separations "
        f"below {e['separation'][-1]:g} dispersions"
    )


def cluster_position(
    cluster: Mapping[str, Any],
    *,
    pmra: ArrayLike,
    pmdec: ArrayLike,
    p_cluster: ArrayLike,
    pmra_error: ArrayLike | None = None,
) -> dict[str, float]:
    """Where a fitted cluster sits on the maps (the keys of :func:`expected_completeness`).

    Parameters
    ----------
    cluster : mapping
        ``summary["cluster"]`` of a run (:func:`bayesmix.analysis.cluster_report`):
        its ``parameters`` must hold ``cluster_pmra``, ``cluster_pmdec`` and
        ``cluster_pm_dispersion`` (or ``cluster_pmra_dispersion`` and
        ``cluster_pmdec_dispersion``) with a ``mean``; its ``members`` the
        ``expected`` number.
    pmra, pmdec : array-like of shape (n_rows,)
        Observed proper motions (mas/yr) of the fitted stars.
    p_cluster : array-like of shape (n_rows,)
        Their membership probabilities (NaN: not scored, left out).
    pmra_error : array-like of shape (n_rows,), optional
        Their pmra errors (mas/yr); None for data without errors (taken as 0).

    Returns
    -------
    dict
        ``n_members`` (expected members), ``separation`` (distance of the cluster's
        mean pm from the median pm of the stars with p <= 0.5, over
        s = hypot(mean intrinsic dispersion, median pmra_error of the stars with
        p > 0.5)), ``field_contrast`` (sum of 1 - p over the stars within 2 s of the
        cluster's pm, per expected member), ``spread`` (s, mas/yr) and ``bulk``
        (the field's median pm, mas/yr).
    """
    par = cluster.get("parameters", {})
    try:
        mu = np.array([par["cluster_pmra"]["mean"], par["cluster_pmdec"]["mean"]], dtype=float)
        if "cluster_pm_dispersion" in par:
            disp = float(par["cluster_pm_dispersion"]["mean"])
        else:
            disp = 0.5 * (
                float(par["cluster_pmra_dispersion"]["mean"])
                + float(par["cluster_pmdec_dispersion"]["mean"])
            )
        n_exp = float(cluster["members"]["expected"])
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"cluster report lacks {exc}: need parameters cluster_pmra, cluster_pmdec, "
            "cluster_pm_dispersion (or cluster_pmra/pmdec_dispersion) and members.expected",
            argument="cluster",
        ) from None
    pm = np.column_stack([np.asarray(pmra, dtype=float), np.asarray(pmdec, dtype=float)])
    p = np.asarray(p_cluster, dtype=float).reshape(-1)
    err = (
        np.zeros(len(p)) if pmra_error is None else np.asarray(pmra_error, dtype=float).reshape(-1)
    )
    if not (pm.shape[0] == p.size == err.size):
        raise DataError(
            f"pmra, pmdec, p_cluster and pmra_error need the same length; got {pm.shape[0]}, "
            f"{p.size} and {err.size}",
            argument="p_cluster",
        )
    ok = np.isfinite(p) & np.isfinite(pm).all(axis=1)
    mem = ok & (p > 0.5)
    fld = ok & (p <= 0.5)
    if not fld.any() or n_exp <= 0:
        raise DataError("no field star (p <= 0.5) or no expected member", argument="p_cluster")
    bulk = np.median(pm[fld], axis=0)
    e = float(np.nanmedian(err[mem])) if mem.any() else 0.0
    s = math.hypot(disp, e if math.isfinite(e) else 0.0)
    inside = ok & (np.hypot(pm[:, 0] - mu[0], pm[:, 1] - mu[1]) < 2.0 * s)
    return {
        "n_members": n_exp,
        "separation": float(np.hypot(*(mu - bulk)) / s),
        "field_contrast": float(np.sum(1.0 - p[inside]) / n_exp),
        "spread": s,
        "bulk": [float(b) for b in bulk],
    }


def completeness_report(
    cluster: Mapping[str, Any],
    *,
    features: Sequence[str],
    pmra: ArrayLike,
    pmdec: ArrayLike,
    p_cluster: ArrayLike,
    pmra_error: ArrayLike | None = None,
    table: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`cluster_position` then :func:`expected_completeness`, JSON-able, for reports.

    Returns
    -------
    dict
        ``position`` (the cluster_position dict), ``inside``, ``cell``,
        ``detection``/``recall``/``precision``/``claim_rate`` (Rate dicts or None),
        ``calibration_error`` and ``sentence``.
    """
    pos = cluster_position(
        cluster, pmra=pmra, pmdec=pmdec, p_cluster=p_cluster, pmra_error=pmra_error
    )
    est = expected_completeness(
        pos["n_members"], pos["separation"], pos["field_contrast"], features=features, table=table
    )
    out = est.to_dict()
    out.pop("query")
    return {"position": pos, **out}


def completeness_of_fit(
    fit: Any,
    cluster: Mapping[str, Any],
    p_cluster: ArrayLike,
    *,
    table: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`completeness_report` of a sampled ``cluster_field`` fit (what runners call).

    Parameters
    ----------
    fit : Fit
        A sampled :func:`~bayesmix.builders.cluster_field` model: its
        ``model.spec["features"]`` and the fitted stars' ``model.data["X"]`` (values,
        features without ra/dec, in order) and ``model.data["X_cov"]`` (error
        covariances) give the proper motions and the pmra errors.
    cluster : mapping
        Its :func:`~bayesmix.analysis.cluster_report`.
    p_cluster : array-like of shape (n_fitted,)
        Membership probability of each fitted star (the rows of ``X``).
    table : mapping, optional
        Default: the shipped table.

    Returns
    -------
    dict
        As :func:`completeness_report`.
    """
    features = [str(f) for f in fit.model.spec["features"]]
    xfeat = [f for f in features if f not in ("ra", "dec")]
    X = np.asarray(fit.model.data["X"], dtype=float)
    C = np.asarray(fit.model.data["X_cov"], dtype=float)
    i, j = xfeat.index("pmra"), xfeat.index("pmdec")
    return completeness_report(
        cluster,
        features=features,
        pmra=X[:, i],
        pmdec=X[:, j],
        p_cluster=p_cluster,
        pmra_error=np.sqrt(np.clip(C[:, i, i], 0.0, None)),
        table=table,
    )
