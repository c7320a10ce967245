"""Fused EM kernels (numba): one pass over the data per EM iteration.

Each kernel walks the rows in fixed-size chunks (``CHUNK`` rows), split over
threads for large inputs, and writes the partial sums of every chunk to its own
slot; the slots are then summed in a fixed order.  The result therefore does
not depend on the number of threads, and no (n_objects, n_components) array is
ever allocated during fitting.

Symbols (shared by every kernel)
--------------------------------
X : (N, D) data;  sw : (N,) object weights;  mu : (K, D) means;
P : (K, D, D) upper-triangular precision Cholesky factors, so that
``y = (x - mu_k) @ P_k`` is whitened;  log_det_P : (K,) sum of log diag(P_k);
log_w : (K,) log mixture weights;  log_bg : log weight + log density of the
uniform background (``-inf`` when there is none);  c : (K, D) centres about
which second moments are accumulated (the previous means: this keeps the
M-step free of catastrophic cancellation).

Sufficient statistics per component k (sums over objects n, weight s_n,
responsibility r_nk):
``N_k = sum s r``, ``S1_k = sum s r (x - c_k)``, ``S2_k = sum s r (x - c_k)(x - c_k)^T``;
for extreme deconvolution x is replaced by the conditional mean b_nk and
``S2`` gains ``sum s r B_nk`` (Bovy, Hogg & Roweis 2011, eqs. 14-16).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

__all__ = ["CHUNK", "gmm_stats", "gmm_score", "xd_stats", "xd_score"]

CHUNK = 4096
# Below this many chunks everything runs on the calling thread: handing work to threads
# costs more than it saves on small data.  Above it, the chunk range is split over a pool
# of Python threads running GIL-free numba code (no numba parallel=True: its parfor
# compilation is slow, and OpenMP spin-waiting is slow on a busy machine).
PARALLEL_MIN_CHUNKS = 16
_LOG_2PI = math.log(2.0 * math.pi)


def n_threads() -> int:
    """Return the number of worker threads: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="bayesmix")
        return _POOL


