"""parse_spec / load_spec: defaults, and every bad spec gives one SpecError naming its key."""

from __future__ import annotations

import json
import tomllib

import pytest

from bayesmix.exceptions import SpecError
from bayesmix.spec import available_builders, load_spec, parse_spec

HOGG = """
seed = 1
[data]
dataset = "hogg2010"
ids = "ID"
[data.columns]
x = "x"
y = "y"
y_err = "sigma_y"
[builder]
name = "line_outlier"
"""

GM = """
seed = 2
[data]
dataset = "rave_apogee"
[data.columns]
X = ["MgFe", "FeH"]
[builder]
name = "gaussian_mixture"
n_components = 2
"""

CLUSTER = """
seed = 5
[data]
dataset = "blanco1"
ids = "source_id"
[builder]
name = "cluster_field"
features = ["pmra", "pmdec"]
field = "gmm"
"""

EM = """
seed = 3
[data]
dataset = "rave_apogee"
features = ["FeH", "MgFe"]
[builder]
name = "gmm"
n_components = "1-3"
"""

GPZ = """
seed = 4
[data]
dataset = "candels_cosmos"
features = ["lupt_F606W-lupt_F814W", "lupt_F160W"]
[data.population]
dataset = "candels_cosmos"
[builder]
name = "gpz_divide"
threshold = 0.5
"""


def _doc(text: str) -> dict:
    return tomllib.loads(text)


def _needs_cluster_field():
    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")


def test_minimal_specs_parse_with_defaults():
    spec = parse_spec(_doc(HOGG))
    assert spec.kind == "bayes" and spec.builder == "line_outlier"
    assert spec.sampler.draws == 1000 and spec.sampler.chains == 4
    assert spec.output.figures == ("pgm", "membership", "pair")
    assert spec.data.columns == {"x": "x", "y": "y", "y_err": "sigma_y"}
    assert spec.options == {} and spec.name == "spec"
    over = spec.with_overrides(seed=5, draws=10, tune=0, chains=2)
    assert (over.seed, over.sampler.draws, over.sampler.tune, over.sampler.chains) == (5, 10, 0, 2)
    assert spec.seed == 1  # frozen: the original is unchanged
    with pytest.raises(SpecError, match=r"^--draws must be >= 1, got 0$"):
        spec.with_overrides(draws=0)
    gm = parse_spec(_doc(GM))
    assert gm.data.columns["X"] == ("MgFe", "FeH") and gm.options["n_components"] == 2


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            'field = "gmm"',
            'field = "gauss"',
            r"^\[builder\]\.field must be one of 'beta', 'edsd', 'gmm', 'uniform', got 'gauss'$",
        ),
        (
            'field = "gmm"',
            'field = "gmm"\nzero_point = "fixed"',
            r"\[builder\]\.zero_point must be a number \(mas\) or 'free'",
        ),
        (
            'field = "gmm"',
            'field = "gmm"\nsky_center = [1.0]',
            r"\[builder\]\.sky_center must be an array of 2 numbers",
        ),
        (
            'field = "gmm"',
            'field = "gmm"\nfield_components = 0',
            r"\[builder\]\.field_components must be >= 1, got 0",
        ),
        ('field = "gmm"', 'field = "gmm"\nrng = 3', r"\[builder\] has unknown key 'rng'"),
        (
            'field = "gmm"',
            'field = "gmm"\nfootprint = {kind = "cone", ra = 1.0, dec = 2.0}',
            r"\[builder\]\.footprint is invalid: footprint misses 'radius'",
        ),
        ('field = "gmm"', 'field = "gmm"\nbandwidth = 0', r"\[builder\]\.bandwidth must be > 0"),
        (
            'field = "gmm"',
            'field = "gmm"\ncluster_cov = "diag"',
            r"\[builder\]\.cluster_cov must be one of 'full', 'isotropic', got 'diag'",
        ),
    ],
)
def test_cluster_field_options(old, new, match):
    _needs_cluster_field()
    spec = parse_spec(_doc(CLUSTER))
    assert spec.kind == "bayes" and spec.options["features"] == ("pmra", "pmdec")
    with pytest.raises(SpecError, match=match):
        parse_spec(_doc(CLUSTER.replace(old, new)))


