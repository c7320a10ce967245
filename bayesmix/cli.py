"""The ``bayesmix`` command: a thin argparse layer over :mod:`bayesmix.workflows`.

Exit codes: 0 success; 1 runtime failure; 2 usage, specification or data
errors (including missing input files and refusing to overwrite outputs).
Errors are one line on stderr; ``--debug`` shows the traceback instead.

Building the parser imports numpy but neither matplotlib, astropy nor PyMC;
each command imports what it needs when it runs, so ``bayesmix --help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, with a pointer to --help, exit code 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_USAGE, f"bayesmix: error: {message} (see '{self.prog} --help')\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser, *, default_out: str, seed_help: str) -> None:
    p.add_argument("--out", default=default_out, metavar="DIR",
                   help=f"output folder (default: {default_out})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (otherwise they are never replaced)")
    p.add_argument("--seed", type=_seed, default=None, metavar="N", help=seed_help)
    p.add_argument("--quiet", action="store_true",
                   help="print nothing except errors (results are still written to --out)")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic",
                   help="model-selection criterion, lower is better (default: bic)")
    p.add_argument("--n-init", type=_positive_int, default=4, metavar="N",
                   help="EM starts per candidate, best kept (default: 4)")
    p.add_argument("--max-iter", type=_positive_int, default=500, metavar="N",
                   help="maximum EM iterations per start (default: 500)")
    p.add_argument("--tol", type=float, default=1e-5,
                   help="EM convergence tolerance on the mean log-likelihood "
                   "(default: 1e-5)")


def _spec_options(p: argparse.ArgumentParser) -> None:
    """Add the options ``demo`` shares with ``run`` (besides --out): overwrite, seed, sampling."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (otherwise they are never replaced)")
    p.add_argument("--seed", type=_seed, default=None, metavar="N",
                   help="random seed (default: the spec's seed)")
    p.add_argument("--draws", type=_positive_int, default=None, metavar="N",
                   help="posterior draws per chain (default: the spec's [sampler].draws)")
    p.add_argument("--tune", type=_seed, default=None, metavar="N",
                   help="tuning steps per chain (default: the spec's [sampler].tune)")
    p.add_argument("--chains", type=_positive_int, default=None, metavar="N",
                   help="number of chains (default: the spec's [sampler].chains)")
    p.add_argument("--quiet", action="store_true",
                   help="print nothing except errors (results are still written to --out)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``bayesmix`` command."""
    from bayesmix import __version__

    parser = _Parser(
        prog="bayesmix",
        description="Mixture models for astronomy: run analysis specs (Bayesian mixture "
        "models, EM Gaussian mixtures with BIC/AIC selection, GPz training-set tools) and "
        "write membership tables, summaries and figures.",
    )
    parser.add_argument("--version", action="version", version=f"bayesmix {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="Blanco 1 cluster membership from Gaia DR2 proper motions (a bundled spec)",
        description="Run the bundled spec blanco1_pm2d (bayesmix/specs/blanco1_pm2d.toml, "
        "the same file as models/blanco1_pm2d.toml) exactly as 'bayesmix run' would: the "
        "open cluster Blanco 1 plus a 3-Gaussian XD field in (pmra, pmdec), 14,785 Gaia DR2 "
        "stars, 4 chains x 1000 draws. Prints the cluster's proper motion, dispersion and "
        "number of members next to the published values, the membership counts and "
        "whether the data need a cluster at all; writes the membership table (every input "
        "row, input order), summary.json, summary.txt, the posterior and figures "
        "(proper-motion plane, sky map, colour-magnitude diagram, PGM, pair plot) to --out. "
        "Then the same for the full model (bayesmix/specs/blanco1_full.toml: Plummer "
        "cluster on the sky, parallax and proper motions jointly; adds the cluster's centre, "
        "radius, distance and 3-D position) into --out/full, unless --no-full.",
    )
    demo.add_argument("--out", default="out/demo", metavar="DIR",
                      help="output folder (default: out/demo); the full model's go to DIR/full")
    demo.add_argument("--no-full", action="store_true",
                      help="skip the second job, the full model (bundled spec blanco1_full: "
                      "sky + parallax + proper motions, about 2.5 minutes)")
    _spec_options(demo)
    demo.set_defaults(handler=_run_demo)

    run = sub.add_parser(
        "run",
        help="run an analysis spec (models/<name>.toml)",
        description="Validate a TOML analysis spec (data, columns, builder and options, "
        "priors, sampler, outputs), fit it, and write to --out: the input table with "
        "membership columns added (every input row, input order), summary.json, summary.txt, "
        "the posterior (Bayesian builders) and figures. Nothing is fitted before the whole "
        "spec and its data check out.",
    )
    run.add_argument("spec", metavar="SPEC", help="the spec file (TOML)")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="output folder (default: out/<spec name>)")
    _spec_options(run)
    run.add_argument("--dask", action="store_true",
                     help="Parquet [data].path (file, folder or glob): run over Dask and write "
                     "the table as Parquet, partition by partition (EM fitted over every row; "
                     "Bayesian builders and GPz mixtures fitted on a seeded sample of "
                     "--fit-rows rows, every row scored)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a dask.distributed scheduler address (tcp://host:8786), or "
                     "threads/processes/synchronous; implies --dask")
    run.add_argument("--fit-rows", type=_positive_int, default=None, metavar="N",
                     help="with --dask: rows sampled for in-memory fits (Bayesian builders, "
                     "GPz mixtures; default: 20000, all rows when fewer)")
    run.set_defaults(handler=_run_spec)

    gmm = sub.add_parser("gmm", help="Gaussian mixtures fitted by EM")
    gmm_sub = gmm.add_subparsers(dest="gmm_command", metavar="ACTION", parser_class=_Parser)
    fit = gmm_sub.add_parser(
        "fit",
        help="fit Gaussian mixtures to table columns, select K by BIC/AIC",
        description="Fit Gaussian mixtures (full covariance, EM) to chosen numeric columns of "
        "a table (CSV, CSV.gz, ECSV, FITS, VOTable, Parquet), select the number of components "
        "by BIC or AIC, and write the membership table (input rows and columns kept, p_<label> "
        "and component added), summary.json, summary.txt and figures to --out.",
    )
    fit.add_argument("table", metavar="TABLE", help="input table file")
    fit.add_argument("--columns", required=True, metavar="A,B,...",
                     help="comma-separated numeric columns to model")
    fit.add_argument("--n-components", default="1-6", metavar="K",
                     help="candidate numbers of components: '3', '1-6' or '1,2,4' "
                     "(default: 1-6)")
    fit.add_argument("--covariance-type", choices=("full", "diag", "spherical", "tied"),
                     default="full", help="covariance structure (default: full)")
    _common(fit, default_out="out/gmm",
            seed_help="random seed (default: a fresh one, printed and saved in summary.json)")
    fit.add_argument("--dask", action="store_true",
                     help="Parquet input: fit by EM over Dask blocks and write the membership "
                     "as Parquet, partition by partition (threaded scheduler)")
    fit.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="with a Parquet input: a dask.distributed scheduler address "
                     "(tcp://host:8786), or threads/processes/synchronous; implies --dask")
    fit.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help=argparse.SUPPRESS)
    fit.set_defaults(handler=_run_gmm_fit)
    gmm.set_defaults(handler=lambda args: _missing_action(gmm))

    gpz = sub.add_parser("gpz", help="GPz training-set weights and mixture divides")
    gpz_sub = gpz.add_subparsers(dest="gpz_command", metavar="ACTION", parser_class=_Parser)
    for action, target, what in (
        ("weights", "TRAIN", "training table to weight"),
        ("divide", "TABLE", "table to divide into mixture samples"),
    ):
        p = gpz_sub.add_parser(
            action,
            help=f"GPz {action}: "
            + ("density-ratio weights" if action == "weights" else "mixture samples"),
            description=(
                "Fit Gaussian mixtures to the population (and the training set) on the given "
                "features and write "
                + ("the training table with a 'weights' column (exp(ln p_pop - ln p_train), "
                   "clipped)" if action == "weights" else
                   "gpz_pype's divide table (index, best, m0..m{K-1}, unassigned)")
                + " next to the input as <name>_" + action + ".csv; an existing file is "
                "never replaced without --overwrite."
            ),
        )
        p.add_argument("table", metavar=target, help=what)
        p.add_argument("--pop", default=None, metavar="POP",
                       help="population table (default: the input table itself, with a "
                       "warning)")
        p.add_argument("--features", required=True, metavar="F1,F2,...",
                       help="comma-separated columns or colour expressions, e.g. "
                       "'lupt_F606W-lupt_F814W,lupt_F160W'")
        p.add_argument("--n-components", type=_positive_int, default=10, metavar="K",
                       help="mixture components (default: 10)")
        p.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                       help="EM starts, best kept (default: 1)")
        p.add_argument("--max-weight", type=float, default=100.0,
                       help="upper clip of the weights (default: 100)")
        p.add_argument("--eta", type=float, default=None,
                       help="gpz_pype's softened weights (p_pop + eta)/(p_train + eta) "
                       "(default: the exact ratio)")
        p.add_argument("--errors", default=None, metavar="PREFIX:ERRPREFIX",
                       help="extreme deconvolution with error columns, e.g. 'lupt_:lupterr_'")
        p.add_argument("--seed", type=_seed, default=0, metavar="N",
                       help="random seed (default: 0)")
        p.add_argument("--out", default=None, metavar="PATH",
                       help="output CSV (default: next to the input, <name>_" + action + ".csv)")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output")
        p.add_argument("--quiet", action="store_true", help="print nothing except errors")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
        p.add_argument("--dask", action="store_true",
                       help="Parquet inputs: fit the mixtures on a seeded sample of at most "
                       "--fit-rows population rows, score with Dask and write Parquet "
                       "partition by partition (plain column features only)")
        p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a dask.distributed scheduler address, or threads/processes/"
                       "synchronous; implies --dask")
        p.add_argument("--fit-rows", type=_positive_int, default=1_000_000, metavar="N",
                       help="with --dask: population rows sampled for the fit (default: 1e6)")
        if action == "divide":
            p.add_argument("--train", default=None, metavar="TRAIN",
                           help="training table (needed with --weight)")
            p.add_argument("--threshold", type=float, default=0.5,
                           help="component-probability threshold of m<k> (default: 0.5)")
            p.add_argument("--assign", choices=("threshold", "best"), default="threshold",
                           help="'best' puts every object in at least its best component")
            p.add_argument("--return-density", action="store_true",
                           help="add the p0..p{K-1} probability columns")
            p.add_argument("--weight", action="store_true",
                           help="add a weights column (needs --train)")
        p.set_defaults(handler=_run_gpz, gpz_action=action)
    gpz.set_defaults(handler=lambda args: _missing_action(gpz))
    return parser


