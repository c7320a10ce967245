"""The GPz divide: objects into mixture samples by population-mixture membership.

One rule, used by :meth:`bayesmix.gpz.GPzAugment.divide` (in memory) and by
:func:`bayesmix.scale.gpz_divide` (block by block): with membership
probabilities ``p_k`` of the population mixture's components,

- ``assign="threshold"`` (gpz_pype's rule): object joins sample k when
  ``p_k > threshold`` (it may end in no sample, or with ``threshold < 0.5`` in
  several);
- ``assign="best"``: as ``"threshold"``, and every object also joins its most
  probable component.

An object in no sample is ``unassigned``.  :func:`divide_summary` counts the
members and :func:`warn_divide` gives the :class:`DivideWarning` for empty or
small samples and unassigned objects.

References
----------
Hatfield, P. W. et al. 2020, MNRAS 498, 5498; K. J. Duncan, gpz_pype
(``GMMbasic.divide``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesmix.exceptions import SpecError

__all__ = [
    "ASSIGN_RULES",
    "MIN_MEMBERS",
    "DivideWarning",
    "check_threshold",
    "divide_columns",
    "divide_summary",
    "warn_divide",
]

#: the membership rules of a divide (sorted)
ASSIGN_RULES = ("best", "threshold")
#: gpz_pype's "fewer than 10 samples" warning level
MIN_MEMBERS = 10


class DivideWarning(UserWarning):
    """A divide left a mixture sample empty or small, or left objects in no mixture sample."""


def check_threshold(threshold: Any) -> float:
    """Return ``threshold`` as a float strictly between 0 and 1.

    Raises
    ------
    SpecError
        Naming ``threshold``.
    """
    ok = isinstance(threshold, (int, float, np.floating)) and not isinstance(threshold, bool)
    if not ok or not (0.0 < float(threshold) < 1.0):
        raise SpecError(
            f"'threshold' must be a probability strictly between 0 and 1; got {threshold!r}",
            key="threshold",
        )
    return float(threshold)


def divide_columns(
    log_resp: NDArray[np.float64],
    *,
    threshold: float,
    assign: str,
    return_density: bool = False,
    weights: NDArray[np.float64] | None = None,
    scored: NDArray[np.bool_] | None = None,
) -> dict[str, NDArray[Any]]:
    """Return the divide's columns (gpz_pype's layout, no ``index``) from log memberships.

    Parameters
    ----------
    log_resp : ndarray of shape (n_scored, n_components)
        Log membership probabilities in the population mixture's components.
    threshold : float
        Strictly between 0 and 1 (see :func:`check_threshold`).
    assign : {"best", "threshold"}
        The membership rule (module notes).
    return_density : bool, default False
        Add the probabilities as ``p0..p{K-1}``.
    weights : ndarray of shape (n_scored,), optional
        Cost-sensitive weights, added as ``weights``.
    scored : ndarray of bool of shape (n_objects,), optional
        Which objects ``log_resp`` (and ``weights``) belong to; the others get
        ``best = -1``, no ``m`` set, NaN ``p``/``weights`` and ``unassigned``.

    Returns
    -------
    dict of str to ndarray
        ``best`` (int64), ``m0..m{K-1}`` (bool), [``p0..``], [``weights``],
        ``unassigned`` (bool), in that order.
    """
    prob = np.exp(log_resp)
    n, K = prob.shape
    best = np.argmax(log_resp, axis=1).astype(np.int64) if n else np.zeros(0, np.int64)
    member = prob > threshold
    if assign == "best":
        member[np.arange(n), best] = True
    if scored is not None:
        m = scored.shape[0]
        full_prob, full_best = np.full((m, K), np.nan), np.full(m, -1, dtype=np.int64)
        full_member = np.zeros((m, K), dtype=bool)
        full_prob[scored], full_best[scored], full_member[scored] = prob, best, member
        prob, best, member = full_prob, full_best, full_member
        if weights is not None:
            full_w = np.full(m, np.nan)
            full_w[scored] = weights
            weights = full_w
    out: dict[str, NDArray[Any]] = {"best": best}
    for k in range(K):
        out[f"m{k}"] = member[:, k]
    if return_density:
        for k in range(K):
            out[f"p{k}"] = prob[:, k]
    if weights is not None:
        out["weights"] = weights
    out["unassigned"] = ~member.any(axis=1)
    return out


def divide_summary(columns: dict[str, NDArray[Any]], *, threshold: float, assign: str):
    """Member counts of the columns of :func:`divide_columns` (the divide table's ``meta``).

    Returns
    -------
    dict
        ``n_objects``, ``n_components``, ``threshold``, ``assign``,
        ``member_counts`` (list of int), ``n_unassigned``, ``unassigned_fraction``.
    """
    K = sum(1 for name in columns if name[0] == "m" and name[1:].isdigit())
    counts = [int(np.sum(columns[f"m{k}"])) for k in range(K)]
    n = int(columns["unassigned"].shape[0])
    n_un = int(np.sum(columns["unassigned"]))
    return {
        "n_objects": n,
        "n_components": K,
        "threshold": float(threshold),
        "assign": assign,
        "member_counts": counts,
        "n_unassigned": n_un,
        "unassigned_fraction": float(n_un / n) if n else 0.0,
    }


def warn_divide(summary: dict[str, Any], *, stacklevel: int = 1) -> None:
    """Warn (:class:`DivideWarning`) about empty or small samples and unassigned objects.

    ``summary`` is the dict of :func:`divide_summary`; the message gives the
    counts, the unassigned fraction and remedies.  ``stacklevel`` 1 attributes
    the warning to the caller of this function, 2 to its caller, and so on.
    """
    counts = np.asarray(summary["member_counts"])
    n, n_un = summary["n_objects"], summary["n_unassigned"]
    frac, threshold = summary["unassigned_fraction"], summary["threshold"]
    problems = []
    empty = np.flatnonzero(counts == 0)
    small = np.flatnonzero((counts > 0) & (counts < MIN_MEMBERS))
    if empty.size:
        problems.append(f"mixture sample(s) {', '.join(map(str, empty))} empty")
    if small.size:
        problems.append(
            f"mixture sample(s) {', '.join(f'{k} ({counts[k]})' for k in small)} with fewer "
            f"than {MIN_MEMBERS} members"
        )
    if n_un:
        problems.append(
            f"{n_un} of {n} objects ({100 * frac:.1f}%) in no mixture sample (probability "
            f"<= threshold {threshold:g} for every component; column 'unassigned')"
        )
    if problems:
        remedies = "lower the threshold, "
        if summary["assign"] == "threshold" and n_un:
            remedies += "use assign='best', "
        warnings.warn(
            "divide: "
            + "; ".join(problems)
            + f"; unassigned fraction {frac:.3f}. Remedies: {remedies}or use fewer mixture "
            "components.",
            DivideWarning,
            stacklevel=stacklevel + 1,
        )
