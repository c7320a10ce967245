"""Issue 14's whole comparison in one command; appends a dated section to bench/RESULTS.md.

Runs, one fresh process per (implementation, model, size) through ``bench/bench_numpyro.py``
(same data, likelihood, priors and starting values on both sides; ESS/s, sampling wall time,
peak RSS, posterior agreement; each process samples twice, the second run is the "warm" one
the ratios use):

1. quiet: the 2-D proper-motion model at ``--pm2d-sizes`` (default 1e3, 1e4, 1e5 stars) and
   the full (sky + parallax + proper motion) model at ``--full-sizes`` (default 1e4);
2. under load: the same pairs for ``--load-sizes`` (default pm2d 1e4) while two CPU-bound
   processes (``python -c "while time.time() < end: pass"``, each bounded to
   ``--burner-limit`` seconds and killed when this part ends) compete for the cores;
3. fixed costs (run first, while the machine is quiet): ``bayesmix run
   models/hogg2010_line_outliers.toml`` against
   ``bench/numpyro_hogg.py`` (the same model, memberships, CSV + netCDF; no figures), fresh
   processes with warm caches, alternating, ``--hogg-rounds`` rounds after one warm-up each;
   wall and CPU (user + system) seconds per process.

``uptime`` is recorded before and after every part, and the load average with every row.  The
section is inserted above the issue-14 marker line of ``bench/RESULTS.md`` (``--results``),
also written to ``--out`` (the raw rows as JSON next to it).

Usage::

    .venv/bin/python bench/issue14_bench.py                  # the full run (quiet machine, ~1 h)
    .venv/bin/python bench/issue14_bench.py --quick          # a check: 1e3 only, short chains
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE)]

import bench_numpyro  # noqa: E402

MARKER = "<!-- issue-14 runs: bench/issue14_bench.py inserts new runs above this line -->"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    libs = ", ".join(
        f"{n} {version(n)}" for n in ("pymc", "pytensor", "nutpie", "numba", "jax", "numpyro")
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; {libs}; "
        f"bayesmix commit {commit or '?'}"
    )


class Burners:
    """Two CPU-bound processes, each ending by itself after ``limit`` seconds at the latest."""

    def __init__(self, n: int = 2, limit: float = 7200.0):
        code = f"import time\nend = time.time() + {float(limit)}\nwhile time.time() < end:\n pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def pairs(model: str, sizes: list[int], args) -> list[dict]:
    ns = argparse.Namespace(
        model=model,
        seed=args.seed,
        data_seed=14,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        target_accept=0.8,
        chain_method="parallel",
        timeout=args.timeout,
    )
    rows = []
    for n in sizes:
        impls = ["bayesmix", "numpyro"]
        if model == "pm2d" and args.fused:
            impls.insert(1, "bayesmix-fused")
        for impl in impls:
            r = bench_numpyro.spawn(impl, n, ns)
            rows.append(r)
            print(json.dumps(r)[:300], file=sys.stderr, flush=True)
    return rows


def _timed(cmd: list[str], cwd: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rc": proc.returncode,
        "wall": wall,
        "cpu": cpu,
        "load": (load0, os.getloadavg()[0]),
        "err": proc.stderr[-500:] if proc.returncode else "",
    }


def hogg(rounds: int) -> list[dict]:
    """Fresh-process wall and CPU time of ``bayesmix run`` vs the NumPyro script, alternating."""
    exe = Path(sys.executable)
    bayesmix_cli = exe.parent / "bayesmix"
    spec = ROOT / "models" / "hogg2010_line_outliers.toml"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds + 1):  # round 0 warms the caches and is not reported
            for impl in ("bayesmix", "numpyro"):
                out = Path(tmp) / f"{impl}{i}"
                if impl == "bayesmix":
                    cmd = [str(bayesmix_cli), "run", str(spec), "--out", str(out)]
                else:
                    cmd = [str(exe), str(HERE / "numpyro_hogg.py"), "--out", str(out)]
                r = _timed(cmd, ROOT)
                r.update(impl=impl, round=i)
                print(json.dumps(r), file=sys.stderr, flush=True)
                if i:
                    rows.append(r)
    return rows


def hogg_table(rows: list[dict]) -> str:
    out = [
        "| round | bayesmix run: wall s | CPU s | NumPyro script: wall s | CPU s | load |",
        "|---|---|---|---|---|---|",
    ]
    for i in sorted({r["round"] for r in rows}):
        b = next(r for r in rows if r["round"] == i and r["impl"] == "bayesmix")
        p = next(r for r in rows if r["round"] == i and r["impl"] == "numpyro")
        bad = " (failed: " + (b["err"] or p["err"]).strip().splitlines()[-1][:80] + ")" if (
            b["rc"] or p["rc"]) else ""  # fmt: skip
        out.append(
            f"| {i} | {b['wall']:.2f} | {b['cpu']:.2f} | {p['wall']:.2f} | {p['cpu']:.2f} | "
            f"{b['load'][0]:.1f}-{p['load'][1]:.1f}{bad} |"
        )
    med = {
        impl: sorted(r["wall"] for r in rows if r["impl"] == impl)
        for impl in ("bayesmix", "numpyro")
    }
    if all(med.values()):
        mb, mp = (v[len(v) // 2] for v in med.values())
        out.append("")
        out.append(
            f"Median wall: bayesmix {mb:.2f} s, NumPyro {mp:.2f} s (goal: bayesmix faster, and "
            "under 5 s on a quiet machine)."
        )
    return "\n".join(out)


def insert(results: Path, text: str) -> None:
    content = results.read_text(encoding="utf-8")
    if MARKER in content:
        content = content.replace(MARKER, text.rstrip() + "\n\n" + MARKER)
    else:
        content = content.rstrip() + "\n\n" + text.rstrip() + "\n\n" + MARKER + "\n"
    results.write_text(content, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pm2d-sizes", default="1e3,1e4,1e5")
    ap.add_argument("--full-sizes", default="1e4")
    ap.add_argument("--load-sizes", default="pm2d:1e4", help="model:size list, e.g. pm2d:1e4")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--hogg-rounds", type=int, default=3)
    ap.add_argument("--burner-limit", type=float, default=7200.0)
    ap.add_argument("--timeout", type=float, default=7200.0)
    ap.add_argument("--no-fused", dest="fused", action="store_false",
                    help="leave out the fused-Op prototype of the pm2d model")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="check the driver: 1e3, short chains")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--out", type=Path, help="also write the section (and .json rows) here")
    args = ap.parse_args(argv)
    if args.quick:
        args.pm2d_sizes, args.full_sizes, args.load_sizes = "1e3", "1e3", "pm2d:1e3"
        args.chains, args.draws, args.tune, args.hogg_rounds = 2, 200, 200, 1
    sizes = lambda s: [int(float(x)) for x in s.split(",") if x]  # noqa: E731
    start = datetime.datetime.now(datetime.UTC)
    log = {"uptime": [("start", uptime())]}
    rows = {"quiet": [], "load": [], "hogg": []}
    # the fixed costs first, while the machine is quiet (after the loaded part the load
    # average stays above 2 for minutes)
    if args.hogg_rounds:
        rows["hogg"] = hogg(args.hogg_rounds)
        log["uptime"].append(("after the fixed-cost part", uptime()))
    for model, arg in (("pm2d", args.pm2d_sizes), ("full", args.full_sizes)):
        rows["quiet"] += pairs(model, sizes(arg), args)
    if rows["quiet"]:
        log["uptime"].append(("after the quiet part", uptime()))
    load_items = [item for item in args.load_sizes.split(",") if item]
    if load_items:
        with Burners(limit=args.burner_limit):
            time.sleep(5)  # let the load average see the burners
            log["uptime"].append(("burners running", uptime()))
            for item in load_items:
                model, n = item.split(":")
                rows["load"] += pairs(model, sizes(n), args)
            log["uptime"].append(("end of the loaded part, before stopping the burners", uptime()))
    log["uptime"].append(("end", uptime()))
    end = datetime.datetime.now(datetime.UTC)
    cmd = "python bench/issue14_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        f"### Issue 14 run, {start:%Y-%m-%d %H:%M} UTC{' (quick check)' if args.quick else ''}",
        "",
        f"Command: `{cmd.strip()}`; {start:%H:%M} to {end:%H:%M} UTC.  Machine: {machine()}.",
        "",
        "Uptime:",
        "",
        *[f"- {label}: `{u}`" for label, u in log["uptime"]],
        "",
    ]
    if rows["quiet"]:
        parts += ["#### Quiet", "", bench_numpyro.report(rows["quiet"]), ""]
    if rows["load"]:
        parts += ["#### Under load (two CPU-bound processes running)", "",
                  bench_numpyro.report(rows["load"]), ""]  # fmt: skip
    if rows["hogg"]:
        parts += ["#### Fixed costs: Hogg 20-point model, fresh processes", "",
                  hogg_table(rows["hogg"])]  # fmt: skip
    text = "\n".join(parts) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    insert(args.results, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
