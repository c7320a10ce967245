"""Specs: every models/*.toml validates; bad specs give SpecError with the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from bayesmix.exceptions import DataError, SpecError
from bayesmix.spec import available_builders, load_spec, parse_spec, read_data

MODELS = Path(__file__).resolve().parents[1] / "models"
SPECS = sorted(MODELS.glob("*.toml"))
EXPECTED = {
    "hogg2010_line_outliers",
    "thin_thick_disc_em",
    "thin_thick_disc_bayes",
    "gpz_weights_candels_cosmos",
    "gpz_divide_candels_cosmos",
}


BLANCO1 = {"blanco1_pm1d", "blanco1_parallax_beta", "blanco1_parallax_edsd", "blanco1_pm2d",
           "blanco1_full"}


def test_models_folder_has_the_classic_analyses():
    names = {p.stem for p in SPECS}
    assert EXPECTED <= names
    if "cluster_field" in available_builders():
        assert BLANCO1 <= names
    else:
        assert not any(n.startswith("blanco1") for n in names)


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
    ],
)
def test_cluster_field_options(old, new, match):
    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    spec = parse_spec(_doc(CLUSTER))
    assert spec.kind == "bayes" and spec.options["features"] == ("pmra", "pmdec")
    with pytest.raises(SpecError, match=match):
        parse_spec(_doc(CLUSTER.replace(old, new)))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_model_spec_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert isinstance(spec.seed, int)
    assert "seed" in tomllib.loads(path.read_text())  # each spec names its seed
    data = read_data(spec)
    assert len(data.table) > 0 and data.selected.any()
    d = spec.to_dict()
    assert d["builder"] == spec.builder and d["seed"] == spec.seed


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


def _doc(text: str) -> dict:
    return tomllib.loads(text)


def test_minimal_specs_parse_with_defaults():
    spec = parse_spec(_doc(HOGG))
    assert spec.kind == "bayes" and spec.builder == "line_outlier"
    assert spec.sampler.draws == 1000 and spec.sampler.chains == 4
    assert spec.output.figures == ("pgm", "membership", "pair")
    assert spec.data.columns == {"x": "x", "y": "y", "y_err": "sigma_y"}
    over = spec.with_overrides(seed=5, draws=10, tune=0, chains=2)
    assert (over.seed, over.sampler.draws, over.sampler.tune, over.sampler.chains) == (5, 10, 0, 2)
    assert spec.seed == 1  # frozen: the original is unchanged
    gm = parse_spec(_doc(GM))
    assert gm.data.columns["X"] == ("MgFe", "FeH") and gm.options["n_components"] == 2


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
        (HOGG, 'y_err = "sigma_y"', "", r"\[data.columns\]\.y_err is required"),
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
        (HOGG, "seed = 1", "seed = -1", r"^seed must be >= 0, got -1$"),
        (HOGG, "seed = 1", "", r"^seed is missing"),
        (HOGG, "seed = 1", "seed = 1\nseeds = 2", r"the spec has unknown key 'seeds'"),
        (HOGG + "[sampler]\ndraws = 0\n", "", "", r"^\[sampler\]\.draws must be >= 1, got 0$"),
        (
            HOGG + "[sampler]\nsampler = 'emcee'\n",
            "",
            "",
            r"\[sampler\]\.sampler must be one of 'nutpie', 'pymc'",
        ),
        (HOGG + "[sampler]\nthin = 2\n", "", "", r"\[sampler\] has unknown key 'thin'"),
        (HOGG + "[priors.slope]\nmu = 0\n", "", "", r"\[priors\]\.slope needs 'dist'"),
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
    ],
)
def test_bad_specs_name_the_key(text, old, new, match):
    doc = text.replace(old, new) if old else text
    with pytest.raises(SpecError, match=match) as info:
        parse_spec(_doc(doc))
    assert info.value.key is not None
    assert "\n" not in str(info.value)


def test_em_and_gpz_sections():
    em = """