@pytest.mark.parametrize(
    ("text", "old", "new", "match"),
    [
        (
            GM,
            "n_components = 2",
            "n_components = 0",
            r"^\[builder\]\.n_components must be >= 1, got 0$",
        ),
        (
            GM,
            "n_components = 2",
            "n_components = 'two'",
            r"^\[builder\]\.n_components must be an integer, got a string 'two'$",
        ),
        (GM, "n_components = 2", "", r"\[builder\]\.n_components is required"),
        (
            GM,
            "n_components = 2",
            "n_components = 2\nlabels = ['a', 'b', 'c']",
            r"^\[builder\]\.labels must have n_components = 2 entries, got 3$",
        ),
        (GM, 'X = ["MgFe", "FeH"]', 'X = ["MgFe", "FeH"]\nX_err = ["e"]', r"X_err must have one"),
        (GM, 'X = ["MgFe", "FeH"]', 'X = ["MgFe", "FeH"]\nX_cov = "c"', r"unknown key 'X_cov'"),
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outlier"\noutliers = "uniform"',
            r"\[builder\] has unknown key 'outliers'; did you mean 'outlier'\?",
        ),
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outlier"\noutlier = "cauchy"',
            r"\[builder\]\.outlier must be one of 'gaussian', 'uniform', got 'cauchy'",
        ),
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outlier"\noutlier_range = [5, 1]',
            r"\[builder\]\.outlier_range must have upper > lower",
        ),
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outliers"',
            r"\[builder\]\.name must be one of .*'line_outlier'.*got 'line_outliers'",
        ),
        (HOGG, 'name = "line_outlier"', "", r"^\[builder\]\.name is missing; choose one of"),
        (HOGG, 'y = "y"\n', "", r"\[data.columns\]\.y is required"),
        (
            HOGG,
            'y_err = "sigma_y"',
            'y_err = "sigma_y"\nz = "x"',
            r"\[data.columns\] has unknown key 'z'",
        ),
        (
            HOGG,
            'dataset = "hogg2010"',
            'dataset = "hogg2011"',
            r"\[data\]\.dataset must be a bundled data set .*did you mean 'hogg2010'",
        ),
        (
            HOGG,
            'dataset = "hogg2010"',
            'dataset = "hogg2010"\npath = "x.csv"',
            r"\[data\] needs exactly one of 'path'",
        ),
        (
            HOGG,
            'dataset = "hogg2010"',
            'path = "no_such_table.csv"',
            r"\[data\]\.path file '.*no_such_table.csv' does not exist",
        ),
        (HOGG, 'ids = "ID"', 'ids = "ID"\nselect = "ID ~ 4"', r"\[data\]\.select must look"),
        (HOGG, 'ids = "ID"', 'ids = "ID"\nselect = "ID > x"', r"\[data\]\.select value 'x'"),
        (HOGG, 'ids = "ID"', 'ids = "ID"\nfeatures = ["x"]', r"\[data\] has unknown key 'feat"),
        (HOGG, "seed = 1", "seed = -1", r"^seed must be >= 0, got -1$"),
        (HOGG, "seed = 1", "", r"^seed is missing"),
        (HOGG, "seed = 1", "seed = 1\nseeds = 2", r"the spec has unknown key 'seeds'"),
        (HOGG, "seed = 1", "seed = 1\ndescription = 3", r"^description must be a non-empty"),
        (HOGG + "[sampler]\ndraws = 0\n", "", "", r"^\[sampler\]\.draws must be >= 1, got 0$"),
        (
            HOGG + "[sampler]\nsampler = 'emcee'\n",
            "",
            "",
            r"\[sampler\]\.sampler must be one of 'nutpie', 'pymc'",
        ),
        (
            HOGG + "[sampler]\ntarget_accept = 1.0\n",
            "",
            "",
            r"^\[sampler\]\.target_accept must be <= 0.999, got 1.0$",
        ),
        (HOGG + "[sampler]\nthin = 2\n", "", "", r"\[sampler\] has unknown key 'thin'"),
        ("sampler = 2\n" + HOGG, "", "", r"^\[sampler\] must be a table, got an integer 2$"),
        (
            HOGG + "[output]\nfigures = ['pgm', 'bic_aic']\n",
            "",
            "",
            r"\[output\]\.figures\[1\] must be one of 'pgm', 'membership', 'pair'",
        ),
        (
            HOGG + "[output]\ntable = 'sub/out.csv'\n",
            "",
            "",
            r"\[output\]\.table must be a file name",
        ),
        (HOGG + "[output]\ntable = 'out.txt'\n", "", "", r"\[output\]\.table must end in one"),
        (HOGG + "[output]\nscatter = ['x']\n", "", "", r"\[output\]\.scatter must have 2"),
        (HOGG + "[output]\nposterior = 1\n", "", "", r"\[output\]\.posterior must be true"),
    ],
)
def test_bad_specs_name_the_key(text, old, new, match):
    doc = text.replace(old, new) if old else text
    with pytest.raises(SpecError, match=match) as info:
        parse_spec(_doc(doc))
    assert info.value.key is not None
    assert "\n" not in str(info.value)


