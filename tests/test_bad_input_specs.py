"""Bad-input battery, part 3: bad specs through ``bayesmix run`` (issue 13, items 1, 4, 7).

Every bad spec ends with exit code 2 and one line that starts with (or names)
the key path, before any data are fitted or sampled, with nothing written.  A
hypothesis fuzz mutates the text of valid specs (lines dropped, doubled,
values replaced, bytes inserted): each mutant is refused in that way or
accepted (its fit then starts).
"""

from __future__ import annotations

import re

import pytest
from _bad_input import (
    FittingStarted,
    assert_refused,
    known_failure,
    no_fitting,
    run_cli,
    two_blobs,
    write,
)
from hypothesis import given
from hypothesis import strategies as st

EM = (
    'seed = 1\nname = "em"\n[data]\npath = "t.csv"\nfeatures = ["a", "b"]\n'
    '[builder]\nname = "gmm"\nn_components = 2\n'
)
HOGG = (
    'seed = 1\n[data]\ndataset = "hogg2010"\nids = "ID"\n[data.columns]\nx = "x"\ny = "y"\n'
    'y_err = "sigma_y"\n[builder]\nname = "line_outlier"\n'
)
GPZ = (
    'seed = 1\n[data]\npath = "t.csv"\nfeatures = ["a-b", "b"]\n[data.population]\n'
    'path = "t.csv"\n[builder]\nname = "gpz_divide"\nn_components = 2\n'
)
LONG = "\u00e9" * 150  # 150 characters, 300 bytes: more than a file name may hold

