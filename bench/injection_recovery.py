"""Injection-recovery sweep for cluster detection and membership (issue 12, item 3).

Simulated clusters (:mod:`bayesmix.simulate`: Plummer profile, Gaussian proper-motion
and parallax dispersions, members with the errors, correlations and magnitudes of
real host stars) are injected into real Gaia fields that contain no cluster:

* ``ra45``      Gaia DR3 cone (45, 0), r = 0.5 deg, 2,390 stars, full covariances.
* ``blanco1_dr2`` Gaia DR2 Blanco 1 field (5 deg, G < 18) without Blanco 1: stars
  within 3 mas/yr of its proper motion *and* 1.5 mas of its parallax removed
  (Cantat-Gaudin et al. 2020 values); no pmra_pmdec_corr (correlations off).
* ``blanco1_dr3`` Gaia DR3 Blanco 1 field (G < 17) without Blanco 1 (same cut); the
  file has no uncertainties: they are borrowed from magnitude-matched ``ra45`` stars
  (:func:`bayesmix.simulate.borrow_errors`).
* ``pleiades``  Gaia DR3 Pleiades cone (1.5 deg, TOP 50000) without the Pleiades
  (6 mas/yr, 2 mas cut); its missing pm errors are borrowed from ``ra45`` the same way.

Designs (each point x ``--reps`` replicates; every random choice is seeded from a hash
of the point's id, so a point gives the same numbers whatever the order of the run):

* ``map``: members N x proper-motion offset from the field's bulk (median pm), at
  1 kpc (parallax 1 mas), 0.3 mas/yr dispersion (1.4 km/s), Plummer radius 0.1 deg.
* ``dispersion``: pm dispersion x N at 10 mas/yr offset, 1 kpc.
* ``distance``: distance x N at 10 mas/yr offset; dispersion 1 km/s, radius 2 pc.
* ``boundary``: N = 50, 100 x 5, 7, 10 cluster dispersions from the field's bulk (the
  issue-12 goals' edge); the offset in mas/yr is ``sep`` x hypot(0.3 mas/yr, the host's
  median pm error), since members take host stars' errors.
* ``null``: no injection; sub-cones of the host (false claims on empty fields).

Modes: ``detect`` runs the first pass only (the new detection and, for comparison,
the old density-excess ``find_center``); ``fit`` runs the package's pipeline: the
first pass, ``cluster_field`` (2-D proper motions, XD field with 3 Gaussians),
``bayesmix.inference.sample`` (short chains), ``membership_table`` and
``compare_to_field`` (``--features full`` or ``astrometric`` for the 5-D or 3-D
models, results in ``fit_<features>.jsonl``), and scores p > 0.5 against the injected truth (recall,
precision) and the calibration (probabilities binned in 20 bins, pooled later into
a reliability curve and the expected calibration error).

Results are appended, one JSON line per (point, replicate), to
``bench/results/injection_recovery/<mode>.jsonl``; a rerun skips the lines already
there (resumable).  ``summarize`` writes ``summary.md`` next to them.

Usage::

    python bench/injection_recovery.py run --mode detect --design map --reps 10
    python bench/injection_recovery.py run --mode fit --design map --reps 2 --draws 300
    python bench/injection_recovery.py run --mode detect --design null --reps 50
    python bench/injection_recovery.py run --mode fit --design map --hosts ra45 --limit 3 \\
        --match "n=200|" "offset=10.0"
    python bench/injection_recovery.py summarize
    python bench/injection_recovery.py ship    # table into the package, figures into docs

The sweep of record is ``sh bench/injection_sweep.sh`` (resumable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA = HERE.parent.parent / "shared" / "data"
OUT = HERE / "results" / "injection_recovery"
K_TAN = 4.740470446

HOSTS: dict[str, dict[str, Any]] = {
    "ra45": {"file": "gaia_field_dr3_ra45_dec0/gaiadr3_field_ra45_dec0_r0p5.csv.gz"},
    "blanco1_dr2": {
        "file": "gaia_blanco1_dr2_field/blanco1_gaiadr2_G18_field.csv.gz",
        "cut": {"pm": (18.739, 2.602, 3.0), "parallax": (4.210, 1.5)},
        "correlations": False,
    },
    "blanco1_dr3": {
        "file": "gaia_blanco1_dr3_field/blanco1_gaiadr3_G17_field.csv.gz",
        "cut": {"pm": (18.739, 2.602, 3.0), "parallax": (4.210, 1.5)},
        "borrow_from": "ra45",
    },
    "pleiades": {
        "file": "gaia_pleiades_dr3_cone/pleiades_gaiadr3_cone1p5deg_top50000.csv.gz",
        "cut": {"pm": (20.077, -45.503, 6.0), "parallax": (7.346, 2.0)},
        "borrow_from": "ra45",
    },
}
FEATURES = {
    "pm2d": ("pmra", "pmdec"),
    "astrometric": ("parallax", "pmra", "pmdec"),
    "full": ("ra", "dec", "parallax", "pmra", "pmdec"),
}
N_GRID = (20, 50, 100, 200, 500, 1000, 2000)
OFFSETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
DISPERSIONS = (0.05, 0.1, 0.3, 1.0, 2.0)
DISTANCES = (150.0, 500.0, 1000.0, 2000.0, 4000.0)
N_SHORT = (50, 200, 1000)
N_BOUNDARY = (50, 100)
SEPARATIONS = (5.0, 7.0, 10.0)


# --------------------------------------------------------------------------------------------
# hosts and points
# --------------------------------------------------------------------------------------------

_HOST_CACHE: dict[str, Any] = {}


def load_host(name: str):
    """The host table (cluster cut away, errors borrowed where missing), cached."""
    if name in _HOST_CACHE:
        return _HOST_CACHE[name]
    from bayesmix.io import read_table
    from bayesmix.simulate import away_from_cluster, borrow_errors

    h = HOSTS[name]
    t = read_table(DATA / h["file"])
    if "cut" in h:
        t = away_from_cluster(t, **h["cut"])
    if "borrow_from" in h:
        t = borrow_errors(t, load_host(h["borrow_from"]), rng=seed_of(f"borrow|{name}"))
        t.meta.pop("error_donor_rows", None)
    _HOST_CACHE[name] = t
    return t


def seed_of(text: str) -> int:
    """A stable 31-bit seed from a string (SHA-256), independent of run order."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def points(design: str, hosts: list[str], reps: int) -> list[dict[str, Any]]:
    """Every (host, parameters, replicate) of a design, as dicts with an ``id``."""
    grid: list[dict[str, Any]] = []
    if design == "map":
        grid = [
            {"n": n, "offset": o, "disp": 0.3, "dist": 1000.0, "radius": 0.1}
            for n in N_GRID
            for o in OFFSETS
        ]
    elif design == "dispersion":
        grid = [
            {"n": n, "offset": 10.0, "disp": s, "dist": 1000.0, "radius": 0.1}
            for n in N_SHORT
            for s in DISPERSIONS
        ]
    elif design == "distance":
        grid = [
            {
                "n": n,
                "offset": 10.0,
                "disp": round(1.0 * 1000.0 / d / K_TAN, 4),
                "dist": d,
                "radius": round(math.degrees(2.0 / d), 4),
            }
            for n in N_SHORT
            for d in DISTANCES
        ]
    elif design == "boundary":
        grid = [
            {"n": n, "sep": s, "disp": 0.3, "dist": 1000.0, "radius": 0.1}
            for n in N_BOUNDARY
            for s in SEPARATIONS
        ]
    elif design == "null":
        grid = [{"n": 0}]
    else:
        raise SystemExit(f"unknown design {design!r}")
    out = []
    for h in hosts:
        for g in grid:
            for r in range(reps):
                p = {"host": h, "design": design, **g, "rep": r}
                p["id"] = "|".join(f"{k}={p[k]}" for k in sorted(p))
                out.append(p)
    return out