def test_em_and_gpz_sections():
    spec = parse_spec(_doc(EM))
    assert spec.kind == "em" and spec.options["n_components"] == (1, 2, 3)
    with pytest.raises(SpecError, match=r"\[sampler\] does not apply to builder 'gmm'"):
        parse_spec(_doc(EM + "[sampler]\ndraws = 10\n"))
    with pytest.raises(SpecError, match=r"\[priors\] does not apply"):
        parse_spec(_doc(EM + "[priors.means]\ndist = 'Normal'\n"))
    with pytest.raises(SpecError, match=r"\[builder\]\.n_components must look like"):
        parse_spec(_doc(EM.replace('"1-3"', '"1-x"')))
    with pytest.raises(SpecError, match=r"^\[builder\]\.n_components must be >= 1, got 0$"):
        parse_spec(_doc(EM.replace('"1-3"', "[0, 2]")))
    with pytest.raises(SpecError, match=r"\[builder\]\.order_by must be one of"):
        parse_spec(_doc(EM + 'order_by = "alphaM"\n'))
    with pytest.raises(SpecError, match=r"\[builder\]\.criterion must be one of 'aic', 'bic'"):
        parse_spec(_doc(EM + 'criterion = "dic"\n'))
    with pytest.raises(SpecError, match=r"\[data\]\.features is missing"):
        parse_spec(_doc(EM.replace('features = ["FeH", "MgFe"]', "")))
    with pytest.raises(SpecError, match=r"\[output\] has unknown key 'posterior'"):
        parse_spec(_doc(EM + "[output]\nposterior = false\n"))
    spec = parse_spec(_doc(GPZ))
    assert spec.kind == "gpz_divide" and spec.data.population is not None
    assert spec.output.table == "divide_table.csv"
    with pytest.raises(SpecError, match=r"\[builder\]\.threshold must be < 1.0, got 1.5"):
        parse_spec(_doc(GPZ.replace("0.5", "1.5")))
    with pytest.raises(SpecError, match=r"\[data\]\.features\[0\]"):
        parse_spec(_doc(GPZ.replace("lupt_F606W-lupt_F814W", "a*b")))
    with pytest.raises(SpecError, match=r"\[data.population\] is missing"):
        parse_spec(_doc(GPZ.replace('[data.population]\ndataset = "candels_cosmos"', "")))
    with pytest.raises(SpecError, match=r"\[data.population\] has unknown key 'ids'"):
        parse_spec(_doc(GPZ.replace("[data.population]\n", '[data.population]\nids = "id"\n')))
    with pytest.raises(SpecError, match=r"^\[builder\]\.min_weight must be <= max_weight \(2"):
        parse_spec(_doc(GPZ + "max_weight = 2\nmin_weight = 3\n"))
    with pytest.raises(SpecError, match=r"\[builder\]\.assign must be one of 'best', 'thr"):
        parse_spec(_doc(GPZ + 'assign = "all"\n'))
    with pytest.raises(SpecError, match=r"\[builder\]\.covariance_type must be one of 'diag'"):
        parse_spec(_doc(GPZ + 'covariance_type = "round"\n'))


