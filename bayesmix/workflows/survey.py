"""Many clusters in one run: ``bayesmix survey`` over a catalogue, one Dask task per cluster.

:func:`run_survey` takes a catalogue (a Parquet file, folder or glob, or a
HATS catalogue read through LSDB), a list of clusters (``name, ra, dec,
radius`` and optional hints ``pmra, pmdec, parallax``) and a template spec
(``[builder]``, ``[priors]``, ``[sampler]``, ``[output]``; the data section
comes from the cone).  For each cluster, as one independent task:

1. the stars within ``radius`` of (``ra``, ``dec``) are selected from the
   catalogue (a Parquet filter on the Dec band and RA range, then the exact
   cone; or LSDB's cone search) and sorted by ``source_id``, so the cone does
   not depend on how the catalogue is partitioned; it is written to
   ``cones/<name>.parquet``;
2. the template becomes the cluster's spec (``specs/<name>.toml``, which
   ``bayesmix run`` reruns): its data is the cone, its seed derived from the
   template's seed and the cluster's name (:func:`cluster_seed`, so results do
   not depend on scheduling), the hints become ``[builder].center`` and
   ``sky_center`` (and for the full model the footprint is the cone);
3. the spec runs through :func:`bayesmix.workflows.run.run_spec` into
   ``clusters/<name>/``; ``members/<name>.parquet`` keeps every star of the
   cone (its id, the membership columns and ``unscored_reason``);
4. the cluster's row (status ``ok``, ``no cluster`` or ``failed`` with the
   reason; parameters; counts; evidence; diagnostics; wall time) is written to
   ``results/<name>.json`` last: that file is the manifest entry.

A rerun skips clusters whose result says ``ok`` or ``no cluster`` and redoes
the others; a failure is recorded and the other clusters go on; a task whose
worker dies is retried (same seed, same numbers).  At the end
``clusters.parquet`` and ``clusters.csv`` hold one row per listed cluster, in
list order, and ``survey.json`` the settings, versions and counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import tomllib
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayesmix._files import check_outputs, safe_name
from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "STATUSES",
    "Catalogue",
    "ClusterTarget",
    "SurveyResult",
    "cluster_seed",
    "cluster_spec_doc",
    "fit_cluster",
    "open_catalogue",
    "read_cluster_list",
    "run_survey",
    "template_path",
]

#: the status of each cluster in ``clusters.parquet``
STATUSES = ("ok", "no cluster", "failed")
#: bundled templates by short name (``bayesmix/specs/<file>.toml``)
TEMPLATES = {"pm2d": "survey_pm2d", "full": "survey_full"}
_HINTS = ("pmra", "pmdec", "parallax")
_HATS_INTERNAL = ("_healpix_29", "Norder", "Dir", "Npix")
#: files that mark a folder as a HATS catalogue or collection (read with LSDB)
_HATS_MARKERS = ("collection.properties", "hats.properties", "properties")


def template_path(name: str) -> Path:
    """Return the path of a bundled survey template (``"pm2d"`` or ``"full"``)."""
    from bayesmix import specs

    if name not in TEMPLATES:
        raise SpecError(
            f"--spec must be a TOML file or one of {', '.join(sorted(TEMPLATES))}; got {name!r}",
            key="--spec",
        )
    return specs.path(TEMPLATES[name])


# --------------------------------------------------------------------------------------------
# the cluster list
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterTarget:
    """One listed cluster: name, cone (deg) and optional hints (mas/yr, mas)."""

    name: str
    ra: float
    dec: float
    radius: float
    hints: Mapping[str, float] = field(default_factory=dict)


def read_cluster_list(path: str | os.PathLike) -> list[ClusterTarget]:
    """Read and check a cluster list: ``name, ra, dec, radius`` (deg), optional hints.

    Raises
    ------
    DataError, SpecError
        A missing column, a bad value or name (naming the row), or a name used twice.
    """
    from bayesmix.io import read_table

    t = read_table(path)
    where = f"--clusters {Path(path).name}"
    missing = [c for c in ("name", "ra", "dec", "radius") if c not in t.colnames]
    if missing:
        raise DataError(
            f"{where} needs columns name, ra, dec, radius (deg); missing {', '.join(missing)} "
            f"(columns: {', '.join(t.colnames)})",
            argument="--clusters",
        )
    out: list[ClusterTarget] = []
    seen: set[str] = set()
    for i, row in enumerate(t):
        name = safe_name(str(row["name"]).strip(), key=f"{where}: row {i}, name")
        if name in seen:
            raise DataError(f"{where}: row {i} repeats the name {name!r}", argument="--clusters")
        seen.add(name)
        vals = {}
        for c in ("ra", "dec", "radius", *[h for h in _HINTS if h in t.colnames]):
            v = row[c]
            masked = np.ma.is_masked(v)
            x = float("nan") if masked else float(v)
            if c in ("ra", "dec", "radius") and not math.isfinite(x):
                raise DataError(f"{where}: row {i} ({name}) has no {c}", argument="--clusters")
            vals[c] = x
        if not (-90.0 <= vals["dec"] <= 90.0) or not (0.0 < vals["radius"] <= 30.0):
            raise DataError(
                f"{where}: row {i} ({name}) needs -90 <= dec <= 90 and 0 < radius <= 30 deg; "
                f"got dec {vals['dec']:g}, radius {vals['radius']:g}",
                argument="--clusters",
            )
        hints = {h: vals[h] for h in _HINTS if h in vals and math.isfinite(vals[h])}
        out.append(ClusterTarget(name, vals["ra"] % 360.0, vals["dec"], vals["radius"], hints))
    if not out:
        raise DataError(f"{where} lists no cluster", argument="--clusters")
    return out


def cluster_seed(base_seed: int, name: str) -> int:
    """Seed of a cluster's fit: from the template's seed and the cluster's name only."""
    digest = hashlib.sha256(f"{int(base_seed)}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % (2**31 - 1)


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """A catalogue to cut cones from: Parquet files or a HATS catalogue (picklable).

    Attributes
    ----------
    path : str
        The file, folder or glob (Parquet) or the HATS catalogue's folder.
    kind : {"parquet", "hats"}
    files : tuple of str
        The Parquet files (``kind == "parquet"``).
    columns : tuple of str
        The catalogue's columns.
    """

    path: str
    kind: str
    files: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def cone(
        self, ra: float, dec: float, radius: float, *, ra_col: str = "ra", dec_col: str = "dec"
    ):
        """Return the stars within ``radius`` deg of (ra, dec) as an astropy Table.

        Rows are sorted by ``source_id`` when the catalogue has one (else kept in
        catalogue order), so a cone does not depend on the partitioning.
        """
        from astropy.table import Table, vstack

        from bayesmix.sky import separation

        if self.kind == "hats":
            import dask
            import lsdb

            cat = lsdb.open_catalog(self.path)
            # one cone is one task's work: read it here, not as tasks of a (worker's) client
            with dask.config.set(scheduler="synchronous"):
                frame = cat.cone_search(ra, dec, radius * 3600.0).compute(progress_bar=False)
            frame = frame.reset_index(drop=True)
            frame = frame[[c for c in frame.columns if c not in _HATS_INTERNAL]]
            table = Table.from_pandas(frame)
        else:
            # astropy's reader: it restores what astropy wrote (masks, units, metadata)
            dnf = _band_filter(ra, dec, radius, ra_col, dec_col)
            parts = [Table.read(f, format="parquet", filters=dnf) for f in self.files]
            parts = [t for t in parts if len(t)] or parts[:1]
            table = vstack(parts, join_type="exact", metadata_conflicts="silent")
        if len(table):
            sep = separation(
                np.asarray(table[ra_col], float), np.asarray(table[dec_col], float), ra, dec
            )
            table = table[sep <= radius]
        if "source_id" in table.colnames and len(table):
            table = table[np.argsort(np.asarray(table["source_id"]), kind="stable")]
        return table


def _band_filter(ra: float, dec: float, radius: float, ra_col: str, dec_col: str):
    """Parquet filter (disjunctive normal form): the Dec band and the RA range of the cone."""
    lo, hi = dec - radius, dec + radius
    band = [(dec_col, ">=", lo), (dec_col, "<=", hi)]
    top = max(abs(lo), abs(hi))
    if top >= 89.0 or radius >= 30.0:
        return [band]
    half = min(180.0, radius / math.cos(math.radians(top)) * 1.001 + 1e-9)
    a, b = ra - half, ra + half
    if a < 0:
        return [band + [(ra_col, ">=", a + 360.0)], band + [(ra_col, "<=", b)]]
    if b >= 360.0:
        return [band + [(ra_col, ">=", a)], band + [(ra_col, "<=", b - 360.0)]]
    return [band + [(ra_col, ">=", a), (ra_col, "<=", b)]]


def open_catalogue(path: str | os.PathLike) -> Catalogue:
    """Open a Parquet file, folder or glob, or a HATS catalogue (folder with its properties).

    Raises
    ------
    FileNotFoundError, DataError
        Nothing there, or no Parquet file (naming the path).
    """
    from bayesmix.spec import parquet_files

    p = Path(path)
    if p.is_dir() and any((p / n).is_file() for n in _HATS_MARKERS):
        import lsdb

        cat = lsdb.open_catalog(str(p))
        cols = tuple(str(c) for c in cat.columns if c not in _HATS_INTERNAL)
        return Catalogue(path=str(p), kind="hats", columns=cols)
    files = parquet_files(p)
    if not files:
        if not p.exists() and not any(ch in p.name for ch in "*?["):
            raise FileNotFoundError(f"catalogue '{p}' does not exist")
        raise DataError(
            f"catalogue '{p}' is neither a Parquet file, folder or glob nor a HATS catalogue",
            argument="CATALOGUE",
        )
    import pyarrow.parquet as pq

    try:
        cols = tuple(pq.read_schema(files[0]).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise DataError(
            f"catalogue file '{files[0]}' is not readable Parquet: {exc}", argument="CATALOGUE"
        ) from None
    return Catalogue(path=str(p), kind="parquet", files=tuple(str(f) for f in files), columns=cols)


# --------------------------------------------------------------------------------------------
# one cluster
# --------------------------------------------------------------------------------------------


def cluster_spec_doc(
    template: Mapping[str, Any],
    target: ClusterTarget,
    cone_path: str,
    *,
    overrides: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Return the TOML document of one cluster's spec, made from the template.

    The data is the cone file; the name is the cluster's; the seed
    :func:`cluster_seed`; the hints become ``[builder].center`` (over the
    template's non-sky features, when every one is hinted) and ``sky_center``;
    the full model's footprint is the cone.  What the template sets itself is
    kept.
    """
    doc = json.loads(json.dumps(dict(template)))  # a deep, plain copy
    data = {k: v for k, v in doc.get("data", {}).items() if k in ("ids", "columns")}
    data["path"] = str(cone_path)
    doc["data"] = data
    doc["name"] = target.name
    doc["seed"] = cluster_seed(int(doc.get("seed", 0)), target.name)
    b = doc.setdefault("builder", {})
    feats = list(b.get("features", ("pmra", "pmdec")))
    if "sky_center" not in b:
        b["sky_center"] = [target.ra, target.dec]
    nonsky = [f for f in feats if f not in ("ra", "dec")]
    if "center" not in b and nonsky and all(f in target.hints for f in nonsky):
        b["center"] = [target.hints[f] for f in nonsky]
    if feats[:2] == ["ra", "dec"] and "footprint" not in b:
        b["footprint"] = {
            "kind": "cone",
            "ra": target.ra,
            "dec": target.dec,
            "radius": target.radius,
        }
    out = doc.setdefault("output", {})
    out["table"] = "membership.parquet"
    s = doc.setdefault("sampler", {})
    for k, v in (overrides or {}).items():
        if v is not None:
            s[k] = int(v)
    return doc


def _row(
    target: ClusterTarget,
    summary: Mapping[str, Any] | None,
    *,
    status: str,
    reason: str,
    n_stars: int,
    wall: float,
    seed: int,
) -> dict[str, Any]:
    """Return the cluster's row of ``clusters.parquet`` (flat, JSON-able)."""
    row: dict[str, Any] = {
        "name": target.name,
        "status": status,
        "reason": reason,
        "ra_input": target.ra,
        "dec_input": target.dec,
        "radius_input": target.radius,
        "n_stars": int(n_stars),
        "wall_s": float(wall),
        "seed": int(seed),
    }
    for h in _HINTS:
        row[f"{h}_hint"] = target.hints.get(h, float("nan"))
    if summary is None:
        return row
    d = summary.get("data", {})
    row["n_scored"] = int(d.get("n_used", 0))
    diag = summary.get("diagnostics", {})
    row["max_rhat"] = diag.get("max_rhat")
    row["min_ess_bulk"] = diag.get("min_ess_bulk")
    row["divergences"] = diag.get("divergences")
    c = summary.get("cluster") or {}
    params = summary.get("parameters", {})
    for name, v in (c.get("parameters") or {}).items():
        row[f"{name}_mean"] = v.get("mean")
        row[f"{name}_lo90"] = v.get("lower")
        row[f"{name}_hi90"] = v.get("upper")
        p = params.get("weights[cluster]" if name == "cluster_fraction" else name, {})
        for q in ("q16", "q50", "q84"):
            row[f"{name}_{q}"] = p.get(q)
        if v.get("unit"):
            row[f"{name}_unit"] = v["unit"]
    m = c.get("members") or {}
    row["n_p_gt_0.5"] = m.get("n_p_gt_0.5")
    row["sum_p"] = m.get("expected")
    cmp = c.get("compare_to_field") or {}
    for k in ("elpd_diff", "se_diff", "sky_z"):
        row[k] = cmp.get(k)
    row["cluster_claimed"] = cmp.get("cluster")
    return row


def _r50(members, ra0: float, dec0: float, ra_col: str, dec_col: str) -> float:
    """Membership-weighted median angular distance (deg) of the stars from the centre."""
    from bayesmix.sky import separation

    p = np.nan_to_num(np.asarray(members["p_cluster"], float))
    if p.sum() <= 0:
        return float("nan")
    sep = separation(
        np.asarray(members[ra_col], float), np.asarray(members[dec_col], float), ra0, dec0
    )
    order = np.argsort(sep)
    cum = np.cumsum(p[order])
    return float(sep[order][np.searchsorted(cum, 0.5 * cum[-1])])


@dataclass(frozen=True)
class _Job:
    target: ClusterTarget
    catalogue: Catalogue
    template: Mapping[str, Any]
    out: str
    overrides: Mapping[str, int]


def fit_cluster(job: _Job) -> dict[str, Any]:
    """Cut one cone, fit it, write its files; return its row (never raises a data error).

    The row is written last, to ``results/<name>.json``, with the status
    ``ok``, ``no cluster`` or ``failed`` (and the reason).
    """
    from bayesmix.io import write_json, write_table, write_text
    from bayesmix.spec import parse_spec
    from bayesmix.spec.toml_out import dumps
    from bayesmix.workflows.run import run_spec

    t0 = time.perf_counter()
    out, target = Path(job.out), job.target
    seed = cluster_seed(int(job.template.get("seed", 0)), target.name)
    n_stars, summary, status, reason = 0, None, "failed", ""
    try:
        cols = job.template.get("data", {}).get("columns", {})
        ra_col, dec_col = cols.get("ra", "ra"), cols.get("dec", "dec")
        cone = job.catalogue.cone(
            target.ra, target.dec, target.radius, ra_col=ra_col, dec_col=dec_col
        )
        n_stars = len(cone)
        if n_stars == 0:
            raise DataError(
                f"no catalogue star within {target.radius:g} deg of "
                f"({target.ra:g}, {target.dec:g})",
                argument="cone",
            )
        cone_path = out / "cones" / f"{target.name}.parquet"
        write_table(cone, cone_path, overwrite=True)
        doc = cluster_spec_doc(
            job.template, target, os.path.relpath(cone_path, out / "specs"), overrides=job.overrides
        )
        spec_path = out / "specs" / f"{target.name}.toml"
        write_text(dumps(doc), spec_path, overwrite=True)
        spec = parse_spec(doc, path=spec_path)
        result = run_spec(spec, out / "clusters" / target.name, overwrite=True)
        summary = result.summary
        status = "no cluster" if result.status == "no cluster" else "ok"
        _write_members(
            result.paths["table"], out / "members" / f"{target.name}.parquet", spec.data.ids
        )
    except Exception as exc:  # noqa: BLE001 - one cluster's failure must not stop the survey
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        if not isinstance(exc, (DataError, SpecError, ValueError)):
            reason += " | " + " ".join(traceback.format_exc().splitlines()[-3:])
    row = _row(
        target,
        summary,
        status=status,
        reason=reason,
        n_stars=n_stars,
        wall=time.perf_counter() - t0,
        seed=seed,
    )
    if summary is not None and status != "failed":
        try:
            from bayesmix.io import read_table

            members = read_table(out / "clusters" / target.name / "membership.parquet")
            cols = job.template.get("data", {}).get("columns", {})
            row["r50_deg"] = _r50(
                members, target.ra, target.dec, cols.get("ra", "ra"), cols.get("dec", "dec")
            )
        except Exception:  # noqa: BLE001 - a missing r50 is a NaN, not a failed cluster
            row["r50_deg"] = float("nan")
    write_json(
        {"row": row, "summary": summary}, out / "results" / f"{target.name}.json", overwrite=True
    )
    return row


def _write_members(table_path: Path, dest: Path, ids: str | None) -> None:
    """Keep the cone's ids and the membership columns (every star, cone order)."""
    import pyarrow.parquet as pq

    from bayesmix.io import read_table, write_table

    names = pq.read_schema(table_path).names
    keep = [
        c
        for c in names
        if c == (ids or "source_id") or c.startswith("p_") or c in ("component", "unscored_reason")
    ]
    write_table(read_table(table_path, columns=keep), dest, overwrite=True)


# --------------------------------------------------------------------------------------------
# the survey
# --------------------------------------------------------------------------------------------


@dataclass
class SurveyResult:
    """What :func:`run_survey` did.

    Attributes
    ----------
    rows : list of dict
        One row per listed cluster, in list order (as in ``clusters.parquet``).
    paths : dict of str to Path
        ``clusters_parquet``, ``clusters_csv``, ``survey_json``.
    counts : dict of str to int
        Clusters per status, and ``skipped`` (finished in an earlier run).
    """

    rows: list[dict[str, Any]]
    paths: dict[str, Path]
    counts: dict[str, int]


def _load_template(template: str | os.PathLike | None) -> tuple[dict[str, Any], str]:
    if template is None:
        template = "pm2d"
    p = Path(template)
    if not p.is_file() and str(template) in TEMPLATES:
        p = template_path(str(template))
    if not p.is_file():
        raise FileNotFoundError(f"--spec: template '{template}' does not exist")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"--spec: '{p}' is not valid TOML: {exc}", key="--spec") from None
    b = doc.get("builder", {})
    if not isinstance(b, dict) or b.get("name") != "cluster_field":
        raise SpecError(
            f"--spec: a survey template's [builder].name must be 'cluster_field'; '{p}' has "
            f"{b.get('name') if isinstance(b, dict) else b!r}",
            key="[builder].name",
        )
    return doc, str(p)


def _check_template(
    template: Mapping[str, Any],
    catalogue: Catalogue,
    target: ClusterTarget,
    overrides: Mapping[str, int],
) -> None:
    """Check the template as a whole spec, and the catalogue's columns, before any fit."""
    from bayesmix.spec import check_spec_columns, parse_spec

    probe = catalogue.files[0] if catalogue.files else _hats_probe_file(catalogue.path)
    doc = cluster_spec_doc(template, target, probe, overrides=overrides)
    spec = parse_spec(doc)
    check_spec_columns(spec, list(catalogue.columns), figures=False)


def _hats_probe_file(path: str) -> str:
    files = sorted(Path(path).rglob("*.parquet"))
    if not files:
        raise DataError(f"HATS catalogue '{path}' has no Parquet partition", argument="CATALOGUE")
    return str(files[0])


def _done(out: Path, name: str) -> dict[str, Any] | None:
    """Return the row of a cluster finished (ok, no cluster) in an earlier run, else None."""
    p = out / "results" / f"{name}.json"
    if not p.is_file():
        return None
    try:
        row = json.loads(p.read_text(encoding="utf-8"))["row"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged record: redo the cluster
    return row if row.get("status") in ("ok", "no cluster") else None


def _client(scheduler: str | None, workers: int | None):
    """Return a dask.distributed client: the scheduler given, else a LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        return Client(scheduler), None
    import logging

    cluster = LocalCluster(
        n_workers=workers or max(1, os.cpu_count() or 1),
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: another Dask cluster may hold 8787
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _run_jobs(
    jobs: Sequence[_Job],
    *,
    scheduler: str | None,
    workers: int | None,
    report: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Run the jobs: in this process (``scheduler="synchronous"``) or as Dask tasks."""
    if scheduler == "synchronous":
        rows = []
        for job in jobs:
            rows.append(fit_cluster(job))
            report(rows[-1])
        return rows
    from distributed import as_completed

    client, cluster = _client(scheduler, workers)
    try:
        futures = [
            client.submit(
                fit_cluster, job, key=f"bayesmix-survey-{job.target.name}", retries=2, pure=False
            )
            for job in jobs
        ]
        by_key = {f.key: i for i, f in enumerate(futures)}
        rows: list[dict[str, Any] | None] = [None] * len(jobs)
        for fut in as_completed(futures):
            i = by_key[fut.key]
            try:
                rows[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a task lost beyond its retries
                rows[i] = _row(
                    jobs[i].target,
                    None,
                    status="failed",
                    reason=f"task failed: {type(exc).__name__}: {exc}",
                    n_stars=0,
                    wall=0.0,
                    seed=cluster_seed(int(jobs[i].template.get("seed", 0)), jobs[i].target.name),
                )
            report(rows[i])
        return [r for r in rows if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _write_tables(rows: list[dict[str, Any]], out: Path, *, overwrite: bool) -> dict[str, Path]:
    from astropy.table import Table

    from bayesmix.io import write_table

    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    cols = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(isinstance(v, str) or v is None for v in vals):
            cols[k] = np.array(["" if v is None else v for v in vals], dtype=str)
        elif all(isinstance(v, bool) or v is None for v in vals):
            cols[k] = np.array(["" if v is None else str(v) for v in vals], dtype=str)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            cols[k] = np.array(vals, dtype=np.int64)
        else:
            cols[k] = np.array(
                [np.nan if v is None or isinstance(v, str) else float(v) for v in vals]
            )
    t = Table(cols)
    paths = {"clusters_parquet": out / "clusters.parquet", "clusters_csv": out / "clusters.csv"}
    write_table(t, paths["clusters_parquet"], overwrite=overwrite)
    write_table(t, paths["clusters_csv"], overwrite=overwrite)
    return paths


def run_survey(
    catalogue: str | os.PathLike,
    clusters: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    template: str | os.PathLike | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SurveyResult:
    """Fit every listed cluster in the catalogue, one task each (see the module docstring).

    Parameters
    ----------
    catalogue : path-like
        A Parquet file, folder or glob, or a HATS catalogue folder (read with LSDB).
    clusters : path-like
        The cluster list (:func:`read_cluster_list`).
    out_dir : path-like
        The survey folder (``clusters.parquet``, ``clusters.csv``, ``survey.json``,
        ``members/``, ``results/``, ``clusters/``, ``cones/``, ``specs/``).
    template : path-like or {"pm2d", "full"}, optional
        The template spec (default: the bundled ``pm2d`` template).
    scheduler : str, optional
        A ``dask.distributed`` scheduler address; ``"synchronous"`` runs in this
        process; default a ``LocalCluster`` of ``workers`` processes.
    workers : int, optional
        Workers of the default LocalCluster (default: the number of cores).
    draws, tune, chains : int, optional
        Override the template's ``[sampler]``.
    overwrite : bool, default False
        Replace ``clusters.parquet``/``.csv`` and ``survey.json`` of an earlier
        run.  Finished clusters are skipped either way; remove ``results/`` to
        refit them.
    progress : callable, optional
        Called with one line per finished cluster (with counts and an ETA).

    Returns
    -------
    SurveyResult
    """
    import bayesmix

    t0 = time.perf_counter()
    out = Path(out_dir)
    check_outputs(
        [out / "clusters.parquet", out / "clusters.csv", out / "survey.json"],
        overwrite=overwrite,
    )
    targets = read_cluster_list(clusters)
    cat = open_catalogue(catalogue)
    doc, template_file = _load_template(template)
    overrides = {"draws": draws, "tune": tune, "chains": chains}
    _check_template(doc, cat, targets[0], overrides)
    done = {t.name: r for t in targets if (r := _done(out, t.name)) is not None}
    todo = [t for t in targets if t.name not in done]
    jobs = [_Job(t, cat, doc, str(out), overrides) for t in todo]
    state = {"n": 0, "t": time.perf_counter()}

    def report(row: dict[str, Any]) -> None:
        state["n"] += 1
        if progress is None:
            return
        k, n = state["n"], len(jobs)
        per = (time.perf_counter() - state["t"]) / k
        extra = (
            f", {row.get('n_p_gt_0.5')} members (p > 0.5)"
            if row["status"] == "ok"
            else (f": {row['reason']}" if row["status"] == "failed" else "")
        )
        progress(
            f"[{k}/{n}] {row['name']}: {row['status']}{extra}; {row['wall_s']:.0f} s; "
            f"ETA {per * (n - k) / 60:.1f} min"
        )

    if progress is not None:
        progress(
            f"{len(targets)} clusters listed, {len(done)} finished earlier, {len(jobs)} to "
            f"fit ({cat.kind} catalogue {cat.path})"
        )
    new = {
        r["name"]: r for r in _run_jobs(jobs, scheduler=scheduler, workers=workers, report=report)
    }
    rows = [done.get(t.name) or new[t.name] for t in targets]
    paths = _write_tables(rows, out, overwrite=overwrite)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    counts["skipped"] = len(done)
    record = {
        "bayesmix_version": bayesmix.__version__,
        "catalogue": {"path": cat.path, "kind": cat.kind, "n_files": len(cat.files)},
        "clusters": str(clusters),
        "template": template_file,
        "sampler_overrides": {k: v for k, v in overrides.items() if v is not None},
        "scheduler": scheduler or f"LocalCluster ({workers or os.cpu_count()} workers)",
        "counts": counts,
        "wall_s": time.perf_counter() - t0,
        "targets": [asdict(t) | {"hints": dict(t.hints)} for t in targets],
    }
    from bayesmix.io import write_json

    paths["survey_json"] = write_json(record, out / "survey.json", overwrite=overwrite)
    return SurveyResult(rows=rows, paths=paths, counts=counts)
