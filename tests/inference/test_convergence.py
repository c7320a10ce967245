"""bayesmix.inference.convergence: R-hat, bulk and tail ESS against arviz_stats and theory.

arviz_stats (1.3) is the reference: every value must equal it to RTOL (measured worst relative
difference 1.1e-15 over the cases below; the sums of the autocorrelation pairs are added in
another order, so bitwise equality is not expected).  NaN must be NaN in the same places.
"""

import json
import subprocess
import sys
import textwrap
import warnings
import zlib

import _bayes_fits as fits
import numpy as np
import pytest
import xarray as xr

from bayesmix.inference import diagnostics
from bayesmix.inference.convergence import (
    TAIL_PROB,
    ess_bulk,
    ess_tail,
    posterior_diagnostics,
    rhat,
)

azs = pytest.importorskip("arviz_stats")

RTOL = 1e-12


def _assert_same(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


def _reference(x, prob=TAIL_PROB):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # arviz's 0/0 for constant elements
        return (
            azs.rhat(x, chain_axis=0, draw_axis=1),
            azs.ess(x, method="bulk", chain_axis=0, draw_axis=1),
            azs.ess(x, method="tail", prob=prob, chain_axis=0, draw_axis=1),
        )


def _ar1(rng, phi, shape):
    e = rng.normal(size=shape)
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _draws(kind, rng, shape):
    if kind == "normal":
        return rng.normal(size=shape)
    if kind == "ar1":  # slow mixing, chains offset from each other
        return _ar1(rng, 0.95, shape) + rng.normal(0, 2, (shape[0], 1, *shape[2:]))
    if kind == "antithetic":  # negative lag-1 autocorrelation: ESS > draws
        return _ar1(rng, -0.7, shape)
    if kind == "ties":
        return rng.integers(0, 3, size=shape).astype(float)
    if kind == "cauchy":
        return rng.standard_cauchy(size=shape)
    if kind == "walk":
        return np.cumsum(rng.normal(size=shape), axis=1)
    raise ValueError(kind)


KINDS = ("normal", "ar1", "antithetic", "ties", "cauchy", "walk")
SHAPES = [(4, 1000, 3), (2, 301, 2), (1, 500, 2), (3, 4, 2), (3, 5, 2), (1, 4, 1), (6, 57, 1)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_equal_to_arviz_stats_on_random_draws(kind, shape):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{shape}".encode()))
    x = _draws(kind, rng, shape)
    want = _reference(x)
    _assert_same(rhat(x), want[0])
    _assert_same(ess_bulk(x), want[1])
    _assert_same(ess_tail(x), want[2])


@pytest.mark.parametrize("prob", [0.89, (0.25, 0.9), (0.0, 1.0)])
def test_tail_prob_as_arviz_stats(prob):
    x = _draws("ar1", np.random.default_rng(3), (4, 200, 3))
    _assert_same(ess_tail(x, prob=prob), _reference(x, prob)[2])


def test_arviz_stats_default_tail_is_its_ci_prob():
    # arviz_stats.ess(method="tail") without prob uses rcParams["stats.ci_prob"]: not 5/95 %
    from arviz_base import rcParams

    x = _draws("ar1", np.random.default_rng(4), (4, 300))
    ds = xr.Dataset({"a": (("chain", "draw"), x)})
    want = float(azs.ess(ds, method="tail")["a"])
    assert want == pytest.approx(float(ess_tail(x, prob=rcParams["stats.ci_prob"])), rel=RTOL)
    assert float(ess_tail(x)) != pytest.approx(want, rel=1e-3)


def test_constant_nan_and_short_elements_as_arviz():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 100, 5))
    x[..., 1] = 2.5  # constant: R-hat NaN (0/0), ESS = all split draws (ArviZ)
    x[:, :, 2] = np.repeat(rng.normal(size=(4, 1)), 100, axis=1)  # constant per chain
    x[2, 7, 3] = np.nan  # any NaN draw: NaN
    x[:, :, 4] = np.where(rng.random((4, 100)) < 0.5, -1.0, 1.0)  # folded draws constant
    want = _reference(x)
    with np.errstate(all="raise"):  # no floating-point warning escapes
        got = rhat(x), ess_bulk(x), ess_tail(x)
    for g, w in zip(got, want, strict=True):
        _assert_same(g, w)
    assert np.isnan(got[0][1]) and got[1][1] == got[2][1] == 400.0
    assert got[0][2] > 1e6  # within-chain variance ~0 (rounding): huge or inf, as ArviZ
    assert all(np.isnan(g[3]) for g in got)
    # one chain: no R-hat, ESS from the two halves; three draws: nothing
    assert np.isnan(rhat(x[:1])).all()
    _assert_same(ess_bulk(x[:1]), _reference(x[:1])[1])
    for g in (rhat(x[:, :3]), ess_bulk(x[:, :3]), ess_tail(x[:, :3])):
        assert np.isnan(g).all()


