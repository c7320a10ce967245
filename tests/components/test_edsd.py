import numpy as np
import pytest
from scipy import integrate, stats

from bayesmix.components.edsd import EDSDDistance, EDSDParallax, edsd_window
from bayesmix.testing import assert_backends_agree


def _quad_log_parallax_density(plx, sigma, L, zp=0.0):
    """ln int_0^inf N(plx | 1/r + zp, sigma) Gamma(r | 3, L) dr by scipy.integrate.quad.

    The integral is taken in s = ln r, split into 40 panels over the range where the
    log integrand (found on a fine grid) is within 60 nats of its maximum, and scaled
    by that maximum so quad works on O(1) values.
    """

    def lg(s):
        r = np.exp(s)
        return s + stats.gamma.logpdf(r, 3, scale=L) + stats.norm.logpdf(plx, 1 / r + zp, sigma)

    grid = np.linspace(-15, np.log(L) + 8, 40001)
    v = lg(grid)
    m = v.max()
    keep = grid[v > m - 60]
    edges = np.linspace(keep.min() - 0.05, keep.max() + 0.05, 41)
    tot = sum(
        integrate.quad(lambda s: np.exp(lg(s) - m), a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )
    return m + np.log(tot)


def test_distance_matches_scipy_gamma(rng):
    r = rng.uniform(0.01, 10, 100)
    got = EDSDDistance().logp(r, {"length_scale": 1.35})
    np.testing.assert_allclose(got, stats.gamma(3, scale=1.35).logpdf(r), rtol=1e-10, atol=1e-10)
    assert np.isneginf(EDSDDistance().logp(np.array([0.0, -1.0]), {"length_scale": 1.0})).all()


@pytest.mark.parametrize("L", [0.2, 1.35, 4.0])
def test_distance_integrates_to_one(L):
    val, _ = integrate.quad(
        lambda r: np.exp(EDSDDistance().logp(np.array([r]), {"length_scale": L})[0]),
        0,
        np.inf,
        epsabs=0,
        epsrel=1e-12,
    )
    # a peer implementation integrated to 0.125 (a missing 1/(2 L^3)); this must be 1
    np.testing.assert_allclose(val, 1.0, rtol=1e-10)


@pytest.mark.parametrize("L", [0.3, 1.35])
def test_parallax_form_integrates_to_one(L):
    sigma = 0.2
    comp = EDSDParallax()

    def dens(p):
        return np.exp(
            comp.logp(np.array([p]), {"length_scale": L, "error_var": np.array([sigma**2])})[0]
        )

    # mass lies in a few sigma below 0 up to ~1/(0.01 L); split at the peak for quad
    edges = [-3.0, 0.0, 0.5 / L, 2.0 / L, 20.0 / L, 2000.0]
    val = sum(
        integrate.quad(dens, a, b, epsabs=1e-13, epsrel=1e-11, limit=500)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )
    # the far tail p > 2000 mas holds Gamma mass r < 5e-4 kpc: < 1e-10 for these L
    np.testing.assert_allclose(val, 1.0, rtol=2e-9)


CASES = [  # (parallax mas, error mas, L kpc, zero point mas): realistic Gaia values
    (4.21, 0.05, 1.35, 0.0),  # Blanco 1 member
    (0.36, 0.02, 1.35, -0.017),  # NGC 6819 member, DR3 zero point
    (1.0, 0.1, 1.35, 0.0),
    (0.1, 0.5, 1.35, 0.0),  # faint
    (-0.5, 0.3, 1.35, 0.0),  # negative
    (-0.1, 0.02, 0.3, 0.0),  # 5 sigma negative, small L
    (-2.0, 0.5, 3.0, -0.03),  # 4 sigma negative
    (0.0, 0.02, 1.35, 0.0),
    (0.0756, 0.0146, 0.139, 0.0),
    (20.0, 0.05, 1.35, 0.0),  # nearby star, 400 sigma
    (140.0, 1.59, 1.79, 0.0),
    (0.5, 1.5, 5.0, 0.0),
    (2.0, 2.0, 0.1, 0.0),
]


@pytest.mark.parametrize("plx,sigma,L,zp", CASES)
def test_parallax_form_matches_quad(plx, sigma, L, zp):
    got = EDSDParallax().logp(
        np.array([plx]), {"length_scale": L, "zero_point": zp, "error_var": np.array([sigma**2])}
    )[0]
    np.testing.assert_allclose(
        got, _quad_log_parallax_density(plx, sigma, L, zp), rtol=0, atol=1e-8
    )


def test_parallax_form_matches_quad_random(rng):
    comp = EDSDParallax()
    for _ in range(25):
        L = np.exp(rng.uniform(np.log(0.1), np.log(5)))
        sigma = np.exp(rng.uniform(np.log(0.01), np.log(2)))
        snr = rng.uniform(-10, 10) if rng.random() < 0.5 else np.exp(rng.uniform(0, np.log(1000)))
        zp = rng.uniform(-0.05, 0.05)
        got = comp.logp(
            np.array([snr * sigma]),
            {"length_scale": L, "zero_point": zp, "error_var": np.array([sigma**2])},
        )[0]
        ref = _quad_log_parallax_density(snr * sigma, sigma, L, zp)
        np.testing.assert_allclose(
            got, ref, rtol=0, atol=1e-8, err_msg=f"plx={snr * sigma} sigma={sigma} L={L} zp={zp}"
        )


def test_union_window_over_length_scale_range(rng):
    # the sampler uses one window per star, the union over L in [L0/2, 2 L0]
    plx = np.r_[rng.uniform(-0.5, 5, 30), 0.0756, -0.1, 140.0]
    sigma = np.r_[np.exp(rng.uniform(np.log(0.01), np.log(2), 30)), 0.0146, 0.02, 1.59]
    L0 = 1.0
    lo, hi = edsd_window(plx, sigma**2, np.geomspace(L0 / 2, 2 * L0, 7), [-0.05, 0.05])
    for L, zp in [(0.5, 0.0), (0.8, -0.05), (1.9, 0.03)]:
        got = EDSDParallax().logp(
            plx,
            {
                "length_scale": L,
                "zero_point": zp,
                "error_var": sigma**2,
                "window_lo": lo,
                "window_hi": hi,
            },
        )
        ref = [_quad_log_parallax_density(p, s, L, zp) for p, s in zip(plx, sigma, strict=True)]
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8)


