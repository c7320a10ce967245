"""Exceptions and warnings raised by bayesmix.

Every exception derives from :class:`BayesmixError` *and* the matching builtin,
so ``except ValueError`` keeps working for callers that do not know bayesmix.
"""

from __future__ import annotations

__all__ = [
    "BayesmixError",
    "ConvergenceWarning",
    "DataError",
    "DiagnosticsWarning",
    "FormatError",
    "NotFittedError",
    "SpecError",
]


class BayesmixError(Exception):
    """Base class of every bayesmix exception."""


class DataError(BayesmixError, ValueError):
    """Input data are invalid (non-finite, wrong shape, not positive definite, ...).

    Attributes
    ----------
    argument : str or None
        Name of the offending argument.
    rows : list of int
        Indices of the offending rows (the first one is named in the message).
    """

    def __init__(self, message: str, *, argument: str | None = None, rows=None):
        super().__init__(message)
        self.argument = argument
        self.rows = list(rows) if rows is not None else []


class SpecError(BayesmixError, ValueError):
    """An analysis specification (TOML) or option is invalid; ``key`` is its key path."""

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


class FormatError(BayesmixError, ValueError):
    """A saved file has the wrong format, class or version."""


class NotFittedError(BayesmixError, RuntimeError):
    """A method that needs a fitted estimator was called before ``fit``."""


class ConvergenceWarning(UserWarning):
    """EM (or k-means) stopped before meeting its tolerance."""


class DiagnosticsWarning(UserWarning):
    """MCMC diagnostics (R-hat, ESS, divergences) are poor."""
