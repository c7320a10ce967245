"""The ``bayesmix`` command: a thin argparse layer over :mod:`bayesmix.workflows`.

Every subcommand builds (or loads) an analysis spec and runs it through
:func:`bayesmix.workflows.run.run_spec`: ``run`` a spec file, ``demo`` the
bundled Blanco 1 specs, ``gmm fit`` an EM spec made from its options, ``gpz
weights|divide`` a GPz spec made from its options.  So every command has the
same missing-value policy (rows kept with an ``unscored_reason``), the same
checks and the same outputs.

Exit codes (:data:`EXIT_CODES`): 0 success; 1 runtime failure; 2 usage,
specification or data errors (including missing input files and refusing to
overwrite outputs); 3 a cluster model found no cluster (its outputs are
written, and the report says so first).  Errors are one line on stderr; ``--debug`` (accepted by
every subcommand) prints the traceback too, with the same exit code.

Building the parser imports neither numpy, matplotlib, astropy nor PyMC; each
command imports what it needs when it runs, so ``bayesmix --help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["EXIT_CODES", "build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NO_CLUSTER = 0, 1, 2, 3
#: exit codes of the ``bayesmix`` command
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "runtime failure (a bug, a numerical failure, an interrupted write)",
    EXIT_USAGE: "usage, spec or data error (bad option, key, column, file; an output exists)",
    EXIT_NO_CLUSTER: "a cluster model found no cluster (every output is still written)",
}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, with a pointer to --help, exit code 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(EXIT_USAGE, f"bayesmix: error: {message} (see '{self.prog} --help')\n")


class _UsageError(Exception):
    """A command-line option is invalid (exit code 2)."""


def _int_type(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_seed = _int_type(0, "a non-negative integer")
_positive_int = _int_type(1, "a positive integer")


def _out_type(text: str) -> str:
    """Check an output path: not empty, no control characters, no name over 255 bytes."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if any(ch in text for ch in "\x00\n\r"):
        raise argparse.ArgumentTypeError(f"has a control character: {text!r}")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in text.split(os.sep)):
        raise argparse.ArgumentTypeError("has a name longer than 255 bytes")
    return text