def test_gpz_divide_return_density_and_training():
    spec = parse_spec(_doc(GPZ))
    assert "return_density" not in spec.options and spec.settings()["return_density"] is True
    assert spec.data.training is None
    spec = parse_spec(_doc(GPZ + "return_density = false\n"))
    assert spec.options["return_density"] is False
    with pytest.raises(SpecError, match=r"^\[builder\]\.return_density must be true or false"):
        parse_spec(_doc(GPZ + 'return_density = "yes"\n'))
    train = '[data.training]\ndataset = "candels_cosmos"\nselect = "lupt_F160W < 24"\n'
    spec = parse_spec(_doc(GPZ + "weight = true\n" + train))
    assert spec.data.training.dataset == "candels_cosmos"
    assert spec.data.training.select[0].text == "lupt_F160W < 24"
    assert spec.to_dict()["data"]["training"]["select"] == ["lupt_F160W < 24"]
    # the training sample only gives weights
    for weight in ("", "weight = false\n"):
        with pytest.raises(SpecError) as info:
            parse_spec(_doc(GPZ + weight + train))
        assert info.value.key == "[data.training]"
        assert str(info.value).startswith("[data.training] is the training sample of the weights")
    with pytest.raises(SpecError, match=r"^\[data.training\] has unknown key 'ids'"):
        parse_spec(_doc(GPZ + "weight = true\n" + train + 'ids = "id"\n'))
    with pytest.raises(SpecError, match=r"^\[data.training\] needs exactly one of 'path'"):
        parse_spec(_doc(GPZ + 'weight = true\n[data.training]\nselect = "a > 1"\n'))
    with pytest.raises(SpecError, match=r"^\[data.training\]\.path file '.*nope.csv' does not"):
        parse_spec(_doc(GPZ + 'weight = true\n[data.training]\npath = "nope.csv"\n'))
    # gpz_weights: [data] is the training table; the others have no GPz tables at all
    weights = GPZ.replace("gpz_divide", "gpz_weights").replace("threshold = 0.5\n", "")
    with pytest.raises(SpecError, match=r"^\[data\] has unknown key 'training'"):
        parse_spec(_doc(weights + train))
    with pytest.raises(SpecError, match=r"^\[builder\] has unknown key 'return_density'"):
        parse_spec(_doc(weights + "return_density = true\n"))
    with pytest.raises(SpecError, match=r"^\[data\] has unknown key 'training'"):
        parse_spec(_doc(EM + train))


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = \n")
    with pytest.raises(SpecError, match="is not valid TOML"):
        load_spec(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        load_spec(tmp_path)


@pytest.mark.parametrize(
    ("text", "old", "new", "match"),
    [
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outlier"\n[output]\nfigures = ["sky"]',
            r"^\[output\]\.figures\[0\] 'sky' is drawn for builder 'cluster_field' only",
        ),
        (
            HOGG,
            'name = "line_outlier"',
            'name = "line_outlier"\n[reference]\nslope = 2.2',
            r"^\[reference\] is used by builder 'cluster_field' only",
        ),
        (
            CLUSTER,
            'field = "gmm"',
            'field = "gmm"\n[reference]\ncluster_pmra = "fast"',
            r"^\[reference\]\.cluster_pmra must be a number",
        ),
        (
            CLUSTER,
            'field = "gmm"',
            'field = "gmm"\n[reference]\npmra = 18.7',
            r"^\[reference\] has unknown key 'pmra'",
        ),
        (
            CLUSTER,
            'field = "gmm"',
            'field = "gmm"\n[output]\nfigures = ["sky", "hr"]',
            r"^\[output\]\.figures\[1\] must be one of .*'sky', 'cmd'",
        ),
    ],
)
def test_cluster_figures_and_reference_errors(text, old, new, match):
    if text is CLUSTER:
        _needs_cluster_field()
    with pytest.raises(SpecError, match=match):
        parse_spec(_doc(text.replace(old, new)))


