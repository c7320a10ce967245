"""Mixture components: log-densities written once, evaluated with numpy or PyTensor.

Each component is a frozen dataclass with ``logp(y, params, *, backend)``;
:mod:`bayesmix.components.mixture` combines them with the mixing weights.
"""

from __future__ import annotations

from bayesmix.components._backend import Backend, get_backend
from bayesmix.components.base import Component
from bayesmix.components.beta import Beta
from bayesmix.components.edsd import EDSDDistance, EDSDParallax, edsd_window
from bayesmix.components.gaussian import Gaussian, MultivariateGaussian
from bayesmix.components.gmm import GaussianMixtureDensity
from bayesmix.components.mixture import log_joint, log_responsibilities, mixture_logp
from bayesmix.components.plummer import Plummer
from bayesmix.components.uniform import Uniform

__all__ = [
    "Backend",
    "Beta",
    "Component",
    "EDSDDistance",
    "EDSDParallax",
    "Gaussian",
    "GaussianMixtureDensity",
    "MultivariateGaussian",
    "Plummer",
    "Uniform",
    "edsd_window",
    "get_backend",
    "log_joint",
    "log_responsibilities",
    "mixture_logp",
]