def make_case(p: dict[str, Any]):
    """(table, truth or None) for a point: a host (or a sub-cone of it) plus a cluster."""
    from bayesmix.simulate import ClusterSpec, cluster_region, inject_clusters
    from bayesmix.sky import Footprint, from_tangent_plane

    host = load_host(p["host"])
    gen = np.random.default_rng(seed_of(p["id"]))
    ra = np.ma.filled(np.ma.asarray(host["ra"], dtype=float), np.nan)
    dec = np.ma.filled(np.ma.asarray(host["dec"], dtype=float), np.nan)
    fp = Footprint.from_data(ra, dec)
    ra0, dec0 = fp.tangent_point
    size = (
        float(fp.radius)
        if fp.kind == "cone"
        else 0.5 * min(fp.ra_span * math.cos(math.radians(dec0)), fp.dec[1] - fp.dec[0])
    )
    if p["n"] == 0:
        # an empty field: a sub-cone of 0.6 x the host's size at a random place
        r = 0.4 * size * math.sqrt(gen.random())
        th = gen.uniform(0, 2 * math.pi)
        c_ra, c_dec = from_tangent_plane(r * math.sin(th), r * math.cos(th), ra0, dec0)
        keep = cluster_region(host, sky=(float(c_ra) % 360, float(c_dec), 0.6 * size))
        return host[keep], None
    pm = np.column_stack(
        [np.ma.filled(np.ma.asarray(host[c], dtype=float), np.nan) for c in ("pmra", "pmdec")]
    )
    bulk = np.nanmedian(pm, axis=0)
    offset = p.get("offset")
    if offset is None:  # design "boundary": the offset in the cluster's observed spread
        offset = float(p["sep"]) * math.hypot(float(p["disp"]), host_pm_error(p["host"]))
    ang = gen.uniform(0, 2 * math.pi)
    r = 0.5 * size * math.sqrt(gen.random())
    th = gen.uniform(0, 2 * math.pi)
    c_ra, c_dec = from_tangent_plane(r * math.sin(th), r * math.cos(th), ra0, dec0)
    spec = ClusterSpec(
        int(p["n"]),
        float(c_ra) % 360.0,
        float(c_dec),
        float(p["radius"]),
        pmra=float(bulk[0] + offset * math.cos(ang)),
        pmdec=float(bulk[1] + offset * math.sin(ang)),
        parallax=1000.0 / float(p["dist"]),
        pm_dispersion=float(p["disp"]),
    )
    inj = inject_clusters(host, spec, footprint=fp, rng=gen)
    mad = np.nanmedian(np.abs(pm - bulk), axis=0) * 1.4826
    inj.table.meta["bench_bulk"] = [float(v) for v in bulk]
    inj.table.meta["bench_field_sd"] = float(np.mean(mad))
    inj.table.meta["bench_offset"] = float(offset)
    return inj.table, inj