# ------------------------------------------------------------------ names that build paths


@pytest.mark.parametrize(
    "name", ["../../../x", "..", ".", ".hidden", "a/b", "a\\b", "-rf", "", " x", "a:b", "x" * 201]
)
def test_unsafe_names_are_refused(name):
    """`name` is the default output folder out/<name>: one plain path component only."""
    with pytest.raises(SpecError, match=r"^name must be a ") as info:
        parse_spec(_doc(f"name = {json.dumps(name)}\n" + HOGG))
    assert info.value.key == "name"


@pytest.mark.parametrize("table", ["..", ".membership.csv", "-x.csv", "a\x01.csv", "../m.csv"])
def test_unsafe_table_names_are_refused(table):
    with pytest.raises(SpecError, match=r"^\[output\]\.table must be a") as info:
        parse_spec(_doc(HOGG + f"[output]\ntable = {json.dumps(table)}\n"))
    assert info.value.key == "[output].table"


def test_default_name_is_the_file_stem_and_must_be_safe(tmp_path):
    (tmp_path / "fine name.toml").write_text(HOGG)
    assert load_spec(tmp_path / "fine name.toml").name == "fine name"
    (tmp_path / "-bad.toml").write_text(HOGG)
    with pytest.raises(SpecError, match=r"^name must be a plain file name.*'-bad'"):
        load_spec(tmp_path / "-bad.toml")
    (tmp_path / "-bad.toml").write_text('name = "good"\n' + HOGG)
    assert load_spec(tmp_path / "-bad.toml").name == "good"


# ------------------------------------------------------------- priors, checked before any model


@pytest.mark.parametrize(
    ("text", "prior", "match"),
    [
        (HOGG, "[priors.slope]\nmu = 0\n", r"^\[priors\.slope\] needs 'dist'"),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\nsgima = 1\n',
            r"^\[priors\.slope\]\.sgima is not a parameter of Normal; did you mean 'sigma'\? "
            r"\(Normal takes mu, sigma, tau\)$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\nsigma = -1\n',
            r"^\[priors\.slope\]\.sigma must be > 0, got -1$",
        ),
        (
            HOGG,
            '[priors.outlier_sigma]\ndist = "HalfCauchy"\n',
            r"^\[priors\.outlier_sigma\]\.beta is required by HalfCauchy",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normla"\n',
            r"^\[priors\.slope\]\.dist must name a PyMC distribution .*did you mean 'Normal'\?$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Poisson"\nmu = 1\n',
            r"^\[priors\.slope\]\.dist must name a continuous distribution",
        ),
        (
            HOGG,
            '[priors.weights]\ndist = "Dirichlet"\na = [1, 1, 1]\n',
            r"^\[priors\.weights\]\.a must be an array of 2 entries \(one per component\)",
        ),
        (
            GM.replace("n_components = 2", "n_components = 3"),
            '[priors.weights]\ndist = "Dirichlet"\na = [1, 1]\n',
            r"^\[priors\.weights\]\.a must be an array of 3 entries",
        ),
        (
            HOGG,
            '[priors.weights]\ndist = "Dirichlet"\na = [1, -2]\n',
            r"^\[priors\.weights\]\.a\[1\] must be > 0, got -2$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Uniform"\nlower = 2\nupper = 1\n',
            r"^\[priors\.slope\]\.upper must be > lower \(2\), got 1$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Beta"\nmu = 1.5\nsigma = 0.1\n',
            r"^\[priors\.slope\]\.mu must be in \(0, 1\), got 1.5$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Beta"\nalpha = 2\n',
            r"^\[priors\.slope\] is not a valid Beta prior: Incompatible parameterization",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\nsigma = 1\ntau = 1\n',
            r"^\[priors\.slope\] is not a valid Normal prior: Can't pass both tau and sigma$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\nmu = "0"\n',
            r"^\[priors\.slope\]\.mu must be a number or an array of numbers, got a string '0'$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\nmu = nan\n',
            r"^\[priors\.slope\]\.mu must be finite, got nan$",
        ),
        (
            HOGG,
            '[priors.slope]\ndist = "Normal"\ndims = "x"\n',
            r"^\[priors\.slope\]\.dims is not a parameter of Normal",
        ),
        (HOGG, "[priors]\nslope = 3\n", r"^\[priors\.slope\] must be a table like"),
    ],
)
def test_priors_are_checked_at_spec_time(text, prior, match):
    with pytest.raises(SpecError, match=match) as info:
        parse_spec(_doc(text + prior))
    assert info.value.key.startswith("[priors.")
    assert "\n" not in str(info.value)