def _missing_action(parser: argparse.ArgumentParser) -> int:
    print(f"bayesmix: error: choose an action, e.g. 'fit' (see '{parser.prog} --help')",
          file=sys.stderr)
    return EXIT_USAGE


def _progress(args):
    if args.quiet:
        return None
    return lambda msg: print(f"bayesmix: {msg} ...", file=sys.stderr, flush=True)


def _print_written(args, paths, out=None) -> None:
    if args.quiet:
        return
    print(f"wrote {len(paths)} files to {args.out if out is None else out}/: "
          + ", ".join(p.name for p in paths.values()))


def _print_result(args, result, out=None) -> None:
    """Print a spec run's report, notes and written files (nothing with --quiet)."""
    if args.quiet:
        return
    sys.stdout.write(result.report)
    for note in result.notes:
        print(f"note: {note}")
    _print_written(args, result.paths, out)


def _run_demo(args) -> int:
    """``bayesmix demo``: the bundled demo spec through :func:`~bayesmix.workflows.run.run_spec`."""
    from bayesmix import specs
    from bayesmix.spec import load_spec
    from bayesmix.workflows.run import check_output_paths, run_spec

    jobs = [(specs.DEMO, args.out)]
    if not args.no_full:
        jobs.append((specs.DEMO_FULL, os.path.join(args.out, "full")))
    loaded = [(load_spec(specs.path(name)).with_overrides(
        seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains), out)
        for name, out in jobs]
    for spec, out in loaded:  # refuse before any fitting
        check_output_paths(spec, out, overwrite=args.overwrite)
    for i, (spec, out) in enumerate(loaded):
        if not args.quiet:
            what = ("the 2-D proper-motion model" if i == 0 else
                    "the full model (sky + parallax + proper motions)")
            print(f"{'' if i == 0 else chr(10)}bayesmix demo: {what}, the bundled spec "
                  f"{spec.name} ({spec.path})", flush=True)
        result = run_spec(
            spec,
            out,
            overwrite=args.overwrite,
            progress=_progress(args),
            progressbar=not args.quiet and sys.stderr.isatty(),
            verbose=not args.quiet,
        )
        _print_result(args, result, out)
    return EXIT_OK


