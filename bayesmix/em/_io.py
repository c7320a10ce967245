"""Saved EM models: ``.npz`` arrays with embedded JSON metadata (never pickle).

:meth:`BaseMixture.save` writes the arrays of :func:`to_arrays`; :func:`load`
reads a file and :func:`from_arrays` rebuilds a model from such arrays (also
when they are embedded in another file, e.g. a saved ``GPzAugment``).  Nothing
read is trusted: every array and metadata value is checked (presence, dtype,
shape, finiteness, range, consistency with the metadata and the covariance
type, positive-definite covariances, weights summing to one) and every failure
is one :class:`~bayesmix.exceptions.FormatError` naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from bayesmix.em._base import FORMAT_VERSION, INITS, NAN_POLICIES, BaseMixture
from bayesmix.em._covariance import COVARIANCE_TYPES
from bayesmix.em.gaussian import GaussianMixture
from bayesmix.em.saved import Meta, SavedArrays, check_version, read_npz
from bayesmix.em.xd import XDGaussianMixture

__all__ = ["from_arrays", "load", "to_arrays"]

_CLASSES: dict[str, type[BaseMixture]] = {
    "GaussianMixture": GaussianMixture,
    "XDGaussianMixture": XDGaussianMixture,
}
_META_KEYS = ("bayesmix_version", "class", "fitted", "format_version", "params")
_PARAM_KEYS = (
    "background",
    "covariance_type",
    "frozen",
    "init",
    "max_iter",
    "n_components",
    "n_init",
    "nan_policy",
    "reg_covar",
    "rng",
    "tol",
)
_FITTED_KEYS = (
    "background_log_density",
    "background_weight",
    "converged",
    "log_likelihood_history",
    "lower_bound",
    "n_features_in",
    "n_iter",
)
_FROZEN_KEYS = ("covariances", "means", "weights")
#: relative tolerance of the saved-state consistency checks (sums, symmetry, ties)
_RTOL = 1e-9


def to_arrays(model: BaseMixture) -> dict[str, np.ndarray]:
    """Return the arrays that ``model.save`` writes (``meta`` holds the JSON description).

    Raises
    ------
    NotFittedError
        ``model`` is not fitted.
    """
    return model._arrays()


def _frozen(meta: Meta, K: int):
    """Return the saved ``frozen`` option: None, a list of indices or a dict of lists."""
    value = meta.value("frozen")
    if value is None:
        return None

    def indices(v, key: str) -> list[int]:
        ok = isinstance(v, list) and all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < K for i in v
        )
        if not ok:
            raise meta.fail(key, f"must be a list of component indices in 0..{K - 1}; got {v!r}")
        return list(v)

    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_FROZEN_KEYS))
        if unknown:
            raise meta.fail("frozen", f"has unknown key(s) {unknown}; allowed {list(_FROZEN_KEYS)}")
        return {k: indices(v, f"frozen.{k}") for k, v in value.items()}
    return indices(value, "frozen")


def _params(meta: Meta) -> dict:
    """Return the checked constructor arguments saved under ``meta.params``."""
    meta.check_keys(
        _PARAM_KEYS, optional=("random_state",)
    )  # files written before random_state existed lack it
    K = meta.integer("n_components", minimum=1)
    init = meta.choice("init", (*INITS, "array"))
    return {
        "n_components": K,
        "covariance_type": meta.choice("covariance_type", COVARIANCE_TYPES),
        "tol": meta.number("tol", minimum=0.0),
        "reg_covar": meta.number("reg_covar", minimum=0.0),
        "max_iter": meta.integer("max_iter", minimum=1),
        "n_init": meta.integer("n_init", minimum=1),
        # the starting values of an array/dict init are not saved: a refit seeds afresh
        "init": "kmeans++" if init == "array" else init,
        "nan_policy": meta.choice("nan_policy", NAN_POLICIES),
        "background": meta.flag("background"),
        "frozen": _frozen(meta, K),
        "rng": meta.integer("rng", minimum=0, optional=True),
        "random_state": (
            meta.integer("random_state", minimum=0, optional=True)
            if "random_state" in meta.doc
            else None
        ),
    }


def _fitted(meta: Meta, params: dict) -> dict:
    """Return the checked fitted scalars saved under ``meta.fitted``."""
    meta.check_keys(_FITTED_KEYS)
    n_iter = meta.integer("n_iter", minimum=1, maximum=params["max_iter"])
    lower = meta.number("lower_bound")
    history = meta.float_list("log_likelihood_history", length=n_iter)
    if history[-1] != lower:
        raise meta.fail(
            "log_likelihood_history",
            f"must end at lower_bound ({lower!r}); got {history[-1]!r}",
        )
    background = params["background"]
    bg = meta.number("background_weight", minimum=0.0, below=1.0)
    log_density = meta.number("background_log_density", optional=True)
    if not background and bg != 0.0:
        raise meta.fail("background_weight", f"must be 0 without a background; got {bg}")
    if background != (log_density is not None):
        state = "a number" if background else "null"
        raise meta.fail(
            "background_log_density",
            f"must be {state} with background = {str(background).lower()}; got {log_density}",
        )
    return {
        "converged": meta.flag("converged"),
        "n_iter": n_iter,
        "lower_bound": lower,
        "log_likelihood_history": history,
        "n_features_in": meta.integer("n_features_in", minimum=1),
        "background_weight": bg,
        "background_log_density": log_density,
    }


def _covariances(saved: SavedArrays, K: int, D: int, covariance_type: str) -> np.ndarray:
    """Return the checked (K, D, D) covariances: symmetric, positive definite, of their type."""
    field = "full_covariances"
    context = f"n_components = {K}, n_features_in = {D}"
    full = saved.array(field, shape=(K, D, D), context=context)
    for k in range(K):
        c = full[k]
        size = max(float(np.abs(c).max()), np.finfo(float).tiny)
        asym = float(np.abs(c - c.T).max())
        if asym > _RTOL * size:
            raise saved.fail(field, f"component {k} is not symmetric (|C - C^T| = {asym:.3g})")
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            low = float(np.linalg.eigvalsh(c)[0])
            raise saved.fail(
                field, f"component {k} is not positive definite (smallest eigenvalue {low:.3g})"
            ) from None
        off = c - np.diag(np.diagonal(c))
        if covariance_type in ("diag", "spherical") and np.any(off != 0):
            raise saved.fail(
                field,
                f"component {k} has off-diagonal terms; covariance_type is {covariance_type!r}",
            )
        diag = np.diagonal(c)
        if covariance_type == "spherical" and np.ptp(diag) > _RTOL * diag.max():
            raise saved.fail(
                field, f"component {k} has unequal variances; covariance_type is 'spherical'"
            )
        if covariance_type == "tied" and not np.allclose(c, full[0], rtol=_RTOL, atol=0):
            raise saved.fail(
                field, f"component {k} differs from component 0; covariance_type is 'tied'"
            )
    return full


def _arrays(saved: SavedArrays, params: dict, fitted: dict) -> dict:
    """Return the checked parameter arrays, consistent with the metadata."""
    K, D = params["n_components"], fitted["n_features_in"]
    background = params["background"]
    saved.check_fields(
        (
            "meta",
            "weights",
            "means",
            "full_covariances",
            *(("bounding_box",) if background else ()),
        ),
        optional=("feature_names_in",),
    )
    weights = saved.array("weights", shape=(K,), minimum=0.0, context=f"n_components = {K}")
    bg = fitted["background_weight"]
    total = float(weights.sum()) + bg
    if abs(total - 1.0) > _RTOL:
        with_bg = f" with background_weight {bg}" if background else ""
        raise saved.fail("weights", f"must sum to 1{with_bg}; got {total:.12g}")
    means = saved.array("means", shape=(K, D), context=f"n_components = {K}, n_features_in = {D}")
    full = _covariances(saved, K, D, params["covariance_type"])
    box = None
    if background:
        box = saved.array("bounding_box", shape=(2, D), context=f"n_features_in = {D}")
        span = box[1] - box[0]
        if not np.all(span > 0):
            j = int(np.flatnonzero(~(span > 0))[0])
            raise saved.fail("bounding_box", f"must have lower < upper; feature {j} does not")
        expect = float(-np.sum(np.log(span)))
        got = fitted["background_log_density"]
        if abs(got - expect) > _RTOL * max(1.0, abs(expect)):
            raise saved.fail(
                "meta.fitted.background_log_density",
                f"must be -sum(log(bounding box widths)) = {expect!r}; got {got!r}",
            )
    names = None
    if saved.has("feature_names_in"):
        raw = saved.raw("feature_names_in")
        if raw.dtype.kind != "U" or raw.shape != (D,):
            raise saved.fail(
                "feature_names_in",
                f"must be {D} strings (n_features_in = {D}); got dtype {raw.dtype}, shape "
                f"{raw.shape}",
            )
        names = np.array([str(n) for n in raw], dtype=object)
    return {
        "weights": weights,
        "means": means,
        "full_covariances": full,
        "bounding_box": box,
        "feature_names_in": names,
    }


def from_arrays(
    arrays: Mapping[str, np.ndarray], *, source: str = "the arrays", prefix: str = ""
) -> BaseMixture:
    """Rebuild a fitted model from the arrays of :func:`to_arrays`, checking every one.

    Parameters
    ----------
    arrays : mapping of str to ndarray
    source : str
        What the arrays came from (a file name), first in error messages.
    prefix : str, default ""
        Key prefix of the model's arrays inside ``arrays`` (``"pop__"`` in a
        saved ``GPzAugment``); other keys are ignored.

    Returns
    -------
    GaussianMixture or XDGaussianMixture

    Raises
    ------
    FormatError
        Missing, unexpected or unreadable metadata; an unknown class; a newer
        ``format_version``; a hyperparameter out of its range or choices; an
        array missing, of the wrong dtype or shape (disagreeing with
        ``n_components`` / ``n_features_in``), non-finite, with negative weights
        or weights not summing to one, covariances not symmetric, not positive
        definite or not of the saved ``covariance_type``; an extra array.  The
        message names ``source`` and the field.
    """
    saved = SavedArrays(arrays, source, prefix)
    meta = saved.meta()
    meta.check_keys(_META_KEYS)
    name = meta.choice("class", _CLASSES)
    check_version(meta, FORMAT_VERSION)
    meta.text("bayesmix_version")
    params = _params(meta.section("params"))
    fitted = _fitted(meta.section("fitted"), params)
    return _CLASSES[name]._from_saved(params, fitted, _arrays(saved, params, fitted))


def load(path: str | os.PathLike) -> BaseMixture:
    """Load a model saved with ``save`` (no code is executed: ``allow_pickle=False``).

    Raises
    ------
    FormatError
        Not a bayesmix EM model file (truncated, corrupt, another format), or a
        field that fails the checks of :func:`from_arrays`; the message names
        the file and the field.
    FileNotFoundError, IsADirectoryError, PermissionError
        ``path`` cannot be opened.
    """
    arrays = read_npz(path, what="bayesmix EM model")
    return from_arrays(arrays, source=os.fspath(path))
