"""Branch-free ``exp`` and ``log`` written in numba arithmetic, so loops over objects vectorise.

numba lowers ``math.exp``/``math.log`` to calls into the C library, one value at a time, and a
loop containing such a call is not vectorised; those calls dominate the cost of a mixture
log-likelihood pass (about 20 ns per object for ``log`` + ``exp`` + ``log1p``).  The two
functions here use only additions, multiplications, one division, ``floor`` and bit
reinterpretation, which LLVM turns into SIMD instructions.  Their error is a few units in the
last place over the whole double range used here (tested against :mod:`math` in
``tests/components/test_vmath.py``); the only ``fastmath`` liberty they take is fusing a
multiply and an add (:data:`FASTMATH`), so results do not depend on whether the loop was
compiled in this process or came from numba's cache.  Callers must be
compiled with ``error_model="numpy"``: numba's default Python error model guards every
division with a zero check, which stops LLVM from vectorising the loop.

References
----------
Cody, W. J. & Waite, W. 1980, *Software Manual for the Elementary Functions* (argument
reduction with a two-part ln 2).  Sun Microsystems fdlibm ``e_log.c`` (the identity
``log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2)))`` with ``s = f / (2 + f)``).
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["FASTMATH", "vexp", "vlog"]

#: the one ``fastmath`` liberty the kernels take: LLVM may fuse a multiply and an add into a
#: fused multiply-add (``contract``; one rounding instead of two).  No reassociation, no
#: approximate reciprocals, no assumptions about NaN, infinities or signed zeros: the
#: arithmetic is the written order, so a kernel compiled in this process and the same kernel
#: loaded from numba's cache (which is specific to the CPU) give identical bits.
FASTMATH = {"contract"}

#: ln 2 split so that k * LN2_HI is exact for |k| < 2**20 (fdlibm's constants)
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
SQRT2 = math.sqrt(2.0)
#: exp underflows to 0 below this and overflows above EXP_MAX
EXP_MIN = -745.2
EXP_MAX = 709.78

# Taylor coefficients 1/k!, k = 13 .. 2, of exp(r) on |r| <= ln(2)/2 (truncation < 1e-17)
_E13, _E12, _E11, _E10 = (1.0 / math.factorial(k) for k in (13, 12, 11, 10))
_E9, _E8, _E7, _E6 = (1.0 / math.factorial(k) for k in (9, 8, 7, 6))
_E5, _E4, _E3, _E2 = (1.0 / math.factorial(k) for k in (5, 4, 3, 2))
# 2 / (2k + 1), k = 11 .. 1: R(z) = sum_k 2 z^k / (2k + 1), z = s^2 <= 0.0295 (truncation < 1e-18)
_L11, _L10, _L9, _L8 = (2.0 / (2 * k + 1) for k in (11, 10, 9, 8))
_L7, _L6, _L5, _L4 = (2.0 / (2 * k + 1) for k in (7, 6, 5, 4))
_L3, _L2, _L1 = (2.0 / (2 * k + 1) for k in (3, 2, 1))


@intrinsic
def _as_float(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _as_int(typingctx, value):
    """Reinterpret the bits of a float64 as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@numba.njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def vexp(x: float) -> float:
    """``exp(x)`` for finite or infinite ``x``; 0 below -745.2, ``inf`` above 709.78.

    Cody-Waite reduction ``x = k ln 2 + r``, ``|r| <= ln 2 / 2``, a degree-13 Taylor
    polynomial for ``exp(r)`` and the scale ``2**k`` applied as two exact powers of two (so
    that subnormal results come out right).  NaN gives NaN.
    """
    xc = min(max(x, EXP_MIN), EXP_MAX)
    k = math.floor(xc * INV_LN2 + 0.5)
    r = (xc - k * LN2_HI) - k * LN2_LO
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    ki = numba.int64(k)
    k1 = ki >> 1
    k2 = ki - k1
    y = p * _as_float((k1 + 1023) << 52) * _as_float((k2 + 1023) << 52)
    # saturate outside the clamped range (also keeps NaN as NaN: comparisons are false)
    y = 0.0 if x < EXP_MIN else y
    y = math.inf if x > EXP_MAX else y
    return x if x != x else y


@numba.njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def vlog(x: float) -> float:
    """Natural logarithm of a positive normal ``x`` (``-inf`` at 0, NaN below 0).

    ``x = 2**e m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))``, ``f = m - 1``, ``s = f / (2 + f)``
    and ``log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2)))`` with the series
    ``R(z) = sum_k 2 z^k / (2k + 1)`` to k = 11.  Subnormal ``x`` (below 2.2e-308) is scaled
    first; ``inf`` gives ``inf``.
    """
    sub = x < 2.2250738585072014e-308
    xs = x * (18014398509481984.0 if sub else 1.0)  # 2**54
    bits = _as_int(xs)
    e = (bits >> 52) - (1077 if sub else 1023)
    m = _as_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > SQRT2
    m = m * (0.5 if big else 1.0)
    e = e + numba.int64(big)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    R = _L11
    R = R * z + _L10
    R = R * z + _L9
    R = R * z + _L8
    R = R * z + _L7
    R = R * z + _L6
    R = R * z + _L5
    R = R * z + _L4
    R = R * z + _L3
    R = R * z + _L2
    R = R * z + _L1
    R = R * z
    hfsq = 0.5 * f * f
    ef = numba.float64(e)
    y = ef * LN2_HI + (f - (hfsq - (s * (hfsq + R) + ef * LN2_LO)))
    # special values: 0 -> -inf, inf -> inf, negative or NaN -> NaN (selects, no branches)
    y = -math.inf if x == 0.0 else y
    y = math.inf if x == math.inf else y
    return y if x >= 0.0 else math.nan
