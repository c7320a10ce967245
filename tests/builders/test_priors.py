"""check_prior: names vs the PyMC signature, values vs the support, before any model exists."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesmix.builders._priors import check_prior, check_priors, distributions
from bayesmix.exceptions import SpecError

# (dist, parameters): valid and invalid priors across the supports check_prior knows
CASES = [
    ("Normal", {"mu": 0, "sigma": -1}),
    ("Normal", {"mu": 0, "sigma": 0}),
    ("Normal", {"mu": 0, "sigma": 1}),
    ("Normal", {"tau": -1}),
    ("HalfNormal", {"sigma": -1}),
    ("HalfNormal", {"sigma": 0.5}),
    ("LogNormal", {"sigma": -2}),
    ("Gamma", {"alpha": -1, "beta": 1}),
    ("Gamma", {"alpha": 2, "beta": 0}),
    ("Gamma", {"alpha": 2, "beta": 1}),
    ("Beta", {"alpha": 0, "beta": 1}),
    ("Beta", {"alpha": 1, "beta": 2}),
    ("Beta", {"mu": 1.2, "sigma": 0.1}),
    ("Beta", {"mu": 0.5, "sigma": 0.1}),
    ("Exponential", {"lam": 0}),
    ("Exponential", {"lam": 2}),
    ("HalfCauchy", {"beta": -1}),
    ("StudentT", {"nu": 0}),
    ("StudentT", {"nu": 3, "sigma": 2}),
    ("Dirichlet", {"a": [1, -1]}),
    ("Dirichlet", {"a": [1, 1]}),
    ("Uniform", {"lower": 2, "upper": 1}),
    ("Uniform", {"lower": 0, "upper": 1}),
    ("InverseGamma", {"alpha": -1, "beta": 1}),
    ("Weibull", {"alpha": 0, "beta": 1}),
    ("Laplace", {"mu": 0, "b": 0}),
    ("Cauchy", {"alpha": -3, "beta": 1}),  # alpha is Cauchy's location: any real
    ("Cauchy", {"alpha": 0, "beta": -1}),
    ("TruncatedNormal", {"sigma": 1, "lower": 1, "upper": 0}),
    ("Wald", {"mu": -1, "lam": 1}),
    ("Pareto", {"alpha": 1, "m": -1}),
    ("Kumaraswamy", {"a": 0, "b": 1}),
    ("VonMises", {"kappa": -1}),
    ("Logistic", {"s": 0}),
    ("ChiSquared", {"nu": 0}),
    ("SkewNormal", {"alpha": -2}),  # alpha is SkewNormal's skewness: any real
    ("HalfStudentT", {"nu": 3, "sigma": -1}),
    ("LogitNormal", {"sigma": 0}),
    ("Gumbel", {"mu": 0, "beta": 0}),
    ("ExGaussian", {"mu": 0, "sigma": 1, "nu": -1}),
    ("Triangular", {"lower": 0, "c": 2, "upper": 1}),
    ("AsymmetricLaplace", {"kappa": 1, "mu": 0, "b": -1}),
]


def _pymc_accepts(dist: str, params: dict) -> bool:
    """PyMC's own verdict: the log-density at a point of the support is finite (compiles)."""
    import pymc as pm

    value = np.array([0.5, 0.5]) if dist == "Dirichlet" else 0.5
    try:
        with warnings.catch_warnings():
            # invalid parameters make PyTensor's constant folding divide by zero on the way
            warnings.simplefilter("ignore", RuntimeWarning)
            logp = pm.logp(getattr(pm, dist).dist(**params), value).eval()
    except (ValueError, ZeroDivisionError):  # PyMC's ParameterValueError is a ValueError
        return False
    return bool(np.all(np.isfinite(logp)))


