"""The ``bayesmix`` command: a thin argparse layer over :mod:`bayesmix.workflows`.

Exit codes: 0 success; 1 runtime failure; 2 usage, specification or data
errors (including missing input files and refusing to overwrite outputs).
Errors are one line on stderr; ``--debug`` shows the traceback instead.

Building the parser imports numpy but neither matplotlib, astropy nor PyMC;
each command imports what it needs when it runs, so ``bayesmix --help`` is fast.
"""

from __future__ import annotations

import argparse
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
        help="thin/thick-disc classification of the bundled RAVE x APOGEE abundances",
        description="Fit Gaussian mixtures with 1..K components to [Fe/H]-[Mg/Fe] of the "
        "bundled RAVE x APOGEE DR16 stars, select K by BIC/AIC, classify thin/thick disc "
        "with the 2-component fit, and write tables, summary and figures to --out.",
    )
    from bayesmix.workflows.disc import DEMO_SEED

    _common(demo, default_out="out/demo", seed_help=f"random seed (default: {DEMO_SEED})")
    demo.add_argument("--max-components", type=_positive_int, default=6, metavar="K",
                      help="candidates are 1..K components, K >= 2 (default: 6)")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help=argparse.SUPPRESS)
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
    run.add_argument("--overwrite", action="store_true",
                     help="replace existing output files (otherwise they are never replaced)")
    run.add_argument("--seed", type=_seed, default=None, metavar="N",
                     help="random seed (default: the spec's seed)")
    run.add_argument("--draws", type=_positive_int, default=None, metavar="N",
                     help="posterior draws per chain (default: the spec's [sampler].draws)")
    run.add_argument("--tune", type=_seed, default=None, metavar="N",
                     help="tuning steps per chain (default: the spec's [sampler].tune)")
    run.add_argument("--chains", type=_positive_int, default=None, metavar="N",
                     help="number of chains (default: the spec's [sampler].chains)")
    run.add_argument("--quiet", action="store_true",
                     help="print nothing except errors (results are still written to --out)")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help=argparse.SUPPRESS)
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
    fit.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help=argparse.SUPPRESS)
    fit.set_defaults(handler=_run_gmm_fit)
    gmm.set_defaults(handler=lambda args: _missing_action(gmm))
    return parser


def _missing_action(parser: argparse.ArgumentParser) -> int:
    print(f"bayesmix: error: choose an action, e.g. 'fit' (see '{parser.prog} --help')",
          file=sys.stderr)
    return EXIT_USAGE


def _progress(args):
    if args.quiet:
        return None
    return lambda msg: print(f"bayesmix: {msg} ...", file=sys.stderr, flush=True)


def _print_written(args, paths) -> None:
    if args.quiet:
        return
    print(f"wrote {len(paths)} files to {args.out}/: "
          + ", ".join(p.name for p in paths.values()))


def _run_demo(args) -> int:
    from bayesmix.workflows.disc import (
        DEMO_SEED,
        demo_output_paths,
        disc_report,
        run_disc_demo,
        write_disc_outputs,
    )
    from bayesmix.workflows.gmm import check_outputs

    if args.max_components < 2:
        raise _UsageError("--max-components must be at least 2 (the thin/thick fit needs 2)")
    check_outputs(demo_output_paths(args.out).values(), overwrite=args.overwrite)
    result = run_disc_demo(
        max_components=args.max_components,
        criterion=args.criterion,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        rng=DEMO_SEED if args.seed is None else args.seed,
        progress=_progress(args),
        verbose=not args.quiet,
    )
    paths = write_disc_outputs(result, args.out, overwrite=args.overwrite)
    if not args.quiet:
        sys.stdout.write(disc_report(result))
        _print_written(args, paths)
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


def _run_spec(args) -> int:
    from bayesmix.spec import load_spec
    from bayesmix.workflows.run import run_spec

    spec = load_spec(args.spec).with_overrides(
        seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains
    )
    if args.out is None:
        args.out = f"out/{spec.name}"
    ignored = [f"--{k}" for k in ("draws", "tune", "chains") if getattr(args, k) is not None]
    if ignored and spec.kind != "bayes" and not args.quiet:
        print(f"bayesmix: note: {', '.join(ignored)} ignored: builder {spec.builder!r} is not "
              "sampled", file=sys.stderr)
    result = run_spec(
        spec,
        args.out,
        overwrite=args.overwrite,
        progress=_progress(args),
        progressbar=not args.quiet and sys.stderr.isatty(),
        verbose=not args.quiet,
    )
    if not args.quiet:
        sys.stdout.write(result.report)
        for note in result.notes:
            print(f"note: {note}")
        _print_written(args, result.paths)
    return EXIT_OK


class _UsageError(Exception):
    """A command-line option is invalid (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesmix`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        print("bayesmix: error: choose a COMMAND: run, demo or gmm (see 'bayesmix --help')",
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