#: (case id, spec text, regex the error line must match)
SPECS = [
    ("empty", "", r"\[data\] is missing"),
    ("not-toml", "seed = = 1\n", r"s.toml' is not valid TOML.*line 1"),
    ("duplicate-key", EM + "n_components = 3\n", r"s.toml' is not valid TOML"),
    ("no-seed", EM.replace("seed = 1\n", ""), r"^bayesmix: error: seed is missing"),
    ("seed-negative", EM.replace("seed = 1", "seed = -1"), r"seed must be >= 0, got -1"),
    ("seed-text", EM.replace("seed = 1", 'seed = "1"'), r"seed must be an integer"),
    ("seed-float", EM.replace("seed = 1", "seed = 1.5"), r"seed must be an integer"),
    ("unknown-table", EM + "[extra]\na = 1\n", r"unknown key 'extra'"),
    ("name-escapes", EM.replace('"em"', '"../../x"'), r"^bayesmix: error: name must be a plain"),
    ("name-absolute", EM.replace('"em"', '"/tmp/x"'), r"name must be a plain file name"),
    ("name-hidden", EM.replace('"em"', '".x"'), r"name must be a plain file name"),
    ("name-dotdot", EM.replace('"em"', '".."'), r"name must be a plain file name"),
    ("name-empty", EM.replace('"em"', '""'), r"name must be a non-empty"),
    ("name-nul", EM.replace('"em"', '"a\\u0000b"'), r"name must be a plain file name"),
    ("name-newline", EM.replace('"em"', '"a\\nb"'), r"name must be a plain file name"),
    ("name-long", EM.replace('"em"', f'"{LONG}"'), r"^bayesmix: error: name .*too long"),
    ("table-escapes", EM + '[output]\ntable = "../x.csv"\n', r"\[output\]\.table must be a"),
    ("table-folder", EM + '[output]\ntable = "sub/x.csv"\n', r"\[output\]\.table must be a"),
    ("table-format", EM + '[output]\ntable = "x.txt"\n', r"\[output\]\.table must end in"),
    ("table-hidden", EM + '[output]\ntable = ".x.csv"\n', r"\[output\]\.table must be a plain"),
    ("table-long", EM + f'[output]\ntable = "{LONG}.csv"\n', r"\[output\]\.table .*too long"),
    ("dataset-escapes", EM.replace('path = "t.csv"', 'dataset = "../x"'), r"\[data\]\.dataset"),
    ("dataset-unknown", EM.replace('path = "t.csv"', 'dataset = "hogg"'), r"\[data\]\.dataset"),
    (
        "path-and-dataset",
        EM.replace("[builder]", 'dataset = "hogg2010"\n[builder]'),
        r"\[data\] needs exactly one of 'path'",
    ),
    ("path-missing", EM.replace("t.csv", "nope.csv"), r"\[data\]\.path file '.*nope.csv'"),
    ("path-folder", EM.replace('"t.csv"', '"."'), r"\[data\]\.path folder .* no Parquet"),
    ("path-glob", EM.replace('"t.csv"', '"x*.parquet"'), r"\[data\]\.path glob .* no Parquet"),
    ("format-unknown", EM.replace("[builder]", 'format = "excel"\n[builder]'), r"t.csv|format"),
    (
        "select-syntax",
        EM.replace("[builder]", 'select = "a >>> 1"\n[builder]'),
        r"\[data\]\.select",
    ),
    (
        "select-code",
        EM.replace("[builder]", "select = \"__import__('os') > 1\"\n[builder]"),
        r"\[data\]\.select must look like",
    ),
    (
        "select-column",
        EM.replace("[builder]", 'select = "zz > 1"\n[builder]'),
        r"\[data\]\.select names unknown column 'zz'",
    ),
    (
        "select-keeps-none",
        EM.replace("[builder]", 'select = "a > 1e9"\n[builder]'),
        r"\[data\]\.select keeps none of the 60 rows of t.csv",
    ),
    (
        "select-text-number",
        EM.replace("[builder]", "select = \"a == 'x'\"\n[builder]"),
        r"\[data\]\.select compares column 'a' \(numeric\) with a string",
    ),
    (
        "features-unknown",
        EM.replace('"a", "b"', '"a", "zz"'),
        r"\[data\]\.features names column 'zz', which is not in t.csv",
    ),
    ("features-empty", EM.replace('["a", "b"]', "[]"), r"\[data\]\.features must have at least"),
    ("features-numbers", EM.replace('["a", "b"]', "[1, 2]"), r"\[data\]\.features must be"),
    ("features-twice", EM.replace('"a", "b"', '"a", "b", "a"'), r"\[data\]\.features\[2\] rep"),
    ("ids-unknown", EM.replace("[builder]", 'ids = "zz"\n[builder]'), r"\[data\]\.ids names"),
    ("builder-unknown", EM.replace('name = "gmm"', 'name = "gmmm"'), r"\[builder\]\.name must"),
    ("builder-missing", EM.replace('name = "gmm"\n', ""), r"\[builder\]\.name is missing"),
    ("option-unknown", EM + "foo = 1\n", r"\[builder\] has unknown key 'foo'"),
    (
        "option-type",
        EM.replace("n_components = 2", 'n_components = "two"'),
        r"\[builder\]\.n_components must look like",
    ),
    (
        "option-range",
        EM.replace("n_components = 2", "n_components = 0"),
        r"\[builder\]\.n_components must be >= 1",
    ),
    ("option-nan", EM + "tol = nan\n", r"\[builder\]\.tol must be finite"),
    ("option-inf", EM + "tol = inf\n", r"\[builder\]\.tol must be finite"),
    ("option-choice", EM + 'covariance_type = "round"\n', r"\[builder\]\.covariance_type must"),
    ("order-by", EM + 'order_by = "c"\n', r"\[builder\]\.order_by must be one of"),
    ("priors-on-em", EM + "[priors.x]\ndist = 'Normal'\n", r"\[priors\] does not apply"),
    (
        "prior-misspelt",
        HOGG + "[priors.slope]\ndist = 'Normal'\nmu = 0\nsgima = 1\n",
        r"\[priors.slope\]\.sgima is not a parameter of Normal; did you mean 'sigma'",
    ),
    (
        "prior-negative",
        HOGG + "[priors.slope]\ndist = 'Normal'\nmu = 0\nsigma = -1\n",
        r"\[priors.slope\]\.sigma must be > 0, got -1",
    ),
    ("prior-dist", HOGG + "[priors.slope]\ndist = 'Gaussian'\n", r"\[priors.slope\]\.dist must"),
    (
        "prior-variable",
        HOGG + "[priors.slopee]\ndist = 'Normal'\nmu = 0\nsigma = 1\n",
        r"\[priors\]\.slopee.*did you mean 'slope'",
    ),
    (
        "prior-missing-param",
        HOGG + "[priors.slope]\ndist = 'StudentT'\nmu = 0\nsigma = 1\n",
        r"\[priors.slope\]\.nu is required by StudentT",
    ),
    (
        "prior-order",
        HOGG + "[priors.slope]\ndist = 'Uniform'\nlower = 2\nupper = 1\n",
        r"\[priors.slope\]\.upper must be > lower",
    ),
    (
        "prior-vector-for-scalar",
        HOGG + "[priors.slope]\ndist = 'Normal'\nmu = [0, 1]\nsigma = 1\n",
        r"priors.slope.mu'? must be a number",
    ),
    (
        "prior-weights-length",
        HOGG + "[priors.weights]\ndist = 'Dirichlet'\na = [1, 1, 1]\n",
        r"\[priors.weights\]\.a must be an array of 2 entries",
    ),
    ("draws-zero", HOGG + "[sampler]\ndraws = 0\n", r"\[sampler\]\.draws must be >= 1"),
    ("chains-text", HOGG + "[sampler]\nchains = 'four'\n", r"\[sampler\]\.chains must be an"),
    ("sampler-unknown", HOGG + "[sampler]\nsampler = 'numpyro'\n", r"\[sampler\]\.sampler must"),
    ("sampler-on-em", EM + "[sampler]\ndraws = 10\n", r"\[sampler\] does not apply"),
    ("target-accept", HOGG + "[sampler]\ntarget_accept = 1.0\n", r"\[sampler\]\.target_accept"),
    ("figure-unknown", EM + '[output]\nfigures = ["sky"]\n', r"\[output\]\.figures\[0\] must"),
    ("scatter-unknown", EM + '[output]\nscatter = ["a", "zz"]\n', r"\[output\]\.scatter names"),
    ("scatter-three", EM + '[output]\nscatter = ["a", "b", "a"]\n', r"\[output\]\.scatter must"),
    ("columns-missing", HOGG.replace('x = "x"\n', ""), r"\[data.columns\]\.x is required"),
    (
        "columns-unknown",
        HOGG.replace('"sigma_y"', '"sig"'),
        r"\[data.columns\]\.y_err names column 'sig'.*did you mean 'sigma_y'",
    ),
    (
        "columns-on-em",
        EM.replace("[builder]", '[data.columns]\nx = "a"\n[builder]'),
        r"\[data\] has unknown key 'columns'",
    ),
    ("reference-on-em", EM + "[reference]\nsource = 'x'\n", r"\[reference\] is used by"),
    (
        "population-missing",
        GPZ.replace('[data.population]\npath = "t.csv"\n', ""),
        r"\[data.population\] is missing",
    ),
    (
        "population-file",
        GPZ.replace('[data.population]\npath = "t.csv"', '[data.population]\npath = "p.csv"'),
        r"\[data.population\]\.path file '.*p.csv' does not exist",
    ),
    (
        "training-no-weight",
        GPZ.replace("[builder]", '[data.training]\npath = "t.csv"\n[builder]'),
        r"\[data.training\] is the training sample of the weights",
    ),
    ("gpz-expression", GPZ.replace('"a-b"', '"a*b"'), r"\[data\]\.features\[0\]"),
    ("gpz-threshold", GPZ + "threshold = 1.0\n", r"\[builder\]\.threshold must be < 1"),
    ("gpz-density", GPZ + 'return_density = "yes"\n', r"\[builder\]\.return_density must be"),
    ("gpz-weights-min", GPZ + "max_weight = 2\nmin_weight = 3\n", r"\[builder\]\.min_weight"),
]

