"""Log terms of :func:`~bayesmix.builders.cluster_field`: one formula for both backends.

:class:`ClusterTerms` holds what the terms need besides the data and the
parameter values; calling it returns the log weights and the cluster and
field log-densities of every star (numpy when scoring objects from posterior
draws, or PyTensor); mixing them is left to :mod:`bayesmix.components.mixture`.
Inside the PyMC model the same likelihood is one fused pass over the stars:
:meth:`ClusterTerms.fused_layout` and :meth:`ClusterTerms.fused_args` give it
the cluster's Gaussian (and Plummer) parameters and the field's terms from
the same helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesmix.components import get_backend
from bayesmix.components.beta import Beta
from bayesmix.components.edsd import EDSDParallax
from bayesmix.components.gaussian import MultivariateGaussian
from bayesmix.components.gmm import GaussianMixtureDensity
from bayesmix.components.plummer import Plummer
from bayesmix.components.uniform import Uniform
from bayesmix.sky import Footprint, tangent_plane

__all__ = ["ClusterTerms", "ClusterVariant", "sky_data"]


def sky_data(fp: Footprint, ra: np.ndarray, dec: np.ndarray) -> dict[str, np.ndarray]:
    """Tangent-plane coordinates (deg) and the field's sky log-density of each star."""
    xi, eta, _ = fp.project(ra, dec)
    return {
        "sky_xi": np.asarray(xi, dtype=float),
        "sky_eta": np.asarray(eta, dtype=float),
        "sky_field": fp.field_logp(ra, dec),
    }


@dataclass(frozen=True)
class ClusterVariant:
    """The checked variant of a :func:`~bayesmix.builders.cluster_field` model.

    Attributes
    ----------
    features : tuple of str
        The ``features`` given (sky included).
    xfeat : tuple of str
        Features of the Gaussian part ``X`` (the sky is separate).
    kind : {"pm", "parallax", "astrometric", "full"}
        Proper motions only; parallax only; (parallax, pmra, pmdec[, rv]); the
        full model (sky + astrometry).
    field, field_fit, cluster_cov : str
        As the builder's arguments.
    n_field : int
        Gaussians of a ``gmm`` field (``field_components``).
    zero_point : float or "free"
        Parallax zero-point (mas) or ``"free"`` (the ``zero_point`` variable).
    """

    features: tuple[str, ...]
    xfeat: tuple[str, ...]
    kind: str
    field: str
    field_fit: str
    cluster_cov: str
    n_field: int
    zero_point: float | str

    @property
    def fixed_field(self) -> bool:
        """Whether the field has no free parameters (so it is computed once per star)."""
        return (self.field == "gmm" and self.field_fit == "xd") or self.field == "uniform"