def _run_gmm_fit(args) -> int:
    from pathlib import Path

    from bayesmix.io import read_table
    from bayesmix.workflows.gmm import (
        check_outputs,
        fit_gmm_selection,
        format_report,
        output_paths,
        parse_candidates,
        write_outputs,
    )

    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    if not columns:
        raise _UsageError("--columns must name at least one column")
    candidates = parse_candidates(args.n_components, name="--n-components")
    if args.dask or args.scheduler:
        return _run_gmm_fit_dask(args, columns, candidates)
    check_outputs(output_paths(args.out, len(columns)).values(), overwrite=args.overwrite)
    table = read_table(args.table)
    analysis = fit_gmm_selection(
        table,
        columns,
        candidates=candidates,
        criterion=args.criterion,
        covariance_type=args.covariance_type,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        rng=args.seed,
        source=Path(args.table).name,
        progress=_progress(args),
        verbose=not args.quiet,
    )
    report = format_report(analysis)
    paths = write_outputs(analysis, args.out, overwrite=args.overwrite, report=report)
    if not args.quiet:
        sys.stdout.write(report)
        _print_written(args, paths)
    return EXIT_OK


def _scheduler_context(scheduler):
    """Context manager activating a Dask scheduler name or a distributed address."""
    from bayesmix.scale import scheduler_context

    return scheduler_context(scheduler)