def test_parallax_far_tail_finite_and_batched():
    plx = np.array([-1000.0, 1e5, 4.2])
    L = np.array([[0.5], [1.35]])
    got = EDSDParallax().logp(plx, {"length_scale": L, "error_var": np.full(3, 0.01)})
    assert got.shape == (2, 3)
    assert np.isfinite(got).all()


def test_parallax_backends_agree_and_gradient(rng):
    import pytensor
    import pytensor.tensor as pt

    plx = np.r_[rng.uniform(-0.5, 5, 15), -30.0]
    var = rng.uniform(0.01, 0.5, 16) ** 2
    lo, hi = edsd_window(plx, var, [0.6, 1.2, 2.4], [-0.05, 0.0])
    assert_backends_agree(
        EDSDParallax(),
        plx,
        {
            "length_scale": np.array(1.2),
            "zero_point": np.array(-0.02),
            "error_var": var,
            "window_lo": lo,
            "window_hi": hi,
        },
        rtol=1e-10,
        atol=1e-9,
    )
    L = pt.dscalar("L")
    zp = pt.dscalar("zp")
    total = (
        EDSDParallax()
        .logp(
            plx,
            {
                "length_scale": L,
                "zero_point": zp,
                "error_var": var,
                "window_lo": lo,
                "window_hi": hi,
            },
            backend="pytensor",
        )
        .sum()
    )
    f = pytensor.function([L, zp], [total, *pytensor.grad(total, [L, zp])])
    _, gL, gz = f(1.2, -0.02)
    h = 1e-6
    num_L = (f(1.2 + h, -0.02)[0] - f(1.2 - h, -0.02)[0]) / (2 * h)
    num_z = (f(1.2, -0.02 + h)[0] - f(1.2, -0.02 - h)[0]) / (2 * h)
    np.testing.assert_allclose([gL, gz], [num_L, num_z], rtol=1e-5)
    with pytest.raises(ValueError, match="window_lo"):
        EDSDParallax().logp(plx, {"length_scale": L, "error_var": var}, backend="pytensor")
