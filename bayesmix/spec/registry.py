"""What each ``[builder].name`` runs, with its options read from the function itself.

A spec names an analysis in ``[builder].name``.  For the Bayesian builders and
the GPz tools the spec runs a function below this layer, and everything a user
may write under ``[builder]`` comes from that function:

- option names and defaults from :func:`inspect.signature` (keyword arguments,
  minus the few the spec fills from elsewhere: ``priors`` from ``[priors]``,
  ``ids`` from ``[data].ids``, ``rng`` from ``seed``, ...);
- choice sets from the public ``CHOICES`` dict of the module where the
  function is defined (``sys.modules[fn.__module__].CHOICES``);
- types from the annotations (``int``, ``float``, ``bool``, ``str``, ...);
- one line of documentation per option from the function's numpydoc
  ``Parameters`` section;
- the columns (``[data.columns]``): the array arguments of a builder taking
  arrays (``x``, ``y_err``; upper-case ``X`` takes a list of columns), or any
  Gaia name for a builder taking a table (``cluster_field``).

What a signature cannot say is stated once here: lower bounds (``_LIMITS``, by
argument name, which means the same in every function) and keys with their own
syntax (``_SPECIAL``).  The EM kind ``gmm`` runs a workflow above this layer,
so its keys are declared here (``_gmm_options``);
the workflow can read their defaults from ``BUILDERS["gmm"].defaults``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from bayesmix._validate import option_error
from bayesmix.exceptions import SpecError
from bayesmix.spec.schema import NO_DEFAULT, Key, Section

__all__ = [
    "BUILDERS",
    "SAMPLERS",
    "Builder",
    "available_builders",
    "builder",
    "builder_names",
    "choices_of",
]


@dataclass(frozen=True)
class Builder:
    """What a ``[builder].name`` means: its kind, options, columns and where it comes from.

    Attributes
    ----------
    name : str
        The value of ``[builder].name``.
    kind : str
        ``"bayes"``, ``"em"``, ``"gpz_weights"`` or ``"gpz_divide"``.
    description : str
        One line.
    target : str
        The function the spec runs (``module:function``), for the docs.
    options : Section
        The keys of ``[builder]`` besides ``name``.
    columns : Section or None
        The keys of ``[data.columns]``; None: any key names a column (the
        builder takes a table with Gaia names, e.g. ``pmra = "pm_ra"``).
    priors : bool
        ``[priors]`` applies.
    n_components : int or None
        Number of mixture components when fixed by the builder (the length of a
        Dirichlet ``weights`` prior); None when an option gives it.
    """

    name: str
    kind: str
    description: str
    target: str
    options: Section
    columns: Section | None
    priors: bool
    n_components: int | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """The default of every option that has one."""
        return {k.name: k.default for k in self.options.keys if k.default is not NO_DEFAULT}


# --------------------------------------------------------------------------------------------
# what a signature cannot say
# --------------------------------------------------------------------------------------------

_POSITIVE = {"minimum": 0.0, "exclusive_minimum": True}
#: bounds by argument name (the same name means the same thing in every function)
_LIMITS: dict[str, dict[str, Any]] = {
    "n_components": {"minimum": 1},
    "field_components": {"minimum": 1},
    "n_init": {"minimum": 1},
    "max_iter": {"minimum": 1},
    "tol": _POSITIVE,
    "max_weight": _POSITIVE,
    "min_weight": _POSITIVE,
    "eta": _POSITIVE,
    "bandwidth": _POSITIVE,
    "field_min_separation": _POSITIVE,
    "threshold": {**_POSITIVE, "maximum": 1.0, "exclusive_maximum": True},
    "ess_floor": {"minimum": 0.0, "maximum": 1.0, "exclusive_maximum": True},
}


def _zero_point(value: Any, key: str) -> float | str:
    if value == "free":
        return "free"
    if isinstance(value, str):
        raise option_error("must be a number (mas) or 'free'", repr(value), key=key)
    return Key("zero_point", "number").check(value, key)


def _footprint(value: Any, key: str) -> dict[str, Any]:
    from bayesmix.sky import Footprint

    try:
        return Footprint.parse(value).to_dict()
    except SpecError as exc:
        raise SpecError(f"{key} is invalid: {exc}", key=key) from None


_NUMBER_OR_FREE = {"anyOf": [{"type": "number"}, {"const": "free"}], "title": 'number or "free"'}
_FOOTPRINT = {
    "type": "object",
    "title": 'table {kind = "cone", ra, dec, radius} or {kind = "box", ra = [..], dec = [..]}',
    "properties": {
        "kind": {"enum": ["box", "cone"]},
        "ra": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]},
        "dec": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]},
        "radius": {"type": "number", "exclusiveMinimum": 0},
    },
    "required": ["kind", "ra", "dec"],
    "additionalProperties": False,
}
#: keys with a syntax of their own, or a meaning their annotation does not carry
_SPECIAL: dict[str, dict[str, Any]] = {
    "outlier_range": {"type": "range"},
    "zero_point": {"type": "custom", "parse": _zero_point, "json": _NUMBER_OR_FREE},
    "footprint": {"type": "custom", "parse": _footprint, "json": _FOOTPRINT},
    # the builder checks the features tuple against CHOICES["features"] (its message names
    # the key, "[builder].features: ..."); the spec checks the syntax only
    "features": {"type": "strings"},
}
#: annotation (without "| None") -> key type
_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "Sequence[str]": "strings",
    "tuple[str, ...]": "strings",
    "tuple[float, float]": "numbers",
    "tuple[str, str]": "strings",
    "ArrayLike": "numbers",
}

#: arguments whose choice set is a constant of the module owning the concept
_CONSTANTS = {
    "covariance_type": ("bayesmix.em", "COVARIANCE_TYPES"),
    "sampler": ("bayesmix.inference", "SAMPLERS"),
    "criterion": ("bayesmix.em", "CRITERIA"),
    "assign": ("bayesmix.gpz", "ASSIGN_RULES"),
}
#: NUTS implementations ``[sampler].sampler`` accepts: ``bayesmix.inference.SAMPLERS`` when
#: that module exposes it, else the choices of :func:`bayesmix.inference.sample` stated here
#: (tests check them against its docstring and its own check)
SAMPLERS: tuple[str, ...] = tuple(
    getattr(importlib.import_module("bayesmix.inference"), "SAMPLERS", ("nutpie", "pymc"))
)
# Choice sets whose modules do not expose them yet as public constants; each entry goes when
# its module does (a module's own CHOICES or constant comes first).
_PENDING_CHOICES: dict[str, dict[str, tuple]] = {
    "bayesmix.inference": {"sampler": SAMPLERS},
}


def choices_of(module: str, argument: str) -> tuple:
    """Return the allowed values of ``argument`` of a function defined in ``module``.

    The module's ``CHOICES[argument]`` if it has one, else the public constant
    of the module owning the concept (``bayesmix.em.COVARIANCE_TYPES``,
    ``bayesmix.em.CRITERIA``, ``bayesmix.gpz.ASSIGN_RULES``), else ``()``
    (no fixed choices).
    """
    found = getattr(importlib.import_module(module), "CHOICES", {}).get(argument)
    if found is None and argument in _CONSTANTS:
        owner, constant = _CONSTANTS[argument]
        found = getattr(importlib.import_module(owner), constant, None)
    if found is None:
        found = _PENDING_CHOICES.get(module, {}).get(argument)
    return tuple(found) if found is not None else ()


# --------------------------------------------------------------------------------------------
# reading a function
# --------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^([A-Za-z_][\w, ]*?)\s*(?::\s*(.*))?$")


def _parameter_docs(obj: Any) -> dict[str, str]:
    """First sentence of each parameter's description in ``obj``'s numpydoc docstring."""
    doc = inspect.getdoc(obj) or ""
    part = doc.partition("Parameters\n----------\n")[2]
    part = re.split(r"\n[A-Z][A-Za-z ]+\n-{3,}\n", part)[0]
    out: dict[str, str] = {}
    names: list[str] = []
    for line in part.splitlines():
        if line and not line[0].isspace():
            m = _HEADER.match(line)
            names = [n.strip() for n in m.group(1).split(",")] if m else []
            for n in names:
                out.setdefault(n, "")
        elif line.strip():
            for n in names:
                out[n] = f"{out[n]} {line.strip()}".strip()
    return {n: _first_sentence(t) for n, t in out.items()}


_ABBREVIATIONS = ("e.g.", "i.e.", "cf.", "vs.", "et al.", "eq.", "Eq.")


def _first_sentence(text: str) -> str:
    """Return the first sentence of ``text``, reST roles and literals as Markdown code."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    for i, abbr in enumerate(_ABBREVIATIONS):
        text = text.replace(abbr, f"\0{i}\0")
    m = re.match(r"(.+?\.)(\s|$)", text)
    text = m.group(1) if m else text
    for i, abbr in enumerate(_ABBREVIATIONS):
        text = text.replace(f"\0{i}\0", abbr)
    return text


