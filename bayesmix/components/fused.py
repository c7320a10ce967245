r"""Mixture log-likelihood and its gradient in one pass over the objects (numba).

The likelihood of every bayesmix builder is a sum over objects of a logsumexp over
components, each component's log-density being a sum of a few standard terms.  This module
evaluates that sum **and** its gradient with respect to every parameter in one loop over the
objects, without (N,)-sized temporaries, with SIMD-friendly arithmetic (:mod:`._vmath`) and
no ``fastmath`` liberty but fused multiply-adds (:data:`._vmath.FASTMATH`: results are
bitwise reproducible whether the kernel was compiled in this process or loaded from numba's
cache).  :mod:`bayesmix.components.fused_op` wraps it as a
PyTensor Op with a numba dispatch, so nutpie's numba backend inlines it into the compiled
log-density.

A component j ("term set") is the sum of any of

``gaussian``
    :math:`\ln\mathcal N(y_n \mid \mu_g + t_n\beta_g,\; S_{gn})` with
    :math:`S_{gn} = V_g + C_n + E_n\beta_g\beta_g^T - (K_n\beta_g^T + \beta_g K_n^T)`:
    a D-dimensional Gaussian with free mean ``mu`` (D,), free intrinsic covariance ``V``
    (D, D), optional slope ``beta`` (D,) on a per-object covariate ``t`` whose measurement
    variance is ``E`` (errors in x) and whose error covariance with the features' errors is
    ``K`` (D,) (correlated x and y errors), convolved with each object's error covariance ``C``
    (Bovy, Hogg & Roweis 2011; Hogg, Bovy & Lang 2010, eq. 32 for the line);
``plummer``
    :math:`-\ln\pi + \ln a^2 - 2\ln(a^2 + |s_n - c|^2)`: the Plummer (1911) surface density
    of scale radius ``a`` centred at ``c`` (2,) at tangent-plane position ``s_n``, per unit
    area (any normalisation over a footprint is a scalar, folded into the log weight);
``fixed``
    a per-object log-density without free parameters (e.g. an XD field fitted beforehand),
    data;
``extra``
    a per-object log-density computed elsewhere (e.g. an EDSD parallax field with a free
    length scale); its gradient is the responsibility of component j for each object, which
    the kernel returns so the caller can chain it,

plus its log weight ``lw[j]``.  The total is

.. math:: \ell = \sum_n \ln\sum_j \exp(\mathrm{lw}_j + \ln p_j(y_n)),

and with responsibilities :math:`r_{jn}`, :math:`u = S^{-1}(y - m)`,
:math:`G = \tfrac12(uu^T - S^{-1})`: :math:`\partial\ell/\partial\mathrm{lw}_j = \sum_n r_{jn}`,
:math:`\partial\ell/\partial\mu = \sum_n r u`, :math:`\partial\ell/\partial V = \sum_n r G`,
:math:`\partial\ell/\partial\beta = \sum_n r (t_n u + 2E_n G\beta - 2GK_n)`,
:math:`\partial\ell/\partial c = \sum_n r\,4(s_n - c)/(a^2 + R^2)`,
:math:`\partial\ell/\partial a = \sum_n r\,(2/a - 4a/(a^2 + R^2))`.

Objects are processed in blocks of :data:`BLOCK`; within a block every step is a loop over the
block's objects (vectorised by LLVM), and sums are accumulated per lane and reduced in a fixed
order at the end, so the result does not depend on the compiler's choices.  Every ``vlog`` and
``vexp`` sits in a loop of its own (its argument stored per lane first): a loop with many data
streams and a transcendental was left scalar by LLVM (the D = 3 block ran 2.8x slower;
bench/RESULTS.md, issue 14 section 9).

References
----------
Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, Ann. Appl. Stat. 5, 1657.
Hogg, D. W., Bovy, J. & Lang, D. 2010, arXiv:1008.4686.
Plummer, H. C. 1911, MNRAS 71, 460.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from bayesmix.components._vmath import FASTMATH, vexp, vlog

__all__ = ["BLOCK", "FusedLayout", "kernel_digest", "mixture_loglik_grad"]

#: objects per block (the per-block scratch stays in the L1/L2 cache)
BLOCK = 256
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _gaussian_block(n0, nb, X, C, t, E, K, mu, Vs, beta, g, Lb, r, zz, acc, det, U, Si, gl):
    """Log-density of one Gaussian term for objects n0 .. n0 + nb, plus u and S^-1 (lanes)."""
    D = X.shape[0]
    has_C = C.shape[2] > 0
    has_t = t.shape[0] > 0
    has_E = E.shape[0] > 0
    has_K = K.shape[1] > 0
    if has_C and not has_t and D == 2:
        _direct_2(n0, nb, X, C, mu, Vs, g, U, Si, gl, det)
        return
    if has_C and not has_t and D == 3:
        _direct_3(n0, nb, X, C, mu, Vs, g, U, Si, gl, det)
        return
    for i in range(D):
        m = mu[g, i]
        bi = beta[g, i]
        if has_t:
            for n in range(nb):
                r[i, n] = X[i, n0 + n] - (m + t[n0 + n] * bi)
        else:
            for n in range(nb):
                r[i, n] = X[i, n0 + n] - m
        for k in range(i + 1):
            v = Vs[g, i, k]
            bk = beta[g, k]
            if has_C:
                for n in range(nb):
                    Lb[i, k, n] = v + C[i, k, n0 + n]
            else:
                for n in range(nb):
                    Lb[i, k, n] = v
            if has_E:
                bb = bi * bk
                for n in range(nb):
                    Lb[i, k, n] += E[n0 + n] * bb
            if has_K:
                for n in range(nb):
                    Lb[i, k, n] -= K[i, n0 + n] * bk + bi * K[k, n0 + n]
    if D == 1:
        _small_1(nb, Lb, r, g, U, Si, gl)
    elif D == 2:
        _small_2(nb, Lb, r, g, U, Si, gl)
    elif D == 3:
        _small_3(nb, Lb, r, g, U, Si, gl)
    else:
        _cholesky_block(nb, D, Lb, r, zz, acc, det, g, U, Si, gl)


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_2(n0, nb, X, C, mu, Vs, g, U, Si, gl, dt):
    """D = 2 with error covariances and no slope, in one loop (the proper-motion case)."""
    c0 = -_LOG_2PI
    m0 = mu[g, 0]
    m1 = mu[g, 1]
    v00 = Vs[g, 0, 0]
    v10 = Vs[g, 1, 0]
    v11 = Vs[g, 1, 1]
    for n in range(nb):
        a = C[0, 0, n0 + n] + v00
        b = C[1, 0, n0 + n] + v10
        c = C[1, 1, n0 + n] + v11
        det = a * c - b * b
        idet = 1.0 / det
        i00 = c * idet
        i11 = a * idet
        i10 = -b * idet
        r0 = X[0, n0 + n] - m0
        r1 = X[1, n0 + n] - m1
        u0 = i00 * r0 + i10 * r1
        u1 = i10 * r0 + i11 * r1
        U[g, 0, n] = u0
        U[g, 1, n] = u1
        Si[g, 0, 0, n] = i00
        Si[g, 1, 1, n] = i11
        Si[g, 1, 0, n] = i10
        Si[g, 0, 1, n] = i10
        dt[n] = det
        gl[g, n] = r0 * u0 + r1 * u1
    for n in range(nb):
        gl[g, n] = c0 - 0.5 * (vlog(dt[n]) + gl[g, n])


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _direct_3(n0, nb, X, C, mu, Vs, g, U, Si, gl, det):
    """D = 3 with error covariances and no slope, in three loops (parallax + proper motions)."""
    c0 = -1.5 * _LOG_2PI
    m0 = mu[g, 0]
    m1 = mu[g, 1]
    m2 = mu[g, 2]
    v00 = Vs[g, 0, 0]
    v10 = Vs[g, 1, 0]
    v11 = Vs[g, 1, 1]
    v20 = Vs[g, 2, 0]
    v21 = Vs[g, 2, 1]
    v22 = Vs[g, 2, 2]
    for n in range(nb):
        a00 = C[0, 0, n0 + n] + v00
        a10 = C[1, 0, n0 + n] + v10
        a11 = C[1, 1, n0 + n] + v11
        a20 = C[2, 0, n0 + n] + v20
        a21 = C[2, 1, n0 + n] + v21
        a22 = C[2, 2, n0 + n] + v22
        c00 = a11 * a22 - a21 * a21
        c10 = a21 * a20 - a10 * a22
        c20 = a10 * a21 - a11 * a20
        d = a00 * c00 + a10 * c10 + a20 * c20
        idet = 1.0 / d
        Si[g, 0, 0, n] = c00 * idet
        Si[g, 1, 0, n] = c10 * idet
        Si[g, 2, 0, n] = c20 * idet
        Si[g, 1, 1, n] = (a00 * a22 - a20 * a20) * idet
        Si[g, 2, 1, n] = (a10 * a20 - a00 * a21) * idet
        Si[g, 2, 2, n] = (a00 * a11 - a10 * a10) * idet
        det[n] = d
    for n in range(nb):
        i00 = Si[g, 0, 0, n]
        i10 = Si[g, 1, 0, n]
        i20 = Si[g, 2, 0, n]
        i11 = Si[g, 1, 1, n]
        i21 = Si[g, 2, 1, n]
        i22 = Si[g, 2, 2, n]
        Si[g, 0, 1, n] = i10
        Si[g, 0, 2, n] = i20
        Si[g, 1, 2, n] = i21
        r0 = X[0, n0 + n] - m0
        r1 = X[1, n0 + n] - m1
        r2 = X[2, n0 + n] - m2
        u0 = i00 * r0 + i10 * r1 + i20 * r2
        u1 = i10 * r0 + i11 * r1 + i21 * r2
        u2 = i20 * r0 + i21 * r1 + i22 * r2
        U[g, 0, n] = u0
        U[g, 1, n] = u1
        U[g, 2, n] = u2
        gl[g, n] = r0 * u0 + r1 * u1 + r2 * u2
    for n in range(nb):
        gl[g, n] = c0 - 0.5 * (vlog(det[n]) + gl[g, n])


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _small_1(nb, Lb, r, g, U, Si, gl):
    """D = 1: S^-1 = 1/s."""
    c0 = -0.5 * _LOG_2PI
    for n in range(nb):
        s = Lb[0, 0, n]
        inv = 1.0 / s
        u = r[0, n] * inv
        U[g, 0, n] = u
        Si[g, 0, 0, n] = inv
        gl[g, n] = c0 - 0.5 * (vlog(s) + r[0, n] * u)


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _small_2(nb, Lb, r, g, U, Si, gl):
    """D = 2: closed-form inverse, one division per object."""
    c0 = -_LOG_2PI
    for n in range(nb):
        a = Lb[0, 0, n]
        b = Lb[1, 0, n]
        c = Lb[1, 1, n]
        det = a * c - b * b
        idet = 1.0 / det
        i00 = c * idet
        i11 = a * idet
        i10 = -b * idet
        r0 = r[0, n]
        r1 = r[1, n]
        u0 = i00 * r0 + i10 * r1
        u1 = i10 * r0 + i11 * r1
        U[g, 0, n] = u0
        U[g, 1, n] = u1
        Si[g, 0, 0, n] = i00
        Si[g, 1, 1, n] = i11
        Si[g, 1, 0, n] = i10
        Si[g, 0, 1, n] = i10
        Lb[0, 1, n] = det  # the upper triangle is free scratch
        gl[g, n] = r0 * u0 + r1 * u1
    for n in range(nb):
        gl[g, n] = c0 - 0.5 * (vlog(Lb[0, 1, n]) + gl[g, n])


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _small_3(nb, Lb, r, g, U, Si, gl):
    """D = 3: inverse from the adjugate, one division per object."""
    c0 = -1.5 * _LOG_2PI
    for n in range(nb):
        a00 = Lb[0, 0, n]
        a10 = Lb[1, 0, n]
        a11 = Lb[1, 1, n]
        a20 = Lb[2, 0, n]
        a21 = Lb[2, 1, n]
        a22 = Lb[2, 2, n]
        c00 = a11 * a22 - a21 * a21
        c10 = a21 * a20 - a10 * a22
        c20 = a10 * a21 - a11 * a20
        det = a00 * c00 + a10 * c10 + a20 * c20
        idet = 1.0 / det
        i00 = c00 * idet
        i10 = c10 * idet
        i20 = c20 * idet
        i11 = (a00 * a22 - a20 * a20) * idet
        i21 = (a10 * a20 - a00 * a21) * idet
        i22 = (a00 * a11 - a10 * a10) * idet
        r0 = r[0, n]
        r1 = r[1, n]
        r2 = r[2, n]
        u0 = i00 * r0 + i10 * r1 + i20 * r2
        u1 = i10 * r0 + i11 * r1 + i21 * r2
        u2 = i20 * r0 + i21 * r1 + i22 * r2
        U[g, 0, n] = u0
        U[g, 1, n] = u1
        U[g, 2, n] = u2
        Si[g, 0, 0, n] = i00
        Si[g, 1, 1, n] = i11
        Si[g, 2, 2, n] = i22
        Si[g, 1, 0, n] = i10
        Si[g, 0, 1, n] = i10
        Si[g, 2, 0, n] = i20
        Si[g, 0, 2, n] = i20
        Si[g, 2, 1, n] = i21
        Si[g, 1, 2, n] = i21
        Lb[0, 1, n] = det  # the upper triangle is free scratch
        gl[g, n] = r0 * u0 + r1 * u1 + r2 * u2
    for n in range(nb):
        gl[g, n] = c0 - 0.5 * (vlog(Lb[0, 1, n]) + gl[g, n])


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _cholesky_block(nb, D, Lb, r, zz, acc, det, g, U, Si, gl):
    """D > 3: Cholesky factor per object (lanes), reciprocal pivots, S^-1 column by column."""
    for j in range(D):
        for n in range(nb):
            acc[n] = Lb[j, j, n]
        for k in range(j):
            for n in range(nb):
                acc[n] -= Lb[j, k, n] * Lb[j, k, n]
        if j == 0:
            for n in range(nb):
                det[n] = acc[n]
        else:
            for n in range(nb):
                det[n] *= acc[n]
        for n in range(nb):
            d = math.sqrt(acc[n])
            Lb[j, j, n] = d
            acc[n] = 1.0 / d
        for i in range(j + 1, D):
            for n in range(nb):
                zz[0, n] = Lb[i, j, n]
            for k in range(j):
                for n in range(nb):
                    zz[0, n] -= Lb[i, k, n] * Lb[j, k, n]
            for n in range(nb):
                Lb[i, j, n] = zz[0, n] * acc[n]
        # the reciprocal pivot of column j is kept in the (unused) upper triangle; the last
        # one stays in acc
        if j + 1 < D:
            for n in range(nb):
                Lb[j, j + 1, n] = acc[n]
    # reciprocal pivots: inv[j] = Lb[j, j+1] for j < D-1, acc for j = D-1
    # z = L^-1 r and quad
    for i in range(D):
        for n in range(nb):
            zz[i, n] = r[i, n]
        for k in range(i):
            for n in range(nb):
                zz[i, n] -= Lb[i, k, n] * zz[k, n]
        if i + 1 < D:
            for n in range(nb):
                zz[i, n] *= Lb[i, i + 1, n]
        else:
            for n in range(nb):
                zz[i, n] *= acc[n]
    c0 = -0.5 * D * _LOG_2PI
    for n in range(nb):
        q = 0.0
        for i in range(D):
            q += zz[i, n] * zz[i, n]
        gl[g, n] = c0 - 0.5 * (vlog(det[n]) + q)
    # u = L^-T z
    for i in range(D - 1, -1, -1):
        for n in range(nb):
            U[g, i, n] = zz[i, n]
        for k in range(i + 1, D):
            for n in range(nb):
                U[g, i, n] -= Lb[k, i, n] * U[g, k, n]
        if i + 1 < D:
            for n in range(nb):
                U[g, i, n] *= Lb[i, i + 1, n]
        else:
            for n in range(nb):
                U[g, i, n] *= acc[n]
    # S^-1 column j = L^-T L^-1 e_j (r and zz are free now)
    for j in range(D):
        for i in range(D):
            for n in range(nb):
                r[i, n] = 1.0 if i == j else 0.0
            for k in range(i):
                for n in range(nb):
                    r[i, n] -= Lb[i, k, n] * r[k, n]
            if i + 1 < D:
                for n in range(nb):
                    r[i, n] *= Lb[i, i + 1, n]
            else:
                for n in range(nb):
                    r[i, n] *= acc[n]
        for i in range(D - 1, -1, -1):
            for n in range(nb):
                zz[i, n] = r[i, n]
            for k in range(i + 1, D):
                for n in range(nb):
                    zz[i, n] -= Lb[k, i, n] * zz[k, n]
            if i + 1 < D:
                for n in range(nb):
                    zz[i, n] *= Lb[i, i + 1, n]
            else:
                for n in range(nb):
                    zz[i, n] *= acc[n]
        for i in range(D):
            for n in range(nb):
                Si[g, i, j, n] = zz[i, n]


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _reduce_lanes(aL, alw, amu, ab, aV, aVE, aK, ac, aa, beta, has_E, has_K):
    """Sum the per-lane accumulators of :func:`mixture_loglik_grad` in a fixed order."""
    B = aL.shape[0]
    J = alw.shape[0]
    G, D = amu.shape[0], amu.shape[1]
    P = aa.shape[0]
    logp = 0.0
    for n in range(B):
        logp += aL[n]
    dlw = np.zeros(J)
    for j in range(J):
        for n in range(B):
            dlw[j] += alw[j, n]
    dmu = np.zeros((G, D))
    dV = np.zeros((G, D, D))
    dbeta = np.zeros((G, D))
    for g in range(G):
        for i in range(D):
            for n in range(B):
                dmu[g, i] += amu[g, i, n]
                dbeta[g, i] += ab[g, i, n]
            for k in range(D):
                for n in range(B):
                    dV[g, i, k] += aV[g, i, k, n]
        if has_E:
            for i in range(D):
                for k in range(D):
                    s = 0.0
                    for n in range(B):
                        s += aVE[g, i, k, n]
                    dbeta[g, i] += 2.0 * s * beta[g, k]
        if has_K:
            for i in range(D):
                s = 0.0
                for n in range(B):
                    s += aK[g, i, n]
                dbeta[g, i] -= 2.0 * s
    dcenter = np.zeros((P, 2))
    dradius = np.zeros(P)
    for p in range(P):
        for n in range(B):
            dcenter[p, 0] += ac[p, 0, n]
            dcenter[p, 1] += ac[p, 1, n]
            dradius[p] += aa[p, n]
    return logp, dlw, dmu, dV, dbeta, dcenter, dradius


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _plummer_block(n0, nb, sky_x, sky_y, center, radius, pl, pw):
    """Plummer log-densities of a block of objects and the factors of their gradient."""
    P = center.shape[0]
    for p in range(P):
        c0 = center[p, 0]
        c1 = center[p, 1]
        a2 = radius[p] * radius[p]
        base = -_LOG_PI + math.log(a2)
        for n in range(nb):
            dx = sky_x[n0 + n] - c0
            dy = sky_y[n0 + n] - c1
            den = a2 + dx * dx + dy * dy
            pl[p, n] = den
            q = 1.0 / den
            pw[p, 0, n] = 4.0 * dx * q
            pw[p, 1, n] = 4.0 * dy * q
            pw[p, 2, n] = q
        for n in range(nb):
            pl[p, n] = base - 2.0 * vlog(pl[p, n])


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _combine_block(n0, nb, lw, gidx, pidx, fidx, xidx, gl, pl, fixed, extra, lp, mx, ssum, aL, alw):
    """Add the components' terms, then logsumexp; ``lp`` ends holding the responsibilities."""
    J = lw.shape[0]
    # component log-densities plus log weights, and their maximum
    for n in range(nb):
        mx[n] = -math.inf
    for j in range(J):
        w = lw[j]
        for n in range(nb):
            lp[j, n] = w
        g = gidx[j]
        if g >= 0:
            for n in range(nb):
                lp[j, n] += gl[g, n]
        p = pidx[j]
        if p >= 0:
            for n in range(nb):
                lp[j, n] += pl[p, n]
        f = fidx[j]
        if f >= 0:
            for n in range(nb):
                lp[j, n] += fixed[f, n0 + n]
        x = xidx[j]
        if x >= 0:
            for n in range(nb):
                lp[j, n] += extra[x, n0 + n]
        for n in range(nb):
            mx[n] = max(mx[n], lp[j, n])
    # logsumexp and responsibilities (all -inf: the sum is -inf)
    if J == 2:
        # one exp: the larger term contributes exp(0) = 1
        for n in range(nb):
            d = -abs(lp[0, n] - lp[1, n]) if mx[n] > -math.inf else -math.inf
            ssum[n] = vexp(d)
        for n in range(nb):
            a = lp[0, n]
            b = lp[1, n]
            e = ssum[n]
            inv = 1.0 / (1.0 + e)
            aL[n] += mx[n] + vlog(1.0 + e)
            ra = inv if a >= b else e * inv
            rb = e * inv if a >= b else inv
            lp[0, n] = ra
            lp[1, n] = rb
            alw[0, n] += ra
            alw[1, n] += rb
    else:
        for n in range(nb):
            ssum[n] = 0.0
        for j in range(J):
            for n in range(nb):
                d = lp[j, n] - mx[n] if mx[n] > -math.inf else -math.inf
                e = vexp(d)
                lp[j, n] = e
                ssum[n] += e
        for n in range(nb):
            aL[n] += mx[n] + vlog(ssum[n])
            ssum[n] = 1.0 / ssum[n]
        for j in range(J):
            for n in range(nb):
                lp[j, n] *= ssum[n]
                alw[j, n] += lp[j, n]


