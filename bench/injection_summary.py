"""Summaries of the injection-recovery results (tables in Markdown, maps as a figure).

Reads ``detect.jsonl`` and ``fit.jsonl`` written by ``bench/injection_recovery.py`` and
writes ``summary.md`` (and ``maps.png`` when matplotlib is there) in the same folder.

* detection rate: the new first pass claims a cluster *and* most of the stars it picks
  are injected members (``recovered``); the old first pass has no claim, so its rate is
  only "on target" (most picked stars are members);
* recall and precision of p(cluster) > 0.5 against the injected truth (median and
  10th percentile over replicates);
* calibration: probabilities pooled over runs in 20 bins; expected calibration error
  ECE = sum_b (n_b / N) |mean p_b - member fraction_b|, over the stars the fits scored;
* false claims: the fraction of empty sub-fields (``null``) on which a cluster is claimed
  (by the first pass, and by ``compare_to_field`` after a fit).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _rate(values: list[bool]) -> str:
    if not values:
        return "—"
    k, n = sum(bool(v) for v in values), len(values)
    return f"{k}/{n}" if n < 10 else f"{k / n:.2f}"


def _grid_table(rows: list[dict], key_r: str, key_c: str, cell) -> str:
    rv = sorted({r[key_r] for r in rows})
    cv = sorted({r[key_c] for r in rows})
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r[key_r], r[key_c])].append(r)
    out = [f"| {key_r} \\ {key_c} | " + " | ".join(f"{c:g}" for c in cv) + " |",
           "|---|" + "---|" * len(cv)]
    for a in rv:
        out.append(f"| {a:g} | " + " | ".join(cell(groups.get((a, c), [])) for c in cv) + " |")
    return "\n".join(out)


def ece(recs: list[dict], *, skip_first: bool = False):
    """Expected calibration error and the pooled reliability bins (mean p, fraction, n).

    The per-run bin sums (20 bins on [0, 1]) are added up and passed to
    :func:`bayesmix.analysis.figures_data.reliability_from_bins` (one formula).
    ``skip_first`` leaves out the bin p < 0.05, whose tens of thousands of field stars
    otherwise make any ECE small.
    """
    from bayesmix.analysis.figures_data import reliability_from_bins

    n = np.zeros(20)
    m = np.zeros(20)
    sp = np.zeros(20)
    for r in recs:
        if r.get("calib_n"):
            n += r["calib_n"]
            m += r["calib_members"]
            sp += r["calib_sum_p"]
    if skip_first:
        n[0] = m[0] = sp[0] = 0.0
    if n.sum() == 0:
        return float("nan"), []
    rc = reliability_from_bins(n, m, sp)
    bins = [(float(p), float(f), int(c)) for p, f, c in
            zip(rc.mean_probability, rc.observed_fraction, rc.counts, strict=True) if c > 0]
    return float(rc.calibration_error), bins


def summarize(folder: Path) -> Path:
    det = [r for r in _load(folder / "detect.jsonl") if not r.get("error")]
    fits = {f.stem: [r for r in _load(f) if not r.get("error")]
            for f in sorted(folder.glob("fit*.jsonl"))}
    fit = fits.get("fit", [])
    errors = []
    for f in sorted(folder.glob("*.jsonl")):
        recs = _load(f)
        ok_ids = {r["id"] for r in recs if not r.get("error")}
        # failed runs not (yet) redone successfully
        errors += [{**r, "id": f"{f.stem}: {r['id']}"} for r in recs
                   if r.get("error") and r["id"] not in ok_ids]
    lines = ["# Injection-recovery results", "",
             f"{len(det)} detection runs, "
             + ", ".join(f"{len(v)} {k} runs" for k, v in fits.items())
             + f", {len(errors)} failed runs.",
             ""]
    lines += _goals(det, fits)
    for design, kr, kc in (("map", "n", "offset"), ("dispersion", "n", "disp"),
                           ("distance", "n", "dist")):
        for host in sorted({r["host"] for r in det if r["design"] == design}):
            rows = [r for r in det if r["design"] == design and r["host"] == host]
            lines += [f"## Detection, {design}, host {host}", "",
                      "New first pass, recovered (claimed and on target):", "",
                      _grid_table(rows, kr, kc, lambda g: _rate([r["recovered"] for r in g])),
                      "", "Old find_center, on target:", "",
                      _grid_table(rows, kr, kc, lambda g: _rate([r["old_on_target"] for r in g])),
                      ""]
    nulls = [r for r in det if r["design"] == "null"]
    if nulls:
        lines += ["## False claims of the first pass on empty fields", "",
                  "| host | claims / runs | max z |", "|---|---|---|"]
        for host in sorted({r["host"] for r in nulls}):
            g = [r for r in nulls if r["host"] == host]
            zs = [r["z"] for r in g if r["z"] is not None]
            lines.append(f"| {host} | {sum(r['found'] for r in g)}/{len(g)} | "
                         f"{max(zs) if zs else float('nan'):.1f} |")
        lines.append("")
    for name, recs in fits.items():
        lines += _pipeline_section(name, recs)
    if errors:
        lines += ["", "## Failed runs", ""] + [f"- {r['id']}: {r['error']}" for r in errors[:50]]
    out = folder / "summary.md"
    out.write_text("\n".join(lines) + "\n")
    _completeness_json(det, fits, folder)
    _figure(det, fit, folder)
    return out


def _sep(r: dict) -> float:
    """Cluster's offset from the field's bulk in its observed pm spread (older runs: intrinsic)."""
    if r.get("offset_in_cluster_sd") is not None:
        return r["offset_in_cluster_sd"]
    return r["offset"] / r["disp"] if r.get("disp") else float("nan")


def _goals(det: list[dict], fits: dict[str, list[dict]]) -> list[str]:
    """The issue-12 goals, where they apply (N >= 50, >= 5 cluster sd from the bulk)."""
    def applies(r):
        return r["design"] != "null" and r["n"] >= 50 and _sep(r) >= 5

    d = [r for r in det if applies(r)]
    nulls = [r for r in det if r["design"] == "null"]
    lines = ["## Goals of issue 12 (N >= 50 and >= 5 cluster dispersions from the field's bulk)",
             "", "| quantity | measured | goal |", "|---|---|---|",
             f"| first-pass detection rate | {_rate([r['recovered'] for r in d])} "
             f"({len(d)} runs) | >= 0.95 |",
             f"| false claims of the first pass on empty fields | "
             f"{sum(bool(r['found']) for r in nulls)}/{len(nulls)} | <= 1 % |"]
    for name, recs in fits.items():
        model = {"fit": "pm2d"}.get(name, name.removeprefix("fit_"))
        f = [r for r in recs if applies(r)]
        rec = [r["recall"] for r in f if r.get("recall") is not None]
        e1, _ = ece([r for r in recs if r["design"] != "null"], skip_first=True)
        fn = [r for r in recs if r["design"] == "null"]
        lines += [
            f"| {model}: median recall (runs with recall >= 0.95) | "
            + (f"{np.median(rec):.3f} ({sum(v >= 0.95 for v in rec)}/{len(rec)})" if rec
               else "—") + " | >= 0.95 |",
            f"| {model}: calibration error, p >= 0.05 | {e1:.3f} | < 0.03 |",
            f"| {model}: compare_to_field claims on empty fields | "
            f"{sum(bool(r.get('claim')) for r in fn)}/{len(fn)} | <= 1 % |"]
    return lines + [""]


def _pipeline_section(name: str, fit: list[dict]) -> list[str]:
    """Recall, precision, claims and calibration of one model's pipeline runs."""
    model = {"fit": "pm2d"}.get(name, name.removeprefix("fit_"))
    lines: list[str] = []

    def med(key):
        def cell(g):
            v = [r[key] for r in g if r.get(key) is not None]
            return "—" if not v else f"{np.median(v):.2f}"

        return cell

    for design, kr, kc in (("map", "n", "offset"), ("dispersion", "n", "disp"),
                           ("distance", "n", "dist")):
        for host in sorted({r["host"] for r in fit if r["design"] == design}):
            rows = [r for r in fit if r["design"] == design and r["host"] == host]
            e, _ = ece(rows)
            e1, _ = ece(rows, skip_first=True)
            lines += [f"## Pipeline ({model} model), {design}, host {host} (ECE {e:.4f}; "
                      f"{e1:.3f} for p >= 0.05)", "",
                      "Recall of p > 0.5 (median over replicates):", "",
                      _grid_table(rows, kr, kc, med("recall")), "",
                      "Precision of p > 0.5:", "", _grid_table(rows, kr, kc, med("precision")),
                      "", "compare_to_field claims:", "",
                      _grid_table(rows, kr, kc, lambda g: _rate([r.get("claim") for r in g])),
                      ""]
    if fit:
        inj = [r for r in fit if r["design"] != "null"]
        e, bins = ece(inj)
        e1, _ = ece(inj, skip_first=True)
        lines += [f"## Calibration, all {model} pipeline runs (ECE {e:.4f}; {e1:.3f} for "
                  "p >= 0.05)", "",
                  "| mean p | member fraction | stars |", "|---|---|---|"]
        lines += [f"| {p:.3f} | {f:.3f} | {n} |" for p, f, n in bins]
        fn = [r for r in fit if r["design"] == "null"]
        if fn:
            lines += ["", f"compare_to_field claims on empty fields: "
                      f"{sum(bool(r.get('claim')) for r in fn)}/{len(fn)}", ""]
    return lines