#: failing today: case -> (owner, exact failure)
KNOWN = {}


@pytest.mark.parametrize(("case", "text", "message"), SPECS, ids=[s[0] for s in SPECS])
def test_bad_spec_is_one_error_naming_its_key(request, tmp_path, case, text, message):
    if case in KNOWN:
        known_failure(request, *KNOWN[case])
    write(tmp_path / "t.csv", two_blobs())
    write(tmp_path / "s.toml", text)
    assert_refused(tmp_path, ["run", "s.toml", "--out", "out", "--quiet"], 2, message)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", r"\[data\] is missing"),
        (EM.replace('"em"', '"\xe9m"').encode("latin-1"), r"s.toml' is not UTF-8 text"),
        (EM.encode("utf-16"), r"s.toml' is not (UTF-8 text|valid TOML)"),
        (b"\x00" * 10, r"s.toml' is not valid TOML"),
        (bytes(range(256)), r"s.toml' is not (UTF-8 text|valid TOML)"),
    ],
    ids=["empty", "latin-1", "utf-16", "nul", "binary"],
)
def test_unreadable_spec_file_is_named(tmp_path, raw, message):
    write(tmp_path / "s.toml", raw)
    assert_refused(tmp_path, ["run", "s.toml", "--quiet"], 2, message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope.toml"], r"spec file 'nope.toml' does not exist"),
        (["run", "."], r"spec '.' is not a file"),
        (["run"], r"SPEC|required"),
        (["run", "s.toml", "--draws", "0"], r"--draws"),
        (["run", "s.toml", "--chains", "-1"], r"--chains"),
        (["run", "s.toml", "--tune", "x"], r"--tune"),
        (["run", "s.toml", "--seed", "-5"], r"--seed"),
        (["run", "s.toml", "--fit-rows", "5"], r"--fit-rows needs --dask"),
        (["run", "s.toml", "--dask"], r"--dask needs a Parquet"),
        (["run", "s.toml", "--scheduler", "nonsense"], r"scheduler"),
    ],
    ids=lambda v: "_".join(v) if isinstance(v, list) else None,
)
def test_bad_run_arguments(tmp_path, argv, message):
    write(tmp_path / "t.csv", two_blobs())
    write(tmp_path / "s.toml", EM)
    assert_refused(tmp_path, [*argv, "--quiet"], 2, message)