@dataclass(frozen=True, eq=False)
class ClusterTerms:
    """The cluster and field log terms of one :func:`~bayesmix.builders.cluster_field` model.

    Attributes
    ----------
    variant : ClusterVariant
        Which model (features, field, covariance, zero point).
    field_params : FieldFit or None
        The fixed XD field (``field_fit="xd"``).
    field_range : (lower, upper) or None
        Box of a ``uniform`` field or range of a ``beta`` field.
    tangent_point : (ra, dec) or None
        Tangent point of the footprint (full model).
    region : PlaneRegion or None
        The footprint on the tangent plane (full model).
    edsd_nodes : int, default 96
        Quadrature nodes of the EDSD field.
    """

    variant: ClusterVariant
    field_params: Mapping[str, Any] | None = None
    field_range: tuple[list[float], list[float]] | None = None
    tangent_point: tuple[float, float] | None = None
    region: Any = None
    edsd_nodes: int = 96

    def __call__(
        self, values: Mapping[str, Any], data: Mapping[str, Any], *, backend: str = "numpy"
    ) -> tuple[Any, list[Any]]:
        """Return ``(log weights, [cluster logp, field logp])`` (shape (..., n_objects) each).

        Parameters
        ----------
        values : mapping of str to array
            Model variables, each with the same leading batch axes (draws) or
            PyTensor variables.
        data : mapping of str to array
            ``X``, ``X_cov`` and what the variant needs (``sky_xi``/``sky_eta``,
            ``sky_field``, ``window_lo``/``window_hi``, ``field_fixed``).
        backend : {"numpy", "pytensor"}
        """
        b = get_backend(backend)
        cluster = self._cluster_logp(values, data, b)
        if "field_fixed" in data:
            field = data["field_fixed"]  # a field without free parameters, computed once
        else:
            field = self._field_logp(values, data, b)
            if self.variant.kind == "full":
                field = field + data["sky_field"]
        return b.log(values["weights"]), [cluster, field]

    def fixed_field(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-density of each star under a field without free parameters (XD fit or uniform)."""
        field = np.asarray(self._field_logp({}, data, get_backend("numpy")), dtype=float)
        if self.variant.kind == "full":
            field = field + data["sky_field"]
        return field

    def _zero_point(self, values, b):
        zp = self.variant.zero_point
        return b.as_tensor(values["zero_point"] if zp == "free" else zp)

    def _cluster_gaussian(self, values, b):
        """Return the cluster's mean (..., D) and intrinsic covariance (..., D, D)."""
        feats = self.variant.xfeat
        D = len(feats)
        eye = np.eye(D)
        if self.variant.kind == "parallax":
            mean = (b.as_tensor(values["cluster_parallax"]) + self._zero_point(values, b))[
                ..., None
            ]
            disp = b.as_tensor(values["cluster_parallax_dispersion"])
            return mean, b.square(disp)[..., None, None] * eye
        if self.variant.kind in ("astrometric", "full"):
            # (parallax, pmra, pmdec[, radial_velocity]): joint error covariance; intrinsic
            # covariance diag(parallax dispersion^2, pm dispersion^2 (x2)[, rv dispersion^2])
            zp = b.as_tensor(self.variant.zero_point)
            parts = [
                b.as_tensor(values["cluster_parallax"]) + zp,
                b.as_tensor(values["cluster_pmra"]),
                b.as_tensor(values["cluster_pmdec"]),
            ]
            sp2 = b.square(b.as_tensor(values["cluster_parallax_dispersion"]))[..., None, None]
            sm2 = b.square(b.as_tensor(values["cluster_pm_dispersion"]))[..., None, None]
            pick = np.zeros((3, D, D))
            pick[0, 0, 0] = 1.0
            pick[1, 1, 1] = pick[1, 2, 2] = 1.0
            cov = sp2 * pick[0] + sm2 * pick[1]
            if "radial_velocity" in feats:
                parts.append(b.as_tensor(values["cluster_radial_velocity"]))
                pick[2, 3, 3] = 1.0
                sr2 = b.square(b.as_tensor(values["cluster_radial_velocity_dispersion"]))
                cov = cov + sr2[..., None, None] * pick[2]
            return b.stack(parts, axis=-1), cov
        mean = b.stack([b.as_tensor(values[f"cluster_{f}"]) for f in feats], axis=-1)
        if self.variant.cluster_cov == "full":
            L = values["cluster_chol"]
            return mean, (L @ L.swapaxes(-1, -2) if b.name == "numpy" else L @ L.mT)
        disp = b.as_tensor(values["cluster_pm_dispersion"])
        return mean, b.square(disp)[..., None, None] * eye

    def _cluster_logp(self, values, data, b):
        """Cluster: a Gaussian convolved with each star's errors (times Plummer on the sky)."""
        mean, cov = self._cluster_gaussian(values, b)
        gauss = MultivariateGaussian(len(self.variant.xfeat))
        cluster = gauss.logp(
            data["X"],
            {"mean": mean[..., None, :], "cov": cov[..., None, :, :], "error_cov": data["X_cov"]},
            backend=b,
        )
        if self.variant.kind == "full":
            cluster = cluster + self._sky_cluster_logp(values, data, b)
        return cluster

    def _sky_center(self, values, b):
        """Return the cluster's centre on the tangent plane (deg), shape (..., 2)."""
        ra0, dec0 = self.tangent_point
        xi_c, eta_c, _ = tangent_plane(
            values["cluster_ra"], values["cluster_dec"], ra0, dec0, backend=b
        )
        return b.stack([b.as_tensor(xi_c), b.as_tensor(eta_c)], axis=-1)

    def _sky_cluster_logp(self, values, data, b):
        """Plummer profile on the footprint's tangent plane, normalised over the footprint."""
        center = self._sky_center(values, b)[..., None, :]
        y = b.stack([b.as_tensor(data["sky_xi"]), b.as_tensor(data["sky_eta"])], axis=-1)
        radius = b.as_tensor(values["cluster_radius"])[..., None]
        return Plummer(region=self.region).logp(y, {"center": center, "radius": radius}, backend=b)

    def fused_layout(self) -> Any:
        """Return the components of the fused likelihood (a ``FusedLayout``).

        The cluster is a Gaussian (times a Plummer profile in the full model); the field is
        one fixed per-object term (XD fit or uniform box, with the sky density in the full
        model), a free Gaussian mixture flattened into its Gaussians (each with the sky
        density as a shared fixed term in the full model), or a per-object term computed
        in the graph (Beta, EDSD).
        """
        from bayesmix.components.fused import FusedLayout

        v = self.variant
        cluster = ("gaussian", "plummer") if v.kind == "full" else ("gaussian",)
        rows = None
        if v.fixed_field:
            field: tuple = (("fixed",),)
        elif v.field == "gmm":
            sky = ("fixed",) if v.kind == "full" else ()
            field = (("gaussian", *sky),) * v.n_field
            rows = (0,) * v.n_field if sky else None
        else:
            field = (("extra",),)
        return FusedLayout(
            (cluster, *field), n_features=len(v.xfeat), error_cov=True, fixed_rows=rows
        )

    def fused_args(self, values: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments of :func:`~bayesmix.components.fused_op.fused_mixture_logp` (PyTensor).

        Parameters
        ----------
        values : mapping of str to tensor
            The model variables (as :meth:`__call__` reads them).
        data : mapping of str to tensor
            Feature-major data: ``X`` (D, N), ``X_cov`` (D, D, N), and per star (N,) what
            the variant needs (``field_fixed``; ``sky_xi``, ``sky_eta``, ``sky_field``;
            ``window_lo``, ``window_hi``).

        Returns
        -------
        dict
            ``log_weights``, ``X``, ``error_cov``, ``mean``, ``cov`` and, as the layout
            needs them, ``sky``, ``center``, ``radius`` (the Plummer profile's mass inside
            the footprint divided out of the cluster's weight), ``fixed``, ``extra``.
        """
        import pytensor.tensor as pt

        b = get_backend("pytensor")
        v = self.variant
        lw = b.log(values["weights"])
        mean, cov = self._cluster_gaussian(values, b)
        lws, means, covs = [lw[0][None]], [mean[None, :]], [cov[None, :, :]]
        args: dict[str, Any] = {"X": data["X"], "error_cov": data["X_cov"]}
        if v.kind == "full":
            center = self._sky_center(values, b)
            radius = values["cluster_radius"]
            lws[0] = lws[0] - self.region.plummer_log_mass(center, radius, backend=b)
            args.update(sky=(data["sky_xi"], data["sky_eta"]), center=center, radius=radius)
        if v.fixed_field:
            lws.append(lw[1][None])
            args["fixed"] = data["field_fixed"][None, :]
        elif v.field == "gmm":
            L = values["field_chol"]
            lws.append(lw[1] + b.log(values["field_weights"]))
            means.append(values["field_means"])
            covs.append(L @ L.mT)
            if v.kind == "full":
                args["fixed"] = data["sky_field"][None, :]
        else:
            # Beta or EDSD: the graph computes it per star (object-major views of the data)
            om = {**data, "X": data["X"].T, "X_cov": data["X_cov"].transpose(2, 0, 1)}
            lws.append(lw[1][None])
            args["extra"] = self._field_logp(values, om, b)[None, :]
        args["log_weights"] = pt.concatenate(lws)
        args["mean"] = pt.concatenate(means)
        args["cov"] = pt.concatenate(covs)
        return args

    def _field_logp(self, values, data, b):
        """Field: Gaussian mixture (XD fit or free), uniform box, Beta or EDSD."""
        kind = self.variant.field
        X, C = data["X"], data["X_cov"]
        D = len(self.variant.xfeat)
        if kind == "gmm":
            comp = GaussianMixtureDensity(D, self.variant.n_field)
            if self.variant.field_fit == "xd":
                ff = self.field_params
                params = {
                    "weights": np.asarray(ff["weights"]),
                    "means": np.asarray(ff["means"]),
                    "covs": np.asarray(ff["covs"]),
                }
            else:
                L = values["field_chol"]
                params = {
                    "weights": values["field_weights"],
                    "means": values["field_means"],
                    "covs": L @ L.swapaxes(-1, -2) if b.name == "numpy" else L @ L.mT,
                }
            return comp.logp(X, {**params, "error_cov": C}, backend=b)
        if kind == "uniform":
            lo, hi = self.field_range
            return Uniform(n_features=D).logp(
                X, {"lower": np.asarray(lo), "upper": np.asarray(hi)}, backend=b
            )
        plx = X[..., 0]
        if kind == "beta":
            lo, hi = self.field_range
            return Beta().logp(
                plx,
                {
                    "alpha": b.as_tensor(values["field_alpha"])[..., None],
                    "beta": b.as_tensor(values["field_beta"])[..., None],
                    "lower": lo[0],
                    "upper": hi[0],
                },
                backend=b,
            )
        # edsd
        params = {
            "length_scale": b.as_tensor(values["field_length_scale"])[..., None],
            "zero_point": self._zero_point(values, b)[..., None],
            "error_var": C[..., 0, 0],
        }
        if "window_lo" in data:
            params["window_lo"], params["window_hi"] = data["window_lo"], data["window_hi"]
        return EDSDParallax(n_nodes=self.edsd_nodes).logp(plx, params, backend=b)