def _float_type(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


#: the kind of every option, written once: its ``add_argument`` keywords besides the help
#: (and besides the default, where a subcommand has its own); see :func:`_add`
_KINDS: dict[str, dict[str, Any]] = {
    "--out": {"type": _out_type, "metavar": "DIR"},
    "--seed": {"type": _seed, "metavar": "N"},
    "--draws": {"type": _positive_int, "metavar": "N"},
    "--tune": {"type": _seed, "metavar": "N"},
    "--chains": {"type": _positive_int, "metavar": "N"},
    "--workers": {"type": _positive_int, "metavar": "N"},
    "--fit-rows": {"type": _positive_int, "metavar": "N"},
    "--n-components": {"metavar": "K"},
    "--n-init": {"type": _positive_int, "metavar": "N"},
    "--max-iter": {"type": _positive_int, "metavar": "N"},
    "--tol": {"type": _float_type},
    "--max-weight": {"type": _float_type},
    "--eta": {"type": _float_type},
    "--ess-floor": {"type": _float_type},
    "--threshold": {"type": _float_type},
    "--scheduler": {"metavar": "ADDRESS"},
    "--columns": {"metavar": "A,B,...", "required": True},
    "--features": {"metavar": "F1,F2,...", "required": True},
    "--clusters": {"metavar": "LIST", "required": True},
    "--spec": {"metavar": "TEMPLATE"},
    "--pop": {"metavar": "POP"},
    "--train": {"metavar": "TRAIN"},
    "--errors": {"metavar": "PREFIX:ERRPREFIX"},
    "--debug": {"action": "store_true", "default": argparse.SUPPRESS},
    **dict.fromkeys(
        ("--overwrite", "--quiet", "--dask", "--no-full", "--return-density", "--weight"),
        {"action": "store_true"},
    ),
}

#: the sampler options ``run``, ``demo`` and ``survey`` override, and their help
_SAMPLER = {
    "--draws": "posterior draws per chain",
    "--tune": "tuning steps per chain",
    "--chains": "number of chains",
}


def _sampler_values(args) -> dict[str, int | None]:
    """Return the values of the sampler options (None: not given), by spec key."""
    return {name[2:]: getattr(args, name[2:]) for name in _SAMPLER}


def _add(p: argparse.ArgumentParser, name: str, help_: str, **kw: Any) -> None:
    """Add option ``name`` of :data:`_KINDS` to ``p`` (``kw``: its default or other changes)."""
    p.add_argument(name, help=help_, **{**_KINDS.get(name, {}), **kw})


def _quiet_overwrite(p: argparse.ArgumentParser) -> None:
    _add(p, "--overwrite", "replace existing output files (otherwise they are never replaced)")
    _add(p, "--quiet", "print nothing except errors (results are still written)")
    _add(p, "--debug", "on an error, also print the traceback (the exit code is the same)")


def _dask_options(p: argparse.ArgumentParser, *, fit_rows_default: str) -> None:
    dask = "Parquet input (file, folder or glob): run over Dask and write the table as Parquet"
    _add(p, "--dask", dask + ", partition by partition")
    _add(
        p,
        "--scheduler",
        "a dask.distributed scheduler address (tcp://host:8786), or "
        "threads/processes/synchronous; implies --dask",
    )
    rows = "rows sampled (seeded) for in-memory fits (Bayesian models, GPz mixtures"
    _add(p, "--fit-rows", f"with --dask: {rows}; default: {fit_rows_default}, all rows when fewer)")


def _sampler_options(p: argparse.ArgumentParser, default: str) -> None:
    """``--draws``, ``--tune``, ``--chains``; ``default`` says where their defaults come from."""
    for name, help_ in _SAMPLER.items():
        _add(p, name, f"{help_} (default: {default.format(name[2:])})", default=None)


def _spec_options(p: argparse.ArgumentParser) -> None:
    """Options ``run`` and ``demo`` share (besides --out): overwrite, seed, sampling."""
    _add(p, "--seed", "random seed (default: the spec's)", default=None)
    _sampler_options(p, "the spec's [sampler].{}")
    _quiet_overwrite(p)


def _add_demo(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="Blanco 1 cluster membership from Gaia DR2 (two bundled specs)",
        description="""Run the bundled spec blanco1_pm2d (bayesmix/specs/blanco1_pm2d.toml, the
        same file as models/blanco1_pm2d.toml) exactly as 'bayesmix run' would: the open cluster
        Blanco 1 plus a 3-Gaussian XD field in (pmra, pmdec), 14,785 Gaia DR2 stars, 4 chains x
        1000 draws. Prints the cluster's proper motion, dispersion and number of members next to
        the published values, the membership counts and whether the data need a cluster at all;
        writes the membership table (every input row, input order), summary.json, summary.txt,
        the posterior and figures to --out. Then the same for the full model
        (bayesmix/specs/blanco1_full.toml: Plummer cluster on the sky, parallax and proper
        motions jointly; adds the cluster's centre, radius, distance and 3-D position) into
        --out/full, unless --no-full.""",
    )
    full = "the full model's go to DIR/full"
    _add(demo, "--out", f"output folder (default: out/demo); {full}", default="out/demo")
    _add(demo, "--no-full", "skip the second job, the full model (bundled spec blanco1_full)")
    _spec_options(demo)
    demo.set_defaults(handler=_run_demo)


def _add_run(sub) -> None:
    run = sub.add_parser(
        "run",
        help="run an analysis spec (models/<name>.toml)",
        description="""Validate a TOML analysis spec (data, columns, builder and options,
        priors, sampler, outputs), fit it, and write to --out: the input table with membership
        columns added (every input row, input order), summary.json, summary.txt, the posterior
        (Bayesian builders) and figures. Nothing is fitted before the whole spec, its data and
        its outputs check out.""",
    )
    run.add_argument("spec", metavar="SPEC", help="the spec file (TOML)")
    _add(run, "--out", "output folder (default: out/<spec name>)", default=None)
    _spec_options(run)
    _dask_options(run, fit_rows_default="20000")
    run.set_defaults(handler=_run_spec)


def _add_gmm(sub) -> None:
    gmm = sub.add_parser("gmm", help="Gaussian mixtures fitted by EM")
    _add(gmm, "--debug", "on an error, also print the traceback (the exit code is the same)")
    gmm_sub = gmm.add_subparsers(dest="gmm_command", metavar="ACTION", parser_class=_Parser)
    fit = gmm_sub.add_parser(
        "fit",
        help="fit Gaussian mixtures to table columns, select K by BIC/AIC",
        description="""Fit Gaussian mixtures (EM) to chosen numeric columns of a table (CSV,
        CSV.gz, ECSV, FITS, VOTable, Parquet), select the number of components by BIC or AIC,
        and write the membership table (input rows and columns kept, p_<label>, component and
        unscored_reason added), summary.json, summary.txt and figures to --out. The same as
        'bayesmix run' with a [builder] name = "gmm" spec.""",
    )
    fit.add_argument("table", metavar="TABLE", help="input table file")
    _add(fit, "--columns", "comma-separated numeric columns")
    k = "candidate numbers of components: '3', '1-6' or '1,2,4' (default: 1-6)"
    _add(fit, "--n-components", k, default="1-6")
    cov = "covariance structure: full, diag, spherical or tied (default: full)"
    _add(fit, "--covariance-type", cov, default="full")
    crit = "model-selection criterion, bic or aic, lower is better (default: bic)"
    _add(fit, "--criterion", crit, default="bic")
    _add(fit, "--n-init", "EM starts per candidate, best kept (default: 4)", default=4)
    _add(fit, "--max-iter", "maximum EM iterations per start (default: 500)", default=500)
    tol = "EM convergence tolerance on the mean log-likelihood (default: 1e-5)"
    _add(fit, "--tol", tol, default=1e-5)
    _add(fit, "--out", "output folder", default="out/gmm")
    seed = "random seed (default: a fresh one, printed and saved in summary.json)"
    _add(fit, "--seed", seed, default=None)
    _quiet_overwrite(fit)
    _dask_options(fit, fit_rows_default="not used: EM runs over every row")
    fit.set_defaults(handler=_run_gmm_fit)
    gmm.set_defaults(handler=lambda args: _missing_action(gmm))


def _gpz_options(p: argparse.ArgumentParser, action: str) -> None:
    """Add the options of ``gpz weights`` or ``gpz divide`` (``action``)."""
    _add(p, "--pop", "population table (default: the input table itself, with a warning)")
    features = "comma-separated columns or colour expressions, e.g. "
    _add(p, "--features", features + "'lupt_F606W-lupt_F814W,lupt_F160W'")
    k = "mixture components (default: 10)"
    _add(p, "--n-components", k, type=_positive_int, default=10)
    _add(p, "--n-init", "EM starts, best kept (default: 1)", default=1)
    _add(p, "--max-weight", "upper clip of the weights (default: the library's)")
    eta = "gpz_pype's softened weights (p_pop + eta)/(p_train + eta); implies --regularise eta"
    _add(p, "--eta", eta)
    ratio = "a calibrated logistic regression of population against training; the default"
    mixture = "mixture (the two mixtures)"
    _add(p, "--ratio", f"density ratio of the weights: classifier ({ratio}) or {mixture}")
    reg = "clip the log-ratio where held-out weights match the population best, keeping "
    floor = "the effective sample above --ess-floor; the default"
    _add(p, "--regularise", f"auto ({reg}{floor}), eta or none")
    ess = "smallest effective-sample fraction the auto clip accepts (default 0.3)"
    _add(p, "--ess-floor", ess)
    errors = "extreme deconvolution with error columns, e.g. 'lupt_:lupterr_'"
    _add(p, "--errors", errors)
    _add(p, "--seed", "random seed (0)", default=0)
    out = f"output file (default: next to the input, <name>_{action}.csv)"
    _add(p, "--out", out, metavar="PATH", default=None)
    _quiet_overwrite(p)
    _dask_options(p, fit_rows_default="1000000")
    if action != "divide":
        return
    _add(p, "--train", "training table (for --weight)")
    threshold = "component-probability threshold of m<k> (default: 0.5)"
    _add(p, "--threshold", threshold, default=0.5)
    best = "threshold (gpz_pype's rule) or best: every object also joins its best component"
    _add(p, "--assign", best + " (default: threshold)", default="threshold")
    _add(p, "--return-density", "add the p0..p{K-1} probability columns")
    _add(p, "--weight", "add a weights column (the training sample: --train, else the table)")


def _add_gpz(sub) -> None:
    gpz = sub.add_parser("gpz", help="GPz training-set weights and mixture divides")
    _add(gpz, "--debug", "on an error, also print the traceback (the exit code is the same)")
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
                + (
                    "the training table with 'weights' and 'unscored_reason' columns"
                    if action == "weights"
                    else "gpz_pype's divide table (index, best, m0..m{K-1}, unassigned, "
                    "unscored_reason)"
                )
                + " next to the input as <name>_"
                + action
                + ".csv (Parquet with --dask); rows with a missing feature are kept with an "
                "unscored_reason; an existing file is never replaced without --overwrite."
            ),
        )
        p.add_argument("table", metavar=target, help=what)
        _gpz_options(p, action)
        p.set_defaults(handler=_run_gpz, gpz_action=action)
    gpz.set_defaults(handler=lambda args: _missing_action(gpz))