def _completeness_json(det: list[dict], fits: dict[str, list[dict]], folder: Path) -> None:
    """completeness.json: per design, host, N and offset/dispersion/distance, the rates.

    A compact table for reports ("clusters like this one are recovered with recall R and
    precision P"): detection rate of the first pass, and per model the median recall,
    precision and claim rate of the pipeline, with the number of runs behind each.
    """
    keys = {"map": "offset", "dispersion": "disp", "distance": "dist"}
    cells: dict[tuple, dict[str, Any]] = {}
    for r in det:
        if r["design"] in keys:
            k = (r["design"], r["host"], r["n"], r[keys[r["design"]]])
            c = cells.setdefault(k, {"detected": []})
            c["detected"].append(bool(r["recovered"]))
    for name, recs in fits.items():
        model = {"fit": "pm2d"}.get(name, name.removeprefix("fit_"))
        for r in recs:
            if r["design"] in keys:
                k = (r["design"], r["host"], r["n"], r[keys[r["design"]]])
                c = cells.setdefault(k, {"detected": []}).setdefault(model, {"recall": [],
                                                                         "precision": [],
                                                                         "claim": []})
                for q in ("recall", "precision"):
                    if r.get(q) is not None:
                        c[q].append(r[q])
                c["claim"].append(bool(r.get("claim")))
    rows = []
    for (design, host, n, x), c in sorted(cells.items()):
        row: dict[str, Any] = {"design": design, "host": host, "n_members": n,
                               keys[design]: x, "runs": len(c["detected"]),
                               "detection_rate": (float(np.mean(c["detected"]))
                                                  if c["detected"] else None)}
        for model, m in c.items():
            if model == "detected":
                continue
            row[model] = {"runs": len(m["claim"]),
                          "recall": float(np.median(m["recall"])) if m["recall"] else None,
                          "precision": (float(np.median(m["precision"])) if m["precision"]
                                        else None),
                          "claim_rate": float(np.mean(m["claim"]))}
        rows.append(row)
    nulls = [r for r in det if r["design"] == "null"]
    out = {"definition": "bench/injection_recovery.py; detection_rate: first pass claims the "
           "cluster and most stars it picks are injected members; recall/precision: p > 0.5 vs "
           "the injected truth (median over runs); claim_rate: compare_to_field",
           "false_claims": {"runs": len(nulls), "claims": sum(bool(r["found"]) for r in nulls)},
           "cells": rows}
    (folder / "completeness.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def _figure(det, fit, folder: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    hosts = sorted({r["host"] for r in det if r["design"] == "map"})
    if not hosts:
        return
    fig, axes = plt.subplots(2, len(hosts), figsize=(3.4 * len(hosts), 6.5), squeeze=False,
                             layout="constrained")
    for j, host in enumerate(hosts):
        for i, (recs, key, title) in enumerate(((det, "recovered", "detected"),
                                                 (fit, "recall", "recall"))):
            rows = [r for r in recs if r["design"] == "map" and r["host"] == host
                    and r.get(key) is not None]
            ax = axes[i, j]
            if not rows:
                ax.set_axis_off()
                continue
            ns = sorted({r["n"] for r in rows})
            offs = sorted({r["offset"] for r in rows})
            img = np.full((len(ns), len(offs)), np.nan)
            for a, n in enumerate(ns):
                for b, o in enumerate(offs):
                    v = [float(r[key]) for r in rows if r["n"] == n and r["offset"] == o]
                    img[a, b] = np.mean(v) if v else math.nan
            im = ax.imshow(img, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(offs)), [f"{o:g}" for o in offs])
            ax.set_yticks(range(len(ns)), [str(n) for n in ns])
            ax.set_title(f"{host}: {title}", fontsize=9)
            ax.set_xlabel("pm offset from field bulk (mas/yr)", fontsize=8)
            ax.set_ylabel("members", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.6)
    fig.savefig(folder / "maps.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    print(summarize(Path(__file__).resolve().parent / "results" / "injection_recovery"))