seed = 3
[data]
dataset = "rave_apogee"
features = ["FeH", "MgFe"]
[builder]
name = "gmm"
n_components = "1-3"
"""
    spec = parse_spec(_doc(em))
    assert spec.kind == "em" and spec.options["n_components"] == (1, 2, 3)
    with pytest.raises(SpecError, match=r"\[sampler\] does not apply to builder 'gmm'"):
        parse_spec(_doc(em + "[sampler]\ndraws = 10\n"))
    with pytest.raises(SpecError, match=r"\[priors\] does not apply"):
        parse_spec(_doc(em + "[priors.means]\ndist = 'Normal'\n"))
    with pytest.raises(SpecError, match=r"\[builder\]\.n_components must look like"):
        parse_spec(_doc(em.replace('"1-3"', '"1-x"')))
    with pytest.raises(SpecError, match=r"\[builder\]\.order_by must be one of"):
        parse_spec(_doc(em + 'order_by = "alphaM"\n'))
    with pytest.raises(SpecError, match=r"\[data\]\.features is missing"):
        parse_spec(_doc(em.replace('features = ["FeH", "MgFe"]', "")))
    gpz = """
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
    spec = parse_spec(_doc(gpz))
    assert spec.kind == "gpz_divide" and spec.data.population is not None
    with pytest.raises(SpecError, match=r"\[builder\]\.threshold must be <= 1.0, got 1.5"):
        parse_spec(_doc(gpz.replace("0.5", "1.5")))
    with pytest.raises(SpecError, match=r"\[data\]\.features\[0\]"):
        parse_spec(_doc(gpz.replace("lupt_F606W-lupt_F814W", "a*b")))
    with pytest.raises(SpecError, match=r"\[data.population\] is missing"):
        parse_spec(_doc(gpz.replace('[data.population]\ndataset = "candels_cosmos"', "")))
    with pytest.raises(SpecError, match=r"\[data.population\] has unknown key 'ids'"):
        parse_spec(_doc(gpz.replace("[data.population]\n", '[data.population]\nids = "id"\n')))