@numba.njit(cache=True, error_model="numpy", inline="always", fastmath=FASTMATH)
def _accumulate_block(
    n0, nb, gidx, pidx, xidx, lp, U, Si, t, E, K, radius, pw, amu, ab, aV, aVE, aK, ac, aa, resp
):
    """Add the block's gradient pieces, each weighted by its component's responsibility."""
    J = gidx.shape[0]
    D = U.shape[1]
    has_t = t.shape[0] > 0
    has_E = E.shape[0] > 0
    has_K = K.shape[1] > 0
    # gradient pieces, weighted by the responsibilities
    for j in range(J):
        g = gidx[j]
        if g >= 0:
            for i in range(D):
                for n in range(nb):
                    amu[g, i, n] += lp[j, n] * U[g, i, n]
                if has_t:
                    for n in range(nb):
                        ab[g, i, n] += lp[j, n] * t[n0 + n] * U[g, i, n]
                for k in range(D):
                    for n in range(nb):
                        gik = 0.5 * (U[g, i, n] * U[g, k, n] - Si[g, i, k, n])
                        aV[g, i, k, n] += lp[j, n] * gik
                        if has_E:
                            aVE[g, i, k, n] += lp[j, n] * E[n0 + n] * gik
                        if has_K:
                            aK[g, i, n] += lp[j, n] * gik * K[k, n0 + n]
        p = pidx[j]
        if p >= 0:
            a = radius[p]
            for n in range(nb):
                w = lp[j, n]
                ac[p, 0, n] += w * pw[p, 0, n]
                ac[p, 1, n] += w * pw[p, 1, n]
                aa[p, n] += w * (2.0 / a - 4.0 * a * pw[p, 2, n])
        x = xidx[j]
        if x >= 0:
            for n in range(nb):
                resp[x, n0 + n] = lp[j, n]


@numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def mixture_loglik_grad(
    lw,
    X,
    C,
    t,
    E,
    K,
    gidx,
    mu,
    V,
    beta,
    sky_x,
    sky_y,
    pidx,
    center,
    radius,
    fidx,
    fixed,
    xidx,
    extra,
):
    """Mixture log-likelihood summed over objects and its gradient, in one pass.

    Parameters
    ----------
    lw : ndarray of shape (J,)
        Log weight of each component (plus any scalar normalisation).
    X : ndarray of shape (D, N)
        Features of the Gaussian terms, feature-major (C-contiguous rows, so the loops over
        objects read contiguous memory and vectorise); D may be 0, N is always the number
        of objects.
    C : ndarray of shape (D, D, N) or (D, D, 0)
        Error covariances, feature-major (none: no objects on the last axis).
    t, E : ndarray of shape (N,) or (0,)
        Covariate of the Gaussian mean slope and its measurement variance (none: empty).
    K : ndarray of shape (D, N) or (D, 0)
        Covariance of the covariate's error with each feature's error, feature-major (none:
        no objects on the last axis).
    gidx, pidx, fidx, xidx : int64 ndarray of shape (J,)
        Index of component j's Gaussian, Plummer, fixed and extra term (-1: none).
    mu, V, beta : ndarray of shape (G, D), (G, D, D), (G, D)
        Gaussian means, intrinsic covariances (symmetrised), slopes.
    sky_x, sky_y : ndarray of shape (N,) or (0,)
        Tangent-plane coordinates (deg) for the Plummer terms.
    center, radius : ndarray of shape (P, 2), (P,)
        Plummer centres and scale radii (deg).
    fixed : ndarray of shape (F, N)
        Fixed per-object log-densities.
    extra : ndarray of shape (Q, N)
        Per-object log-densities whose gradient the caller chains.

    Returns
    -------
    tuple
        ``(logp, dlw, dmu, dV, dbeta, dcenter, dradius, resp)`` where ``resp`` (Q, N) holds
        the responsibility of the component owning each extra term (its gradient).
    """
    J = lw.shape[0]
    D = X.shape[0]
    N = X.shape[1]
    G = mu.shape[0]
    P = center.shape[0]
    Q = extra.shape[0]
    has_E = E.shape[0] > 0
    has_K = K.shape[1] > 0
    B = BLOCK
    Vs = np.empty_like(V)
    for g in range(G):
        for i in range(D):
            for k in range(D):
                Vs[g, i, k] = 0.5 * (V[g, i, k] + V[g, k, i])
    lp = np.empty((J, B))
    Lb = np.empty((D, D, B))
    r = np.empty((D, B))
    zz = np.empty((D, B))
    acc = np.empty(B)
    det = np.empty(B)
    mx = np.empty(B)
    ssum = np.empty(B)
    U = np.empty((G, D, B))
    Si = np.empty((G, D, D, B))
    gl = np.empty((G, B))
    pl = np.empty((P, B))
    pw = np.empty((P, 3, B))
    aL = np.zeros(B)
    alw = np.zeros((J, B))
    amu = np.zeros((G, D, B))
    aV = np.zeros((G, D, D, B))
    ab = np.zeros((G, D, B))
    aVE = np.zeros((G, D, D, B)) if has_E else np.zeros((0, D, D, B))
    aK = np.zeros((G, D, B)) if has_K else np.zeros((0, D, B))
    ac = np.zeros((P, 2, B))
    aa = np.zeros((P, B))
    resp = np.zeros((Q, N))
    for n0 in range(0, N, B):
        nb = min(B, N - n0)
        for g in range(G):
            _gaussian_block(n0, nb, X, C, t, E, K, mu, Vs, beta, g, Lb, r, zz, acc, det, U, Si, gl)
        _plummer_block(n0, nb, sky_x, sky_y, center, radius, pl, pw)
        _combine_block(
            n0, nb, lw, gidx, pidx, fidx, xidx, gl, pl, fixed, extra, lp, mx, ssum, aL, alw
        )
        _accumulate_block(
            n0,
            nb,
            gidx,
            pidx,
            xidx,
            lp,
            U,
            Si,
            t,
            E,
            K,
            radius,
            pw,
            amu,
            ab,
            aV,
            aVE,
            aK,
            ac,
            aa,
            resp,
        )
    # reduce the lanes in a fixed order
    logp, dlw, dmu, dV, dbeta, dcenter, dradius = _reduce_lanes(
        aL, alw, amu, ab, aV, aVE, aK, ac, aa, beta, has_E, has_K
    )
    return logp, dlw, dmu, dV, dbeta, dcenter, dradius, resp