# --------------------------------------------------------------------------------------------
# fuzz: mutated spec text is refused with one line naming a key, or accepted
# --------------------------------------------------------------------------------------------

_VALUES = [
    "0",
    "-1",
    "1e400",
    "nan",
    '""',
    '"../x"',
    "[]",
    '["a", "a"]',
    "{}",
    "true",
    '"t.csv"',
    '"zz"',
    "2024-01-01",
    '"a b"',
    "1.5",
    '"1-3"',
    "'\\u0000'",
]


@st.composite
def _mutant(draw):
    base = draw(st.sampled_from([EM, GPZ, EM + '[output]\ntable = "x.csv"\nfigures = []\n']))
    lines = base.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "double", "value", "bytes", "key"]))
        line = lines[i]
        if action == "drop":
            del lines[i]
        elif action == "double":
            lines.insert(i, line)
        elif action == "value" and "=" in line:
            lines[i] = line.split("=")[0] + "= " + draw(st.sampled_from(_VALUES))
        elif action == "key" and "=" in line:
            lines[i] = (
                draw(st.sampled_from(["nme", "seed", "path", "x y", "ids"]))
                + " ="
                + line.split("=", 1)[1]
            )
        else:
            lines[i] = line + draw(st.text(max_size=4))
        if not lines:
            break
    return "\n".join(lines) + "\n"


@given(_mutant())
def test_fuzzed_specs_are_refused_before_fitting_or_accepted(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("spec")
    write(folder / "t.csv", two_blobs())
    write(folder / "s.toml", text)
    with no_fitting():
        code, _, err = run_cli(["run", "s.toml", "--out", "out", "--quiet"], folder)
    assert "Traceback" not in err, err
    if code == 1 and FittingStarted.__name__ in err:
        return  # a valid spec: its fit started
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bayesmix: error: "), err
    # the line names a key path, a file or an option
    assert re.search(r"\[|seed|name|s\.toml|t\.csv|spec|--", lines[0]), lines[0]
    assert not (folder / "out").exists()