def _add_survey(sub) -> None:
    p = sub.add_parser(
        "survey",
        help="fit many clusters from one catalogue (one Dask task per cluster)",
        description="""Fit a cluster-vs-field model to every cluster of a list (name, ra, dec,
        radius in deg, optional pmra, pmdec, parallax hints) from one catalogue: a Parquet file,
        folder or glob, or a HATS catalogue (read with LSDB). Each cluster is one task: cut the
        cone, fit the template spec (seed from the cluster's name), write members/<name>.parquet
        and results/<name>.json. At the end clusters.parquet and clusters.csv (one row per
        cluster: status ok / no cluster / failed, parameters, counts, evidence, diagnostics,
        wall time) and survey.json. A rerun skips the clusters already finished.""",
    )
    p.add_argument("catalogue", metavar="CATALOGUE", help="Parquet file, folder or glob, or HATS")
    _add(p, "--clusters", "cluster list (CSV, ECSV, FITS, ...)")
    template = "template spec: a TOML file, or pm2d / full (bundled; default pm2d)"
    _add(p, "--spec", template, default="pm2d")
    _add(p, "--out", "survey folder", default="out/survey")
    address = "a dask.distributed scheduler address (tcp://host:8786), or synchronous (in "
    local = "this process); default: a LocalCluster of --workers processes"
    _add(p, "--scheduler", address + local, default=None)
    workers = "workers of the default LocalCluster (default: the number of cores)"
    _add(p, "--workers", workers, default=None)
    _sampler_options(p, "the template's")
    _quiet_overwrite(p)
    p.set_defaults(handler=_run_survey)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``bayesmix`` command."""
    from bayesmix import __version__

    parser = _Parser(
        prog="bayesmix",
        description="Mixture models for astronomy: run analysis specs (Bayesian mixture "
        "models, EM Gaussian mixtures with BIC/AIC selection, GPz training-set tools) and "
        "write membership tables, summaries and figures. Exit codes: "
        + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items())
        + ".",
    )
    parser.add_argument("--version", action="version", version=f"bayesmix {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="on an error, also print the traceback"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_demo(sub)
    _add_run(sub)
    _add_gmm(sub)
    _add_gpz(sub)
    _add_survey(sub)
    return parser


# --------------------------------------------------------------------------------------------
# handlers
# --------------------------------------------------------------------------------------------


def _missing_action(parser: argparse.ArgumentParser) -> int:
    actions = next(
        (sorted(a.choices) for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
        [],
    )
    print(
        f"bayesmix: error: choose an action, e.g. '{actions[0]}' ({', '.join(actions)}; see "
        f"'{parser.prog} --help')",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _progress(args):
    if args.quiet:
        return None
    return lambda msg: print(f"bayesmix: {msg} ...", file=sys.stderr, flush=True)


def _reporting(args) -> dict:
    """Return the keywords of ``run_spec`` that ``--overwrite`` and ``--quiet`` set."""
    return {
        "overwrite": args.overwrite,
        "progress": _progress(args),
        "progressbar": not args.quiet and sys.stderr.isatty(),
        "verbose": not args.quiet,
    }


def _print_result(args, result, out) -> None:
    """Print a run's report, notes and written files (nothing with --quiet)."""
    if args.quiet:
        return
    sys.stdout.write(result.report)
    for note in result.notes:
        print(f"note: {note}")
    names = ", ".join(p.name for p in result.paths.values())
    print(f"wrote {len(result.paths)} files to {out}/: {names}")


