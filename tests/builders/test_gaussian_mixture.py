import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from bayesmix.builders import gaussian_mixture
from bayesmix.exceptions import DataError, SpecError

# Evaluating D > 2 graphs with PyTensor's default C linker warns that pip-installed
# PyTensor found no BLAS; it is a speed note about this test-only evaluation path
# (sampling compiles with numba), not a problem in bayesmix.
pytestmark = pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS:UserWarning")


def _data(rng, n=40, d=2):
    X = np.r_[rng.normal(-2, 1, (n // 2, d)), rng.normal(2, 0.5, (n - n // 2, d))]
    return X


def _random_covs(rng, n, d):
    A = rng.normal(size=(n, d, d)) * 0.3
    return A @ np.swapaxes(A, 1, 2) + 0.05 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_structure(rng, d):
    mm = gaussian_mixture(_data(rng, d=d), 2, labels=["left", "right"])
    m = mm.model
    assert mm.component_labels == ("left", "right")
    assert m.named_vars_to_dims["means"] == ("component", "feature")
    assert m.named_vars_to_dims["cov_chol"] == ("component", "feature", "feature_")
    assert m.named_vars_to_dims["weights"] == ("component",)
    assert m.named_vars_to_dims["X"] == ("feature", "object")  # feature-major
    assert mm.var_names == ("weights", "means", "cov_chol")
    for det in m.deterministics:
        assert "object" not in m.named_vars_to_dims[det.name]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_likelihood_matches_scipy(rng, d):
    X = _data(rng, n=12, d=d)
    C = _random_covs(rng, 12, d)
    mm = gaussian_mixture(X, 2, X_cov=C)
    m = mm.model
    point = m.initial_point()
    outs = m.replace_rvs_by_values([m["weights"], m["means"], m["cov_chol"]])
    fn = m.compile_fn(
        [*outs, m.logp(vars=[m["X"]])],
        inputs=m.value_vars,
        mode="FAST_COMPILE",
        on_unused_input="ignore",
    )
    w, mu, L, got = fn(point)
    V = L @ np.swapaxes(L, -1, -2)
    expected = logsumexp(
        [
            [
                np.log(w[k]) + stats.multivariate_normal(mu[k], V[k] + C[i]).logpdf(X[i])
                for i in range(12)
            ]
            for k in range(2)
        ],
        axis=0,
    ).sum()
    np.testing.assert_allclose(float(got), expected, rtol=1e-10)
    # numpy path with a draw axis agrees
    lj = mm.log_joint({"weights": w[None], "means": mu[None], "cov_chol": L[None]})
    np.testing.assert_allclose(logsumexp(lj[0], axis=0).sum(), expected, rtol=1e-10)


def test_means_ordered_initially(rng):
    mm = gaussian_mixture(_data(rng), 3)
    ip = mm.model.initial_point()
    assert "means_first_ordered__" in ip


def test_x_err_equals_diagonal_cov(rng):
    X = _data(rng, n=10)
    err = rng.uniform(0.1, 0.5, (10, 2))
    a = gaussian_mixture(X, 2, X_err=err).data["X_cov"]
    np.testing.assert_array_equal(a, np.einsum("nd,de->nde", err**2, np.eye(2)))


def test_zero_errors_are_the_model_without_errors(rng):
    # issue 12.2: zero X_err is allowed (each component's covariance keeps the
    # likelihood's covariances positive definite) and equals the model without errors
    X = _data(rng, n=10)
    zero = gaussian_mixture(X, 2, X_err=np.zeros((10, 2)))
    none = gaussian_mixture(X, 2)
    np.testing.assert_array_equal(zero.data["X_cov"], 0.0)
    values = {
        "weights": np.array([[0.3, 0.7]]),
        "means": np.array([[[0.0, 0.0], [3.0, 1.0]]]),
        "cov_chol": np.array([[[[1.0, 0.0], [0.2, 0.8]], [[0.5, 0.0], [0.1, 1.2]]]]),
    }
    np.testing.assert_allclose(zero.log_joint(values), none.log_joint(values), rtol=1e-12)
    ip = zero.model.initial_point()
    assert np.isfinite(zero.model.compile_logp()(ip))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(n_components=0), SpecError, r"'n_components' must be >= 1; got 0"),
        (dict(n_components=7), SpecError, r"'n_components' must be <= 6; got 7"),
        (
            dict(X=np.array([[0.0, 1], [1, 2], [2, np.nan], [0, 0], [1, 1], [2, 2]])),
            DataError,
            r"'X' has a non-finite value \(NaN\) at row 2, column 1",
        ),
        (
            dict(X_err=np.array([[1.0, 1]] * 4 + [[1, -1]] + [[1, 1]])),
            DataError,
            r"'X_err' must be non-negative; got -1.0 at row 4",
        ),
        (dict(X_err=np.ones((5, 2))), DataError, r"'X_err' must have shape \(6, 2\)"),
        (
            dict(X_cov=np.array([np.eye(2)] * 3 + [[[1.0, 2.0], [2.0, 1.0]]] + [np.eye(2)] * 2)),
            DataError,
            r"'X_cov' must be positive semi-definite; row 3",
        ),
        (
            dict(X_err=np.ones((6, 2)), X_cov=np.array([np.eye(2)] * 6)),
            SpecError,
            "at most one of 'X_err' and 'X_cov'",
        ),
        (dict(labels=["a"]), SpecError, "'labels' must be 2 distinct names"),
        (dict(priors={"mean": {"dist": "Normal"}}), SpecError, "unknown variable 'mean'"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(X=np.arange(12.0).reshape(6, 2), n_components=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        gaussian_mixture(args.pop("X"), args.pop("n_components"), **args)


def test_initial_point_is_the_em_fit(rng):
    from bayesmix.em import GaussianMixture

    X = np.concatenate([rng.normal([0, 0], 1, (300, 2)), rng.normal([5, 2], 0.5, (200, 2))])
    mm = gaussian_mixture(X, 2)
    ip = mm.model.initial_point()
    em = GaussianMixture(2, n_init=4, rng=0).fit(X)
    order = np.argsort(em.means_[:, 0])
    # ordered transform: first value, then log-differences
    first = ip["means_first_ordered__"]
    np.testing.assert_allclose(first[0], em.means_[order][0, 0], atol=1e-6)
    np.testing.assert_allclose(
        first[0] + np.exp(first[1]), em.means_[order][1, 0], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(ip["means_rest"], em.means_[order][:, 1:], atol=1e-6)