# --------------------------------------------------------------------------------------------
# layout: which terms each component has
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FusedLayout:
    """Which terms make up each component of a fused mixture likelihood.

    Parameters
    ----------
    components : sequence of sequence of str
        For each component (in order), the names of its terms, among ``"gaussian"``,
        ``"plummer"``, ``"fixed"`` and ``"extra"`` (each at most once per component; a
        component needs at least one).
    n_features : int
        Dimension D of the Gaussian terms (0 without any).
    error_cov, slope, slope_error, slope_cov : bool
        Whether the Gaussian terms are convolved with per-object error covariances ``C``,
        have a slope on a covariate ``t``, whether ``t`` has measurement variances ``E``, and
        whether its errors are correlated with the features' errors (covariances ``K``).
    fixed_rows : tuple of int, optional
        Row of the ``fixed`` data read by each component that has a ``fixed`` term, in
        component order (rows may repeat: components sharing one per-object term, e.g. the
        sky density of every Gaussian of a field mixture).  Default: one row each, in order.

    Examples
    --------
    The 2-D proper-motion cluster + fixed field of :func:`bayesmix.builders.cluster_field`:

    >>> FusedLayout((("gaussian",), ("fixed",)), n_features=2, error_cov=True).n_terms
    {'gaussian': 1, 'plummer': 0, 'fixed': 1, 'extra': 0}
    """

    components: tuple[tuple[str, ...], ...]
    n_features: int = 0
    error_cov: bool = False
    slope: bool = False
    slope_error: bool = False
    slope_cov: bool = False
    fixed_rows: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        comps = tuple(tuple(str(t) for t in c) for c in self.components)
        object.__setattr__(self, "components", comps)
        if not comps:
            raise ValueError("'components' must list at least one component")
        for j, c in enumerate(comps):
            bad = sorted(set(c) - set(_TERMS))
            if bad:
                raise ValueError(
                    f"component {j}: unknown term {bad[0]!r}; choose from {sorted(_TERMS)}"
                )
            if not c or len(set(c)) != len(c):
                raise ValueError(f"component {j}: needs one or more distinct terms; got {c!r}")
        if self.n_terms["gaussian"] and self.n_features < 1:
            raise ValueError("'n_features' must be >= 1 when a component has a Gaussian term")
        if (self.slope_error or self.slope_cov) and not self.slope:
            raise ValueError("'slope_error' and 'slope_cov' need 'slope'")
        if self.fixed_rows is not None:
            rows = tuple(int(r) for r in self.fixed_rows)
            object.__setattr__(self, "fixed_rows", rows)
            n_fixed = sum("fixed" in c for c in comps)
            if len(rows) != n_fixed or (rows and set(rows) != set(range(max(rows) + 1))):
                raise ValueError(
                    f"'fixed_rows' must give one row per fixed term ({n_fixed}), using every "
                    f"row from 0 up; got {rows!r}"
                )

    @property
    def n_terms(self) -> dict[str, int]:
        """Number of terms (parameter sets, or rows of per-object data) of each kind."""
        out = {k: sum(k in c for c in self.components) for k in _TERMS}
        if self.fixed_rows:
            out["fixed"] = max(self.fixed_rows) + 1
        return out

    def indices(self) -> dict[str, np.ndarray]:
        """Index arrays (J,) of each component's term of each kind (-1: none)."""
        out = {}
        for kind in _TERMS:
            idx = np.full(len(self.components), -1, dtype=np.int64)
            count = 0
            for j, c in enumerate(self.components):
                if kind in c:
                    rows = self.fixed_rows if kind == "fixed" else None
                    idx[j] = rows[count] if rows else count
                    count += 1
            out[kind] = idx
        return out

    def kernel_arguments(self, params: Mapping[str, Any], data: Mapping[str, Any]) -> tuple:
        """Arguments of :func:`mixture_loglik_grad`, in order, as float64/int64 arrays.

        ``params``: ``log_weights`` (J,), and as the layout needs ``mean`` (G, D), ``cov``
        (G, D, D), ``slope`` (G, D), ``center`` (P, 2), ``radius`` (P,).  ``data``, object-major
        as elsewhere in bayesmix (transposed to the kernel's feature-major layout here): ``X``
        (N, D) (or ``n_objects``), ``error_cov`` (N, D, D), ``t``, ``t_var`` (N,),
        ``slope_cov`` (N, D), ``sky`` (N, 2), ``fixed`` (F, N), ``extra`` (Q, N).
        """
        nt = self.n_terms
        D = self.n_features
        idx = self.indices()
        f64 = _as_f64
        if "X" in data:
            X = f64(np.asarray(data["X"], dtype=np.float64).reshape(-1, D).T)
        else:
            X = np.zeros((0, int(data["n_objects"])))
        N = X.shape[1]
        G, P = nt["gaussian"], nt["plummer"]
        C = (
            f64(np.asarray(data["error_cov"], dtype=np.float64).reshape(N, D, D).transpose(1, 2, 0))
            if self.error_cov
            else np.zeros((D, D, 0))
        )
        t = f64(data["t"]).reshape(N) if self.slope else np.zeros(0)
        E = f64(data["t_var"]).reshape(N) if self.slope_error else np.zeros(0)
        K = (
            f64(np.asarray(data["slope_cov"], dtype=np.float64).reshape(N, D).T)
            if self.slope_cov
            else np.zeros((D, 0))
        )
        mu = f64(params["mean"]).reshape(G, D) if G else np.zeros((0, D))
        V = f64(params["cov"]).reshape(G, D, D) if G else np.zeros((0, D, D))
        beta = f64(params["slope"]).reshape(G, D) if self.slope else np.zeros((G, D))
        sky = (
            f64(np.asarray(data["sky"], dtype=np.float64).reshape(N, 2).T)
            if P
            else np.zeros((2, 0))
        )
        sky_x, sky_y = f64(sky[0]), f64(sky[1])
        center = f64(params["center"]).reshape(P, 2) if P else np.zeros((0, 2))
        radius = f64(params["radius"]).reshape(P) if P else np.zeros(0)
        fixed = f64(data["fixed"]).reshape(nt["fixed"], N) if nt["fixed"] else np.zeros((0, N))
        extra = f64(data["extra"]).reshape(nt["extra"], N) if nt["extra"] else np.zeros((0, N))
        lw = f64(params["log_weights"]).reshape(len(self.components))
        return (
            lw,
            X,
            C,
            t,
            E,
            K,
            idx["gaussian"],
            mu,
            V,
            beta,
            sky_x,
            sky_y,
            idx["plummer"],
            center,
            radius,
            idx["fixed"],
            fixed,
            idx["extra"],
            extra,
        )

    def evaluate(self, params: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        """Return the log-likelihood and its gradient as a dict (names as in the kernel)."""
        out = mixture_loglik_grad(*self.kernel_arguments(params, data))
        names = ("logp", "log_weights", "mean", "cov", "slope", "center", "radius", "resp")
        return dict(zip(names, out, strict=True))


_TERMS: Sequence[str] = ("gaussian", "plummer", "fixed", "extra")


def kernel_digest() -> str:
    """SHA-256 of the kernel's source (this module and :mod:`._vmath`).

    Compiled code that calls the kernel is cached under keys that must change when the
    kernel does (:mod:`bayesmix.components.fused_op`).
    """
    import hashlib
    import sys
    from pathlib import Path

    files = (__file__, sys.modules[vexp.__module__].__file__)
    text = "".join(Path(f).read_text(encoding="utf-8") for f in files)
    return hashlib.sha256(text.encode()).hexdigest()


def _as_f64(a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))
