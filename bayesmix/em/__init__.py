"""Expectation-maximisation for Gaussian mixtures and extreme deconvolution (numpy only).

This subpackage never imports PyMC or PyTensor.  :mod:`bayesmix.em.blocks` is
the public protocol for fits over data held in blocks (what
:mod:`bayesmix.scale` feeds); :mod:`bayesmix.em.statistics` holds its records.
"""

from __future__ import annotations

from bayesmix.em._base import INITS, NAN_POLICIES
from bayesmix.em._covariance import COVARIANCE_TYPES
from bayesmix.em._io import from_arrays, load, to_arrays
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.init import KMeansResult, kmeans, kmeans_plusplus
from bayesmix.em.selection import (
    CRITERIA,
    SelectionResult,
    compare_candidates,
    select_n_components,
)
from bayesmix.em.xd import XDGaussianMixture

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "INITS",
    "NAN_POLICIES",
    "GaussianMixture",
    "KMeansResult",
    "SelectionResult",
    "XDGaussianMixture",
    "compare_candidates",
    "from_arrays",
    "kmeans",
    "kmeans_plusplus",
    "load",
    "select_n_components",
    "to_arrays",
]