def test_paths_resolve_from_the_spec_folder(tmp_path):
    from astropy.table import Table

    (tmp_path / "data").mkdir()
    Table({"a": [1.0, 2.0, np.nan], "b": [3.0, 4.0, 5.0]}).write(
        tmp_path / "data" / "t.csv", format="ascii.csv"
    )
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        'seed = 1\n[data]\npath = "data/t.csv"\nfeatures = ["a", "b"]\nselect = "b >= 4"\n'
        '[builder]\nname = "gmm"\nn_components = 1\n'
    )
    spec = load_spec(spec_file)
    assert spec.data.source.path == (tmp_path / "data" / "t.csv").resolve()
    data = read_data(spec)
    np.testing.assert_array_equal(data.selected, [False, True, True])
    # unknown columns are found before any fitting, with their key path
    spec_file.write_text(spec_file.read_text().replace('"a", "b"', '"a", "c"'))
    with pytest.raises(DataError, match=r"\[data\]\.features names column 'c'.*available"):
        read_data(load_spec(spec_file))
    spec_file.write_text(spec_file.read_text().replace('"b >= 4"', '"b > 99"'))
    with pytest.raises(DataError, match=r"\[data\]\.select keeps none of the 3 rows"):
        read_data(load_spec(spec_file))


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = \n")
    with pytest.raises(SpecError, match="is not valid TOML"):
        load_spec(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")


def test_spec_module_does_not_import_pymc_or_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys; from bayesmix.spec import load_spec, read_data; "
        f"s = load_spec({str(MODELS / 'hogg2010_line_outliers.toml')!r}); read_data(s); "
        "print('pymc' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ the bundled demo spec


def test_demo_spec_is_the_models_file():
    """`bayesmix demo` runs bayesmix/specs/blanco1_pm2d.toml, the file models/ links to."""
    from bayesmix import specs

    assert specs.DEMO == "blanco1_pm2d" and specs.DEMO_FULL == "blanco1_full"
    for name in (specs.DEMO, specs.DEMO_FULL):
        bundled = specs.path(name)
        assert name in specs.names()
        models_file = MODELS / f"{name}.toml"
        assert models_file.read_bytes() == bundled.read_bytes()
        if models_file.is_symlink():  # a clone: one file, linked, so they cannot drift apart
            assert models_file.resolve() == bundled.resolve()
    with pytest.raises(FileNotFoundError, match="no bundled spec 'nope'.*blanco1_pm2d"):
        specs.path("nope")


def test_bundled_specs_are_package_data():
    # the wheel ships bayesmix/specs/*.toml (an installed wheel has no models/ folder)
    doc = tomllib.loads((MODELS.parent / "pyproject.toml").read_text())
    assert "*.toml" in doc["tool"]["setuptools"]["package-data"]["bayesmix.specs"]


def test_demo_spec_content():
    from bayesmix import specs

    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    spec = load_spec(specs.path())
    assert spec.builder == "cluster_field" and spec.data.source.dataset == "blanco1"
    o = spec.options
    assert o["features"] == ("pmra", "pmdec") and o["field"] == "gmm"
    assert o["field_components"] == 3 and o["field_fit"] == "xd"
    assert o["correlations"] is False
    s = spec.sampler
    assert (s.chains, s.draws, s.tune) == (4, 1000, 1000)
    assert set(spec.output.figures) == {"membership", "sky", "cmd", "pgm", "pair"}
    # Cantat-Gaudin et al. (2020), as in the data set's README
    ref = spec.reference
    assert ref["cluster_pmra"] == 18.739 and ref["cluster_pmdec"] == 2.602
    assert ref["cluster_parallax"] == 4.210 and ref["n_members"] == 351
    assert spec.to_dict()["reference"]["source"].startswith("Cantat-Gaudin")


@pytest.mark.parametrize(
    ("text", "old", "new", "match"),
    [
        (HOGG, 'name = "line_outlier"', 'name = "line_outlier"\n[output]\nfigures = ["sky"]',
         r"^\[output\]\.figures\[0\] 'sky' is drawn for builder 'cluster_field' only"),
        (HOGG, 'name = "line_outlier"', 'name = "line_outlier"\n[reference]\nslope = 2.2',
         r"^\[reference\] is used by builder 'cluster_field' only"),
        (CLUSTER, 'field = "gmm"', 'field = "gmm"\n[reference]\ncluster_pmra = "fast"',
         r"^\[reference\]\.cluster_pmra must be a number"),
        (CLUSTER, 'field = "gmm"', 'field = "gmm"\n[reference]\npmra = 18.7',
         r"^\[reference\] has unknown key 'pmra'"),
        (CLUSTER, 'field = "gmm"', 'field = "gmm"\n[output]\nfigures = ["sky", "hr"]',
         r"^\[output\]\.figures\[1\] must be one of .*'sky', 'cmd'"),
    ],
)
def test_cluster_figures_and_reference_errors(text, old, new, match):
    if text is CLUSTER and "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    with pytest.raises(SpecError, match=match):
        parse_spec(_doc(text.replace(old, new)))


def test_cluster_figures_default_off_and_need_their_columns(tmp_path):
    if "cluster_field" not in available_builders():
        pytest.skip("bayesmix.builders.cluster_field is not available")
    assert parse_spec(_doc(CLUSTER)).output.figures == ("pgm", "membership", "pair")
    from bayesmix.datasets import load_blanco1

    t = load_blanco1()[:200]
    t.remove_column("bp_rp")
    t.write(tmp_path / "stars.csv")
    text = CLUSTER.replace('dataset = "blanco1"', 'path = "stars.csv"')
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(text + '[output]\nfigures = ["sky", "cmd"]\n')
    with pytest.raises(DataError, match=r"figure 'cmd' needs column 'bp_rp', which is not in "
                                        r"stars.csv; map it in \[data.columns\]"):
        read_data(load_spec(spec_path))
    # mapped through [data.columns] like every Gaia name
    t["colour"] = load_blanco1()[:200]["bp_rp"]
    t.write(tmp_path / "stars.csv", overwrite=True)
    spec_path.write_text(text + '[data.columns]\nbp_rp = "colour"\n'
                         '[output]\nfigures = ["sky", "cmd"]\n')
    read_data(load_spec(spec_path))
