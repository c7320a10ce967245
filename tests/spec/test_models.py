"""Every models/*.toml and bundled spec validates, reads its data, and loads without PyMC."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bayesmix.spec import available_builders, load_spec, read_data

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SPECS = sorted(MODELS.glob("*.toml"))
EXPECTED = {
    "hogg2010_line_outliers",
    "thin_thick_disc_em",
    "thin_thick_disc_bayes",
    "gpz_weights_candels_cosmos",
    "gpz_divide_candels_cosmos",
}
BLANCO1 = {
    "blanco1_pm1d",
    "blanco1_parallax_beta",
    "blanco1_parallax_edsd",
    "blanco1_pm2d",
    "blanco1_full",
}


def test_models_folder_has_the_classic_analyses():
    names = {p.stem for p in SPECS}
    assert EXPECTED <= names
    if "cluster_field" in available_builders():
        assert BLANCO1 <= names
    else:
        assert not any(n.startswith("blanco1") for n in names)


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


def test_spec_module_does_not_import_pymc_or_matplotlib():
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
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
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
