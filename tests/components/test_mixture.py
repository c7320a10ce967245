import numpy as np
from scipy import stats
from scipy.special import logsumexp

from bayesmix.components import Gaussian, log_responsibilities, mixture_logp
from bayesmix.components._backend import get_backend


def _parts(rng):
    y = np.r_[rng.normal(0, 2, 30), 1e4, -1e4]  # two objects thousands of sigma away
    lps = [
        Gaussian().logp(y, {"mean": 0.0, "sigma": 1.0}),
        Gaussian().logp(y, {"mean": 3.0, "sigma": 2.0}),
    ]
    return y, np.log(np.array([0.3, 0.7])), lps


def test_mixture_logp_matches_scipy(rng):
    y, lw, lps = _parts(rng)
    got = mixture_logp(lw, lps)
    expected = logsumexp(
        [np.log(0.3) + stats.norm(0, 1).logpdf(y), np.log(0.7) + stats.norm(3, 2).logpdf(y)],
        axis=0,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_isolate_component_with_weights_one_zero(rng):
    y, _, lps = _parts(rng)
    with np.errstate(divide="ignore"):
        got = mixture_logp(np.log([1.0, 0.0]), lps)
    np.testing.assert_allclose(got, lps[0], rtol=1e-14)


def test_responsibilities_finite_and_normalised(rng):
    y, lw, lps = _parts(rng)
    lr = log_responsibilities(lw, lps)
    r = np.exp(lr)
    assert np.isfinite(lr).all()
    np.testing.assert_allclose(r.sum(axis=0), 1.0, rtol=1e-12)
    # far objects go to the broader component
    assert r[1, -1] > 0.999999 and r[1, -2] > 0.999999


def test_pytensor_fold_matches_numpy(rng):
    import pytensor
    import pytensor.tensor as pt

    y, lw, lps = _parts(rng)
    b = get_backend("pytensor")
    lw_s = pt.vector("lw")
    a_s, c_s = pt.vector("a"), pt.vector("c")
    fn = pytensor.function([lw_s, a_s, c_s], mixture_logp(lw_s, [a_s, c_s], backend=b))
    np.testing.assert_allclose(fn(lw, *lps), mixture_logp(lw, lps), rtol=1e-12)
    # -inf in every component stays -inf (not nan)
    ninf = np.full(2, -np.inf)
    assert np.all(fn(lw, ninf, ninf) == -np.inf)


# -- properties (hypothesis) ----------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(
    lps=arrays(np.float64, (3, 6), elements=_finite),
    raw_w=arrays(np.float64, 3, elements=st.floats(0.01, 1.0)),
    shift=st.floats(-1e5, 1e5),
    perm=st.permutations(range(3)),
)
def test_responsibility_properties(lps, raw_w, shift, perm):
    lw = np.log(raw_w / raw_w.sum())
    # log-densities up to 1e6 (plus shift) carry absolute rounding ~ |lp| * eps, which
    # becomes that relative error in the probabilities: scale the tolerance with it
    tol = 1e-12 + 8 * np.finfo(float).eps * (np.abs(lps).max() + abs(shift))
    r = np.exp(log_responsibilities(lw, list(lps)))
    # in [0, 1], normalised, finite even for objects 1e6 log-units apart
    assert np.isfinite(r).all() and (r >= 0).all() and (r <= 1).all()
    np.testing.assert_allclose(r.sum(axis=0), 1.0, rtol=0, atol=tol)
    # adding a constant to every component log-density changes nothing
    r_shift = np.exp(log_responsibilities(lw, list(lps + shift)))
    np.testing.assert_allclose(r_shift, r, rtol=0, atol=2 * tol)
    # permuting components permutes memberships
    perm = list(perm)
    r_perm = np.exp(log_responsibilities(lw[perm], list(lps[perm])))
    np.testing.assert_allclose(r_perm, r[perm], rtol=0, atol=tol)