def _base_annotation(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    parts = [p.strip() for p in text.split("|") if p.strip() != "None"]
    return " | ".join(parts)


def _option_key(name: str, param: inspect.Parameter, module: str, doc: str) -> Key:
    """Return the Key of option ``name``: its parameter, its module's choices, the tables."""
    default = NO_DEFAULT if param.default is inspect.Parameter.empty else param.default
    spec: dict[str, Any] = {"type": _TYPES.get(_base_annotation(param.annotation))}
    choices = choices_of(module, name)
    if choices:
        spec = {"type": "choice", "choices": choices}
    spec.update(_LIMITS.get(name, {}))
    if name in _SPECIAL:
        spec = {**_LIMITS.get(name, {}), **_SPECIAL[name]}
    if spec["type"] is None:
        raise TypeError(
            f"{module}: option {name!r} has annotation {param.annotation!r}, which the spec "
            "registry cannot check; add it to _TYPES or _SPECIAL"
        )
    if spec["type"] in ("numbers", "strings") and "tuple[" in str(param.annotation):
        spec.setdefault("length", str(param.annotation).count(",") + 1)
    required = default is NO_DEFAULT
    default = tuple(default) if isinstance(default, list) else default
    return Key(name, doc=doc, default=default, required=required, **spec)


@dataclass(frozen=True)
class _Entry:
    kind: str
    target: str  # "module:function" (the public import path)
    description: str
    columns: str = "none"  # "arguments" | "table" | "none"
    exclude: tuple[str, ...] = ()  # arguments the spec fills from elsewhere
    include: tuple[str, ...] | None = None  # only these arguments (what the runner passes)
    docs: tuple[str, ...] = ()  # further objects to read option docs from ("As for ...")
    n_components: int | None = None  # until the builder module exposes LABELS
    # defaults of the spec that differ from the function's, each with its reason
    defaults: tuple[tuple[str, Any], ...] = ()


_GPZ_DOCS = (
    "bayesmix.gpz:GPzAugment",
    "bayesmix.gpz.weights:check_weight_options",
    "bayesmix.em:GaussianMixture",
)
_GPZ = ("n_components", "n_init", "tol", "scale", "covariance_type")
_GPZ += ("ratio", "regularise", "max_weight", "min_weight", "eta", "ess_floor", "error_prefix")


def _bayes(name: str, description: str, **fields: Any) -> tuple[str, _Entry]:
    """Return the entry of Bayesian builder ``name`` of :mod:`bayesmix.builders`.

    Its ``priors`` argument is filled from ``[priors]``, not ``[builder]``.
    """
    exclude = ("priors", *fields.pop("exclude", ()))
    target = f"bayesmix.builders:{name}"
    return name, _Entry("bayes", target, description, exclude=exclude, **fields)


_ENTRIES: dict[str, _Entry] = {
    **dict(
        (
            _bayes(
                "line_outlier",
                "straight line plus outliers (Hogg, Bovy & Lang 2010)",
                columns="arguments",
                exclude=("ids",),
                n_components=2,
            ),
            # X_cov: per-object (n, d, d) covariances have no column mapping; use X_err
            _bayes(
                "gaussian_mixture",
                "Bayesian Gaussian mixture (deconvolving per-object errors)",
                columns="arguments",
                exclude=("ids", "X_cov"),
            ),
            # columns: [data.columns] (Gaia name = column); rng: the spec's seed
            _bayes(
                "cluster_field",
                "star cluster plus field (Gaia astrometry)",
                columns="table",
                exclude=("columns", "rng"),
                n_components=2,
            ),
        )
    ),
    "gpz_weights": _Entry(
        "gpz_weights",
        "bayesmix.gpz:gpz_weights_table",
        "GPz cost-sensitive training weights",
        include=_GPZ,
        docs=_GPZ_DOCS,
    ),
    "gpz_divide": _Entry(
        "gpz_divide",
        "bayesmix.gpz:gpz_divide_table",
        "GPz mixture divide",
        include=(*_GPZ, "threshold", "assign", "weight", "return_density"),
        docs=(*_GPZ_DOCS, "bayesmix.gpz:GPzAugment.divide"),
        # the spec writes gpz_pype's divide.csv, which has the p0..p{K-1} columns; the
        # Python function leaves them out unless asked
        defaults=(("return_density", True),),
    ),
}


def _gmm_options() -> Section:
    """``[builder]`` of ``name = "gmm"``: EM with BIC/AIC selection.

    Its runner lives in :mod:`bayesmix.workflows` (above this layer), so its keys
    and defaults are declared here, once; the choice sets come from :mod:`bayesmix.em`.
    """
    keys = (
        Key(
            "n_components",
            "candidates",
            "Numbers of components to fit; the criterion picks one.",
            default=(1, 2, 3, 4, 5, 6),
        ),
        Key(
            "criterion",
            "choice",
            "Model-selection criterion (BIC = -2 ln L + p ln n; AIC = -2 ln L + 2 p).",
            default="bic",
            choices=choices_of("bayesmix.em", "criterion"),
        ),
        Key(
            "covariance_type",
            "choice",
            "Shape of the component covariances.",
            default="full",
            choices=choices_of("bayesmix.em", "covariance_type"),
        ),
        Key("n_init", "integer", "EM restarts per candidate.", default=4, minimum=1),
        Key("max_iter", "integer", "Most EM iterations per restart.", default=500, minimum=1),
        Key("tol", "number", "EM tolerance on the mean log-likelihood.", default=1e-5, **_POSITIVE),
        Key(
            "order_by",
            "string",
            "Feature whose component means order the labels c0, c1, ... (default the first).",
        ),
    )
    return Section("[builder]", "Options of 'gmm' (EM with BIC/AIC selection).", keys)


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _columns(name: str, fn: Callable, entry: _Entry, docs: Mapping[str, str]) -> Section | None:
    """[data.columns] of a builder: its array arguments (positional ones required)."""
    if entry.columns == "table":
        return None
    keys = []
    if entry.columns == "arguments":
        for p in inspect.signature(fn).parameters.values():
            if p.name in entry.exclude or "ArrayLike" not in str(p.annotation):
                continue
            many = p.name[0].isupper()  # X: a matrix (a list of columns); x: one column
            what = "the columns holding" if many else "the column holding"
            keys.append(
                Key(
                    p.name,
                    "strings" if many else "string",
                    f"{what} {p.name!r}: {docs.get(p.name, '')}".strip(),
                    required=p.default is inspect.Parameter.empty,
                    # one error column may serve several features; a feature column may not
                    unique=not p.name.endswith("_err"),
                )
            )
    return Section("[data.columns]", f"Builder argument = column, for {name!r}.", tuple(keys))


@cache
def _build(name: str) -> Builder:
    if name == "gmm":
        return Builder(
            "gmm",
            "em",
            "EM Gaussian mixtures with BIC/AIC selection",
            "bayesmix.em:select_n_components",
            _gmm_options(),
            Section("[data.columns]", "", ()),
            priors=False,
        )
    entry = _ENTRIES[name]
    fn = _resolve(entry.target)
    module = fn.__module__
    docs = _parameter_docs(fn)
    for extra in entry.docs:
        for k, v in _parameter_docs(_resolve(extra)).items():
            if not docs.get(k) or docs[k].startswith("As for"):
                docs[k] = v
    keys = []
    params = inspect.signature(fn).parameters
    for p in params.values():
        array = entry.columns == "arguments" and "ArrayLike" in str(p.annotation)
        positional_data = entry.columns == "table" and p.kind is p.POSITIONAL_OR_KEYWORD
        skip = p.name in entry.exclude or array or positional_data
        if entry.include is not None:
            skip = p.name not in entry.include
        if not skip:
            default = dict(entry.defaults).get(p.name, p.default)
            p = p.replace(default=default)
            keys.append(_option_key(p.name, p, module, docs.get(p.name, "")))
    if entry.include is not None:  # in the entry's order, not the signature's
        keys.sort(key=lambda k: entry.include.index(k.name))
    return Builder(
        name,
        entry.kind,
        entry.description,
        entry.target,
        Section("[builder]", f"Options of {name!r} ({entry.target}).", tuple(keys)),
        _columns(name, fn, entry, docs),
        priors=entry.kind == "bayes",
        # the builder's public LABELS (its components) when it has them
        n_components=len(getattr(sys.modules[module], "LABELS", ())) or entry.n_components,
    )


def _installed(name: str) -> bool:
    """Tell whether a builder can be named (without importing it: listing names is cheap)."""
    if name not in _ENTRIES:
        return name == "gmm"
    module = _ENTRIES[name].target.partition(":")[0]
    if module.startswith("bayesmix."):
        return True  # part of this package
    try:
        _resolve(_ENTRIES[name].target)
    except (ImportError, AttributeError):
        return False
    return True


class _Registry(Mapping[str, Builder]):
    """Builders by name, each read from its function on first use."""

    def __getitem__(self, name: str) -> Builder:
        if name not in self._names():
            raise KeyError(name)
        return _build(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @staticmethod
    def _names() -> tuple[str, ...]:
        return ("line_outlier", "gaussian_mixture", "gmm", "gpz_weights", "gpz_divide")


#: The builders known to every spec, by ``[builder].name`` (read lazily from the functions);
#: :func:`available_builders` adds ``cluster_field`` when it can be imported.
BUILDERS: Mapping[str, Builder] = _Registry()


def available_builders() -> dict[str, Builder]:
    """Builders a spec may name: :data:`BUILDERS` plus ``cluster_field`` when installed."""
    out = dict(BUILDERS)
    if _installed("cluster_field"):
        out["cluster_field"] = _build("cluster_field")
    return out


def builder(name: str) -> Builder:
    """Return the builder ``name`` (KeyError when it is unknown or not installed)."""
    if name in BUILDERS or (name == "cluster_field" and _installed(name)):
        return _build(name)
    raise KeyError(name)


def builder_names() -> list[str]:
    """Sorted names a spec may give in ``[builder].name`` (imports no builder)."""
    names = [*BUILDERS, *(["cluster_field"] if _installed("cluster_field") else [])]
    return sorted(names)