def _dask(args) -> tuple[bool, str]:
    use = bool(args.dask or args.scheduler is not None)
    if args.fit_rows is not None and not use:
        raise _UsageError("--fit-rows needs --dask (or --scheduler)")
    return use, ("--dask" if args.dask else "--scheduler")


def _option_names(exc: Exception, keys: dict[str, str] | None) -> Exception:
    """Return ``exc`` naming the command-line option instead of the spec key it set."""
    key = getattr(exc, "key", None) or getattr(exc, "argument", None)
    for spec_key, option in sorted((keys or {}).items(), key=lambda kv: -len(kv[0])):
        if key is not None and str(key).startswith(spec_key):
            return _UsageError(str(exc).replace(spec_key, option, 1))
    return exc


def _run(args, spec, out, *, paths=None, keys: dict[str, str] | None = None) -> int:
    """Run ``spec`` into ``out`` with the command's options; print; return the exit code.

    ``keys`` maps the spec keys of a spec built from options to those options,
    for the error messages.
    """
    from bayesmix.exceptions import DataError, SpecError
    from bayesmix.workflows.run import run_spec

    keys = {**(keys or {}), "scheduler": "--scheduler", "fit_rows": "--fit-rows"}
    use_dask, option = _dask(args)
    try:
        result = run_spec(
            spec,
            out,
            **_reporting(args),
            dask=use_dask,
            scheduler=args.scheduler,
            fit_rows=args.fit_rows,
            option=option,
            paths=paths,
        )
    except (DataError, SpecError) as exc:
        raise _option_names(exc, keys) from exc
    _print_result(args, result, out)
    return EXIT_NO_CLUSTER if result.status == "no cluster" else EXIT_OK


