"""The cluster part of a ``bayesmix run`` report: a JSON-able record and its text.

Every after-sampling step here (the cluster summary, the comparison with the field
alone, the member counts) that cannot be computed becomes a line in the record's
``warnings`` and in its text, never an exception: a finished fit is not lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesmix.analysis.cluster import cluster_summary, compare_to_field
from bayesmix.analysis.summary import thin_draws, unit_of

__all__ = ["CLUSTER_MAX_DRAWS", "cluster_report", "format_cluster_report"]

#: Draws (over all chains) the cluster summary and the comparison with the field use at most.
CLUSTER_MAX_DRAWS = 1000


def cluster_report(
    fit: Any,
    p_cluster: np.ndarray,
    *,
    reference: Mapping[str, Any] | None = None,
    rng: int | np.random.Generator | None = 0,
    interval: float = 0.9,
    max_draws: int = CLUSTER_MAX_DRAWS,
) -> dict[str, Any]:
    """Cluster summary, membership counts and the cluster-or-not comparison (JSON-able).

    Parameters
    ----------
    fit : Fit
        A sampled :func:`~bayesmix.builders.cluster_field` model.
    p_cluster : ndarray of shape (n_rows,)
        Membership probability of every input row (NaN for rows not scored).
    reference : mapping, optional
        Published values by quantity name (``cluster_pmra`` ...), and an optional
        ``source``; shown next to the fitted values.
    rng : int, numpy.random.Generator or None, default 0
        Seed of :func:`~bayesmix.analysis.compare_to_field`.
    interval : float, default 0.9
        Central credible interval of the summary.
    max_draws : int, default :data:`CLUSTER_MAX_DRAWS`
        Draws used at most (evenly thinned, see :func:`thin_draws`).

    Returns
    -------
    dict
        ``interval``, ``n_draws`` (used), ``n_draws_total``, ``parameters``
        (:func:`~bayesmix.analysis.cluster_summary` entries, each with its
        ``unit`` from :func:`~bayesmix.analysis.unit_of`), ``reference``,
        ``reference_units`` (the unit of each published value), ``members``
        (``n_p_gt_0.5``, ``n_p_gt_0.9``, ``expected`` = sum of p, ``n_scored``),
        ``compare_to_field`` (its result, or None when it was not computed),
        ``compare_to_field_note`` (why not, else None), ``completeness`` (what the
        injection-recovery maps measured for clusters like this one:
        :func:`~bayesmix.analysis.completeness.completeness_of_fit`; None for a
        model without proper motions) and ``warnings`` (one line
        for each step that could not be computed and each quantity undefined in
        some draws; empty when everything was computed).

    Notes
    -----
    The summary and the comparison use evenly thinned draws (at most
    ``max_draws``): both hold an (n_draws x n_objects) array of
    log-likelihoods, which for 4000 draws of the 14,785 Blanco 1 stars is
    0.5 GB each and a minute of work, while the numbers agree with the
    unthinned ones well within their uncertainties.  A step that fails (e.g. the
    PSIS fit of a very short chain, "All tail values are the same") leaves its part
    out and is reported in ``warnings``; the run keeps its fit and its tables.
    """
    total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    fit = thin_draws(fit, max_draws)
    used = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    notes: list[str] = []
    params = cluster_summary(fit, interval=interval, notes=notes)
    p = np.asarray(p_cluster, dtype=float)
    p = p[np.isfinite(p)]
    members = {
        "n_p_gt_0.5": int((p > 0.5).sum()),
        "n_p_gt_0.9": int((p > 0.9).sum()),
        "expected": float(p.sum()),
        "n_scored": int(p.size),
    }
    opts = fit.model.spec
    fixed = opts.get("field") == "uniform" or (
        opts.get("field") == "gmm" and opts.get("field_fit") == "xd"
    )
    comparison: dict[str, Any] | None = None
    why_not = None
    if fixed:
        try:
            comparison = compare_to_field(fit, rng=rng)
        except Exception as exc:  # noqa: BLE001 - an after-sampling step never costs the fit
            short = "; PSIS-LOO needs more draws than this quick look" if used < 100 else ""
            why_not = f"not computed: the comparison failed ({type(exc).__name__}: {exc}){short}"
            notes.append(
                "the comparison with the field alone could not be computed "
                f"({type(exc).__name__}: {exc}){short}"
            )
    else:
        why_not = (
            f"not computed: compare_to_field needs a fixed field (field 'gmm' with field_fit "
            f"'xd', or 'uniform'); this spec has field {opts.get('field')!r}"
            + (f" with field_fit {opts.get('field_fit')!r}" if opts.get("field") == "gmm" else "")
        )
    ref = dict(reference or {})
    record = {
        "interval": interval,
        "n_draws": used,
        "n_draws_total": total,
        "parameters": {k: {**v, "unit": unit_of(k)} for k, v in params.items()},
        "reference": ref,
        "reference_units": {k: unit_of(k) for k in ref if k != "source"},
        "members": members,
        "compare_to_field": comparison,
        "compare_to_field_note": why_not,
        "completeness": None,
        "warnings": notes,
    }
    record["completeness"] = _completeness(fit, record, p_cluster, notes)
    return record


def _completeness(fit: Any, record: Mapping[str, Any], p_cluster: Any, notes: list[str]):
    """Look this cluster up on the injection-recovery maps (None: no pm, or it failed)."""
    from bayesmix.analysis.completeness import completeness_of_fit

    features = [str(f) for f in fit.model.spec.get("features", ())]
    if not {"pmra", "pmdec"} <= set(features):
        return None
    try:
        return completeness_of_fit(fit, record, np.asarray(p_cluster, dtype=float))
    except Exception as exc:  # noqa: BLE001 - an after-sampling step never costs the fit
        notes.append(
            f"the expected completeness could not be looked up ({type(exc).__name__}: {exc})"
        )
        return None


def _plural(n: int, word: str) -> str:
    """``"1 star"``, ``"2 stars"``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _decimals(v: Mapping[str, Any], published: float | None) -> int:
    """Decimals that resolve the uncertainty (2 significant digits of the sd or half-width).

    At least those of the published value and 3 for angles (0.001 deg); at most 6.
    """
    spread = v.get("sd")
    if spread is None or not math.isfinite(spread) or spread <= 0:
        spread = (v.get("upper", math.nan) - v.get("lower", math.nan)) / 3.3
    d = 1 - math.floor(math.log10(spread)) if math.isfinite(spread) and spread > 0 else 4
    if published is not None and math.isfinite(published):
        text = f"{published:.10g}"
        d = max(d, len(text.split(".")[1]) if "." in text and "e" not in text else 0)
    if v.get("unit") == "deg":
        d = max(d, 3)
    return int(min(max(d, 0), 6))