def host_pm_error(name: str) -> float:
    """The host's median proper-motion error (mean of pmra_error and pmdec_error, mas/yr)."""
    t = load_host(name)
    e = [
        np.ma.filled(np.ma.asarray(t[c], dtype=float), np.nan)
        for c in ("pmra_error", "pmdec_error")
    ]
    return float(np.nanmedian(0.5 * (e[0] + e[1])))


def cluster_position(table, inj) -> dict[str, float]:
    """Where an injected cluster sits: offset from the bulk and field density under it.

    ``offset_in_cluster_sd``: distance of the cluster's mean pm from the field's median
    pm in units of the cluster's observed spread s = hypot(intrinsic dispersion, median
    pmra_error of its members); ``offset_in_field_sd``: the same in the field's robust
    spread; ``field_in_2sd``: host (non-member) stars whose observed pm lies within 2 s
    of the cluster's mean pm; ``field_contrast`` = field_in_2sd / N.
    """
    truth = np.asarray(inj.is_member)
    c = inj.clusters[0]
    bulk = table.meta["bench_bulk"]
    off = float(np.hypot(c.pmra - bulk[0], c.pmdec - bulk[1]))
    err = (
        float(np.nanmedian(np.ma.filled(table["pmra_error"], np.nan)[truth]))
        if "pmra_error" in table.colnames
        else 0.0
    )
    s = math.hypot(c.pm_dispersion, err)
    pm = np.column_stack(
        [np.ma.filled(np.ma.asarray(table[k], dtype=float), np.nan) for k in ("pmra", "pmdec")]
    )
    d = np.hypot(pm[:, 0] - c.pmra, pm[:, 1] - c.pmdec) / s
    inside = int(np.sum((d < 2.0) & ~truth))
    return {
        "offset": round(off, 6),
        "offset_in_cluster_sd": off / s,
        "offset_in_field_sd": off / table.meta["bench_field_sd"],
        "cluster_sd_obs": s,
        "field_in_2sd": inside,
        "field_contrast": inside / max(int(truth.sum()), 1),
    }