def _run_gmm_fit_dask(args, columns, candidates) -> int:
    """``gmm fit --dask``: EM over Dask blocks, BIC/AIC, Parquet membership output."""
    from pathlib import Path

    import numpy as np

    from bayesmix._random import as_generator, derive_seed
    from bayesmix.em import GaussianMixture
    from bayesmix.io import write_json
    from bayesmix.scale import fit as dask_fit
    from bayesmix.scale import score_parquet
    from bayesmix.scale import score_samples as dask_score_samples

    src = Path(args.table)
    if not (src.is_dir() or src.suffix == ".parquet"):
        raise _UsageError("--dask/--scheduler need a Parquet input (a .parquet file or folder)")
    if not src.exists():
        raise FileNotFoundError(f"no such file or folder: {src}")
    out = Path(args.out)
    paths = {"membership": out / "membership.parquet", "summary": out / "summary.json"}
    for p in paths.values():
        if p.exists() and not args.overwrite:
            raise FileExistsError(f"{p} exists; pass --overwrite to replace it")
    import dask.dataframe as dd

    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    gen = as_generator(seed)
    ddf = dd.read_parquet(str(src), columns=columns)
    # as in memory: rows with a missing or non-finite value are not fitted; they are kept in
    # the output with NaN membership and an unscored_reason
    ddf = ddf.replace([np.inf, -np.inf], np.nan).dropna()
    rows = []
    models = []
    with _scheduler_context(args.scheduler):
        for k in candidates:
            if not args.quiet:
                print(f"bayesmix: fitting K = {k} over Dask ...", file=sys.stderr, flush=True)
            gm = GaussianMixture(
                k, covariance_type=args.covariance_type, n_init=args.n_init,
                max_iter=args.max_iter, tol=args.tol, rng=derive_seed(gen),
            )
            dask_fit(gm, ddf, columns=columns)
            ll = dask_score_samples(gm, ddf, columns=columns)
            total, n = (float(v) for v in _compute_sum_count(ll))
            p = gm.n_parameters()
            rows.append({"n_components": k, "log_likelihood": total, "n_objects": int(n),
                         "bic": -2 * total + p * np.log(n), "aic": -2 * total + 2 * p,
                         "n_parameters": p, "converged": gm.converged_})
            models.append(gm)
        best = int(np.argmin([r[args.criterion] for r in rows]))
        out.mkdir(parents=True, exist_ok=True)
        info = score_parquet(models[best], src, paths["membership"], columns=columns,
                             what="predict_proba", scheduler=args.scheduler,
                             overwrite=args.overwrite)
    gm = models[best]
    summary = {
        "input": str(src), "columns": columns, "criterion": args.criterion, "seed": seed,
        "selection": rows, "selected_n_components": rows[best]["n_components"],
        "weights": gm.weights_.tolist(), "means": gm.means_.tolist(),
        "covariances": gm.full_covariances().tolist(),
        "membership": {k: v for k, v in info.items() if k != "path"},
    }
    write_json(summary, paths["summary"], overwrite=args.overwrite)
    if not args.quiet:
        for r in rows:
            mark = "  <- selected" if r is rows[best] else ""
            print(f"  K={r['n_components']:>2}  BIC {r['bic']:.2f}  AIC {r['aic']:.2f}{mark}")
        print(f"wrote {paths['membership']} ({info['n_rows']} rows, {info['n_unscored']} "
              f"unscored) and {paths['summary']}; seed {seed}")
    return EXIT_OK


