"""The registry reads [builder] options, defaults, choices and columns from the functions."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable

import pytest
from numpy.typing import ArrayLike

from bayesmix.spec import BUILDERS, SAMPLERS, SamplerSpec, available_builders
from bayesmix.spec.registry import builder, choices_of
from bayesmix.spec.schema import NO_DEFAULT
from bayesmix.spec.sections import sampler_section


def _documented_choices(obj, name: str) -> set[str] | None:
    """The set literal of ``name : {"a", "b"}`` in obj's numpydoc Parameters, if any."""
    m = re.search(rf"^\s*{name} : \{{([^}}]*)\}}", inspect.getdoc(obj) or "", re.M)
    return None if m is None else set(re.findall(r'"([^"]+)"', m.group(1)))


def _function(b):
    module, _, attr = b.target.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


BAYES = ("line_outlier", "gaussian_mixture", "cluster_field")


@pytest.mark.parametrize("name", BAYES)
def test_bayesian_options_are_the_builders_keyword_arguments(name):
    if name not in available_builders():
        pytest.skip(f"{name} is not available")
    b = builder(name)
    fn = _function(b)
    params = inspect.signature(fn).parameters
    filled_elsewhere = {"priors", "ids", "rng", "columns", "X_cov"}  # [priors], ids, seed, ...
    arrays = {n for n, p in params.items() if "ArrayLike" in str(p.annotation)}
    if b.columns is None:  # a builder taking a table: its array options are vectors
        arrays = set()
    expected = {
        n
        for n, p in params.items()
        if n not in filled_elsewhere | arrays and (p.kind is p.KEYWORD_ONLY or n == "n_components")
    }
    assert {k.name for k in b.options.keys} == expected
    for k in b.options.keys:
        default = params[k.name].default
        if default is inspect.Parameter.empty:
            assert k.required and k.default is NO_DEFAULT
        else:
            assert k.default == (tuple(default) if isinstance(default, list) else default)
        assert k.doc, f"{name}.{k.name} has no documentation"
    if b.columns is not None:
        required = {n for n in arrays if params[n].default is inspect.Parameter.empty}
        assert {k.name for k in b.columns.keys} == arrays - filled_elsewhere
        assert {k.name for k in b.columns.keys if k.required} == required


@pytest.mark.parametrize("name", [*BAYES, "gpz_weights", "gpz_divide", "gmm"])
def test_choices_come_from_the_builders_module_and_match_its_docs(name):
    if name not in available_builders():
        pytest.skip(f"{name} is not available")
    b = builder(name)
    fn = _function(b)
    declared = getattr(sys.modules[fn.__module__], "CHOICES", {})
    docs = [fn]
    if name.startswith("gpz"):
        from bayesmix.gpz import GPzAugment

        docs += [GPzAugment, GPzAugment.divide]
    if name == "gmm":
        from bayesmix.em import GaussianMixture

        docs += [GaussianMixture]
    for k in b.options.keys:
        if k.name in declared and k.name != "features":  # features: syntax only (see registry)
            assert k.type == "choice" and set(k.choices) == set(declared[k.name])
        documented = next(
            (c for d in docs if (c := _documented_choices(d, k.name)) is not None), None
        )
        if documented is not None:  # an independent statement of the same set
            assert k.type == "choice", f"{name}.{k.name} documents choices but is not a choice"
            assert set(k.choices) == documented, (name, k.name)


def test_gmm_defaults_are_the_em_runners():
    gmm = builder("gmm")
    assert gmm.defaults == {
        "n_components": (1, 2, 3, 4, 5, 6),
        "criterion": "bic",
        "covariance_type": "full",
        "n_init": 4,
        "max_iter": 500,
        "tol": 1e-5,
    }
    gmm_module = pytest.importorskip("bayesmix.workflows.gmm")
    fit = getattr(gmm_module, "fit_gmm_selection", None)
    if fit is None:
        pytest.skip("fit_gmm_selection has moved")
    params = inspect.signature(fit).parameters
    assert tuple(params["candidates"].default) == gmm.defaults["n_components"]
    for k in ("criterion", "covariance_type", "n_init", "max_iter", "tol"):
        assert params[k].default == gmm.defaults[k], k


