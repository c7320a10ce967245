"""Analysis specifications: ``models/<name>.toml`` read into frozen dataclasses.

A spec says where the data are (a file, a folder or glob of Parquet files, or a
bundled data set; paths resolve from the spec's folder), which columns feed
which argument, the analysis (a Bayesian builder, EM with BIC/AIC selection, or
a GPz training-set tool) and its options, priors, sampler settings, the seed
and the outputs.  :func:`load_spec` checks all of it before anything is fitted;
every problem is a :class:`~bayesmix.exceptions.SpecError` whose message starts
with the key path (``[builder].n_components must be >= 1, got 0``) and whose
``key`` attribute holds it.  Unknown keys are errors naming the key.

Example (``models/hogg2010_line_outliers.toml``)::

    name = "hogg2010_line_outliers"
    seed = 20100901

    [data]
    dataset = "hogg2010"          # or: path = "my_table.csv"
    ids = "ID"

    [data.columns]                # builder argument = column
    x = "x"
    y = "y"
    y_err = "sigma_y"

    [builder]
    name = "line_outlier"
    outlier = "gaussian"

    [priors.slope]
    dist = "Normal"
    mu = 0
    sigma = 10

    [sampler]
    draws = 1000
    tune = 1000
    chains = 4

    [output]
    figures = ["pgm", "membership", "pair"]

Kinds of analysis, chosen by ``[builder].name``:

``line_outlier``, ``gaussian_mixture``, ``cluster_field``
    Bayesian: the builder of :mod:`bayesmix.builders`, sampled with NUTS.
``gmm``
    EM Gaussian mixtures over ``[data].features`` with BIC/AIC selection.
``gpz_weights``, ``gpz_divide``
    :func:`bayesmix.gpz.gpz_weights_table` / :func:`bayesmix.gpz.gpz_divide_table`;
    ``[data]`` is the training (or to-be-divided) table and
    ``[data.population]`` the population.

Every key is documented in ``docs/spec_reference.md`` (:func:`spec_reference`),
and :func:`json_schema` gives editors the same keys.  The package:

- :mod:`~bayesmix.spec.model`: the frozen dataclasses;
- :mod:`~bayesmix.spec.schema`: the declarative keys (check, docs, JSON Schema);
- :mod:`~bayesmix.spec.sections`: the fixed tables; :mod:`~bayesmix.spec.registry`:
  ``[builder]`` options read from the builders;
- :mod:`~bayesmix.spec.parse`: TOML in, :class:`Spec` out;
- :mod:`~bayesmix.spec.data`: reading the tables and checking columns;
- :mod:`~bayesmix.spec.docs`: the reference and the JSON Schema.

Parsing reads no data and imports neither matplotlib nor (without ``[priors]``)
PyMC; :func:`read_data` reads the tables and checks the columns (still before
any fitting).
"""

from __future__ import annotations

from bayesmix.spec import model
from bayesmix.spec.data import (
    available_datasets,
    check_columns,
    check_spec_columns,
    figure_column,
    read_data,
)
from bayesmix.spec.docs import json_schema, spec_reference
from bayesmix.spec.model import (  # noqa: F401 - the data model, exported whole (model.__all__)
    CLUSTER_FIGURE_COLUMNS,
    FIGURES,
    KINDS,
    PARQUET_SUFFIXES,
    DataSpec,
    OutputSpec,
    SamplerSpec,
    Selection,
    Spec,
    SpecData,
    TableSource,
    parquet_files,
)
from bayesmix.spec.parse import load_spec, parse_spec
from bayesmix.spec.registry import BUILDERS, SAMPLERS, available_builders

#: the data model's names (:data:`bayesmix.spec.model.__all__`) and the functions
__all__ = [
    *model.__all__,
    "BUILDERS",
    "SAMPLERS",
    "available_builders",
    "available_datasets",
    "check_columns",
    "check_spec_columns",
    "figure_column",
    "json_schema",
    "load_spec",
    "parse_spec",
    "read_data",
    "spec_reference",
]
