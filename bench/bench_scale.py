"""Benchmark (issue 7): membership scoring of a Parquet catalogue through Dask vs in-memory numpy.

1. Generates a Parquet catalogue of ``--rows`` rows x 3 float64 features (default 1e8) in
   ``bench/_data/`` chunk by chunk (one file of ``--file-rows`` rows at a time; the catalogue is
   never in memory whole), drawn from an 8-component Gaussian mixture.
2. Fits an 8-component ``GaussianMixture`` in memory on the first 2e5 rows.
3. Times the in-memory scorer ``estimator.predict_proba`` on ``--numpy-rows`` rows (default 1e7,
   generated in memory; numba runs on every core).
4. Times ``bayesmix.scale.predict_proba`` over ``dd.read_parquet(catalogue)`` with the threaded
   scheduler (``--scheduler threads``, default) or a ``LocalCluster`` (``distributed``: one
   worker process per core, one thread each), reducing the probabilities to per-component sums
   (``.sum(axis=0)``) so that nothing of size N is kept: Parquet read + conversion + scoring.
5. Reports rows/s per core for both and the peak memory: the sum of RSS over this process and
   all its children (the Dask workers), sampled every 50 ms by a background thread.
6. Deletes the catalogue unless ``--keep``.

Run: ``.venv/bin/python bench/bench_scale.py [--rows 1e8] [--numpy-rows 1e7] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
K = 8
D = 3


class PeakRSS:
    """Sample the summed RSS of this process tree every ``interval`` seconds."""

    def __init__(self, interval=0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self):
        total = 0
        procs = [self._proc]
        try:
            procs += self._proc.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def truth():
    rng = np.random.default_rng(2026)
    means = rng.uniform(-6, 6, (K, D))
    A = rng.normal(size=(K, D, D)) * 0.6
    covs = A @ A.transpose(0, 2, 1) + 0.3 * np.eye(D)
    w = rng.dirichlet(np.full(K, 5.0))
    return w, means, np.linalg.cholesky(covs)


def draw(n, rng, w, means, L):
    k = rng.choice(K, size=n, p=w)
    z = rng.standard_normal((n, D))
    return means[k] + np.einsum("nij,nj->ni", L[k], z)


def generate(folder: Path, rows: int, file_rows: int, seed=1):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    w, means, L = truth()
    rng = np.random.default_rng(seed)
    nfiles = (rows + file_rows - 1) // file_rows
    for i in range(nfiles):
        n = min(file_rows, rows - i * file_rows)
        X = draw(n, rng, w, means, L)
        table = pa.table({f"x{j}": X[:, j] for j in range(D)})
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=n)
    return nfiles


def _warm(gm, X):
    """Compile the scoring kernels once (the block scorer the Dask graph calls)."""
    from bayesmix.scale.em import score_block

    return score_block(gm, X, None, None, want="resp")[1].shape


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e8)
    ap.add_argument("--numpy-rows", type=float, default=1e7)
    ap.add_argument("--file-rows", type=float, default=2e6)
    ap.add_argument("--scheduler", choices=["threads", "distributed"], default="threads")
    ap.add_argument(
        "--no-malloc-trim",
        action="store_true",
        help="distributed: do not set MALLOC_TRIM_THRESHOLD_ in the workers",
    )
    ap.add_argument("--data-dir", default=str(HERE / "_data" / "scale_catalogue"))
    ap.add_argument("--reuse", action="store_true", help="reuse an existing catalogue")
    ap.add_argument("--keep", action="store_true", help="keep the catalogue afterwards")
    args = ap.parse_args()
    rows, nrows_np, file_rows = int(args.rows), int(args.numpy_rows), int(args.file_rows)
    cores = os.cpu_count() or 1
    folder = Path(args.data_dir)
    out = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "rows": rows,
        "numpy_rows": nrows_np,
        "file_rows": file_rows,
        "cores": cores,
        "scheduler": args.scheduler,
        "load_before": os.getloadavg(),
    }
    try:
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        pass

    import dask
    import dask.dataframe as dd

    from bayesmix import scale
    from bayesmix.em import GaussianMixture

    if not (args.reuse and folder.exists()):
        if folder.exists():
            shutil.rmtree(folder)
        t = time.perf_counter()
        nfiles = generate(folder, rows, file_rows)
        out["generate_s"] = time.perf_counter() - t
        out["files"] = nfiles
    out["catalogue_bytes"] = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    try:
        w, means, L = truth()
        rng = np.random.default_rng(7)
        gm = GaussianMixture(K, rng=0, max_iter=300).fit(draw(200_000, rng, w, means, L))
        out["fit_converged"] = gm.converged_
        gm.predict_proba(draw(10_000, rng, w, means, L))  # numba warm-up (cached kernels)

        # ---------------- in-memory numpy scorer
        Xnp = draw(nrows_np, np.random.default_rng(3), w, means, L)
        with PeakRSS() as mem:
            t = time.perf_counter()
            P = gm.predict_proba(Xnp)
            t_np = time.perf_counter() - t
        checksum_np = P.sum(axis=0)
        del P, Xnp
        out["numpy_s"] = t_np
        out["numpy_rows_per_s"] = nrows_np / t_np
        out["numpy_rows_per_s_per_core"] = nrows_np / t_np / cores
        out["numpy_peak_rss_gib"] = mem.peak / 2**30
        out["numpy_colsum_first"] = float(checksum_np[0])

        # ---------------- Dask over Parquet
        client = cluster = None
        if args.scheduler == "distributed":
            from distributed import Client, LocalCluster

            if args.no_malloc_trim:
                # distributed sets MALLOC_TRIM_THRESHOLD_=65536 in workers by default (returns
                # freed memory to the OS at once; fresh pages are then faulted in again)
                dask.config.set(
                    {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
                )
                out["malloc_trim_unset"] = True
            cluster = LocalCluster(
                n_workers=cores,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                memory_limit="1.5GiB",
            )
            client = Client(cluster)
            # warm every worker: import bayesmix, load the cached numba kernels
            client.run(_warm, gm, draw(10_000, np.random.default_rng(0), w, means, L))
        ddf = dd.read_parquet(str(folder), columns=[f"x{j}" for j in range(D)])
        out["partitions"] = int(ddf.npartitions)
        proba = scale.predict_proba(gm, ddf)
        with PeakRSS() as mem:
            t = time.perf_counter()
            with (
                dask.config.set(scheduler="threads", num_workers=cores)
                if client is None
                else dask.config.set({})
            ):
                colsum = proba.sum(axis=0).compute()
            t_dask = time.perf_counter() - t
        out["dask_s"] = t_dask
        out["dask_rows_per_s"] = rows / t_dask
        out["dask_rows_per_s_per_core"] = rows / t_dask / cores
        out["dask_peak_rss_gib"] = mem.peak / 2**30
        out["dask_colsum_per_row"] = (colsum / rows).tolist()
        out["ratio_per_core"] = out["dask_rows_per_s_per_core"] / out["numpy_rows_per_s_per_core"]
        out["colsum_rows_ok"] = bool(abs(colsum.sum() - rows) < 1e-6 * rows)
        if client is not None:
            client.close()
            cluster.close()
    finally:
        out["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            out["catalogue_deleted"] = True
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
