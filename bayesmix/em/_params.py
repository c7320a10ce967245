"""The scikit-learn estimator protocol of the EM mixtures, without importing scikit-learn.

:class:`EstimatorProtocol` gives :class:`~bayesmix.em.GaussianMixture` and
:class:`~bayesmix.em.XDGaussianMixture` what scikit-learn's ``BaseEstimator``
gives its estimators -- ``get_params``/``set_params`` read from the
constructor's signature (so ``clone``, ``Pipeline`` and ``GridSearchCV``
work), ``__sklearn_tags__``, ``__sklearn_is_fitted__``, and the
``feature_names_in_`` bookkeeping of data frames -- so that scikit-learn
stays a test dependency: the only scikit-learn import is inside
``__sklearn_tags__``, which only scikit-learn calls.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from bayesmix.exceptions import DataError, SpecError

__all__ = ["EstimatorProtocol", "check_array_kind", "feature_names"]


def feature_names(X: Any) -> np.ndarray | None:
    """Return the column names of a data frame ``X`` (object array), else None.

    As scikit-learn: names are kept only when every column name is a string;
    a mix of string and other names is an error.
    """
    if isinstance(X, np.ndarray) or not hasattr(X, "columns"):
        return None
    try:
        names = [c for c in X.columns]
    except TypeError:
        return None
    if not names:
        return None
    kinds = {type(c).__name__ for c in names}
    if all(isinstance(c, str) for c in names):
        return np.asarray(names, dtype=object)
    if any(isinstance(c, str) for c in names):
        raise DataError(
            f"'X' has column names of mixed types {sorted(kinds)}; feature names must all be "
            "strings (e.g. X.columns = X.columns.astype(str)) or none of them",
            argument="X",
        )
    return None


def check_array_kind(X: Any, *, name: str = "X") -> None:
    """Refuse what scikit-learn's estimators refuse before any conversion.

    Sparse matrices, complex numbers, 1-D arrays (one feature or one object?
    scikit-learn asks the caller to say) and arrays with no feature, each with
    a one-line :class:`~bayesmix.exceptions.DataError` in scikit-learn's words.
    """
    if not isinstance(X, np.ndarray) and (
        hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")
    ):
        raise DataError(
            f"'{name}' is a sparse matrix; sparse input is not supported: pass a dense array "
            f"({name}.toarray())",
            argument=name,
        )
    if hasattr(X, "dtype") or isinstance(X, (list, tuple)):
        shape = np.shape(X)
        if np.iscomplexobj(X):
            raise DataError(
                f"'{name}' has complex values: Complex data not supported", argument=name
            )
        if len(shape) == 1:
            raise DataError(
                f"'{name}' must be 2-D, (n_objects, n_features); got a 1-D array of shape {shape}. "
                f"Reshape your data: {name}.reshape(-1, 1) for one feature, "
                f"{name}.reshape(1, -1) for one object",
                argument=name,
            )
        if len(shape) == 2 and shape[1] == 0:
            raise DataError(
                f"'{name}' has 0 feature(s) (shape={shape}) while a minimum of 1 is required.",
                argument=name,
            )


def _listed(names) -> str:
    out = ""
    for i, name in enumerate(names):
        if i >= 5:
            return out + "- ...\n"
        out += f"- {name}\n"
    return out


class EstimatorProtocol:
    """Mixin: hyperparameters from ``__init__``, scikit-learn tags, feature names."""

    # ------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the hyperparameters (the constructor's arguments) as a dict.

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn compatibility (there are no nested estimators).

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any):
        """Set hyperparameters by name (checked when fitting); return ``self``.

        Raises
        ------
        SpecError
            A name that is not a constructor argument.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise SpecError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters: "
                    f"{', '.join(valid)}",
                    key=name,
                )
            setattr(self, name, value)
        return self

    # -------------------------------------------------------- scikit-learn tags
    def __sklearn_is_fitted__(self) -> bool:
        """Return whether ``fit`` has run (scikit-learn's ``check_is_fitted``)."""
        return hasattr(self, "means_")

    def __sklearn_tags__(self):
        """Return scikit-learn's tags: a density estimator; NaN allowed when marginalising.

        Only scikit-learn calls this, so importing it here adds no dependency.
        """
        from sklearn.utils import Tags, TargetTags

        tags = Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )
        tags.input_tags.allow_nan = getattr(self, "nan_policy", "raise") == "marginalize"
        return tags

    # ---------------------------------------------------------- feature names
    def _set_feature_names(self, X: Any) -> None:
        """Record ``feature_names_in_`` from a data frame (forget old ones otherwise)."""
        names = feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _check_feature_names(self, X: Any) -> None:
        """Compare a data frame's columns with ``feature_names_in_`` (scikit-learn's rules)."""
        fitted = getattr(self, "feature_names_in_", None)
        names = feature_names(X)
        cls = type(self).__name__
        if fitted is None and names is None:
            return
        if fitted is None:
            warnings.warn(
                f"X has feature names, but {cls} was fitted without feature names",
                UserWarning,
                stacklevel=4,
            )
            return
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {cls} was fitted with feature names",
                UserWarning,
                stacklevel=4,
            )
            return
        if len(fitted) == len(names) and np.all(fitted == names):
            return
        # scikit-learn's message, word for word (its checks match it)
        message = "The feature names should match those that were passed during fit.\n"
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        if unexpected:
            message += "Feature names unseen at fit time:\n" + _listed(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise DataError(message, argument="X")
