"""Summaries of the injection-recovery results (tables in Markdown, maps as a figure).

Reads ``detect.jsonl`` and ``fit*.jsonl`` written by ``bench/injection_recovery.py`` and
writes, in the same folder, ``completeness.json`` (the table of
:func:`bayesmix.analysis.completeness.build_completeness_table`, which the package ships
for its reports), ``summary.md`` (goals with 95 % intervals, the maps' cells, per-design
tables) and, when matplotlib is there, ``completeness_maps.png`` and ``reliability.png``.

* detection rate: the new first pass claims a cluster *and* most of the stars it picks
  are injected members (``recovered``); the old first pass has no claim, so its rate is
  only "on target" (most picked stars are members);
* recall and precision of p(cluster) > 0.5 against the injected truth, members pooled
  over the runs of a cell (quasi-binomial intervals; per-design tables: medians);
* calibration: probabilities pooled over runs in 20 bins; expected calibration error
  ECE = sum_b (n_b / N) |mean p_b - member fraction_b|, over the stars the fits scored;
* false claims: the fraction of empty sub-fields (``null``) on which a cluster is claimed
  (by the first pass, and by ``compare_to_field`` after a fit).
"""

from __future__ import annotations

import json
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
    out = [
        f"| {key_r} \\ {key_c} | " + " | ".join(f"{c:g}" for c in cv) + " |",
        "|---|" + "---|" * len(cv),
    ]
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
    bins = [
        (float(p), float(f), int(c))
        for p, f, c in zip(rc.mean_probability, rc.observed_fraction, rc.counts, strict=True)
        if c > 0
    ]
    return float(rc.calibration_error), bins