def _run_demo(args) -> int:
    """Run ``bayesmix demo``: the bundled specs through :func:`~bayesmix.workflows.run.run_spec`."""
    from bayesmix import specs
    from bayesmix.spec import load_spec
    from bayesmix.workflows.run import check_output_paths, run_spec

    jobs = [(specs.DEMO, args.out)]
    if not args.no_full:
        jobs.append((specs.DEMO_FULL, os.path.join(args.out, "full")))
    loaded = [
        (
            load_spec(specs.path(name)).with_overrides(seed=args.seed, **_sampler_values(args)),
            out,
        )
        for name, out in jobs
    ]
    for spec, out in loaded:  # refuse before any fitting
        check_output_paths(spec, out, overwrite=args.overwrite)
    for i, (spec, out) in enumerate(loaded):
        if not args.quiet:
            what = (
                "the 2-D proper-motion model"
                if i == 0
                else "the full model (sky + parallax + proper motions)"
            )
            print(
                f"{'' if i == 0 else chr(10)}bayesmix demo: {what}, the bundled spec "
                f"{spec.name} ({spec.path})",
                flush=True,
            )
        result = run_spec(spec, out, **_reporting(args))
        _print_result(args, result, out)
        if result.status == "no cluster":
            return EXIT_NO_CLUSTER
    return EXIT_OK


def _run_spec(args) -> int:
    from bayesmix._files import safe_name
    from bayesmix.spec import load_spec

    spec = load_spec(args.spec).with_overrides(seed=args.seed, **_sampler_values(args))
    out = (
        args.out if args.out is not None else os.path.join("out", safe_name(spec.name, key="name"))
    )
    ignored = [f"--{k}" for k, v in _sampler_values(args).items() if v is not None]
    if ignored and spec.kind != "bayes" and not args.quiet:
        print(
            f"bayesmix: note: {', '.join(ignored)} ignored: builder {spec.builder!r} is not "
            "sampled",
            file=sys.stderr,
        )
    return _run(args, spec, out)


def _split(text: str, option: str) -> list[str]:
    items = [c.strip() for c in text.split(",")]
    if not any(items):
        raise _UsageError(f"{option} must name at least one column")
    if not all(items):
        raise _UsageError(f"{option} has an empty entry in {text!r} (two commas, or one at an end)")
    dup = next((c for i, c in enumerate(items) if c in items[:i]), None)
    if dup is not None:
        raise _UsageError(f"{option} names {dup!r} twice")
    return items


def _command_spec(doc: dict, keys: dict[str, str]):
    """Parse a spec made from command-line options, naming the option in errors."""
    from bayesmix.exceptions import SpecError
    from bayesmix.spec import parse_spec

    try:
        return parse_spec(doc)
    except SpecError as exc:
        raise _option_names(exc, keys) from exc


def _run_gmm_fit(args) -> int:
    import numpy as np

    columns = _split(args.columns, "--columns")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    use_dask, _ = _dask(args)
    doc = {
        "name": "gmm",
        "seed": seed,
        "data": {"path": os.path.abspath(args.table), "features": columns},
        "builder": {
            "name": "gmm",
            "n_components": args.n_components,
            "criterion": args.criterion,
            "covariance_type": args.covariance_type,
            "n_init": args.n_init,
            "max_iter": args.max_iter,
            "tol": args.tol,
        },
        "output": {"table": "membership.parquet" if use_dask else "membership.csv"},
    }
    keys = {
        "[data].path": "TABLE",
        "[data].features": "--columns",
        "[data]": "TABLE",
        "[builder].n_components": "--n-components",
        "[builder].covariance_type": "--covariance-type",
        "[builder].criterion": "--criterion",
        "[builder].n_init": "--n-init",
        "[builder].max_iter": "--max-iter",
        "[builder].tol": "--tol",
    }
    return _run(args, _command_spec(doc, keys), args.out, keys=keys)


