"""Bayesian Gaussian mixture in 1..D dimensions, optionally deconvolving per-object errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayesmix._units import with_value_unit
from bayesmix._validate import check_covariances, check_errors, check_int, check_matrix
from bayesmix.builders._coords import make_coords, object_ids
from bayesmix.builders._likelihood import add_fused_likelihood, feature_major
from bayesmix.builders._model import ComponentSpec, MixtureModel, RowRecord
from bayesmix.builders._priors import check_priors, prior_dist, prior_rv
from bayesmix.components import get_backend
from bayesmix.components.gaussian import MultivariateGaussian
from bayesmix.exceptions import DataError, SpecError

__all__ = ["CHOICES", "gaussian_mixture"]

#: Allowed values of each fixed-choice argument of :func:`gaussian_mixture` (none: its
#: options are numbers, labels and priors); read by the spec registry.
CHOICES: dict[str, tuple] = {}


def _prepare(
    X, X_err, X_cov, user_ids, *, n_features: int | None = None, unit: str | None = None
) -> tuple[dict, np.ndarray, str | None]:
    """Validate mixture data; return ``{"X", ["X_cov"]}``, the object ids and X's unit.

    Quantities: ``X_err`` is converted to X's unit and ``X_cov`` to its square
    (``unit``: the unit the model was built in, for new rows).
    """
    X, rel, unit = with_value_unit(
        X, {"X_err": X_err, "X_cov": X_cov}, name="X", power={"X_cov": 2}, expected=unit
    )
    X_err, X_cov = rel["X_err"], rel["X_cov"]
    n = check_matrix(X, name="X", n_features=n_features, allow_nan=True).shape[0]
    ids = object_ids(user_ids, n)
    lab = None if user_ids is None else ids  # ids named in error messages
    X = check_matrix(X, name="X", n_features=n_features, ids=lab)
    d = X.shape[1]
    if X_err is not None and X_cov is not None:
        raise SpecError("give at most one of 'X_err' and 'X_cov'", key="X_cov")
    data = {"X": X}
    if X_err is not None:
        err = check_errors(X_err, shape=(n, d), name="X_err", ids=lab)
        data["X_cov"] = np.einsum("nd,de->nde", err**2, np.eye(d))
    elif X_cov is not None:
        cov = np.asarray(X_cov, dtype=np.float64)
        if d == 1 and cov.ndim == 1:
            cov = cov[:, None, None]
        data["X_cov"] = check_covariances(cov, n_objects=n, n_features=d, name="X_cov", ids=lab)
    return data, ids, unit


def _mixture_terms(
    values: Mapping[str, Any],
    data: Mapping[str, Any],
    *,
    backend: str,
    n_components: int,
    n_features: int,
) -> tuple[Any, list[Any]]:
    """Log weights and each component's log-density (one formula for both backends)."""
    b = get_backend(backend)
    comp = MultivariateGaussian(n_features)
    means = values["means"]  # (..., K, D)
    L = values["cov_chol"]  # (..., K, D, D)
    cov = L @ L.swapaxes(-1, -2) if b.name == "numpy" else L @ L.mT
    logps = []
    for k in range(n_components):
        params = {
            "mean": means[..., k, None, :],
            "cov": cov[..., k, None, :, :],
            "error_cov": data.get("X_cov"),
        }
        logps.append(comp.logp(data["X"], params, backend=b))
    return b.log(values["weights"]), logps