def _compute_sum_count(ll):
    import dask
    import dask.array as da

    finite = da.isfinite(ll)
    return dask.compute(da.where(finite, ll, 0.0).sum(), finite.sum())


def _run_spec(args) -> int:
    from bayesmix.spec import load_spec
    from bayesmix.workflows.run import run_spec

    use_dask = args.dask or args.scheduler is not None
    if args.fit_rows is not None and not use_dask:
        raise _UsageError("--fit-rows needs --dask (or --scheduler)")
    if use_dask:
        from bayesmix.workflows.run_dask import load_spec_dask

        spec = load_spec_dask(args.spec)
    else:
        spec = load_spec(args.spec)
    spec = spec.with_overrides(
        seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains
    )
    if args.out is None:
        args.out = f"out/{spec.name}"
    ignored = [f"--{k}" for k in ("draws", "tune", "chains") if getattr(args, k) is not None]
    if ignored and spec.kind != "bayes" and not args.quiet:
        print(f"bayesmix: note: {', '.join(ignored)} ignored: builder {spec.builder!r} is not "
              "sampled", file=sys.stderr)
    if use_dask:
        from bayesmix.workflows.run_dask import DEFAULT_FIT_ROWS, run_spec_dask

        result = run_spec_dask(
            spec,
            args.out,
            scheduler=args.scheduler,
            fit_rows=args.fit_rows or DEFAULT_FIT_ROWS,
            overwrite=args.overwrite,
            progress=_progress(args),
            progressbar=not args.quiet and sys.stderr.isatty(),
            verbose=not args.quiet,
            option="--dask" if args.dask else "--scheduler",
        )
    else:
        result = run_spec(
            spec,
            args.out,
            overwrite=args.overwrite,
            progress=_progress(args),
            progressbar=not args.quiet and sys.stderr.isatty(),
            verbose=not args.quiet,
        )
    _print_result(args, result)
    return EXIT_OK