def test_sampler_defaults_are_those_of_sample():
    from bayesmix.inference import sample

    params = inspect.signature(sample).parameters
    section = sampler_section()
    for k in section.keys:
        assert k.default == params[k.name].default
    assert SamplerSpec(**section.parse({}, defaults=True)) == SamplerSpec()
    assert set(section.key("sampler").choices) == _documented_choices(sample, "sampler")
    assert section.key("sampler").choices == SAMPLERS


def test_samplers_are_the_ones_sample_accepts():
    """bayesmix.spec.SAMPLERS: sample() refuses anything else (checked before building)."""
    import pymc as pm

    from bayesmix.inference import sample

    with pm.Model() as model:
        pm.Normal("x")
    for name in ("numpyro", "NUTPIE", ""):
        with pytest.raises(ValueError, match="sampler"):
            sample(model, sampler=name, draws=1, tune=0, chains=1)
    assert set(SAMPLERS) == _documented_choices(sample, "sampler")


def test_gpz_divide_spec_default_return_density_is_the_divide_csv_layout():
    b = BUILDERS["gpz_divide"]
    assert b.defaults["return_density"] is True  # gpz_pype's divide.csv has p0..p{K-1}
    assert b.options.key("return_density").type == "boolean"
    assert "return_density" not in BUILDERS["gpz_weights"].defaults


def test_registry_is_lazy_and_complete():
    assert set(BUILDERS) == {"line_outlier", "gaussian_mixture", "gmm", "gpz_weights", "gpz_divide"}
    assert len(BUILDERS) == 5 and BUILDERS["gmm"].kind == "em"
    with pytest.raises(KeyError):
        BUILDERS["nope"]
    for name, b in available_builders().items():
        assert b.name == name and b.kind in ("bayes", "em", "gpz_weights", "gpz_divide")
        assert b.priors == (b.kind == "bayes")


def test_choices_of_prefers_the_modules_own_constants(monkeypatch):
    import bayesmix.em as em

    monkeypatch.setattr(em, "CRITERIA", ("aic", "bic", "icl"), raising=False)
    assert choices_of("bayesmix.em", "criterion") == ("aic", "bic", "icl")
    assert choices_of("bayesmix.em", "not_an_option") == ()


def test_an_option_the_registry_cannot_type_is_an_error(monkeypatch):
    """A new builder argument with an unknown annotation fails loudly, not silently."""
    import types

    from bayesmix.spec import registry

    mod = types.ModuleType("fake_builders")

    def fake(x: ArrayLike, *, mode: Callable[[int], int] | None = None):
        """Fake."""

    fake.__module__ = "fake_builders"
    mod.fake = fake
    monkeypatch.setitem(sys.modules, "fake_builders", mod)
    monkeypatch.setitem(
        registry._ENTRIES, "fake", registry._Entry("bayes", "fake_builders:fake", "fake")
    )
    registry._build.cache_clear()
    try:
        with pytest.raises(TypeError, match="option 'mode' has annotation"):
            registry._build("fake")
    finally:
        registry._build.cache_clear()


def test_spec_settings_fill_the_defaults_of_the_function_it_runs():
    import tomllib

    from bayesmix.gpz import gpz_divide_table
    from bayesmix.spec import parse_spec

    doc = tomllib.loads(
        'seed = 4\n[data]\ndataset = "candels_cosmos"\nfeatures = ["lupt_F160W"]\n'
        '[data.population]\ndataset = "candels_cosmos"\n'
        '[builder]\nname = "gpz_divide"\nthreshold = 0.3\n'
    )
    settings = parse_spec(doc).settings()
    params = inspect.signature(gpz_divide_table).parameters
    assert settings["threshold"] == 0.3  # the spec's value first
    for k in ("assign", "max_weight", "n_components", "scale", "covariance_type", "weight"):
        assert settings[k] == params[k].default, k