@pytest.mark.parametrize(("dist", "params"), CASES, ids=[f"{d}-{p}" for d, p in CASES])
def test_support_checks_agree_with_pymc(dist, params):
    """check_prior refuses exactly the parameters PyMC's log-density refuses."""
    try:
        check_prior({"dist": dist, **params}, key="[priors.x]")
        ours = True
    except SpecError as exc:
        assert str(exc).startswith("[priors.x]") and "\n" not in str(exc)
        ours = False
    assert ours == _pymc_accepts(dist, params)


def test_names_and_required_parameters_come_from_the_signature():
    import inspect

    import pymc as pm

    assert {"Normal", "HalfNormal", "Dirichlet", "LogitNormal", "ChiSquared"} <= set(
        distributions()
    )
    for dist in ("Normal", "StudentT", "HalfCauchy", "Dirichlet", "Uniform"):
        params = inspect.signature(getattr(pm, dist).dist).parameters
        named = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        required = [n for n in named if params[n].default is inspect.Parameter.empty]
        for n in named:
            with pytest.raises(SpecError) as info:
                check_prior({"dist": dist, f"{n}x": 1.0}, key="[priors.v]")
            assert str(info.value).startswith(f"[priors.v].{n}x is not a parameter of {dist}")
        for n in required:
            prior = {"dist": dist, **{m: [1.0, 1.0] for m in required if m != n}}
            with pytest.raises(SpecError, match=rf"^\[priors\.v\]\.{n} is required by {dist}"):
                check_prior(prior, key="[priors.v]")


def test_argument_style_messages_and_lengths():
    with pytest.raises(SpecError, match=r"^'priors\.slope\.sigma' must be > 0; got -1$") as info:
        check_prior({"dist": "Normal", "sigma": -1}, name="priors.slope")
    assert info.value.key == "priors.slope.sigma"
    with pytest.raises(SpecError, match=r"^'priors\.weights\.a' must be an array of 3 entries"):
        check_priors(
            {"weights": {"dist": "Dirichlet", "a": [1, 1]}}, {"weights"}, lengths={"weights": 3}
        )
    assert check_priors(
        {"weights": {"dist": "Dirichlet", "a": [1, 1, 2]}}, {"weights"}, lengths={"weights": 3}
    ) == {"weights": {"dist": "Dirichlet", "a": [1, 1, 2]}}
    with pytest.raises(SpecError, match=r"unknown variable 'slop'.*did you mean 'slope'\?$"):
        check_priors({"slop": {"dist": "Normal"}}, {"slope", "intercept"})
    assert check_priors(None, {"slope"}) == {}


def test_builders_check_priors_before_building():
    """The Python builders' priors= argument gets the same check (nothing compiled)."""
    from bayesmix.builders import line_outlier

    x = np.linspace(0, 1, 10)
    with pytest.raises(SpecError, match=r"^'priors\.slope\.sgima' is not a parameter of Normal"):
        line_outlier(x, 2 * x, np.ones(10), priors={"slope": {"dist": "Normal", "sgima": 1}})
    with pytest.raises(SpecError, match=r"^'priors\.outlier_sigma\.sigma' must be > 0; got -1"):
        line_outlier(
            x, 2 * x, np.ones(10), priors={"outlier_sigma": {"dist": "HalfNormal", "sigma": -1}}
        )


def test_array_parameter_of_a_scalar_variable_is_refused():
    # a vector mu would silently make 'slope' a vector (shape (2,)): a different model
    import pymc as pm

    from bayesmix.builders._priors import prior_dist, prior_rv

    spec = {"dist": "Normal", "mu": [0.0, 1.0], "sigma": 1.0}
    with pm.Model():
        with pytest.raises(SpecError, match=r"^'priors.slope.mu' must be a number: 'slope' is"):
            prior_rv("slope", spec)
        with pytest.raises(SpecError, match=r"^'priors.b.mu' must be a number"):
            prior_dist("b", spec)
        assert prior_rv("means", spec, dims=None, shape=2).type.shape == (2,)
        assert prior_rv("x", {"dist": "Normal", "mu": 0.0, "sigma": 1.0}).type.shape == ()
