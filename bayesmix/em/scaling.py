"""Internal feature scaling of the EM fits: extreme data are fitted where they are ordinary.

EM in float64 fails on data far from unit scale: squared distances of features
around 1e300 overflow (NaN means), variances of features around 1e-300
underflow, and a feature of order 1e-10 next to one of order 1e10 is swamped
by ``reg_covar``.  Every fit therefore works on features expressed as
``(x - c_j) / s_j`` (:class:`FeatureScaling`), chosen by :func:`choose_scaling`
from the data:

- ``s_j`` is 1 when the feature's robust spread (IQR / 1.349, or the range / 4
  when the IQR is zero) lies in ``ORDINARY = [2**-4, 2**20]``; otherwise it is
  the power of two nearest that spread (one common factor for all features
  with ``covariance_type="spherical"``, whose components are round in the
  data's own units);
- ``c_j`` is 0 unless the feature's median exceeds ``2**20`` times its
  scale, in which case it is the median (so that distances do not lose their
  digits to the offset).

Dividing by a power of two is exact, so ordinary data (every ``s_j = 1``,
``c_j = 0``) are fitted bit for bit as without scaling, and the fitted
parameters are transformed back exactly: ``mu = c + s mu'``,
``V = diag(s) V' diag(s)``; the log-likelihood gains ``-sum_j ln s_j`` per
object.  ``reg_covar`` is added in the internal units, i.e. in the data's units
for ordinary features and relative to ``s_j**2`` for rescaled ones, so a fit of
``2**k X`` (rescaled features) is exactly ``2**k`` times the fit of ``X``.

Data whose covariances cannot be held in float64 at all are refused with a
:class:`~bayesmix.exceptions.DataError` naming the feature: a spread above
``LIMIT = 2**480`` (~3e144) or below ``1 / LIMIT`` (~3e-145) but not zero, or
a value more than ``LIMIT`` internal units from the centre (a far outlier
whose squared distance would overflow).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bayesmix.em.statistics import Parameters
from bayesmix.exceptions import DataError

__all__ = ["LIMIT", "ORDINARY", "FeatureScaling", "choose_scaling", "extent"]

#: robust spreads in this range are fitted unscaled (scikit-learn's conventions hold)
ORDINARY = (2.0**-4, 2.0**20)
#: largest spread, and largest distance from the centre in internal units, that float64 holds
LIMIT = 2.0**480
#: most rows used to measure the spreads (a deterministic stride through the sample)
_SPREAD_ROWS = 65_536


@dataclass(frozen=True)
class FeatureScaling:
    """Per-feature centre and power-of-two scale: internal features are ``(x - center) / scale``.

    Attributes
    ----------
    center : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
        Powers of two.
    """

    center: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def identity(cls, n_features: int) -> FeatureScaling:
        """Return the scaling that changes nothing."""
        return cls(np.zeros(n_features), np.ones(n_features))

    @property
    def is_identity(self) -> bool:
        """Whether every centre is 0 and every scale 1 (then nothing is transformed)."""
        return bool(np.all(self.center == 0) and np.all(self.scale == 1))

    @property
    def log_jacobian(self) -> float:
        """Return ``sum_j ln s_j``: ln p(x) = ln p'(x') - log_jacobian."""
        return float(np.sum(np.log(self.scale)))

    # ------------------------------------------------------------ to internal
    def data(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return features in internal units (``X`` itself for the identity; NaN kept)."""
        if self.is_identity:
            return X
        return np.ascontiguousarray((X - self.center) / self.scale)

    def point(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return points (means, centres, fill values, box corners) in internal units."""
        return self.data(np.asarray(x, dtype=np.float64))

    def covariances(self, S: NDArray[np.float64] | None) -> NDArray[np.float64] | None:
        """Return covariances (..., D, D) in internal units (None stays None)."""
        if S is None or self.is_identity:
            return S
        return np.ascontiguousarray(S / np.multiply.outer(self.scale, self.scale))

    def parameters(self, p: Parameters) -> Parameters:
        """Return parameters given in data units in internal units."""
        if self.is_identity:
            return p
        return Parameters(
            p.weights, self.point(p.means), self.covariances(p.covariances), p.background_weight
        )

    # ---------------------------------------------------------- to data units
    def data_parameters(self, p: Parameters) -> Parameters:
        """Return parameters in internal units transformed back to data units (exact)."""
        if self.is_identity:
            return p
        s = self.scale
        return Parameters(
            p.weights,
            self.center + s * p.means,
            p.covariances * np.multiply.outer(s, s),
            p.background_weight,
        )

    def data_points(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return points in internal units in data units."""
        return x if self.is_identity else self.center + self.scale * x


def extent(
    X: NDArray[np.float64], *, name: str = "X"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-feature minimum and maximum of validated rows (NaN ignored).

    Raises
    ------
    DataError
        A feature with no observed value.
    """
    observed = ~np.isnan(X)
    seen = observed.any(axis=0)
    if not seen.all():
        j = int(np.flatnonzero(~seen)[0])
        raise DataError(f"feature {j} of '{name}' has no observed value", argument=name)
    if observed.all():
        return X.min(axis=0), X.max(axis=0)
    return np.nanmin(X, axis=0), np.nanmax(X, axis=0)


def _spreads(sample: NDArray[np.float64]):
    """Median and robust spread of each feature (NaN ignored) from at most _SPREAD_ROWS rows."""
    step = max(1, -(-sample.shape[0] // _SPREAD_ROWS))
    rows = sample[::step]
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing in every row
        q25, med, q75 = np.nanpercentile(rows, [25.0, 50.0, 75.0], axis=0)
        spread = (q75 - q25) / 1.349
        zero = ~(spread > 0)
        rng = (np.nanmax(rows, axis=0) - np.nanmin(rows, axis=0)) / 4.0
    spread = np.where(zero, rng, spread)
    return med, np.where(np.isnan(spread), 0.0, spread)


def _power_of_two(x: float) -> float:
    return float(np.ldexp(1.0, int(np.round(np.log2(x)))))


def _scale_of(spread: float) -> float:
    lo, hi = ORDINARY
    if spread == 0 or lo <= spread <= hi:
        return 1.0
    return _power_of_two(spread)


def choose_scaling(
    sample: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    *,
    spherical: bool = False,
    name: str = "X",
    data: NDArray[np.float64] | None = None,
    feature_names=None,
) -> FeatureScaling:
    """Choose the internal scaling of a fit, or refuse data float64 cannot fit.

    Parameters
    ----------
    sample : ndarray of shape (n_sample, n_features)
        Validated objects (NaN for missing features) whose medians and spreads
        set the scaling: all objects in memory, the initialisation sample of a
        fit over blocks.
    lo, hi : ndarray of shape (n_features,)
        Per-feature minimum and maximum over *all* objects (for the refusals).
    spherical : bool, default False
        One common scale for all features (``covariance_type="spherical"``).
    name : str
        Name of the data in messages.
    data : ndarray of shape (n_objects, n_features), optional
        All objects (in memory): messages then name the first offending row.
    feature_names : sequence of str, optional
        Feature names for messages (a data frame's columns).

    Returns
    -------
    FeatureScaling

    Raises
    ------
    DataError
        A feature's spread above ``LIMIT`` or in ``(0, 1/LIMIT)``, or a value
        more than ``LIMIT`` scales from the centre; the message names the
        feature and gives the remedy (rescale it; remove the outlying rows).
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)

    def label(j: int) -> str:
        named = f" ({feature_names[j]!r})" if feature_names is not None else ""
        return f"feature {j}{named} of '{name}'"

    def at_row(j: int, value: float) -> str:
        if data is None:
            return ""
        rows = np.flatnonzero(data[:, j] == value)
        return f" at row {int(rows[0])}" if rows.size else ""

    for j in np.flatnonzero(~(lo <= hi)):
        raise DataError(f"{label(j)} has no observed value", argument=name)
    med, spread = _spreads(sample)
    with np.errstate(over="ignore"):
        width = hi - lo
    remedy = "divide the feature by a constant (and scale the fitted parameters back)"
    for j, sj in enumerate(spread):
        if not np.isfinite(sj) or sj > LIMIT or not np.isfinite(width[j]):
            far = hi[j] if abs(hi[j]) >= abs(lo[j]) else lo[j]
            where = at_row(j, far)
            extreme = f"; {far:.3g}{where}" if where else ""
            raise DataError(
                f"{label(j)} spreads over ~{sj:.3g} (values from {lo[j]:.3g} to "
                f"{hi[j]:.3g}{extreme}): beyond ~{LIMIT:.1g} its covariances cannot be held "
                f"in float64 (largest ~1.8e308); {remedy}.",
                argument=name,
            )
        if 0 < sj < 1.0 / LIMIT:
            raise DataError(
                f"{label(j)} varies by only ~{sj:.3g}: below ~{1 / LIMIT:.1g} its "
                "covariances cannot be held in float64 (smallest normal ~2.2e-308); multiply "
                "the feature by a constant (and scale the fitted parameters back).",
                argument=name,
            )
    if spherical:
        common = _scale_of(float(spread.max()))
        scale = np.full(spread.shape, common)
    else:
        scale = np.array([_scale_of(float(sj)) for sj in spread])
    big = np.abs(med) > ORDINARY[1] * scale
    center = np.where(big & np.isfinite(med), med, 0.0)
    with np.errstate(over="ignore"):
        reach = np.maximum(hi - center, center - lo) / scale
    for j in np.flatnonzero(~(reach <= LIMIT)):
        far = hi[j] if hi[j] - center[j] >= center[j] - lo[j] else lo[j]
        where = at_row(j, far)
        raise DataError(
            f"{label(j)} has a value {far:.3g}{where} about {reach[j] * scale[j]:.3g} from "
            f"the median {med[j]:.3g} while the feature spreads over ~{spread[j]:.3g}: squared "
            "distances overflow float64; remove the outlying rows or rescale the feature.",
            argument=name,
            rows=[int(where.split()[-1])] if where else None,
        )
    return FeatureScaling(center.astype(np.float64), scale.astype(np.float64))