# --------------------------------------------------------------------------------------------
# the first pass
# --------------------------------------------------------------------------------------------


def _detector():
    """The package's detection and where it comes from."""
    from bayesmix.builders.cluster.detect import detect_cluster

    return detect_cluster, "bayesmix.builders.cluster.detect"


def _legacy_center(table):
    """The old first pass (density excess at h minus 4h; bench/legacy_first_pass.py)."""
    from legacy_first_pass import find_center

    return find_center(table, ("pmra", "pmdec"))


def detection_record(table, inj, seed: int) -> dict[str, Any]:
    """Run both first passes on a table; score them against the truth."""
    detect, where = _detector()
    truth = None if inj is None else np.asarray(inj.is_member)
    t0 = time.perf_counter()
    d = detect(table, rng=seed)
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = _legacy_center(table)
    t_old = time.perf_counter() - t0
    rec: dict[str, Any] = {
        "detector": where,
        "found": bool(d.found),
        "z": _f(d.significance),
        "pm_center": None if d.pm_center is None else [float(v) for v in d.pm_center],
        "parallax": _f(d.parallax),
        "sky_center": d.sky_center,
        "n_selected": int(d.n_selected),
        "seconds": round(t_new, 3),
        "old_pm_center": [float(v) for v in old["pm_center"]],
        "old_n_selected": int(old["selected"].sum()),
        "old_seconds": round(t_old, 3),
    }
    if d.candidates:
        c = d.candidates[0]
        rec.update({k: _f(c.get(k)) for k in ("z_astro_global", "z_sky_global")})
    if truth is not None:
        c = inj.clusters[0]
        rec["bulk"] = table.meta["bench_bulk"]
        rec["field_sd"] = table.meta["bench_field_sd"]
        for tag, sel, pmc in (
            ("", d.selected, d.pm_center),
            ("old_", old["selected"], old["pm_center"]),
        ):
            hit = int(np.sum(sel & truth))
            rec[tag + "purity"] = hit / max(int(sel.sum()), 1)
            rec[tag + "completeness"] = hit / int(truth.sum())
            rec[tag + "pm_error"] = (
                None if pmc is None else float(np.hypot(pmc[0] - c.pmra, pmc[1] - c.pmdec))
            )
            # the first pass found the injected cluster: most stars it picked are members
            rec[tag + "on_target"] = rec[tag + "purity"] >= 0.5
        rec["recovered"] = bool(rec["found"] and rec["on_target"])
        rec.update(cluster_position(table, inj))
    return rec


def _f(v):
    return None if v is None or not np.isfinite(v) else float(v)


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------


