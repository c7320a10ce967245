"""bayesmix: mixture models for astronomy.

Two inference paths share one vocabulary of mixture components:

- the Bayesian path (PyMC builders, NUTS sampling, Monte Carlo membership
  probabilities averaged over posterior draws with logsumexp);
- the point-estimate path (EM for Gaussian mixtures and extreme deconvolution),
  which also drives the GPz training-set tools.

PyMC-backed names are resolved lazily so that ``import bayesmix`` and the EM
path start fast and never import PyMC.
"""

from __future__ import annotations

import importlib

from bayesmix import _lazy_placeholders

__version__ = "0.1.0"

# arviz_base's lazy ``jax``/``numpyro`` placeholders would import JAX (~0.8 s) whenever
# astropy or matplotlib scans sys.modules; see bayesmix._lazy_placeholders
_lazy_placeholders.install()

# public name -> module that defines it (imported on first access)
_LAZY = {
    "GaussianMixture": "bayesmix.em",
    "XDGaussianMixture": "bayesmix.em",
    "kmeans": "bayesmix.em",
    "select_n_components": "bayesmix.em",
    "sample": "bayesmix.inference",
    "find_map": "bayesmix.inference",
    "Fit": "bayesmix.inference",
    "membership": "bayesmix.membership",
    "MixtureModel": "bayesmix.builders",
    "line_outlier": "bayesmix.builders",
    "cluster_field": "bayesmix.builders",
    "gaussian_mixture": "bayesmix.builders",
}
_SUBMODULES = {
    "builders",
    "components",
    "datasets",
    "em",
    "exceptions",
    "gpz",
    "inference",
    "io",
    "membership",
    "plot",
    "scale",
    "testing",
    "workflows",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"bayesmix.{name}")
    raise AttributeError(f"module 'bayesmix' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY, *_SUBMODULES])
