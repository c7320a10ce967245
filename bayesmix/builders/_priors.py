"""Priors given by name as JSON-able dictionaries, e.g. ``{"dist": "Normal", "sigma": 10}``.

:func:`check_prior` checks one prior before anything is built or compiled:
``dist`` names a PyMC distribution (a continuous one); every other key is a parameter of
that distribution's ``.dist`` signature (unknown names are listed with the
closest match); parameters without a default are present; values are finite
numbers (or arrays of them) inside the parameter's support (scale parameters
> 0, Beta ``mu`` in (0, 1), ...); bounds are ordered (``lower < upper``); a
Dirichlet's ``a`` has one entry per component; and PyMC's own rules for
combining parameters hold (e.g. not both ``sigma`` and ``tau``).  The spec
layer (``[priors.<var>]``, key paths such as ``[priors.slope].sigma``) and the
builders' ``priors=`` argument (``'priors.slope.sigma'``) share it.  It imports
PyMC when called (for the signatures) but builds no model and compiles nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesmix._validate import (
    check_float,
    check_str,
    option_error,
    suggest,
    toml_key,
    type_name,
)
from bayesmix.exceptions import SpecError

__all__ = ["check_prior", "check_priors", "distributions", "prior_dist", "prior_rv"]

# Supports of the parameters: (lower, upper, lower open, upper open).  A parameter named in
# _SUPPORT_BY_NAME has that support in every distribution; _SUPPORT adds or overrides per
# distribution (e.g. Beta's alpha > 0, while SkewNormal's alpha is any real number).
# Parameters in neither table may take any finite value.
_POSITIVE = (0.0, None, True, False)
_NON_NEGATIVE = (0.0, None, False, False)
_OPEN_UNIT = (0.0, 1.0, True, True)
_SUPPORT_BY_NAME: dict[str, tuple] = {
    name: _POSITIVE for name in ("sigma", "tau", "lam", "nu", "scale", "kappa", "eta")
}
_SUPPORT: dict[str, dict[str, tuple]] = {
    "AsymmetricLaplace": {"b": _POSITIVE, "q": _OPEN_UNIT},
    "Beta": {"alpha": _POSITIVE, "beta": _POSITIVE, "mu": _OPEN_UNIT},
    "Cauchy": {"beta": _POSITIVE},
    "Dirichlet": {"a": _POSITIVE},
    "Gamma": {"alpha": _POSITIVE, "beta": _POSITIVE, "mu": _POSITIVE},
    "Gumbel": {"beta": _POSITIVE},
    "HalfCauchy": {"beta": _POSITIVE},
    "InverseGamma": {"alpha": _POSITIVE, "beta": _POSITIVE, "mu": _POSITIVE},
    "Kumaraswamy": {"a": _POSITIVE, "b": _POSITIVE},
    "Laplace": {"b": _POSITIVE},
    "Logistic": {"s": _POSITIVE},
    "Pareto": {"alpha": _POSITIVE, "m": _POSITIVE},
    "Rice": {"nu": _NON_NEGATIVE, "b": _NON_NEGATIVE},
    "Wald": {"mu": _POSITIVE, "phi": _POSITIVE, "alpha": _NON_NEGATIVE},
    "Weibull": {"alpha": _POSITIVE, "beta": _POSITIVE},
}
# parameters that must be in increasing order when given together
_ORDERED: dict[str, tuple[str, ...]] = {
    "Triangular": ("lower", "c", "upper"),
    "TruncatedNormal": ("lower", "upper"),
    "Uniform": ("lower", "upper"),
}
# distributions over a simplex: the vector parameter has one entry per component
_SIMPLEX = {"Dirichlet": "a"}


def distributions() -> list[str]:
    """Names of the PyMC distributions (classes with ``.dist``); imports PyMC."""
    import pymc as pm

    return sorted(
        n
        for n in dir(pm)
        if isinstance(getattr(pm, n), type)
        and hasattr(getattr(pm, n), "dist")
        and n not in ("Continuous", "Discrete", "Distribution")
    )


def _dist_class(dist: Any, *, name=None, key=None):
    import pymc as pm

    names = distributions()
    if not isinstance(dist, str) or dist not in names:
        raise option_error(
            "must name a PyMC distribution (e.g. 'Normal')",
            repr(dist) + suggest(dist, names),
            name=name,
            key=key,
        )
    return getattr(pm, dist)


def _parameters(cls) -> dict[str, bool]:
    """Return the named parameters of ``cls.dist``, each mapped to whether it is required."""
    params = inspect.signature(cls.dist).parameters.values()
    return {
        p.name: p.default is inspect.Parameter.empty
        for p in params
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("cls", "self")
    }


def _in_support(value: float, raw: Any, support: tuple, **label) -> None:
    lo, hi, lo_open, hi_open = support
    low_ok = lo is None or (value > lo if lo_open else value >= lo)
    high_ok = hi is None or (value < hi if hi_open else value <= hi)
    if low_ok and high_ok:
        return
    if hi is None:
        text = f"must be {'>' if lo_open else '>='} {lo:g}"
    else:
        text = f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    raise option_error(text, repr(raw), **label)


def _values(value: Any, support: tuple | None, *, name=None, key=None) -> np.ndarray:
    """Check a number or a (nested) array of numbers; return it as a float array."""
    ok_type = isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool)
    flat = np.asarray(value, dtype=object).ravel() if ok_type else np.asarray([value])
    if not ok_type or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in flat
    ):
        raise option_error(
            "must be a number or an array of numbers",
            f"{type_name(value)} {value!r}",
            name=name,
            key=key,
        )
    raw = np.asarray(value, dtype=object)
    for index in np.ndindex(raw.shape):
        where = "".join(f"[{i}]" for i in index)
        item = {"name": name and name + where, "key": key and key + where}
        v = check_float(raw[index], **item)
        if support is not None:
            _in_support(v, raw[index], support, **item)
    arr = np.asarray(value, dtype=np.float64)
    return arr


def check_prior(
    prior: Any, *, name: str | None = None, key: str | None = None, length: int | None = None
) -> dict[str, Any]:
    """Check one prior, e.g. ``{"dist": "HalfNormal", "sigma": 2.0}``, before any model exists.

    Parameters
    ----------
    prior : mapping
        ``dist`` (a continuous PyMC distribution) and that distribution's parameters.
    name, key : str
        Exactly one: the argument the prior came from (``name="priors.slope"``:
        messages read ``'priors.slope.sigma' must be > 0; got -1``) or its spec
        table (``key="[priors.slope]"``: ``[priors.slope].sigma must be > 0, got -1``).
    length : int, optional
        Number of components, when the variable is over components: a simplex
        distribution's vector (Dirichlet ``a``) must have that many entries.

    Returns
    -------
    dict
        The prior, as a new plain dict.

    Raises
    ------
    SpecError
        The first problem, naming the parameter.
    """
    label = {"name": name, "key": key}
    if not isinstance(prior, Mapping):
        raise option_error(
            "must be a table like {dist = 'Normal', mu = 0, sigma = 1}",
            f"{type_name(prior)} {prior!r}",
            **label,
        )

    def at(param: str) -> dict[str, str | None]:
        param = toml_key(param)
        return {"name": name and f"{name}.{param}", "key": key and f"{key}.{param}"}

    if "dist" not in prior:
        where = key if key is not None else f"'{name}'"
        raise SpecError(
            f"{where} needs 'dist', the name of a PyMC distribution (e.g. dist = \"Normal\")",
            key=at("dist")["key"] or at("dist")["name"],
        )
    dist = check_str(prior["dist"], **at("dist"))
    cls = _dist_class(dist, **at("dist"))
    params = _parameters(cls)
    takes = f"({dist} takes {', '.join(params) or 'no parameters'})"
    for param in prior:
        if param != "dist" and param not in params:
            raise option_error(
                f"is not a parameter of {dist}{suggest(param, params)} {takes}", **at(param)
            )
    for param, required in params.items():
        if required and param not in prior:
            raise option_error(f"is required by {dist} {takes}", **at(param))
    values = {}
    for param, value in prior.items():
        if param != "dist":
            support = _SUPPORT.get(dist, {}).get(param, _SUPPORT_BY_NAME.get(param))
            values[param] = _values(value, support, **at(param))
    given = [p for p in _ORDERED.get(dist, ()) if p in values]
    for lower, upper in zip(given, given[1:], strict=False):
        if np.any(values[upper] <= values[lower]):
            raise option_error(
                f"must be > {lower} ({prior[lower]!r})", repr(prior[upper]), **at(upper)
            )
    vector = _SIMPLEX.get(dist)
    if vector in values:
        a = values[vector]
        if a.ndim != 1 or a.size < 2 or (length is not None and a.size != length):
            n = f"{length} entries" if length is not None else "at least 2 entries"
            raise option_error(
                f"must be an array of {n} (one per component)", repr(prior[vector]), **at(vector)
            )
    try:
        rv = cls.dist(**{p: v.tolist() if v.ndim else float(v) for p, v in values.items()})
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise option_error(f"is not a valid {dist} prior: {exc}", **label) from None
    if not str(getattr(rv, "dtype", "")).startswith("float"):
        raise option_error(
            f"must name a continuous distribution (NUTS samples continuous variables); {dist} "
            "is not",
            **at("dist"),
        )
    return dict(prior)


def check_priors(
    priors: Mapping[str, Any] | None,
    allowed: set[str],
    *,
    lengths: Mapping[str, int] | None = None,
) -> dict[str, dict]:
    """Validate a builder's ``priors`` argument: known variables, each a valid prior.

    Parameters
    ----------
    priors : mapping of str to mapping, or None
        Variable name to prior (see :func:`check_prior`).
    allowed : set of str
        The variables of the model that take a prior.
    lengths : mapping of str to int, optional
        Number of components of the variables over components (e.g.
        ``{"weights": 2}``).

    Returns
    -------
    dict
        The priors as plain dicts (``{}`` for None).

    Raises
    ------
    SpecError
        Unknown variables (key ``priors.<var>``) or invalid priors (key
        ``priors.<var>.<param>``).
    """
    if priors is None:
        return {}
    if not isinstance(priors, Mapping):
        raise SpecError(
            f"'priors' must be a mapping of variable name to prior; got {priors!r}", key="priors"
        )
    out = {}
    for name, spec in priors.items():
        if name not in allowed:
            raise SpecError(
                f"'priors' has unknown variable {name!r}; choose from {sorted(allowed)}"
                + suggest(name, allowed),
                key=f"priors.{toml_key(name)}",
            )
        label = f"priors.{toml_key(name)}"
        out[name] = check_prior(spec, name=label, length=(lengths or {}).get(name))
    return out


def _kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "dist"}


def _check_scalar(name: str, spec: Mapping[str, Any], kwargs: Mapping[str, Any]) -> None:
    """Without ``shape``/``dims`` the variable is one number: so must every parameter be.

    An array parameter would silently turn the variable into a vector (a
    ``slope`` of shape (2,)), a different model from the one asked for.
    """
    if "shape" in kwargs or "dims" in kwargs or "size" in kwargs:
        return
    for param, value in _kwargs(spec).items():
        if np.ndim(value) > 0:
            raise option_error(
                f"must be a number: {name!r} is a single number in this model",
                repr(value),
                name=f"priors.{toml_key(name)}.{toml_key(param)}",
            )


def prior_rv(name: str, spec: Mapping[str, Any], **kwargs):
    """Register the prior ``spec`` as variable ``name`` in the current model.

    Without ``shape``/``dims`` in ``kwargs`` the variable is a scalar and an
    array-valued parameter is a SpecError naming ``priors.<name>.<param>``.
    """
    cls = _dist_class(spec["dist"], name=f"priors.{name}.dist")
    _check_scalar(name, spec, kwargs)
    return cls(name, **_kwargs(spec), **kwargs)


def prior_dist(name: str, spec: Mapping[str, Any], **kwargs):
    """Return the unregistered distribution of ``spec`` (for a prior on a derived quantity).

    Scalar unless ``kwargs`` gives a ``shape`` (see :func:`prior_rv`).
    """
    cls = _dist_class(spec["dist"], name=f"priors.{name}.dist")
    _check_scalar(name, spec, kwargs)
    return cls.dist(**_kwargs(spec), **kwargs)