def format_cluster_report(report: Mapping[str, Any]) -> str:
    """Format a :func:`cluster_report` record as the cluster part of ``summary.txt``.

    Parameters
    ----------
    report : mapping
        The output of :func:`cluster_report`.

    Returns
    -------
    str
        A table of the cluster's parameters (mean, interval, published value,
        unit), the membership counts, the answer to "is there a cluster?" and the
        record's warnings, ending with a newline.  Each number has the decimals that
        resolve its uncertainty (two significant digits of its sd), at least those of
        the published value, and 0.001 deg for angles; a quantity undefined in some
        draws is marked ``*``.
    """
    c = report
    ref = {k: v for k, v in c["reference"].items() if k != "source"}
    pct = round(100 * c["interval"])
    draws = (
        ""
        if c["n_draws"] == c["n_draws_total"]
        else (f", from {c['n_draws']} of the {c['n_draws_total']} draws")
    )
    lines = ["", f"cluster (posterior mean and {pct}% interval{draws})"]
    if c["reference"].get("source"):
        lines[-1] += f"; published: {c['reference']['source']}"
    lines.append(f"  {'quantity':<30} {'mean':>12}  {f'{pct}% interval':<28} {'published':>10}")
    params = c["parameters"]
    last = ("cluster_fraction", "n_members")  # the cluster's parameters first, then its size
    names = [k for k in params if k not in last] + [k for k in last if k in params]
    starred = False
    for name in names:
        v = params[name]
        pub = ref.get(name)
        d = _decimals(v, pub)
        interval = f"[{v['lower']:.{d}f}, {v['upper']:.{d}f}]"
        star = "*" if v.get("n_undefined") else ""
        starred |= bool(star)
        lines.append(
            f"  {name + star:<30} {v['mean']:>12.{d}f}  {interval:<28}"
            f" {'' if pub is None else f'{pub:g}':>10}  {v.get('unit') or ''}".rstrip()
        )
    for name, value in ref.items():
        if name not in params:
            lines.append(
                f"  {name:<30} {'-':>12}  {'(not in this model)':<28} {value:>10g}  "
                f"{unit_of(name) or ''}".rstrip()
            )
    if starred:
        lines.append("  * undefined (NaN) in some draws: summarised over the others (see below)")
    m = c["members"]
    lines += [
        f"members: {_plural(m['n_p_gt_0.5'], 'star')} with p(cluster) > 0.5, {m['n_p_gt_0.9']} "
        f"with p > 0.9; expected number (sum of p) {m['expected']:.1f}, of "
        f"{_plural(m['n_scored'], 'star')} scored",
    ]
    cmp = c["compare_to_field"]
    if cmp is None:
        lines.append(f"is there a cluster? {c['compare_to_field_note']}")
    else:
        sky = (
            ""
            if cmp["sky_z"] is None
            else (f"; probable members concentrated on the sky at z = {cmp['sky_z']:.1f}")
        )
        lines.append(
            f"is there a cluster? {'yes' if cmp['cluster'] else 'no'}: cluster + field beats "
            f"the field alone by elpd {cmp['elpd_diff']:.1f} +- {cmp['se_diff']:.1f} "
            f"(PSIS-LOO){sky}"
        )
        lines.append(f"  (criterion: {cmp['criterion']})")
    if c.get("completeness"):
        lines.append(f"injection-recovery: {c['completeness']['sentence']}")
    lines += [f"warning: {w}" for w in c.get("warnings", ())]
    return "\n".join(lines) + "\n"
