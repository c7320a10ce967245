"""Issue 16: `bayesmix survey` over a synthetic sky of injected clusters (Parquet and HATS).

Builds a sky from real cluster-free Gaia fields (the DR3 field at RA 45, Blanco 1 DR2
without Blanco 1's members), each copy moved to its own place on the sky; injects one
simulated cluster (bayesmix.simulate) into most copies and leaves the others empty;
writes the sky as Parquet (several files) and as a HATS catalogue (LSDB); runs
`bayesmix survey` on a LocalCluster; and reports:

- per cluster: status, recall and precision of p > 0.5 against the injected truth;
- clusters per hour of the survey, and of a serial loop of `bayesmix run` calls
  (fresh processes, one per cluster, on the specs the survey wrote), both on this
  machine with its load;
- the peak memory of each worker process.

Usage::

    python bench/bench_survey.py --n-clusters 50 --n-empty 10 --workers 2 \\
        [--serial 10] [--hats] [--out bench/_data/survey] [--results bench/RESULTS.md]

The numbers are appended to bench/RESULTS.md (command, date, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from bayesmix.datasets import load_blanco1, load_gaia_field_ra45
from bayesmix.simulate import ClusterSpec, away_from_cluster, inject_clusters

COMMON = (
    "source_id",
    "ra",
    "dec",
    "parallax",
    "parallax_error",
    "pmra",
    "pmra_error",
    "pmdec",
    "pmdec_error",
    "phot_g_mean_mag",
    "bp_rp",
)


def _load() -> float:
    return os.getloadavg()[0]


def hosts():
    """Cluster-free real fields with the common columns (positive errors only for now)."""
    ra45 = load_gaia_field_ra45()
    b1 = away_from_cluster(load_blanco1(), pm=(18.74, 2.60, 2.0), parallax=(4.21, 1.0))
    out = []
    for name, t, radius in (("ra45", ra45, 0.45), ("blanco1_dr2_field", b1, 1.0)):
        t = t[[c for c in COMMON if c in t.colnames]]
        ok = np.ones(len(t), dtype=bool)
        for c in ("pmra_error", "pmdec_error", "parallax_error"):
            ok &= np.isfinite(np.asarray(t[c], float)) & (np.asarray(t[c], float) > 0)
        out.append((name, t[ok], radius))
    return out


def centre(t):
    ra = np.radians(np.asarray(t["ra"], float))
    return (
        float(np.degrees(np.arctan2(np.sin(ra).mean(), np.cos(ra).mean())) % 360.0),
        float(np.median(np.asarray(t["dec"], float))),
    )


def build_sky(n_clusters: int, n_empty: int, seed: int):
    """The synthetic sky: one host copy per listed cone, most with an injected cluster."""
    gen = np.random.default_rng(seed)
    parts, rows, truths = [], [], []
    hs = hosts()
    for i in range(n_clusters + n_empty):
        hname, host, radius = hs[i % len(hs)]
        ra0, dec0 = centre(host)
        # each copy sits on its own part of the sky (10 deg apart in RA, bands in Dec)
        ra_new, dec_new = (10.0 * (i % 36) + 5.0) % 360.0, -60.0 + 20.0 * (i // 36)
        t = host.copy()
        t["ra"] = (np.asarray(t["ra"]) - ra0 + ra_new) % 360.0
        t["dec"] = np.asarray(t["dec"]) - dec0 + dec_new
        t["source_id"] = np.asarray(t["source_id"]) + (i + 1) * 10**15
        name = f"c{i:03d}"
        bulk = np.median(np.asarray(t["pmra"])), np.median(np.asarray(t["pmdec"]))
        if i < n_clusters:
            n = int(gen.choice([20, 50, 100, 200, 500]))
            offset = float(gen.uniform(0.0, 15.0))
            angle = gen.uniform(0, 2 * np.pi)
            spec = ClusterSpec(
                n_members=n,
                ra=ra_new,
                dec=dec_new,
                radius=float(gen.uniform(0.05, 0.2)),
                pmra=bulk[0] + offset * np.cos(angle),
                pmdec=bulk[1] + offset * np.sin(angle),
                parallax=float(gen.uniform(0.5, 3.0)),
                pm_dispersion=float(gen.uniform(0.1, 0.5)),
            )
            t = inject_clusters(t, spec, rng=int(gen.integers(2**31))).table
            truths.append({"name": name, "host": hname, **spec.to_dict(), "offset": offset})
            hint = (spec.pmra, spec.pmdec)
        else:
            t["injected"] = False
            truths.append({"name": name, "host": hname, "n_members": 0})
            hint = (np.nan, np.nan)
        t = t[[c for c in (*COMMON, "injected") if c in t.colnames]]
        parts.append(t)
        rows.append(
            {
                "name": name,
                "ra": ra_new,
                "dec": dec_new,
                "radius": radius,
                "pmra": hint[0],
                "pmdec": hint[1],
            }
        )
    return parts, Table(rows), truths


def recovery(out: Path, name: str) -> tuple[float, float]:
    """Recall and precision of p > 0.5 against the injected truth of one cone."""
    cone = Table.read(out / "cones" / f"{name}.parquet")
    m = Table.read(out / "members" / f"{name}.parquet")
    truth = np.asarray(cone["injected"], bool)
    p = np.nan_to_num(np.asarray(m["p_cluster"], float))
    sel = p > 0.5
    recall = float((sel & truth).sum() / max(truth.sum(), 1))
    precision = float((sel & truth).sum() / max(sel.sum(), 1)) if sel.any() else float("nan")
    return recall, precision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-clusters", type=int, default=50)
    ap.add_argument("--n-empty", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--serial", type=int, default=5, help="clusters rerun as a serial loop")
    ap.add_argument("--hats", action="store_true", help="also write and survey a HATS copy")
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--tune", type=int, default=None)
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--out", default="bench/_data/survey")
    ap.add_argument("--results", default="bench/RESULTS.md")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    load0 = os.getloadavg()
    parts, lst, truths = build_sky(args.n_clusters, args.n_empty, args.seed)
    cat = out / "sky"
    cat.mkdir()
    sky = vstack(parts)
    for i, idx in enumerate(np.array_split(np.arange(len(sky)), 8)):
        sky[idx].write(cat / f"part{i}.parquet")
    lst.write(out / "clusters.csv")
    (out / "truth.json").write_text(json.dumps(truths, indent=1, default=float))
    print(f"sky: {len(sky)} stars, {len(lst)} cones, load {_load():.2f}", flush=True)
    if args.hats:
        import lsdb

        lsdb.from_dataframe(
            sky.to_pandas(), catalog_name="sky", ra_column="ra", dec_column="dec"
        ).write_catalog(out / "hats")

    cmd = [
        sys.executable,
        "-m",
        "bayesmix",
        "survey",
        str(cat),
        "--clusters",
        str(out / "clusters.csv"),
        "--out",
        str(out / "run"),
        "--workers",
        str(args.workers),
    ]
    for k in ("draws", "tune", "chains"):
        if getattr(args, k) is not None:
            cmd += [f"--{k}", str(getattr(args, k))]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    rows = {r["name"]: r for r in json.loads((out / "run" / "survey.json").read_text())["targets"]}
    result = Table.read(out / "run" / "clusters.csv", format="ascii.csv")
    per = []
    for truth in truths:
        r = result[list(result["name"]).index(truth["name"])]
        failed = r["status"] == "failed"
        rec, prec = (np.nan, np.nan) if failed else recovery(out / "run", truth["name"])
        per.append(
            {
                **truth,
                "status": str(r["status"]),
                "recall": rec,
                "precision": prec,
                "wall_s": float(r["wall_s"]),
            }
        )
    rate = len(truths) / wall * 3600.0
    # the serial loop: `bayesmix run` on the survey's own specs, one fresh process each
    serial = []
    for truth in truths[: args.serial]:
        t1 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bayesmix",
                "run",
                str(out / "run" / "specs" / f"{truth['name']}.toml"),
                "--out",
                str(out / "serial" / truth["name"]),
                "--quiet",
            ],
            check=True,
        )
        serial.append(time.perf_counter() - t1)
    serial_rate = 3600.0 / np.mean(serial) if serial else float("nan")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    load1 = os.getloadavg()
    injected = [p for p in per if p["n_members"] > 0]
    empty = [p for p in per if p["n_members"] == 0]
    lines = [
        "",
        f"### Issue 16 survey run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `{' '.join(sys.argv)}`; load average before {load0[0]:.2f} / "
        f"{load0[1]:.2f}, after {load1[0]:.2f} / {load1[1]:.2f} (1 / 5 min).",
        "",
        f"- sky: {len(sky)} stars, {len(truths)} cones ({len(injected)} with an injected "
        f"cluster, {len(empty)} empty), Parquet in 8 files",
        f"- survey on a LocalCluster of {args.workers} workers: {wall:.0f} s wall, "
        f"**{rate:.1f} clusters per hour**",
        f"- serial loop of `bayesmix run` (fresh process per cluster, {len(serial)} clusters): "
        f"{np.mean(serial) if serial else float('nan'):.1f} s per cluster, "
        f"**{serial_rate:.1f} clusters per hour**",
        f"- peak RSS of any child process (a worker or a run): {peak:.0f} MiB",
        f"- empty cones: {sum(p['status'] == 'no cluster' for p in empty)} of {len(empty)} "
        "report `no cluster`",
        "",
        "| name | host | N | offset (mas/yr) | disp | status | recall | precision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in per:
        lines.append(
            f"| {p['name']} | {p['host']} | {p['n_members']} | {p.get('offset', 0):.1f} | "
            f"{p.get('pm_dispersion', 0):.2f} | {p['status']} | {p['recall']:.2f} | "
            f"{p['precision']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.results, "a", encoding="utf-8") as fh:
        fh.write(text)
    (out / "per_cluster.json").write_text(json.dumps(per, indent=1, default=float))
    del rows


if __name__ == "__main__":
    main()
