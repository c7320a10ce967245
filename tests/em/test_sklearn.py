"""bayesmix.em estimators follow scikit-learn's estimator protocol (issue 15.3).

scikit-learn is a test dependency only: the estimators implement the protocol
themselves (``bayesmix.em._params``); here scikit-learn's own estimator checks,
``clone``, ``Pipeline`` and ``GridSearchCV`` exercise it.  The checks expected
to fail are listed with their reason in ``EXPECTED_FAILURES``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesmix.em import GaussianMixture, XDGaussianMixture, load  # noqa: E402
from bayesmix.exceptions import DataError, SpecError  # noqa: E402

ESTIMATORS = [
    GaussianMixture(),
    GaussianMixture(2, covariance_type="diag"),
    GaussianMixture(2, nan_policy="marginalize", background=True),
    XDGaussianMixture(),
]

#: scikit-learn checks that fail by design, and why
EXPECTED_FAILURES = {
    "check_estimators_unfitted": (
        "predict before fit raises bayesmix.exceptions.NotFittedError (a RuntimeError); the "
        "check accepts only scikit-learn's own NotFittedError class, which bayesmix cannot "
        "subclass without importing scikit-learn at run time"
    ),
    "check_dtype_object": (
        "a non-numeric value raises bayesmix's DataError (a ValueError naming 'X' and the "
        "problem), where the check wants numpy's TypeError"
    ),
}
#: only where the optimum depends on the random start (two or more components)
SEEDING = {
    "check_sample_weight_equivalence_on_dense_data": (
        "weighted rows and repeated rows draw different k-means++ seeds from the same rng, "
        "so with several components they can reach different local maxima; from one given "
        "start EM is the same (test_gaussian.test_integer_sample_weight_equals_repeated_rows)"
    ),
}


def _expected(estimator) -> dict[str, str]:
    out = dict(EXPECTED_FAILURES)
    if estimator.n_components > 1:
        out.update(SEEDING)
    return out


with warnings.catch_warnings():
    # the protocol is implemented, not inherited from BaseEstimator (no runtime scikit-learn)
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.Base")
    _CHECKS = parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected)


@_CHECKS
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ in practice
def _blobs(seed=0, n=300):
    r = np.random.default_rng(seed)
    return np.concatenate(
        [r.normal(-4, 1, (n // 3, 2)), r.normal(0, 1, (n // 3, 2)), r.normal(4, 1, (n // 3, 2))]
    )


def test_params_clone_and_set_params():
    gm = GaussianMixture(3, covariance_type="tied", tol=1e-4, rng=5)
    params = gm.get_params()
    assert params["n_components"] == 3 and params["covariance_type"] == "tied"
    assert set(params) == {
        "background",
        "covariance_type",
        "frozen",
        "init",
        "max_iter",
        "n_components",
        "n_init",
        "nan_policy",
        "random_state",
        "reg_covar",
        "rng",
        "tol",
        "verbose",
    }
    twin = clone(gm)
    assert twin is not gm and twin.get_params() == params
    assert gm.set_params(n_components=2, tol=1e-2) is gm and gm.n_components == 2
    with pytest.raises(SpecError, match="invalid parameter 'n_component' .* n_components"):
        gm.set_params(n_component=2)
    assert set(XDGaussianMixture().get_params()) == set(params)


def test_random_state_is_an_alias_of_rng():
    X = _blobs()
    a = GaussianMixture(3, rng=11).fit(X)
    b = GaussianMixture(3, random_state=11).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    c = GaussianMixture(3, random_state=np.random.RandomState(3)).fit(X)
    assert np.all(np.isfinite(c.means_))
    with pytest.raises(SpecError, match="'rng' .* 'random_state' .* differ"):
        GaussianMixture(3, rng=1, random_state=2).fit(X)


def test_pipeline_and_grid_search_choose_the_number_of_components():
    X = np.random.default_rng(1).permutation(_blobs(1, n=600))  # folds see every blob
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 2, 3, 4]}, cv=3)
    search.fit(X)  # scored by GaussianMixture.score: held-out mean log-likelihood
    assert search.best_params_["gaussianmixture__n_components"] >= 3
    labels = search.best_estimator_.predict(X)
    assert labels.shape == (600,)
    assert np.allclose(search.best_estimator_.predict_proba(X).sum(axis=1), 1.0)


def test_data_frame_feature_names(tmp_path):
    X = _blobs(2)
    df = pd.DataFrame(X, columns=["pmra", "pmdec"])
    gm = GaussianMixture(3, rng=0).fit(df)
    assert gm.feature_names_in_.dtype == object
    assert list(gm.feature_names_in_) == ["pmra", "pmdec"]
    with pytest.raises(DataError, match="Feature names must be in the same order"):
        gm.predict(df[["pmdec", "pmra"]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        p_array = gm.predict_proba(X)
    np.testing.assert_array_equal(gm.predict_proba(df), p_array)
    gm.save(tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.feature_names_in_, gm.feature_names_in_)
    assert back.feature_names_in_.dtype == object
    plain = GaussianMixture(3, rng=0).fit(X)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but GaussianMixture was fitted"):
        plain.predict(df)
    with pytest.raises(DataError, match="mixed types"):
        GaussianMixture(3).fit(pd.DataFrame(X, columns=["a", 1]))


def test_scikit_learn_input_conventions():
    X = _blobs(3)
    gm = GaussianMixture(2, rng=0).fit(X)
    with pytest.raises(DataError, match="X has 1 features, but GaussianMixture is expecting 2"):
        gm.predict(X[:, :1])
    with pytest.raises(DataError, match="Reshape your data"):
        gm.predict(X[0])
    with pytest.raises(DataError, match="Complex data not supported"):
        GaussianMixture().fit(X + 1j)
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(DataError, match="sparse input is not supported"):
        GaussianMixture().fit(scipy_sparse.csr_array(X))
    E = np.full_like(X, 0.1)
    xd = XDGaussianMixture(2, rng=0).fit(X, X_err=E)  # errors by keyword
    assert xd.score(X, None, X_err=E) == pytest.approx(xd.score_samples(X, X_err=E).mean())


def test_no_scikit_learn_at_run_time():
    code = (
        "import sys, numpy as np\n"
        "from bayesmix.em import GaussianMixture\n"
        "X = np.random.default_rng(0).normal(size=(100, 2))\n"
        "gm = GaussianMixture(2, rng=0).fit(X); gm.predict(X); gm.get_params()\n"
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