def summarize(folder: Path) -> Path:
    det = [r for r in _load(folder / "detect.jsonl") if not r.get("error")]
    fits = {
        f.stem: [r for r in _load(f) if not r.get("error")]
        for f in sorted(folder.glob("fit*.jsonl"))
    }
    errors = []
    for f in sorted(folder.glob("*.jsonl")):
        if f.name == "oracle.jsonl":
            continue
        recs = _load(f)
        ok_ids = {r["id"] for r in recs if not r.get("error")}
        # failed runs not (yet) redone successfully
        errors += [
            {**r, "id": f"{f.stem}: {r['id']}"}
            for r in recs
            if r.get("error") and r["id"] not in ok_ids
        ]
    lines = [
        "# Injection-recovery results",
        "",
        f"{len(det)} detection runs, "
        + ", ".join(f"{len(v)} {k} runs" for k, v in fits.items())
        + f", {len(errors)} failed runs.",
        "",
    ]
    from bayesmix.analysis.completeness import build_completeness_table

    table = build_completeness_table(
        det,
        {{"fit": "pm2d"}.get(k, k.removeprefix("fit_")): v for k, v in fits.items()},
        source=f"bench/injection_recovery.py, {folder.name}",
    )
    oracle = {r["id"]: r for r in _load(folder / "oracle.jsonl")}
    lines += _goals(table) + _goal_breakdown(fits, oracle) + _map_table(table)
    for design, kr, kc in (
        ("map", "n", "offset"),
        ("dispersion", "n", "disp"),
        ("distance", "n", "dist"),
        ("boundary", "n", "sep"),
    ):
        for host in sorted({r["host"] for r in det if r["design"] == design}):
            rows = [r for r in det if r["design"] == design and r["host"] == host]
            lines += [
                f"## Detection, {design}, host {host}",
                "",
                "New first pass, recovered (claimed and on target):",
                "",
                _grid_table(rows, kr, kc, lambda g: _rate([r["recovered"] for r in g])),
                "",
                "Old find_center, on target:",
                "",
                _grid_table(rows, kr, kc, lambda g: _rate([r["old_on_target"] for r in g])),
                "",
            ]
    nulls = [r for r in det if r["design"] == "null"]
    if nulls:
        lines += [
            "## False claims of the first pass on empty fields",
            "",
            "| host | claims / runs | max z |",
            "|---|---|---|",
        ]
        for host in sorted({r["host"] for r in nulls}):
            g = [r for r in nulls if r["host"] == host]
            zs = [r["z"] for r in g if r["z"] is not None]
            lines.append(
                f"| {host} | {sum(r['found'] for r in g)}/{len(g)} | "
                f"{max(zs) if zs else float('nan'):.1f} |"
            )
        lines.append("")
    for name, recs in fits.items():
        lines += _pipeline_section(name, recs)
    if errors:
        lines += ["", "## Failed runs", ""] + [f"- {r['id']}: {r['error']}" for r in errors[:50]]
    out = folder / "summary.md"
    out.write_text("\n".join(lines) + "\n")
    (folder / "completeness.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    _figure(table, folder)
    return out


def _met(rate: dict, goal: float, *, below: bool = False) -> str:
    """Whether a measured rate meets a goal, judged by its 95 % interval."""
    if not rate or not rate.get("trials"):
        return "not measured"
    v, lo, hi = rate["value"], rate["lower"], rate["upper"]
    if below:  # goal: value < goal
        v, lo, hi, goal = -v, -hi, -lo, -goal
    if lo >= goal:
        return "met (interval clears it)"
    if v >= goal:
        return "likely (point meets it, interval straddles)"
    if hi >= goal:
        return "unclear (point misses it, interval straddles)"
    return "not met (interval misses it)"


def _r(rate: dict | None) -> str:
    if not rate or not rate.get("trials"):
        return "—"
    return (
        f"{rate['value']:.3f} [{rate['lower']:.3f}, {rate['upper']:.3f}] "
        f"({rate['successes']:.0f}/{rate['trials']:.0f})"
    )


def _goals(table: dict) -> list[str]:
    """The issue-12 goals, from the completeness table (95 % intervals)."""
    g = table["goals"]
    fc = g["first_pass_false_claims"]
    lines = [
        "## Goals of issue 12 (N >= 50 and >= 5 cluster dispersions from the field's bulk)",
        "",
        "Intervals: 95 % Clopper-Pearson; recall and precision pool the members of all "
        "runs with the quasi-binomial over-dispersion of the model (phi below); ECE "
        "interval: bootstrap over runs; false claims: 95 % one-sided upper bound.",
        "",
        "| quantity | measured [95 % interval] | goal | met |",
        "|---|---|---|---|",
        f"| first-pass detection rate | {_r(g['detection_rate'])} | >= 0.95 | "
        f"{_met(g['detection_rate'], 0.95)} |",
        f"| first-pass false claims on empty sub-fields | {fc['claims']}/{fc['runs']}"
        + (f" (< {fc['upper_95_one_sided']:.4f})" if fc["runs"] else "")
        + " | <= 0.01 | "
        + (
            (
                "met (bound below it)"
                if fc["upper_95_one_sided"] <= 0.01
                else "not shown (bound above it)"
            )
            if fc["runs"]
            else "not measured"
        )
        + " |",
    ]
    for model, m in ((k, v) for k, v in g.items() if isinstance(v, dict) and "recall" in v):
        phi = table["models"][model]["overdispersion"]
        e = m["calibration_error_p_ge_0.05"]
        c = m["compare_to_field_false_claims"]
        k95, nr = m["runs_with_recall_ge_0.95"]
        lines += [
            f"| {model}: recall of p > 0.5 (phi {phi['recall']:.1f}) | {_r(m['recall'])} | "
            f">= 0.95 | {_met(m['recall'], 0.95)} |",
            f"| {model}: runs with recall >= 0.95 | {k95}/{nr} | | |",
            f"| {model}: precision of p > 0.5 (phi {phi['precision']:.1f}) | "
            f"{_r(m['precision'])} | | |",
            f"| {model}: calibration error, stars with p >= 0.05 | "
            + (f"{e['value']:.3f} [{e['lower']:.3f}, {e['upper']:.3f}]" if e else "—")
            + " | < 0.03 | "
            + (
                _met(
                    {"value": e["value"], "lower": e["lower"], "upper": e["upper"], "trials": 1},
                    0.03,
                    below=True,
                )
                if e
                else "not measured"
            )
            + " |",
            f"| {model}: compare_to_field claims on empty sub-fields (fitted anyway) | "
            f"{c['claims']}/{c['runs']}"
            + (f" (< {c['upper_95_one_sided']:.3f})" if c["runs"] else "")
            + " | <= 0.01 | "
            "(the run stops at the first pass: see above) |",
        ]
    return lines + [""]


def _goal_breakdown(fits: dict[str, list[dict]], oracle: dict[str, dict]) -> list[str]:
    """Recall and precision in the goal region per model, host and N (where it fails)."""
    from bayesmix.analysis.completeness import GOAL_MIN_MEMBERS, GOAL_MIN_SEPARATION, pooled_rate

    lines = []
    for name, recs in fits.items():
        model = {"fit": "pm2d"}.get(name, name.removeprefix("fit_"))
        inj = [
            r
            for r in recs
            if r["design"] != "null"
            and r.get("n_truth_scored") is not None
            and r["n"] >= GOAL_MIN_MEMBERS
            and r.get("offset_in_cluster_sd", -1) >= GOAL_MIN_SEPARATION
        ]
        if not inj:
            continue
        rows, worst = [], []
        for host in sorted({r["host"] for r in inj}):
            for n in sorted({r["n"] for r in inj if r["host"] == host}):
                g = [r for r in inj if r["host"] == host and r["n"] == n]
                a = np.array([[r["n_hits"], r["n_truth_scored"], r["n_pos"]] for r in g], float)
                rc = pooled_rate(a[:, 0], a[:, 1]).to_dict()
                pr = pooled_rate(a[:, 0], a[:, 2]).to_dict()
                orc = [oracle[r["id"]]["oracle_pm_recall"] * r["n"] for r in g if r["id"] in oracle]
                o = f"{sum(orc) / sum(r['n'] for r in g if r['id'] in oracle):.3f}" if orc else "—"
                rows.append(f"| {host} | {n} | {len(g)} | {_r(rc)} | {_r(pr)} | {o} |")
                worst.append((rc["value"], host, n))
        ok = sum(v >= 0.95 for v, _, _ in worst)
        v, h, n = min(worst)
        lines += [
            f"## {model}: recall and precision in the goal region by host and N",
            "",
            f"Groups with pooled recall >= 0.95: {ok} of {len(worst)}; the worst: {h}, "
            f"N = {n}, recall {v:.3f}. Intervals here are plain binomial within the "
            "group (runs may scatter more).",
            "",
            "Oracle: recall of p > 0.5 for a proper-motion-only oracle that knows the "
            "injected cluster and the host's pm density (no 2-D fit can do much "
            "better; `injection_recovery.py oracle`).",
            "",
            "| host | N | runs | recall [95 %] | precision [95 %] | pm-only oracle recall |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    return lines


def _map_table(table: dict) -> list[str]:
    """Every measured cell of the maps (what the report lookup reads)."""
    from bayesmix.analysis.completeness import binomial_rate, pooled_rate

    e = table["edges"]

    def rng(axis, i):
        lo, hi = e[axis][i], e[axis][i + 1]
        return f"{lo:g}–{hi:g}"

    models = sorted(table["models"])
    head = (
        "| N | separation | field contrast | detection [95 %] | "
        + " | ".join(f"{m} recall | {m} precision" for m in models)
        + " |"
    )
    lines = [
        "## The maps (cells of completeness.json)",
        "",
        "Separation: cluster's pm offset from the field's median pm in its observed "
        "spread hypot(dispersion, median member pmra_error); field contrast: field stars "
        "per member within 2 spreads of its pm.",
        "",
        head,
        "|---|---|---|---|" + "---|---|" * len(models),
    ]
    for d in table["detection"]:
        i, j, k = d["cell"]
        det = binomial_rate(d["detected"], d["runs"]).to_dict()
        row = [
            rng("n_members", i),
            rng("separation", j),
            rng("field_contrast", k),
            f"{det['value']:.2f} [{det['lower']:.2f}, {det['upper']:.2f}] "
            f"({d['detected']}/{d['runs']})",
        ]
        for m in models:
            ms = table["models"][m]
            runs = [r for c in ms["cells"] if c["cell"] == d["cell"] for r in c["runs"]]
            if not runs:
                row += ["—", "—"]
                continue
            a = np.array([r[:3] for r in runs], float)
            for col, key in ((1, "recall"), (2, "precision")):
                rt = pooled_rate(
                    a[:, 0], a[:, col], overdispersion=ms["overdispersion"][key]
                ).to_dict()
                row.append(
                    f"{rt['value']:.2f} [{rt['lower']:.2f}, {rt['upper']:.2f}] ({len(runs)})"
                    if rt["trials"]
                    else "—"
                )
        lines.append("| " + " | ".join(row) + " |")
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

    for design, kr, kc in (
        ("map", "n", "offset"),
        ("dispersion", "n", "disp"),
        ("distance", "n", "dist"),
        ("boundary", "n", "sep"),
    ):
        for host in sorted({r["host"] for r in fit if r["design"] == design}):
            rows = [r for r in fit if r["design"] == design and r["host"] == host]
            e, _ = ece(rows)
            e1, _ = ece(rows, skip_first=True)
            lines += [
                f"## Pipeline ({model} model), {design}, host {host} (ECE {e:.4f}; "
                f"{e1:.3f} for p >= 0.05)",
                "",
                "Recall of p > 0.5 (median over replicates):",
                "",
                _grid_table(rows, kr, kc, med("recall")),
                "",
                "Precision of p > 0.5:",
                "",
                _grid_table(rows, kr, kc, med("precision")),
                "",
                "compare_to_field claims:",
                "",
                _grid_table(rows, kr, kc, lambda g: _rate([r.get("claim") for r in g])),
                "",
            ]
    if fit:
        inj = [r for r in fit if r["design"] != "null"]
        e, bins = ece(inj)
        e1, _ = ece(inj, skip_first=True)
        lines += [
            f"## Calibration, all {model} pipeline runs (ECE {e:.4f}; {e1:.3f} for p >= 0.05)",
            "",
            "| mean p | member fraction | stars |",
            "|---|---|---|",
        ]
        lines += [f"| {p:.3f} | {f:.3f} | {n} |" for p, f, n in bins]
        fn = [r for r in fit if r["design"] == "null"]
        if fn:
            lines += [
                "",
                f"compare_to_field claims on empty fields: "
                f"{sum(bool(r.get('claim')) for r in fn)}/{len(fn)}",
                "",
            ]
    return lines


def _figure(table: dict, folder: Path) -> None:
    """completeness_maps.png (rates per cell) and reliability.png (calibration per model)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    from bayesmix.analysis.completeness import pooled_rate

    e = table["edges"]
    nn, ns, nc = (len(e[k]) - 1 for k in ("n_members", "separation", "field_contrast"))
    panels = [
        (
            "first-pass detection",
            {tuple(d["cell"]): (d["detected"] / d["runs"], d["runs"]) for d in table["detection"]},
        )
    ]
    for model in sorted(table["models"]):
        ms = table["models"][model]
        vals = {}
        for c in ms["cells"]:
            a = np.array([r[:3] for r in c["runs"]], float)
            rt = pooled_rate(a[:, 0], a[:, 1])
            vals[tuple(c["cell"])] = (rt.value, len(c["runs"]))
        if vals:
            panels.append((f"{model} recall (p > 0.5)", vals))
    fig, axes = plt.subplots(
        len(panels), nc, figsize=(3.3 * nc, 2.9 * len(panels)), squeeze=False, layout="constrained"
    )
    im = None
    for i, (title, vals) in enumerate(panels):
        for k in range(nc):
            ax = axes[i, k]
            img = np.full((nn, ns), np.nan)
            for (a, b, c), (v, _) in vals.items():
                if c == k:
                    img[a, b] = v
            im = ax.imshow(img, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for (a, b, c), (v, runs) in vals.items():
                if c == k:
                    ax.text(
                        b,
                        a,
                        f"{v:.2f}\n{runs}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="w" if v < 0.6 else "k",
                    )
            ax.set_xticks(range(ns), [f"{x:g}" for x in e["separation"][:-1]], fontsize=7)
            ax.set_yticks(range(nn), [f"{x:g}" for x in e["n_members"][:-1]], fontsize=7)
            lo, hi = e["field_contrast"][k], e["field_contrast"][k + 1]
            ax.set_title(f"{title}\nfield contrast {lo:g}–{hi:g}", fontsize=8)
            ax.set_xlabel("separation from the bulk (cluster spreads, bin start)", fontsize=7)
            ax.set_ylabel("members (bin start)", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.5, label="rate (cell: value, runs)")
    fig.savefig(folder / "completeness_maps.png", dpi=110)
    plt.close(fig)
    cals = {m: ms["calibration"] for m, ms in table["models"].items() if ms.get("calibration")}
    if not cals:
        return
    fig, ax = plt.subplots(figsize=(4.2, 4.0), layout="constrained")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
    for m, cal in sorted(cals.items()):
        b = cal["bins"]
        ece1 = cal["ece_p_ge_0.05"]
        ax.plot(
            [x["mean_p"] for x in b],
            [x["member_fraction"] for x in b],
            "o-",
            ms=3,
            label=f"{m}: ECE(p >= 0.05) {ece1['value']:.3f} "
            f"[{ece1['lower']:.3f}, {ece1['upper']:.3f}], {cal['runs']} fits",
        )
    ax.set_xlabel("predicted membership probability (bin mean)")
    ax.set_ylabel("fraction of injected members")
    ax.legend(fontsize=7, loc="upper left")
    fig.savefig(folder / "reliability.png", dpi=110)
    plt.close(fig)


def ship(folder: Path) -> list[Path]:
    """Copy the table into the package and the figures into docs/figures/."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    pairs = [
        (
            folder / "completeness.json",
            root / "bayesmix" / "analysis" / "data" / "completeness.json",
        ),
        (
            folder / "completeness_maps.png",
            root / "docs" / "figures" / "injection_completeness_maps.png",
        ),
        (folder / "reliability.png", root / "docs" / "figures" / "injection_reliability.png"),
    ]
    done = []
    for src, dst in pairs:
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            done.append(dst)
    return done


if __name__ == "__main__":
    print(summarize(Path(__file__).resolve().parent / "results" / "injection_recovery"))
