"""Reference (numpy) E-step for incomplete data and extreme deconvolution.

Rows are grouped by their pattern of observed features.  For a row with
observed features ``o`` (projection ``R``), component ``k`` and error
covariance ``S`` (zero for plain EM):

    T   = R V_k R^T + S_oo
    ln p = ln N(x_o | R mu_k, T)
    b   = mu_k + V_k R^T T^-1 (x_o - R mu_k)        (conditional mean, all D features)
    B   = V_k - V_k R^T T^-1 R V_k                   (conditional covariance)

which is the exact EM for data missing at random (Ghahramani & Jordan 1994)
and extreme deconvolution with projections (Bovy, Hogg & Roweis 2011).  The
numba kernels in :mod:`bayesmix.em._kernels` do the complete-data case fast;
this module handles the rest and serves as their independent reference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

__all__ = ["group_patterns", "pattern_log_prob"]

_LOG_2PI = math.log(2.0 * math.pi)


def group_patterns(observed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group rows by observed-feature pattern: list of (row indices, observed feature mask)."""
    if observed.shape[0] == 0:
        return []
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    return [(order[bounds[g] : bounds[g + 1]], keys[g]) for g in range(len(keys))]


def pattern_log_prob(X, S, rows, obs, mu, V, log_w, *, want_moments):
    """Component log-densities (plus log weights) for one observed-feature pattern.

    Parameters
    ----------
    X : (N, D) data (NaN where unobserved).
    S : (N, D, D) error covariances or None.
    rows : indices of the rows in this pattern.
    obs : (D,) boolean mask of observed features.
    mu, V, log_w : component means (K, D), covariances (K, D, D), log weights (K,).
    want_moments : also return conditional means b (n, K, D) and covariances B (n, K, D, D).

    Returns
    -------
    lp : (n, K) array of ln w_k + ln N(x_o | mu_k,o, T_k), and (b, B) or (None, None).
    """
    o = np.flatnonzero(obs)
    xo = X[np.ix_(rows, o)]
    n, Do = xo.shape
    K, D = mu.shape
    lp = np.empty((n, K))
    b = np.empty((n, K, D)) if want_moments else None
    B = np.empty((n, K, D, D)) if want_moments else None
    So = None if S is None else S[np.ix_(rows, o, o)]
    for k in range(K):
        Voo = V[k][np.ix_(o, o)]
        T = Voo[None] if So is None else Voo[None] + So
        L = np.linalg.cholesky(T)  # (1 or n, Do, Do)
        diff = xo - mu[k, o]
        if So is None:
            z = np.linalg.solve(L[0], diff.T).T
            logdet = np.sum(np.log(np.diagonal(L[0])))
        else:
            z = np.linalg.solve(L, diff[..., None])[..., 0]
            logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
        lp[:, k] = log_w[k] - 0.5 * Do * _LOG_2PI - logdet - 0.5 * np.sum(z * z, axis=1)
        if want_moments:
            Vdo = V[k][:, o]  # (D, Do)
            if So is None:
                Tinv = np.linalg.inv(T[0])
                u = diff @ Tinv  # (n, Do), T symmetric
                b[:, k] = mu[k] + u @ Vdo.T
                B[:, k] = V[k] - Vdo @ Tinv @ Vdo.T
            else:
                Tinv = np.linalg.inv(T)
                u = np.einsum("nij,nj->ni", Tinv, diff)
                b[:, k] = mu[k] + u @ Vdo.T
                B[:, k] = V[k] - np.einsum("ai,nij,bj->nab", Vdo, Tinv, Vdo)
    return lp, b, B


def generic_stats(X, S, sw, groups, mu, V, log_w, log_bg, c):
    """E-step and sufficient statistics over the given row groups (see module notes)."""
    K, D = mu.shape
    ll = 0.0
    Nk = np.zeros(K)
    Nbg = 0.0
    S1 = np.zeros((K, D))
    S2 = np.zeros((K, D, D))
    for rows, obs in groups:
        lp, b, B = pattern_log_prob(X, S, rows, obs, mu, V, log_w, want_moments=True)
        full = np.concatenate([lp, np.full((lp.shape[0], 1), log_bg)], axis=1)
        lse = logsumexp(full, axis=1)
        w = sw[rows]
        ll += float(np.sum(w * lse))
        Nbg += float(np.sum(w * np.exp(log_bg - lse)))
        wr = w[:, None] * np.exp(lp - lse[:, None])  # (n, K)
        Nk += wr.sum(axis=0)
        d = b - c[None]  # (n, K, D)
        S1 += np.einsum("nk,nka->ka", wr, d)
        S2 += np.einsum("nk,nka,nkb->kab", wr, d, d) + np.einsum("nk,nkab->kab", wr, B)
    return ll, Nk, Nbg, S1, S2


def generic_score(X, S, groups, mu, V, log_w, log_bg, n_out):
    """Log-density and log responsibilities (K or K+1 columns) for the given row groups."""
    N = X.shape[0]
    K = mu.shape[0]
    lse_out = np.empty(N)
    log_resp = np.empty((N, n_out))
    for rows, obs in groups:
        lp, _, _ = pattern_log_prob(X, S, rows, obs, mu, V, log_w, want_moments=False)
        full = np.concatenate([lp, np.full((lp.shape[0], 1), log_bg)], axis=1)
        lse = logsumexp(full, axis=1)
        lse_out[rows] = lse
        log_resp[rows] = (full - lse[:, None])[:, : n_out if n_out > K else K]
    return lse_out, log_resp