def fit_record(table, inj, p, seed: int, args) -> dict[str, Any]:
    """First pass, cluster_field (2-D pm), short chains, membership, compare_to_field."""
    from bayesmix.inference import sample

    try:
        from bayesmix.analysis import compare_to_field, membership_table
    except ImportError:
        from bayesmix.builders.cluster_field import compare_to_field, membership_table
    from bayesmix.builders import cluster_field

    rec = detection_record(table, inj, seed)
    if not rec["found"] and not args.fit_anyway:
        rec.update(fitted=False, claim=False, recall=0.0 if inj is not None else None)
        if inj is not None:  # every injected member missed (the run made no claim)
            rec.update(n_hits=0, n_pos=0, n_truth_scored=int(np.sum(inj.is_member)))
        return rec
    hints = {}
    if args.first_pass == "detect" and rec["pm_center"] is not None:
        known = {
            "pmra": rec["pm_center"][0],
            "pmdec": rec["pm_center"][1],
            "parallax": rec["parallax"],
        }
        xfeat = [f for f in FEATURES[args.features] if f not in ("ra", "dec")]
        if all(known.get(f) is not None for f in xfeat):
            hints = {"center": [known[f] for f in xfeat], "sky_center": rec["sky_center"]}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = cluster_field(
            table,
            features=FEATURES[args.features],
            field="gmm",
            field_components=3,
            field_fit="xd",
            correlations=HOSTS[p["host"]].get("correlations", True),
            rng=seed,
            **hints,
        )
        fit = sample(
            mm, draws=args.draws, tune=args.tune, chains=args.chains, rng=seed, progressbar=False
        )
        tab = membership_table(fit, keep_columns=False)
        cmp = compare_to_field(fit, rng=seed, n_perm=500)
    rec["fit_seconds"] = round(time.perf_counter() - t0, 2)
    prob = np.asarray(tab["p_cluster"], dtype=float)
    ok = np.isfinite(prob)
    rec.update(
        fitted=True,
        claim=bool(cmp["cluster"]),
        elpd_diff=_f(cmp["elpd_diff"]),
        sky_z=_f(cmp["sky_z"]),
        n_members_fit=_f(cmp["n_members"]),
        n_scored=int(ok.sum()),
        rhat_max=_f(_rhat_max(fit)),
    )
    if inj is not None:
        truth = np.asarray(inj.is_member)[ok]
        pr = prob[ok]
        pos = pr > 0.5
        rec["n_hits"] = int(np.sum(pos & truth))
        rec["n_pos"] = int(pos.sum())
        rec["recall"] = float(np.sum(pos & truth) / max(truth.sum(), 1))
        rec["precision"] = float(np.sum(pos & truth) / pos.sum()) if pos.any() else None
        rec["n_truth_scored"] = int(truth.sum())
        edges = np.linspace(0, 1, 21)
        b = np.clip(np.searchsorted(edges, pr, side="right") - 1, 0, 19)
        rec["calib_n"] = np.bincount(b, minlength=20).tolist()
        rec["calib_members"] = np.bincount(b, weights=truth, minlength=20).tolist()
        rec["calib_sum_p"] = np.bincount(b, weights=pr, minlength=20).tolist()
        rec["calib_sq"] = float(np.sum(np.square(pr - truth)))
    return rec


