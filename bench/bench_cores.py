"""Sampler threads on a shared machine: nutpie with ``cores`` = 1, 2, 4 (issue 14, step 4).

Linux shares a busy CPU between runnable *threads*, not processes: a sampler running its 4
chains on 2 threads gets about half the CPU time of one running them on 4 threads when other
work keeps the cores busy, while on an idle 2-core machine 4 threads only add context
switches.  This script compiles the Blanco 1 2-D proper-motion model once (``--model graph``:
today's builder; ``--model fused``: the likelihood as one fused Op, see
``bench/fused_prototype.py``), then samples it repeatedly with each ``cores`` setting in
turn (interleaved, so all settings see the same load), recording wall time, the process's
CPU time, ESS/s, the number of threads the process ran and the load average.

Usage::

    .venv/bin/python bench/bench_cores.py --cores 2,4 --rounds 2
    .venv/bin/python bench/bench_cores.py --model fused --cores 1,2,4 --draws 500 --tune 500
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

from profile_logp import build_blanco1_pm2d  # noqa: E402


def _max_threads(stop: threading.Event, out: list[int]) -> None:
    while not stop.is_set():
        out.append(len(os.listdir("/proc/self/task")))
        time.sleep(0.2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("graph", "fused"), default="graph")
    ap.add_argument("--cores", default="2,4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    args = ap.parse_args(argv)
    import arviz_stats
    import nutpie
    import pytensor

    mm = build_blanco1_pm2d()
    model = mm.model
    if args.model == "fused":
        from fused_prototype import fused_model

        model = fused_model(mm)
    with pytensor.config.change_flags(numba__fastmath=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cm = nutpie.compile_pymc_model(model, backend="numba")
    print(
        "| round | cores | wall s | process CPU s | CPU/wall | min bulk ESS | ESS/s "
        "| max threads | load before/after |\n|---|---|---|---|---|---|---|---|---|"
    )
    for rnd in range(args.rounds):
        for cores in [int(c) for c in args.cores.split(",")]:
            stop, counts = threading.Event(), []
            th = threading.Thread(target=_max_threads, args=(stop, counts), daemon=True)
            load = os.getloadavg()[0]
            th.start()
            c0, t0 = time.process_time(), time.perf_counter()
            idata = nutpie.sample(
                cm,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                cores=cores,
                seed=20261122 + rnd,
                progress_bar=False,
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stop.set()
            th.join()
            post = idata["posterior"].to_dataset()
            post = post.assign(weights=post["weights"].isel({post["weights"].dims[-1]: 0}))
            post = post[["cluster_pmra", "cluster_pmdec", "cluster_pm_dispersion", "weights"]]
            ess = min(float(v) for v in arviz_stats.ess(post, method="bulk").values())
            print(
                f"| {rnd} | {cores} | {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} | {ess:.0f} "
                f"| {ess / wall:.1f} | {max(counts or [0])} | {load:.1f}/"
                f"{os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