def _run_gpz(args) -> int:
    import warnings
    from pathlib import Path

    from bayesmix.gpz import gpz_divide_table, gpz_weights_table, write_divide_csv
    from bayesmix.io import read_table, write_table

    features = [f.strip() for f in args.features.split(",") if f.strip()]
    if not features:
        raise _UsageError("--features must name at least one feature")
    if args.dask or args.scheduler:
        return _run_gpz_dask(args, features)
    src = Path(args.table)
    out = Path(args.out) if args.out else src.with_name(
        src.name.split(".")[0] + f"_{args.gpz_action}.csv"
    )
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    error_prefix = None
    if args.errors:
        parts = args.errors.split(":")
        if len(parts) != 2 or not all(parts):
            raise _UsageError("--errors must look like 'lupt_:lupterr_'")
        error_prefix = (parts[0], parts[1])
    table = read_table(src)
    pop = table if args.pop is None else read_table(args.pop)
    common = dict(
        n_components=args.n_components, n_init=args.n_init, rng=args.seed,
        max_weight=args.max_weight, eta=args.eta, error_prefix=error_prefix,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.gpz_action == "weights":
            result, _ = gpz_weights_table(pop, table, features, **common)
        else:
            train = None if args.train is None else read_table(args.train)
            if args.weight and train is None:
                raise _UsageError("--weight needs --train (the training table)")
            result, _ = gpz_divide_table(
                pop, table, features, train_table=train, threshold=args.threshold,
                assign=args.assign, return_density=args.return_density, weight=args.weight,
                **common,
            )
    if not args.quiet:
        for w in caught:
            print(f"bayesmix: warning: {_one_line(w.message)}", file=sys.stderr)
    if args.gpz_action == "weights":
        write_table(result, out, overwrite=args.overwrite)
    else:
        write_divide_csv(result, out, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {out} ({len(result)} rows)")
    return EXIT_OK


def _run_gpz_dask(args, features) -> int:
    """``gpz weights|divide --dask``: mixtures fitted on samples, scoring over Parquet."""
    from pathlib import Path

    import numpy as np

    from bayesmix.gpz import GPzAugment
    from bayesmix.scale import score_parquet

    bad = [f for f in features if not f.replace("_", "").isalnum()]
    if bad:
        raise _UsageError(f"with --dask, --features must be plain column names; got {bad[0]!r} "
                          "(write the colour as a column of the Parquet catalogue first)")
    if args.errors:
        raise _UsageError("--errors is not supported with --dask")
    src = Path(args.table)
    for path in [src] + [Path(p) for p in (args.pop, getattr(args, "train", None)) if p]:
        if not (path.is_dir() or path.suffix == ".parquet"):
            raise _UsageError(f"--dask needs Parquet inputs; {path} is not")
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    out = Path(args.out) if args.out else src.with_name(
        src.name.split(".")[0] + f"_{args.gpz_action}.parquet"
    )
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    import dask.dataframe as dd

    def sample(path, n_max):
        ddf = dd.read_parquet(str(path), columns=features)
        ddf = ddf.replace([np.inf, -np.inf], np.nan).dropna()
        n = int(ddf.shape[0].compute())
        frac = min(1.0, n_max / max(n, 1))
        part = ddf if frac >= 1.0 else ddf.sample(frac=frac, random_state=args.seed)
        return part.compute().to_numpy(dtype=float)

    with _scheduler_context(args.scheduler):
        pop_path = Path(args.pop) if args.pop else src
        augment = GPzAugment(n_components=args.n_components, n_init=args.n_init,
                             rng=args.seed)
        augment.fit_population(sample(pop_path, args.fit_rows))
        train_path = src if args.gpz_action == "weights" else (
            Path(args.train) if getattr(args, "train", None) else None)
        if args.gpz_action == "divide" and args.weight and train_path is None:
            raise _UsageError("--weight needs --train (the training table)")
        if train_path is not None:
            augment.fit_training(sample(train_path, args.fit_rows))
        options = {"max_weight": args.max_weight, "eta": args.eta}
        if args.gpz_action == "divide":
            options.update(threshold=args.threshold, assign=args.assign,
                           return_density=args.return_density, weight=args.weight)
        info = score_parquet(augment, src, out, columns=features,
                             what=f"gpz_{args.gpz_action}", scheduler=args.scheduler,
                             overwrite=args.overwrite, **options)
    if not args.quiet:
        print(f"wrote {out} ({info['n_rows']} rows, {info['n_unscored']} unscored)")
    return EXIT_OK


class _UsageError(Exception):
    """A command-line option is invalid (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesmix`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        print("bayesmix: error: choose a COMMAND: run, demo, gmm or gpz (see 'bayesmix --help')",
              file=sys.stderr)
        return EXIT_USAGE
    from bayesmix.exceptions import DataError, FormatError, SpecError

    usage_errors = (_UsageError, DataError, SpecError, FormatError, FileNotFoundError,
                    FileExistsError, IsADirectoryError, NotADirectoryError)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("bayesmix: interrupted", file=sys.stderr)
        return 130
    except usage_errors as exc:
        if args.debug:
            raise
        print(f"bayesmix: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - top level: any other failure is a runtime error
        if args.debug:
            raise
        print(f"bayesmix: failed: {type(exc).__name__}: {_one_line(exc)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