def _rhat_max(fit):
    return fit.diagnostics.get("max_rhat")


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = (
        args.mode if args.mode == "detect" or args.features == "pm2d" else (f"fit_{args.features}")
    )
    path = out / f"{name}.jsonl"
    done = set()
    if path.exists():
        with open(path) as f:
            # failed runs are tried again; their old lines stay (the summary skips them)
            done = {r["id"] for r in map(json.loads, filter(str.strip, f)) if not r.get("error")}
    todo = [p for d in args.design for p in points(d, args.hosts, args.reps) if p["id"] not in done]
    for m in args.match:
        todo = [p for p in todo if m in p["id"]]
    if args.n_values:
        todo = [p for p in todo if p["n"] in args.n_values]
    if args.offset_values:
        todo = [p for p in todo if p.get("offset") in args.offset_values]
    if args.limit:
        todo = todo[: args.limit]
    print(
        f"{len(todo)} runs to do ({len(done)} already in {path}); load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for i, p in enumerate(todo):
        t0 = time.perf_counter()
        seed = seed_of(p["id"])
        try:
            table, inj = make_case(p)
            rec = (
                detection_record(table, inj, seed)
                if args.mode == "detect"
                else fit_record(table, inj, p, seed, args)
            )
            rec["error"] = None
        except Exception as exc:  # one failed point is recorded, the sweep goes on
            rec = {
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=3),
            }
        rec.update(
            p,
            seed=seed,
            wall=round(time.perf_counter() - t0, 2),
            load=round(os.getloadavg()[0], 2),
            n_stars=None if "table" not in locals() else len(table),
        )
        if args.mode == "fit":
            rec.update(
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                first_pass=args.first_pass,
                features=args.features,
            )
        with open(path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        print(
            f"[{i + 1}/{len(todo)}] {p['id']}: "
            + ", ".join(
                f"{k}={rec.get(k)}"
                for k in (
                    "found",
                    "z",
                    "recovered",
                    "old_on_target",
                    "recall",
                    "precision",
                    "claim",
                    "wall",
                    "error",
                )
                if k in rec
            ),
            flush=True,
        )


def oracle_record(table, inj, h: float = 0.5) -> dict[str, Any]:
    """Recall and precision of p > 0.5 for an oracle that uses proper motions only.

    The oracle knows the injected cluster (N, mean pm, dispersion; each member's own
    pm error) and the host's pm density (host stars within ``h`` mas/yr, a disc
    kernel): p = N phi(pm; mu, disp^2 + err^2) / (that + field density).  No fit of
    proper motions alone can do much better, so it tells an information limit from a
    fitting failure.
    """
    from scipy.spatial import cKDTree

    truth = np.asarray(inj.is_member)
    c = inj.clusters[0]
    pm = np.column_stack(
        [np.ma.filled(np.ma.asarray(table[k], dtype=float), np.nan) for k in ("pmra", "pmdec")]
    )
    e = (
        np.ma.filled(np.ma.asarray(table["pmra_error"], dtype=float), np.nan)
        if "pmra_error" in table.colnames
        else np.zeros(len(table))
    )
    ok = np.isfinite(pm).all(axis=1) & np.isfinite(e)
    s2 = c.pm_dispersion**2 + np.where(ok, e, 0.0) ** 2
    d2 = (pm[:, 0] - c.pmra) ** 2 + (pm[:, 1] - c.pmdec) ** 2
    lc = int(truth.sum()) * np.exp(-0.5 * d2 / s2) / (2 * np.pi * s2)
    tree = cKDTree(pm[ok & ~truth])
    cnt = np.zeros(len(table))
    cnt[ok] = tree.query_ball_point(pm[ok], h, return_length=True)
    p = lc / (lc + cnt / (np.pi * h * h))
    pos = ok & (p > 0.5)
    hits = int(np.sum(pos & truth))
    return {
        "oracle_pm_recall": hits / max(int(truth.sum()), 1),
        "oracle_pm_precision": hits / int(pos.sum()) if pos.any() else None,
        "oracle_kernel_mas_yr": h,
    }


def oracle(folder: Path) -> None:
    """oracle.jsonl: the pm-only oracle (:func:`oracle_record`) for every injected fit run."""
    path = folder / "oracle.jsonl"
    done = set()
    if path.exists():
        done = {json.loads(line)["id"] for line in open(path) if line.strip()}
    ids: dict[str, dict[str, Any]] = {}
    for f in sorted(folder.glob("fit*.jsonl")):
        for line in open(f):
            r = json.loads(line) if line.strip() else {}
            if r and not r.get("error") and r.get("design") != "null" and r["id"] not in done:
                ids[r["id"]] = r
    for i, r in enumerate(ids.values()):
        p = {
            k: r[k]
            for k in ("host", "design", "n", "rep", "id", "offset", "sep", "disp", "dist", "radius")
            if k in r
        }
        if r["design"] == "boundary":
            p.pop("offset", None)
        table, inj = make_case(p)
        rec = {"id": r["id"], **oracle_record(table, inj)}
        with open(path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        print(f"[{i + 1}/{len(ids)}] {r['id']}: {rec['oracle_pm_recall']:.3f}", flush=True)


def backfill(folder: Path) -> None:
    """Recompute the keys that older records lack (each point's case is reproducible)."""
    for path in sorted(folder.glob("*.jsonl")):
        recs = [json.loads(line) for line in open(path) if line.strip()]
        changed = 0
        for r in recs:
            if r.get("error") or r.get("design") == "null":
                continue
            if "field_contrast" not in r:
                p = {
                    k: r[k]
                    for k in (
                        "host",
                        "design",
                        "n",
                        "rep",
                        "id",
                        "offset",
                        "sep",
                        "disp",
                        "dist",
                        "radius",
                    )
                    if k in r
                }
                table, inj = make_case(p)
                pos = cluster_position(table, inj)
                pos.pop("offset")
                r.update(pos)
                changed += 1
            if "recall" in r and r.get("recall") is not None and "n_hits" not in r:
                n_true = r.get("n_truth_scored", r["n"])
                hits = int(round(r["recall"] * n_true))
                r["n_hits"] = hits
                r["n_truth_scored"] = n_true
                r["n_pos"] = (
                    0
                    if not hits
                    else int(round(hits / r["precision"]))
                    if r.get("precision")
                    else 0
                )
                changed += 1
        if changed:
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
            os.replace(tmp, path)
        print(f"{path.name}: {changed} records completed")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--mode", choices=("detect", "fit"), default="detect")
    r.add_argument("--out", default=str(OUT), help=f"results folder (default {OUT})")
    r.add_argument(
        "--design",
        nargs="+",
        default=["map"],
        choices=("map", "dispersion", "distance", "boundary", "null"),
    )
    r.add_argument("--hosts", nargs="+", default=list(HOSTS), choices=list(HOSTS))
    r.add_argument("--reps", type=int, default=1)
    r.add_argument("--limit", type=int, default=0, help="at most this many runs (pilots)")
    r.add_argument(
        "--match",
        nargs="*",
        default=[],
        help="only points whose id contains every one of these strings, e.g. "
        "'n=200|' 'offset=10.0'",
    )
    r.add_argument(
        "--n-values",
        nargs="*",
        type=int,
        default=[],
        help="only points with one of these numbers of members",
    )
    r.add_argument(
        "--offset-values",
        nargs="*",
        type=float,
        default=[],
        help="only points with one of these pm offsets (mas/yr; map designs)",
    )
    r.add_argument(
        "--features",
        choices=sorted(FEATURES),
        default="pm2d",
        help="cluster_field features of the fit (results go to fit_<features>.jsonl unless pm2d)",
    )
    r.add_argument("--draws", type=int, default=300)
    r.add_argument("--tune", type=int, default=300)
    r.add_argument("--chains", type=int, default=2)
    r.add_argument(
        "--first-pass",
        choices=("detect", "package"),
        default="package",
        help="package: cluster_field's own first pass (find_center, i.e. the "
        "detection); detect: the detection's centre given as center/sky_center "
        "hints (the same numbers, computed once)",
    )
    r.add_argument(
        "--fit-anyway", action="store_true", help="fit even when the first pass finds no cluster"
    )
    sm = sub.add_parser("summarize")
    sm.add_argument("--out", default=str(OUT))
    bf = sub.add_parser(
        "backfill",
        help="add the cluster-position keys (field_contrast ...) "
        "and the member counts to records written before they existed; "
        "not while a sweep writes to the same folder",
    )
    bf.add_argument("--out", default=str(OUT))
    orc = sub.add_parser(
        "oracle",
        help="oracle.jsonl: recall of a pm-only oracle that knows "
        "the injected cluster, for every injected fit run (resumable)",
    )
    orc.add_argument("--out", default=str(OUT))
    sh = sub.add_parser(
        "ship",
        help="copy completeness.json into bayesmix/analysis/data/ and "
        "the figures into docs/figures/ (after summarize)",
    )
    sh.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run(args)
    elif args.cmd == "backfill":
        backfill(Path(args.out))
    elif args.cmd == "oracle":
        oracle(Path(args.out))
    elif args.cmd == "ship":
        from injection_summary import ship  # type: ignore

        for p in ship(Path(args.out)):
            print(p)
    else:
        from injection_summary import summarize  # type: ignore

        print(summarize(Path(args.out)))


if __name__ == "__main__":
    main()
