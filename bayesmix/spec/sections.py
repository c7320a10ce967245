"""The fixed tables of a spec, declared once: the top level, ``[data]``, ``[sampler]``, ...

``[builder]`` and ``[data.columns]`` depend on the builder and come from
:mod:`bayesmix.spec.registry`; ``[priors.<var>]`` tables are checked by
:func:`bayesmix.builders._priors.check_prior` against the PyMC distribution.
These definitions drive the checks (:mod:`bayesmix.spec.parse`), the reference
documentation and the JSON Schema (:mod:`bayesmix.spec.docs`).
"""

from __future__ import annotations

import inspect
from functools import cache

from bayesmix.spec.registry import choices_of
from bayesmix.spec.schema import Key, Section

__all__ = [
    "DATA",
    "OUTPUT",
    "POPULATION",
    "REFERENCE",
    "REFERENCE_NAMES",
    "SOURCE_KEYS",
    "TOP",
    "TRAINING",
    "sampler_section",
]

_NAME_RULE = "letters, digits, '_', '-', '.', spaces; not starting with '.' or '-'"

TOP = Section(
    "the spec",
    "The top level of a spec file.",
    (
        Key(
            "name",
            "string",
            "Name of the analysis and of its default output folder out/<name> (a plain name: "
            f"{_NAME_RULE}); default the file name without .toml.",
        ),
        Key("description", "string", "One line printed with the results."),
        Key(
            "seed",
            "integer",
            "Seed of every random choice; reruns with the same seed give the same numbers.",
            required=True,
            minimum=0,
        ),
        Key("data", "table", "Where the data are: [data].", required=True),
        Key("builder", "table", "The analysis and its options: [builder].", required=True),
        Key("priors", "table", "Priors by model variable: [priors.<variable>] (Bayesian only)."),
        Key("sampler", "table", "NUTS settings: [sampler] (Bayesian only)."),
        Key("output", "table", "What is written: [output]."),
        Key("reference", "table", "Published values to print next to the posterior."),
    ),
)

#: keys of every table source ([data], [data.population], [data.training])
SOURCE_KEYS = ("path", "dataset", "format", "select")
_SOURCE = (
    Key(
        "path",
        "string",
        "Table file (CSV, ECSV, FITS, VOTable, Parquet; .gz allowed), or a folder or glob of "
        "Parquet files; relative paths resolve from the spec's folder. Exactly one of path "
        "and dataset.",
    ),
    Key("dataset", "string", "A data set bundled with bayesmix (bayesmix.datasets.load_<name>)."),
    Key("format", "string", "An astropy table format overriding the file-name rule."),
    Key(
        "select",
        "strings",
        "Row filters 'column op value' (op: ==, !=, <, <=, >, >=; text values quoted); a row "
        "is used when it passes all. Rows that do not are kept in the output, unscored.",
    ),
)
DATA = Section(
    "[data]",
    "The analysed table, its ids, and which columns feed the analysis.",
    (
        *_SOURCE,
        Key("ids", "string", "Column of object ids (e.g. source_id), copied to the output."),
        Key(
            "columns",
            "table",
            "Bayesian builders: builder argument (or Gaia name for cluster_field) = column(s); "
            "see [data.columns] of each builder.",
        ),
        Key(
            "features",
            "strings",
            "EM and GPz: the columns to model (GPz also takes expressions such as 'a-b').",
        ),
        Key("population", "table", "GPz: the population table ([data.population])."),
        Key(
            "training",
            "table",
            "gpz_divide with weight = true: the training sample whose mixture gives the "
            "weights ([data.training]); default the [data] table itself.",
        ),
    ),
)
POPULATION = Section(
    "[data.population]", "GPz: the population the training sample is compared with.", _SOURCE
)
TRAINING = Section(
    "[data.training]",
    "gpz_divide with weight = true: the training sample whose mixture gives the weights "
    "(default: the [data] table itself).",
    _SOURCE,
)

OUTPUT = Section(
    "[output]",
    "Files written into the output folder (out/<name> unless --out is given).",
    (
        Key(
            "table",
            "string",
            "File name of the output table (a plain name, no folder; its ending picks the "
            "format); default membership.csv (gpz_weights: weights.csv, gpz_divide: "
            "divide_table.csv).",
        ),
        Key(
            "figures",
            "strings",
            "Figures to draw; default every figure of the analysis except 'sky' and 'cmd'.",
            min_length=0,
        ),
        Key("scatter", "strings", "The two columns of the membership figure's axes.", length=2),
        Key("posterior", "boolean", "Bayesian: save the posterior (netCDF).", default=True),
        Key("pair_vars", "strings", "Bayesian: model variables of the pair plot."),
    ),
)

#: reference values besides ``source`` and ``cluster_*``
REFERENCE_NAMES = ("n_members", "cluster_fraction", "zero_point")
REFERENCE = Section(
    "[reference]",
    "cluster_field only: published values printed next to the posterior, named as in the "
    "cluster summary (any cluster_* value, e.g. cluster_pmra, plus the keys below).",
    (
        Key("source", "string", "Where the values come from (a citation)."),
        Key("n_members", "number", "Number of members."),
        Key("cluster_fraction", "number", "Fraction of the stars in the cluster."),
        Key("zero_point", "number", "Parallax zero point (mas)."),
    ),
)


@cache
def sampler_section() -> Section:
    """``[sampler]``, with the defaults of :func:`bayesmix.inference.sample`."""
    from bayesmix.inference import sample

    default = {n: p.default for n, p in inspect.signature(sample).parameters.items()}
    return Section(
        "[sampler]",
        "NUTS settings of a Bayesian analysis (bayesmix.inference.sample).",
        (
            Key("draws", "integer", "Draws per chain after tuning.", default["draws"], minimum=1),
            Key("tune", "integer", "Tuning steps per chain.", default["tune"], minimum=0),
            Key("chains", "integer", "Independent chains.", default["chains"], minimum=1),
            Key(
                "sampler",
                "choice",
                "NUTS implementation.",
                default["sampler"],
                choices=choices_of("bayesmix.inference", "sampler"),
            ),
            Key(
                "target_accept",
                "number",
                "Target acceptance rate of NUTS's step-size adaptation.",
                default["target_accept"],
                minimum=0.0,
                maximum=0.999,
                exclusive_minimum=True,
            ),
        ),
    )