def gaussian_mixture(
    X: ArrayLike,
    n_components: int,
    *,
    X_err: ArrayLike | None = None,
    X_cov: ArrayLike | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    ids: Sequence | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> MixtureModel:
    r"""Build a Bayesian Gaussian mixture, deconvolving per-object errors if given.

    ``X_n ~ sum_k w_k N(mu_k, V_k + C_n)`` with ``C_n`` the measurement
    covariance of object n (zero without errors): the Bayesian counterpart of
    extreme deconvolution.  Labels are marginalised.

    Parameters
    ----------
    X : array-like of shape (n_objects, n_features) or (n_objects,)
        Data (any units, per feature).  A Quantity (one unit for every feature)
        is allowed: ``X_err`` is converted to its unit and ``X_cov`` to the unit's
        square (a unit that does not convert, or errors with a unit beside
        unit-less ``X``, is a ``DataError``); the unit is recorded in
        ``spec["unit"]`` and new rows are converted to it.
    n_components : int
        Number of components K, 1 <= K <= n_objects.
    X_err : array-like of shape (n_objects, n_features), optional
        Per-object standard deviations (independent errors).
    X_cov : array-like of shape (n_objects, n_features, n_features), optional
        Per-object error covariances (symmetric positive semi-definite).
        At most one of ``X_err`` and ``X_cov``.
    priors : mapping, optional
        Override priors by name: ``means`` (applied to every mean),
        ``sigma`` (scale distribution of each feature's standard deviation,
        given as the ``sd_dist`` of the LKJ prior), ``weights``.  Each a dict
        such as ``{"dist": "Normal", "mu": 0, "sigma": 5}``.
    ids : array-like of shape (n_objects,), optional
        Object ids (default 0..n_objects-1).
    labels : sequence of str, optional
        Component labels (default ``"0"``, ``"1"``, ...), in order of increasing
        mean of the first feature.

    Returns
    -------
    MixtureModel
        Variables ``weights`` (component), ``means`` (component, feature),
        ``cov_chol`` (``component``, ``feature``, ``feature_``), the Cholesky factor of each
        component's intrinsic covariance, and the observed ``X`` (feature-major: dims
        ``feature``, ``object``).

    Raises
    ------
    DataError
        Non-finite data, negative errors, covariances not positive
        semi-definite, shape mismatches, duplicate ids.
    SpecError
        ``n_components`` < 1 or > n_objects, both ``X_err`` and ``X_cov``,
        unknown prior names, wrong number of labels.

    Notes
    -----
    Identifiability: the means of the first feature are ordered
    (``mu_1,0 < mu_2,0 < ...``, PyMC's ordered transform), which removes the
    K! label permutations when the components differ along that axis.
    Priors (data-scaled, m and s the per-feature mean and standard deviation):
    ``means ~ N(m, 2 s)``; covariances ``LKJCholeskyCov(eta=2,
    sd_dist=HalfNormal(s))`` per component (``HalfNormal(s)`` on the standard
    deviation in 1-D); ``weights ~ Dirichlet(1, ..., 1)``.

    References
    ----------
    Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, "Extreme deconvolution",
    Ann. Appl. Stat. 5, 1657.
    Lewandowski, D., Kurowicka, D. & Joe, H. 2009, J. Multivar. Anal. 100, 1989 (LKJ).
    """
    import pymc as pm
    import pytensor.tensor as pt

    from bayesmix.components.fused import FusedLayout

    data, ids, unit = _prepare(X, X_err, X_cov, ids)
    Xv = data["X"]
    n, d = Xv.shape
    K = check_int(n_components, name="n_components", minimum=1, maximum=n)
    if labels is None:
        labels = tuple(str(k) for k in range(K))
    labels = tuple(str(lab) for lab in labels)
    if len(labels) != K or len(set(labels)) != K:
        raise SpecError(f"'labels' must be {K} distinct names; got {labels!r}", key="labels")
    user = check_priors(priors, {"means", "sigma", "weights"})
    m, s = Xv.mean(axis=0), Xv.std(axis=0)
    s = np.where(s > 0, s, 1.0)
    features = tuple(f"x{j}" for j in range(d))
    coords = make_coords(ids, labels, features)

    def log_terms(values, dd, *, backend="numpy"):
        return _mixture_terms(values, dd, backend=backend, n_components=K, n_features=d)

    with pm.Model(coords=coords) as model:
        data_vars = {}
        if "X_cov" in data:
            # feature-major (objects last): the layout the fused likelihood reads
            data_vars["X_cov"] = pm.Data(
                "X_cov", feature_major(data["X_cov"]), dims=("feature", "feature_", "object")
            )
        # Initial values from the EM path (a seeded k-means++ EM fit, components ordered by
        # the first feature): overlapping mixtures have local modes that trap chains started
        # at data quantiles (e.g. the thin/thick disc in [Fe/H]-[Mg/Fe]).
        em_w, em_mu, em_cov = _em_start(Xv, K)
        weights = prior_rv(
            "weights",
            user.get("weights", {"dist": "Dirichlet", "a": [1.0] * K}),
            dims="component",
            initval=em_w,
        )
        init0 = em_mu[:, 0] + 1e-6 * s[0] * np.arange(K)  # strictly increasing
        mean_spec = user.get("means")
        first = (
            prior_rv(
                "means_first",
                mean_spec,
                dims="component",
                transform=pm.distributions.transforms.ordered,
                initval=init0,
            )
            if mean_spec is not None
            else pm.Normal(
                "means_first",
                mu=m[0],
                sigma=2.0 * s[0],
                dims="component",
                transform=pm.distributions.transforms.ordered,
                initval=init0,
            )
        )
        if d > 1:
            rest = (
                prior_rv("means_rest", mean_spec, dims=("component", "feature_rest"))
                if mean_spec is not None
                else pm.Normal(
                    "means_rest",
                    mu=m[1:],
                    sigma=2.0 * s[1:],
                    dims=("component", "feature_rest"),
                    initval=em_mu[:, 1:],
                )
            )
            means = pm.Deterministic(
                "means",
                pt.concatenate([first[:, None], rest], axis=1),
                dims=("component", "feature"),
            )
        else:
            means = pm.Deterministic("means", first[:, None], dims=("component", "feature"))
        chol = _cov_chol(labels, d, user.get("sigma"), s, em_cov)
        # the observed X feature-major, as the fused likelihood reads it
        layout = FusedLayout((("gaussian",),) * K, n_features=d, error_cov="X_cov" in data)

        def kernel_args(value, v):
            L = v["cov_chol"]
            return {
                "log_weights": pt.log(v["weights"]),
                "X": value,
                "mean": v["means"],
                "cov": L @ L.mT,
                "error_cov": v.get("X_cov"),
            }

        add_fused_likelihood(
            "X",
            feature_major(Xv),
            dims=("feature", "object"),
            layout=layout,
            inputs={"weights": weights, "means": means, "cov_chol": chol, **data_vars},
            kernel_args=kernel_args,
        )

    spec = {
        "builder": "gaussian_mixture",
        "n_components": K,
        "n_features": d,
        "labels": list(labels),
        "priors": user,
        "errors": "X_err" if X_err is not None else ("X_cov" if X_cov is not None else None),
        "unit": unit,  # of X (None: plain numbers); means in it, covariances in its square
    }
    has_err = "X_cov" in data

    def prepare_rows(dd: Mapping[str, Any]) -> tuple[dict, RowRecord]:
        if has_err and dd.get("X_err") is None and dd.get("X_cov") is None:
            raise DataError(
                "'data' must include 'X_err' or 'X_cov' (the model has errors)", argument="data"
            )
        arrays, new_ids, _ = _prepare(
            dd.get("X"), dd.get("X_err"), dd.get("X_cov"), dd.get("ids"), n_features=d, unit=unit
        )
        return arrays, RowRecord.from_ids(new_ids)

    comp = MultivariateGaussian(d)
    return MixtureModel(
        model=model,
        components=tuple(
            ComponentSpec(
                lab,
                comp,
                {
                    "mean": f"means[{k}]",
                    "cov": f"cov_chol[{k}] @ cov_chol[{k}].T",
                    "error_cov": "X_cov" if has_err else "0",
                },
            )
            for k, lab in enumerate(labels)
        ),
        coords=coords,
        data=data,
        spec=spec,
        var_names=("weights", "means", "cov_chol"),
        log_terms=log_terms,
        prepare_rows=prepare_rows,
        rows=RowRecord.from_ids(ids),
    )


def _cov_chol(labels, d: int, sd_spec, s: np.ndarray, em_cov: np.ndarray):
    """Add each component's covariance Cholesky factor ``cov_chol`` to the current model.

    One feature: a HalfNormal (or ``sd_spec``) standard deviation; more: an LKJ
    Cholesky prior (eta 2) whose standard deviations follow ``sd_spec`` (default
    HalfNormal with the data's scale ``s``), started at the EM covariances.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if d == 1:
        sig = (
            prior_rv("sigma", sd_spec, dims="component")
            if sd_spec is not None
            else pm.HalfNormal(
                "sigma", sigma=s[0], dims="component", initval=np.sqrt(em_cov[:, 0, 0])
            )
        )
        chol = sig[:, None, None]
    else:
        r, c = np.tril_indices(d)
        chols = []
        for k, label in enumerate(labels):
            sd_dist = (
                pm.HalfNormal.dist(sigma=s, shape=d)
                if sd_spec is None
                else prior_dist("sigma", sd_spec, shape=d)
            )
            packed = pm.LKJCholeskyCov(
                f"cov_packed_{label}",
                n=d,
                eta=2.0,
                sd_dist=sd_dist,
                compute_corr=False,
                dims="cov_packed",
                initval=np.linalg.cholesky(em_cov[k])[r, c],
            )
            chols.append(pt.zeros((d, d))[r, c].set(packed))
        chol = pt.stack(chols, axis=0)
    return pm.Deterministic("cov_chol", chol, dims=("component", "feature", "feature_"))


def _em_start(X, K):
    """Weights and means of a seeded EM fit, ordered by the first feature (initial values)."""
    import warnings

    from bayesmix.em import GaussianMixture
    from bayesmix.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a starting point only
        gm = GaussianMixture(K, n_init=4, rng=0).fit(X)
    order = np.argsort(gm.means_[:, 0], kind="stable")
    w = np.clip(gm.weights_[order], 1e-3, None)
    return w / w.sum(), gm.means_[order], gm.full_covariances()[order]
