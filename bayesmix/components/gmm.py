"""Gaussian-mixture component (e.g. a cluster's field), deconvolved by per-object errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from bayesmix.components._backend import Backend, get_backend
from bayesmix.components.gaussian import MultivariateGaussian

__all__ = ["GaussianMixtureDensity"]


@dataclass(frozen=True)
class GaussianMixtureDensity:
    r"""A K-component Gaussian mixture used as *one* mixture component.

    The field population around a star cluster is not Gaussian; a Gaussian
    mixture (fixed from an extreme-deconvolution fit, or with free parameters)
    describes it, and enters the cluster/field mixture as a single component.

    Parameters
    ----------
    n_features : int
        Dimension D (1 or 2 use closed forms, see :class:`MultivariateGaussian`).
    n_components : int
        Number K of Gaussians in the field mixture.

    Notes
    -----
    Parameters read from ``params`` (the mapping given to ``logp``):

    weights : array-like of shape (..., K)
        Weights of the Gaussians, summing to 1.
    means : array-like of shape (..., K, D)
        Means (units of ``y``, e.g. mas/yr).
    covs : array-like of shape (..., K, D, D)
        Intrinsic (deconvolved) covariances.
    error_cov : array-like of shape (n_objects, D, D), optional
        Measurement covariance of each object; default 0.

    .. math:: \ln p(y_n) = \operatorname{logsumexp}_k\left[\ln \omega_k
              + \ln\mathcal N(y_n \mid \mu_k, V_k + C_n)\right]

    ``y`` has shape (n_objects, D).  Nothing is exponentiated before the
    logsumexp, so distant objects keep finite log-densities.

    References
    ----------
    Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, Ann. Appl. Stat. 5, 1657.
    """

    n_features: int
    n_components: int
    parameters: ClassVar[tuple[str, ...]] = ("weights", "means", "covs", "error_cov")

    def logp(self, y: Any, params: Mapping[str, Any], *, backend: str | Backend = "numpy") -> Any:
        """Return ``ln sum_k w_k N(y | mean_k, cov_k + error_cov)``, shape (..., n_objects)."""
        b = get_backend(backend)
        gauss = MultivariateGaussian(self.n_features)
        w, mu, cov = params["weights"], params["means"], params["covs"]
        terms = []
        for k in range(self.n_components):
            lp = gauss.logp(
                y,
                {
                    "mean": mu[..., k, None, :],
                    "cov": cov[..., k, None, :, :],
                    "error_cov": params.get("error_cov"),
                },
                backend=b,
            )
            terms.append(b.log(w[..., k, None]) + lp)
        if len(terms) == 1:
            return terms[0]
        if b.name == "pytensor":
            # few components: fold with elementwise logaddexp, which fuses into one loop
            out = terms[0]
            for t in terms[1:]:
                out = b.logaddexp(out, t)
            return out
        return b.logsumexp(b.stack(terms, axis=-1), axis=-1)
