"""What the outputs of a Hogg run cost: figures (pgm, membership, pair) and the netCDF posterior.

Issue 14 item 4.  Each variant runs in a fresh process (imports are part of what a run pays):
build and sample ``models/hogg2010_line_outliers.toml``'s model (4 x 1000 + 1000 tune, seed
2010; compile caches warm), then time the one output step as ``bayesmix run`` does it
(``bayesmix.plot`` + ``bayesmix.io.write_figure`` at 150 dpi, ``bayesmix.io.write_datatree``)
or an alternative: lower dpi, the corner grid instead of arviz_plots for the pair plot, fewer
netCDF groups, no string variable, another engine.  Reported per variant: wall and CPU
seconds of the first call (imports included), of a second call (steady state) and the file
size.  The machine's load average is printed with every row.

Usage::

    .venv/bin/python bench/hogg_outputs.py               # all variants, one process each
    .venv/bin/python bench/hogg_outputs.py --variant pgm # one, in this process
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "models" / "hogg2010_line_outliers.toml"

VARIANTS = {
    # name: (kind, options)
    "pgm": ("pgm", {"dpi": 150}),
    "pgm_dpi100": ("pgm", {"dpi": 100}),
    "pgm_no_tight_bbox": ("pgm", {"dpi": 150, "tight": False}),
    "membership": ("membership", {"dpi": 150}),
    "membership_dpi100": ("membership", {"dpi": 100}),
    "pair": ("pair", {"dpi": 150, "kind": "auto"}),
    "pair_corner": ("pair", {"dpi": 150, "kind": "corner"}),
    "pair_corner_dpi100": ("pair", {"dpi": 100, "kind": "corner"}),
    "netcdf": ("netcdf", {}),
    "netcdf_no_strings": ("netcdf", {"drop": ["divergence_message"]}),
    "netcdf_posterior_stats": ("netcdf", {"groups": ["posterior", "sample_stats"]}),
    "netcdf_posterior_stats_no_strings": (
        "netcdf",
        {"groups": ["posterior", "sample_stats"], "drop": ["divergence_message"]},
    ),
    "zarr_zip": ("zarr", {}),
    # what a run pays for all of them together (imports shared)
    "figures": ("all", {"dpi": 150, "kind": "auto", "netcdf": False}),
    "figures_corner": ("all", {"dpi": 150, "kind": "corner", "netcdf": False}),
    "figures_no_tight_bbox": ("all", {"dpi": 150, "kind": "auto", "netcdf": False, "tight": False}),
    "figures_corner_no_tight_bbox": (
        "all",
        {"dpi": 150, "kind": "corner", "netcdf": False, "tight": False},
    ),
    "figures_and_netcdf": ("all", {"dpi": 150, "kind": "auto", "netcdf": True}),
    "figures_corner_and_posterior_stats_netcdf": (
        "all",
        {"dpi": 150, "kind": "corner", "netcdf": True, "groups": ["posterior", "sample_stats"]},
    ),
}


def _load() -> str:
    return os.getloadavg()[0].__format__(".2f")


def _fit():
    from bayesmix.builders import line_outlier
    from bayesmix.datasets import load_hogg2010
    from bayesmix.inference import sample

    t = load_hogg2010()
    mm = line_outlier(t["x"], t["y"], t["sigma_y"], ids=t["ID"])
    fit = sample(mm, draws=1000, tune=1000, chains=4, rng=2010, progressbar=False,
                 target_accept=0.95)  # fmt: skip
    return t, mm, fit


def _membership_probability(mm, fit, t):
    from bayesmix.membership import membership

    return membership(fit)  # the model's own data (the 20 points)


def _tree(fit, groups, drop):
    import xarray as xr

    tree = fit.idata
    keep = groups or list(tree.children)
    out = {}
    for g in keep:
        ds = tree[g].to_dataset()
        out[g] = ds.drop_vars([v for v in drop if v in ds])
    return xr.DataTree.from_dict(out)


def _save(fig, path: Path, opts) -> Path:
    """bayesmix.io.write_figure (bbox_inches="tight"), or a plain savefig without the tight box."""
    from bayesmix.io import write_figure

    if opts.get("tight", True):
        return write_figure(fig, path, dpi=opts["dpi"])
    fig.savefig(path, dpi=opts["dpi"])
    return path


def _step(kind, opts, t, mm, fit, folder: Path, i: int) -> Path:
    from bayesmix.io import write_datatree

    path = folder / f"{kind}{i}"
    if kind == "pgm":
        from bayesmix.plot import plot_pgm

        return _save(plot_pgm(mm), path.with_suffix(".png"), opts)
    if kind == "pair":
        from bayesmix.plot import plot_pair

        fig = plot_pair(fit, ["slope", "intercept", "weights"], kind=opts["kind"], detach=True)
        return _save(fig, path.with_suffix(".png"), opts)
    if kind == "membership":
        import numpy as np

        from bayesmix.plot import new_axes, plot_membership

        table = opts["_p"]  # computed before the timing: not an output cost
        p = np.asarray(table["probability"].sel(component="outlier"), dtype=float)
        x, y = np.asarray(t["x"], float), np.asarray(t["y"], float)
        ax = new_axes(figsize=(7, 5))
        plot_membership(x, y, p, ax=ax, xlabel="x", ylabel="y", colorbar_label="p(outlier)",
                        cmap="coolwarm", s=30.0)  # fmt: skip
        return _save(ax.figure, path.with_suffix(".png"), opts)
    if kind == "netcdf":
        tree = _tree(fit, opts.get("groups"), opts.get("drop", []))
        engine = opts.get("engine")
        if engine is None:
            return write_datatree(tree, path.with_suffix(".nc"))
        target = path.with_suffix(".nc")
        tree.to_netcdf(target, engine=engine)
        return target
    if kind == "all":
        if opts["netcdf"]:
            _step("netcdf", opts, t, mm, fit, folder, i)
        for part in ("pgm", "membership", "pair"):
            _step(part, opts, t, mm, fit, folder, i)
        return folder
    if kind == "zarr":
        return write_datatree(fit.idata, folder / f"posterior{i}.zarr.zip")
    raise ValueError(kind)


def run_variant(name: str) -> dict:
    warnings.simplefilter("ignore")
    kind, opts = VARIANTS[name]
    opts = dict(opts)
    t, mm, fit = _fit()
    if kind in ("membership", "all"):
        # the membership table itself is not an output cost: compute it before timing
        opts["_p"] = _membership_probability(mm, fit, t)
    row = {"variant": name, "load_before": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            w0, c0 = time.perf_counter(), time.process_time()
            path = _step(kind, opts, t, mm, fit, Path(tmp), i + 1)
            row[f"wall{i + 1}"] = round(time.perf_counter() - w0, 3)
            row[f"cpu{i + 1}"] = round(time.process_time() - c0, 3)
            if path.is_dir():
                files = [p for p in path.rglob(f"*{i + 1}*") if p.is_file()]
            else:
                files = [path]
            size = sum(p.stat().st_size for p in files)
            row["kB"] = round(size / 1e3, 1)
    row["load_after"] = _load()
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS))
    ap.add_argument("--only", help="comma list of variants to run (default: all)")
    ap.add_argument("--json", type=Path, help="append the rows (JSON lines) here")
    args = ap.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant)))
        return 0
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print("| variant | first wall s | first CPU s | second wall s | second CPU s | kB | load |")
    print("|---|---|---|---|---|---|---|")
    names = args.only.split(",") if args.only else list(VARIANTS)
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--variant", name], capture_output=True,
                             text=True)  # fmt: skip
        if out.returncode:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1][:100]} |||||||")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        print(f"| {name} | {row['wall1']} | {row['cpu1']} | {row['wall2']} | {row['cpu2']} | "
              f"{row['kB']} | {row['load_before']}/{row['load_after']} |", flush=True)  # fmt: skip
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
