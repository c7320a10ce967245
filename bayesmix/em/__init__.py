"""Expectation-maximisation for Gaussian mixtures and extreme deconvolution (numpy only).

This subpackage never imports PyMC or PyTensor.
"""

from __future__ import annotations

from bayesmix.em._io import load
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.init import KMeansResult, kmeans, kmeans_plusplus
from bayesmix.em.selection import SelectionResult, select_n_components
from bayesmix.em.xd import XDGaussianMixture

__all__ = [
    "GaussianMixture",
    "KMeansResult",
    "SelectionResult",
    "XDGaussianMixture",
    "kmeans",
    "kmeans_plusplus",
    "load",
    "select_n_components",
]