def test_against_theory():
    # independent of ArviZ: AR(1) with phi has integrated autocorrelation time (1 + phi)/(1 - phi)
    rng = np.random.default_rng(6)
    for phi in (0.0, 0.5, -0.5):
        x = _ar1(rng, phi, (4, 5000, 2))
        expected = x.shape[0] * x.shape[1] * (1 - phi) / (1 + phi)
        np.testing.assert_allclose(ess_bulk(x), expected, rtol=0.1)
        assert np.all(np.abs(rhat(x) - 1) < 0.005)
    # one chain displaced by 1 sd: R-hat well above 1.01
    x = rng.normal(size=(4, 1000))
    x[0] += 1.0
    assert rhat(x) > 1.05
    # independent draws: tail indicators are independent too, tail ESS ~ number of draws
    y = rng.normal(size=(4, 2000, 3))
    np.testing.assert_allclose(ess_tail(y), 8000, rtol=0.15)
    # ranks and quantile indicators do not change under a monotone transformation
    x = _ar1(rng, 0.8, (4, 500, 2))
    np.testing.assert_allclose(ess_bulk(np.exp(x)), ess_bulk(x), rtol=1e-12)
    np.testing.assert_allclose(ess_tail(np.exp(x)), ess_tail(x), rtol=1e-12)


def test_output_shapes_and_input_errors():
    x = np.random.default_rng(7).normal(size=(2, 50, 3, 4))
    assert rhat(x).shape == ess_bulk(x).shape == ess_tail(x).shape == (3, 4)
    assert rhat(x[..., 0, 0]).shape == ()
    with pytest.raises(ValueError, match=r"'ary' must have shape \(chain, draw, ...\)"):
        rhat(np.zeros(10))
    with pytest.raises(TypeError, match="'ary' must hold numbers"):
        ess_bulk(np.array([["a"] * 5] * 2))
    with pytest.raises(ValueError, match="'prob' must lie in"):
        ess_tail(x, prob=(0.1, 1.5))
    with pytest.raises(ValueError, match="'prob' must be a float or two floats"):
        ess_tail(x, prob=(0.1, 0.5, 0.9))


def _compare_dataset(ds):
    got = posterior_diagnostics(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = {
            "r_hat": azs.rhat(ds),
            "ess_bulk": azs.ess(ds, method="bulk"),
            "ess_tail": azs.ess(ds, method="tail", prob=TAIL_PROB),
        }
    assert list(got) == [str(n) for n in ds.data_vars]
    for name in ds.data_vars:
        extra = [d for d in ds[name].dims if d not in ("chain", "draw")]
        for key, ref in want.items():
            _assert_same(got[name][key], ref[name].transpose(*extra).values)
    return got


@pytest.mark.parametrize("name", ["centered_eight", "non_centered_eight"])
def test_equal_to_arviz_stats_on_real_posteriors(name):
    from arviz_base import load_arviz_data

    tree = load_arviz_data(name)
    got = _compare_dataset(tree["posterior"].to_dataset())
    # a results tree, its posterior node and the Dataset give the same
    for data in (tree, tree["posterior"]):
        again = posterior_diagnostics(data)
        for var, vals in got.items():
            for key, v in vals.items():
                np.testing.assert_array_equal(again[var][key], v)
    if name == "centered_eight":  # the classic poorly mixing posterior
        assert float(got["tau"]["r_hat"]) > 1.01


def test_bayesmix_fit_and_summary():
    fit, _ = fits.gm2d_fit()
    post = fit.posterior
    got = _compare_dataset(post)
    # the Cholesky factors' zero upper triangle: constant, R-hat NaN
    assert np.isnan(got["cov_chol"]["r_hat"]).any()
    # diagnostics() reduces these values over all elements, ignoring NaN
    d = diagnostics(fit.idata)
    allv = {k: np.concatenate([np.ravel(v[k]) for v in got.values()]) for k in got["weights"]}
    assert d["max_rhat"] == np.nanmax(allv["r_hat"])
    assert d["min_ess_bulk"] == np.nanmin(allv["ess_bulk"])
    assert d["min_ess_tail"] == np.nanmin(allv["ess_tail"])
    assert d["n_draws"] == post.sizes["chain"] * post.sizes["draw"] == 600


def test_dataset_errors():
    with pytest.raises(ValueError, match="variable 'a' of the posterior has no 'draw' dimension"):
        posterior_diagnostics(xr.Dataset({"a": (("chain", "x"), np.zeros((2, 5)))}))
    with pytest.raises(TypeError, match="'data' must be an xarray Dataset or DataTree"):
        posterior_diagnostics(np.zeros((2, 5)))
    assert posterior_diagnostics(xr.Dataset()) == {}


def test_diagnostics_import_no_arviz_stats():
    code = textwrap.dedent(
        """
        import json, sys
        import numpy as np, xarray as xr
        from bayesmix.inference import diagnostics
        x = np.random.default_rng(0).normal(size=(4, 100, 2))
        div = np.zeros((4, 100), bool)
        tree = xr.DataTree.from_dict({
            "posterior": xr.Dataset({"a": (("chain", "draw", "k"), x)}),
            "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), div)}),
        })
        d = diagnostics(tree)
        print(json.dumps({"d": d, "mods": sorted(m for m in sys.modules if m.startswith(
            ("arviz", "scipy.stats", "xarray_einstats")))}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["mods"] == []
    assert res["d"]["n_draws"] == 400 and res["d"]["divergences"] == 0
    assert 0.99 < res["d"]["max_rhat"] < 1.05