def _run(kernel, nc: int, args: tuple) -> None:
    """Run ``kernel(c0, c1, *args)`` over chunks 0..nc, on threads when there are many.

    The kernels release the GIL and write each chunk's partial sums to its own
    slot, so the result is identical whatever the number of threads.
    """
    nt = n_threads()
    if nc < PARALLEL_MIN_CHUNKS or nt == 1:
        kernel(0, nc, *args)
        return
    bounds = np.linspace(0, nc, min(nt, nc) + 1).astype(int)
    futures = [
        _pool().submit(kernel, int(a), int(b), *args)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    for f in futures:
        f.result()


def n_chunks(n: int) -> int:
    """Return the number of fixed-size chunks covering ``n`` rows."""
    return (n + CHUNK - 1) // CHUNK


# fast-math flags that keep IEEE infinities and NaNs (log weights may be -inf)
_FM = {"contract", "arcp", "nsz", "reassoc"}


@nb.njit(cache=True, inline="always", fastmath=_FM)
def _chunk_log_prob(X, start, L, mu, P, log_det_P, log_w, xt, acc, y, lp):
    """Fill lp[k, :L] = ln w_k + ln N(x | mu_k, Sigma_k) for rows start..start+L (SIMD)."""
    D = X.shape[1]
    K = mu.shape[0]
    const = -0.5 * D * _LOG_2PI
    for n in range(L):
        for a in range(D):
            xt[a, n] = X[start + n, a]
    for k in range(K):
        for n in range(L):
            acc[n] = 0.0
        for j in range(D):
            for n in range(L):
                y[n] = 0.0
            for i in range(j + 1):
                p = P[k, i, j]
                m = mu[k, i]
                for n in range(L):
                    y[n] += (xt[i, n] - m) * p
            for n in range(L):
                acc[n] += y[n] * y[n]
        base = log_w[k] + log_det_P[k] + const
        for n in range(L):
            lp[k, n] = base - 0.5 * acc[n]


@nb.njit(cache=True, inline="always", fastmath=_FM)
def _chunk_normalise(lp, L, K, log_bg, mx, s):
    """Turn lp[k, :L] into exp(lp - max) in place; return via mx (max) and s (sum incl. bg)."""
    for n in range(L):
        mx[n] = log_bg
    for k in range(K):
        for n in range(L):
            if lp[k, n] > mx[n]:
                mx[n] = lp[k, n]
    if log_bg == -np.inf:
        for n in range(L):
            s[n] = 0.0
    else:
        for n in range(L):
            s[n] = math.exp(log_bg - mx[n])
    for k in range(K):
        for n in range(L):
            e = math.exp(lp[k, n] - mx[n])
            lp[k, n] = e
            s[n] += e


@nb.njit(cache=True, inline="always")
def _chunk_work(D, K):
    """Work arrays of one chunk for :func:`_chunk_log_prob` and :func:`_chunk_normalise`."""
    xt = np.empty((D, CHUNK))
    lp = np.empty((K, CHUNK))
    return xt, np.empty(CHUNK), np.empty(CHUNK), lp, np.empty(CHUNK), np.empty(CHUNK)


@nb.njit(cache=True, fastmath=_FM)
def _gmm_stats_chunk(ci, X, sw, mu, P, log_det_P, log_w, log_bg, c, ll, Nk, Nbg, S1, S2):
    N, D = X.shape
    K = mu.shape[0]
    start = ci * CHUNK
    L = min(CHUNK, N - start)
    xt, acc, y, lp, mx, s = _chunk_work(D, K)
    ws = np.empty(CHUNK)
    r = np.empty(CHUNK)
    dd = np.empty((D, CHUNK))
    _chunk_log_prob(X, start, L, mu, P, log_det_P, log_w, xt, acc, y, lp)
    _chunk_normalise(lp, L, K, log_bg, mx, s)
    t_ll = 0.0
    t_bg = 0.0
    has_bg = log_bg > -np.inf
    for n in range(L):
        wn = sw[start + n]
        lse = mx[n] + math.log(s[n])
        t_ll += wn * lse
        if has_bg:
            t_bg += wn * math.exp(log_bg - lse)
        ws[n] = wn / s[n]
    ll[ci] = t_ll
    Nbg[ci] = t_bg
    for k in range(K):
        tn = 0.0
        for n in range(L):
            r[n] = lp[k, n] * ws[n]
            tn += r[n]
        Nk[ci, k] = tn
        for a in range(D):
            ca = c[k, a]
            t1 = 0.0
            for n in range(L):
                dd[a, n] = xt[a, n] - ca
                t1 += r[n] * dd[a, n]
            S1[ci, k, a] = t1
        for a in range(D):
            for b in range(a, D):
                t2 = 0.0
                for n in range(L):
                    t2 += r[n] * dd[a, n] * dd[b, n]
                S2[ci, k, a, b] = t2


@nb.njit(cache=True, nogil=True)
def _gmm_stats_range(c0, c1, X, sw, mu, P, log_det_P, log_w, log_bg, c, ll, Nk, Nbg, S1, S2):
    for ci in range(c0, c1):
        _gmm_stats_chunk(ci, X, sw, mu, P, log_det_P, log_w, log_bg, c, ll, Nk, Nbg, S1, S2)


def _chunk_sums(N: int, K: int, D: int):
    """Return the number of chunks and zeroed per-chunk sums (ll, N_k, N_bg, S1, S2)."""
    nc = n_chunks(N)
    return nc, (
        np.zeros(nc),
        np.zeros((nc, K)),
        np.zeros(nc),
        np.zeros((nc, K, D)),
        np.zeros((nc, K, D, D)),
    )


def gmm_stats(X, sw, mu, P, log_det_P, log_w, log_bg, c):
    """Fused E-step and sufficient statistics for a Gaussian mixture (complete data).

    Returns per-chunk (ll, N_k, N_bg, S1, S2); S2 holds the upper triangle only.
    """
    nc, out = _chunk_sums(X.shape[0], *mu.shape)
    _run(_gmm_stats_range, nc, (X, sw, mu, P, log_det_P, log_w, float(log_bg), c, *out))
    return out


@nb.njit(cache=True, fastmath=_FM)
def _gmm_score_chunk(ci, X, mu, P, log_det_P, log_w, log_bg, want_resp, out_lse, out_log_resp):
    N, D = X.shape
    K = mu.shape[0]
    has_bg = out_log_resp.shape[1] > K
    start = ci * CHUNK
    L = min(CHUNK, N - start)
    xt, acc, y, lp, mx, s = _chunk_work(D, K)
    _chunk_log_prob(X, start, L, mu, P, log_det_P, log_w, xt, acc, y, lp)
    if want_resp:
        for k in range(K):
            for n in range(L):
                out_log_resp[start + n, k] = lp[k, n]
    _chunk_normalise(lp, L, K, log_bg, mx, s)
    for n in range(L):
        lse = mx[n] + math.log(s[n])
        out_lse[start + n] = lse
        if want_resp:
            for k in range(K):
                out_log_resp[start + n, k] -= lse
            if has_bg:
                out_log_resp[start + n, K] = log_bg - lse


@nb.njit(cache=True, nogil=True)
def _gmm_score_range(c0, c1, X, mu, P, log_det_P, log_w, log_bg, want_resp, out_lse, out_log_resp):
    for ci in range(c0, c1):
        _gmm_score_chunk(ci, X, mu, P, log_det_P, log_w, log_bg, want_resp, out_lse, out_log_resp)


def gmm_score(X, mu, P, log_det_P, log_w, log_bg, want_resp, out_lse, out_log_resp):
    """Per-object log-density (``out_lse``) and, if ``want_resp``, log responsibilities.

    ``out_log_resp`` has shape (N, K) or (N, K + 1) with the background last.
    """
    args = (X, mu, P, log_det_P, log_w, float(log_bg), bool(want_resp), out_lse, out_log_resp)
    _run(_gmm_score_range, n_chunks(X.shape[0]), args)


@nb.njit(cache=True, inline="always")
def _chol_inplace(A, D):
    # Lower Cholesky factor of A (overwrites the lower triangle); returns False if not PD.
    for j in range(D):
        s = A[j, j]
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, D):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / d
    return True