def test_checking_priors_compiles_nothing(monkeypatch):
    """The prior check reads signatures and builds no graph that needs compiling."""
    try:  # PyTensor 3
        from pytensor.compile.maker import FunctionMaker
    except ImportError:  # PyTensor 2
        from pytensor.compile.function.types import FunctionMaker

    def refuse(*args, **kwargs):
        raise AssertionError("the spec check compiled a PyTensor function")

    monkeypatch.setattr(FunctionMaker, "__init__", refuse)
    text = (
        HOGG
        + '[priors.slope]\ndist = "StudentT"\nnu = 3\nmu = 0\nsigma = 2\n'
        + '[priors.weights]\ndist = "Dirichlet"\na = [2, 1]\n'
        + '[priors.outlier_sigma]\ndist = "Uniform"\nlower = 0\nupper = 5\n'
    )
    spec = parse_spec(_doc(text))
    assert spec.priors["slope"] == {"dist": "StudentT", "nu": 3, "mu": 0, "sigma": 2}
    assert spec.priors["weights"]["a"] == [2, 1]


def test_a_column_named_twice_is_an_error_naming_the_entry():
    # issue 13.3: ["a", "a"] would fit a singular model (or write two p_a columns)
    with pytest.raises(SpecError) as info:
        parse_spec(_doc(EM.replace('["FeH", "MgFe"]', '["FeH", "MgFe", "FeH"]')))
    assert (
        str(info.value) == "[data].features[2] repeats 'FeH' (also entry [0]); name each entry once"
    )
    assert info.value.key == "[data].features[2]"
    with pytest.raises(SpecError, match=r"^\[data.columns\]\.X\[1\] repeats 'MgFe'"):
        parse_spec(_doc(GM.replace('["MgFe", "FeH"]', '["MgFe", "MgFe"]')))
    with pytest.raises(SpecError, match=r"^\[builder\]\.labels\[1\] repeats 'thin'"):
        parse_spec(_doc(GM + 'labels = ["thin", "thin"]\n'))
    with pytest.raises(SpecError, match=r"^\[output\]\.scatter\[1\] repeats 'x'"):
        parse_spec(_doc(HOGG + '[output]\nscatter = ["x", "x"]\n'))
    # one error column may serve two features
    spec = parse_spec(_doc(GM.replace("[builder]", 'X_err = ["e", "e"]\n[builder]')))
    assert spec.data.columns["X_err"] == ("e", "e")


def test_unknown_table_format_is_named():
    with pytest.raises(
        SpecError, match=r"^\[data\]\.format must be an astropy table format.*got 'excel'"
    ):
        parse_spec(_doc(EM.replace("[builder]", 'format = "excel"\n[builder]')))
    # GPZ: the table before [builder] is [data.population]
    with pytest.raises(SpecError, match=r"^\[data.population\]\.format .* did you mean 'fits'"):
        parse_spec(_doc(GPZ.replace("[builder]", 'format = "fitz"\n[builder]')))