def _run_gpz(args) -> int:
    from pathlib import Path

    features = _split(args.features, "--features")
    use_dask, _ = _dask(args)
    src = Path(args.table)
    builder: dict = {"name": f"gpz_{args.gpz_action}", "n_components": args.n_components}
    builder["n_init"] = args.n_init
    for key in ("max_weight", "eta", "ratio", "regularise", "ess_floor"):
        if getattr(args, key) is not None:
            builder[key] = getattr(args, key)
    if args.errors:
        parts = args.errors.split(":")
        if len(parts) != 2 or not all(parts):
            raise _UsageError("--errors must look like 'lupt_:lupterr_'")
        builder["error_prefix"] = parts
    data: dict = {"path": os.path.abspath(src), "features": features}
    data["population"] = {"path": os.path.abspath(args.pop or src)}
    if args.pop is None and not args.quiet:
        print("bayesmix: warning: no --pop: the input table is its own population", file=sys.stderr)
    if args.gpz_action == "divide":
        builder.update(threshold=args.threshold, assign=args.assign, weight=args.weight)
        if args.train is not None:
            if not args.weight:
                raise _UsageError("--train is used with --weight only")
            data["training"] = {"path": os.path.abspath(args.train)}
        builder["return_density"] = bool(args.return_density)
    doc = {"name": "gpz", "seed": args.seed, "data": data, "builder": builder}
    keys = {
        "[data].path": args.table,
        "[data.population].path": "--pop",
        "[data.population]": "--pop",
        "[data.training].path": "--train",
        "[data.training]": "--train",
        "[data].features": "--features",
        "[builder].n_components": "--n-components",
        "[builder].n_init": "--n-init",
        "[builder].max_weight": "--max-weight",
        "[builder].eta": "--eta",
        "[builder].ratio": "--ratio",
        "[builder].regularise": "--regularise",
        "[builder].ess_floor": "--ess-floor",
        "[builder].threshold": "--threshold",
        "[builder].assign": "--assign",
        "[builder].error_prefix": "--errors",
    }
    spec = _command_spec(doc, keys)
    suffix = ".parquet" if use_dask else ".csv"
    out = (
        Path(args.out)
        if args.out
        else src.with_name(src.name.split(".")[0] + f"_{args.gpz_action}{suffix}")
    )
    # the command writes one file: the weighted table, or gpz_pype's divide layout
    kind = "divide" if args.gpz_action == "divide" and not use_dask else "table"
    return _run(args, spec, str(out.parent), paths={kind: out}, keys=keys)


# --------------------------------------------------------------------------------------------


def _run_survey(args) -> int:
    from bayesmix.workflows.survey import run_survey

    result = run_survey(
        args.catalogue,
        args.clusters,
        args.out,
        template=args.spec,
        scheduler=args.scheduler,
        workers=args.workers,
        **_sampler_values(args),
        overwrite=args.overwrite,
        progress=_progress(args),
    )
    if not args.quiet:
        c = result.counts
        print(
            f"{len(result.rows)} clusters: {c['ok']} ok, {c['no cluster']} no cluster, "
            f"{c['failed']} failed ({c['skipped']} finished in an earlier run); wrote "
            + ", ".join(str(p) for p in result.paths.values())
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bayesmix`` command; return its exit code (:data:`EXIT_CODES`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        print(
            "bayesmix: error: choose a COMMAND: run, demo, gmm, gpz or survey (see 'bayesmix "
            "--help')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    from bayesmix.exceptions import DataError, FormatError, SpecError

    usage_errors = (
        _UsageError,
        DataError,
        SpecError,
        FormatError,
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("bayesmix: interrupted", file=sys.stderr)
        return 130
    except usage_errors as exc:
        error: BaseException = exc
        code, text = EXIT_USAGE, f"bayesmix: error: {_one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - top level: any other failure is a runtime error
        error = exc
        code = EXIT_FAILURE
        text = f"bayesmix: failed: {type(exc).__name__}: {_one_line(exc)}"
        if not debug:
            text += " (run with --debug for the traceback)"
    if debug:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    print(text, file=sys.stderr)
    return code


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