@nb.njit(cache=True, inline="always")
def _xd_component(x, S_n, mu_k, V_k, D, T, z, u, W):
    """Log N(x | mu, V + S) without the constant, and helpers for b and B.

    On return: T holds chol(V + S) (lower), z = L^-1 (x - mu), u = L^-T z
    (so T^-1 (x - mu) = u), W = L^-1 V.  Returns (ok, -0.5 logdet - 0.5 maha).
    """
    for a in range(D):
        for b in range(D):
            T[a, b] = V_k[a, b] + S_n[a, b]
    if not _chol_inplace(T, D):
        return False, 0.0
    logdet = 0.0
    for a in range(D):
        logdet += math.log(T[a, a])
    # forward solve L z = x - mu
    maha = 0.0
    for a in range(D):
        t = x[a] - mu_k[a]
        for b in range(a):
            t -= T[a, b] * z[b]
        z[a] = t / T[a, a]
        maha += z[a] * z[a]
    # backward solve L^T u = z
    for a in range(D - 1, -1, -1):
        t = z[a]
        for b in range(a + 1, D):
            t -= T[b, a] * u[b]
        u[a] = t / T[a, a]
    # W = L^-1 V (column by column)
    for col in range(D):
        for a in range(D):
            t = V_k[a, col]
            for b in range(a):
                t -= T[a, b] * W[b, col]
            W[a, col] = t / T[a, a]
    return True, -logdet - 0.5 * maha


@nb.njit(cache=True, inline="always")
def _xd_row(x, S_n, mu, V, log_w, log_bg, work, lp, bvec, Bmat, moments):
    """Fill lp[k] = ln w_k + ln N(x | mu_k, V_k + S_n) for every k; return (ok, max).

    With ``moments`` also the conditional means ``bvec[k] = mu_k + V_k u`` and
    covariances ``Bmat[k] = V_k - W^T W`` (upper triangle).  ``max`` is that of
    ``lp`` and ``log_bg``; ``ok`` is False if a factorisation failed (``lp`` then
    partly filled).  ``work`` = (T, z, u, W) of :func:`_xd_component`.
    """
    T, z, u, W = work
    K, D = mu.shape
    const = -0.5 * D * _LOG_2PI
    m = log_bg
    for k in range(K):
        ok, val = _xd_component(x, S_n, mu[k], V[k], D, T, z, u, W)
        if not ok:
            return False, m
        lp[k] = log_w[k] + const + val
        if lp[k] > m:
            m = lp[k]
        if not moments:
            continue
        # b = mu + V u ; B = V - W^T W
        for a in range(D):
            t = mu[k, a]
            for b in range(D):
                t += V[k, a, b] * u[b]
            bvec[k, a] = t
        for a in range(D):
            for b in range(a, D):
                t = V[k, a, b]
                for q in range(D):
                    t -= W[q, a] * W[q, b]
                Bmat[k, a, b] = t
    return True, m


@nb.njit(cache=True, inline="always")
def _xd_lse(lp, log_bg, m):
    """Return ln(exp(log_bg) + sum_k exp(lp[k])) given their maximum ``m`` (finite)."""
    s = math.exp(log_bg - m)
    for k in range(lp.shape[0]):
        s += math.exp(lp[k] - m)
    return m + math.log(s)


@nb.njit(cache=True)
def _xd_stats_chunk(ci, X, S, sw, mu, V, log_w, log_bg, c, ll, Nk, Nbg, S1, S2, bad):
    N, D = X.shape
    K = mu.shape[0]
    work = (np.empty((D, D)), np.empty(D), np.empty(D), np.empty((D, D)))
    z = work[1]
    lp = np.empty(K)
    bvec = np.empty((K, D))
    Bmat = np.empty((K, D, D))
    start = ci * CHUNK
    for n in range(start, min(start + CHUNK, N)):
        ok, m = _xd_row(X[n], S[n], mu, V, log_w, log_bg, work, lp, bvec, Bmat, True)
        if not ok:
            bad[ci] += 1
            continue
        if m == -np.inf:
            continue
        lse = _xd_lse(lp, log_bg, m)
        wn = sw[n]
        ll[ci] += wn * lse
        Nbg[ci] += wn * math.exp(log_bg - lse)
        for k in range(K):
            wr = wn * math.exp(lp[k] - lse)
            if wr == 0.0:
                continue
            Nk[ci, k] += wr
            for a in range(D):
                z[a] = bvec[k, a] - c[k, a]
            for a in range(D):
                S1[ci, k, a] += wr * z[a]
                wa = wr * z[a]
                for b in range(a, D):
                    S2[ci, k, a, b] += wa * z[b] + wr * Bmat[k, a, b]


@nb.njit(cache=True, nogil=True)
def _xd_stats_range(c0, c1, X, S, sw, mu, V, log_w, log_bg, c, ll, Nk, Nbg, S1, S2, bad):
    for ci in range(c0, c1):
        _xd_stats_chunk(ci, X, S, sw, mu, V, log_w, log_bg, c, ll, Nk, Nbg, S1, S2, bad)


def xd_stats(X, S, sw, mu, V, log_w, log_bg, c):
    """Fused extreme-deconvolution E-step and sufficient statistics.

    ``S`` is (N, D, D), the per-object error covariances.  Returns per-chunk
    (ll, N_k, N_bg, S1, S2, n_bad) where ``n_bad`` counts failed factorisations.
    """
    nc, out = _chunk_sums(X.shape[0], *mu.shape)
    out = (*out, np.zeros(nc, dtype=np.int64))
    _run(_xd_stats_range, nc, (X, S, sw, mu, V, log_w, float(log_bg), c, *out))
    return out


@nb.njit(cache=True)
def _xd_score_chunk(ci, X, S, mu, V, log_w, log_bg, want_resp, out_lse, out_log_resp):
    N, D = X.shape
    K = mu.shape[0]
    has_bg = out_log_resp.shape[1] > K
    work = (np.empty((D, D)), np.empty(D), np.empty(D), np.empty((D, D)))
    lp = np.empty(K)
    none2, none3 = np.empty((0, 0)), np.empty((0, 0, 0))
    start = ci * CHUNK
    for n in range(start, min(start + CHUNK, N)):
        ok, m = _xd_row(X[n], S[n], mu, V, log_w, log_bg, work, lp, none2, none3, False)
        if not ok:
            out_lse[n] = np.nan
            continue
        if m == -np.inf:
            out_lse[n] = -np.inf
            continue
        lse = _xd_lse(lp, log_bg, m)
        out_lse[n] = lse
        if want_resp:
            for k in range(K):
                out_log_resp[n, k] = lp[k] - lse
            if has_bg:
                out_log_resp[n, K] = log_bg - lse


@nb.njit(cache=True, nogil=True)
def _xd_score_range(c0, c1, X, S, mu, V, log_w, log_bg, want_resp, out_lse, out_log_resp):
    for ci in range(c0, c1):
        _xd_score_chunk(ci, X, S, mu, V, log_w, log_bg, want_resp, out_lse, out_log_resp)


def xd_score(X, S, mu, V, log_w, log_bg, want_resp, out_lse, out_log_resp):
    """Per-object log-density of the noisy data and (optionally) log responsibilities."""
    args = (X, S, mu, V, log_w, float(log_bg), bool(want_resp), out_lse, out_log_resp)
    _run(_xd_score_range, n_chunks(X.shape[0]), args)
