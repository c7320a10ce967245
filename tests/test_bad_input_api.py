"""Bad-input battery, part 6: the Python API (issue 13).

The library functions behind the commands, called directly with bad
arguments: each raises one bayesmix exception (``DataError``, ``SpecError``,
``FormatError``, ``NotFittedError``; also ``ValueError`` for callers that do
not know bayesmix) whose one-line message names the argument (and the first
bad row), and leaves its inputs unchanged.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _bad_input import SEED, known_failure
from astropy.table import Table

from bayesmix.builders import gaussian_mixture, line_outlier
from bayesmix.em import GaussianMixture, XDGaussianMixture, kmeans, select_n_components
from bayesmix.exceptions import BayesmixError, DataError, NotFittedError, SpecError
from bayesmix.gpz import GPzAugment, gpz_divide_table, gpz_weights_table

RNG = np.random.default_rng(SEED)
X = RNG.normal(size=(50, 2))
E = np.full_like(X, 0.1)
X_LINE = np.linspace(0.0, 1.0, 20)
Y_LINE = 2 * X_LINE + RNG.normal(0, 0.1, 20)
E_LINE = np.full(20, 0.1)
T = Table({"a": RNG.normal(size=40), "b": RNG.normal(size=40)})


def _with(a, row, col, value):
    a = np.array(a, dtype=float)
    if a.ndim == 1:
        a[row] = value
    else:
        a[row, col] = value
    return a


def _gm(**kw):
    return GaussianMixture(**{"n_components": 2, "rng": SEED, **kw})


def _xd(**kw):
    return XDGaussianMixture(**{"n_components": 2, "rng": SEED, **kw})


def _fitted():
    return _gm().fit(X)


def _gpz(pop=X, train=X[:30] + 0.3, **kw):
    return GPzAugment(pop, train, **{"n_components": 2, "rng": SEED, **kw})


def _line(x=X_LINE, y=Y_LINE, y_err=E_LINE, **kw):
    return line_outlier(x, y, y_err, **kw)


def _gpz_table(pop=T, train=T, features=("a", "b"), **kw):
    return gpz_weights_table(pop, train, list(features), n_components=2, **kw)


#: (case id, call, exception class, regex of the message)
CASES = [
    ("gm-nan", lambda: _gm().fit(_with(X, 7, 1, np.nan)), DataError, r"'X'.*row 7"),
    ("gm-inf", lambda: _gm().fit(_with(X, 3, 0, np.inf)), DataError, r"'X'.*row 3"),
    ("gm-3d", lambda: _gm().fit(X[None]), DataError, r"'X' must have shape"),
    ("gm-empty", lambda: _gm().fit(np.empty((0, 2))), DataError, r"'X' must have at least 1"),
    ("gm-text", lambda: _gm().fit(np.array([["a", "b"]] * 5)), DataError, r"'X' must be numeric"),
    ("gm-k-too-big", lambda: _gm(n_components=60).fit(X), DataError, r"'n_components' \(60\)"),
    ("gm-k-zero", lambda: _gm(n_components=0).fit(X), SpecError, r"'n_components' must be"),
    ("gm-covariance", lambda: _gm(covariance_type="round").fit(X), SpecError, "covariance_type"),
    ("gm-tol", lambda: _gm(tol=-1).fit(X), SpecError, r"'tol'"),
    ("gm-unfitted", lambda: _gm().predict(X), NotFittedError, r"not fitted"),
    (
        "gm-features",
        lambda: _fitted().predict(RNG.normal(size=(4, 3))),
        DataError,
        r"'X' must "
        r"have 2 feature",
    ),
    (
        "gm-predict-nan",
        lambda: _fitted().predict_proba(_with(X, 7, 1, np.nan)),
        DataError,
        r"row 7",
    ),
    (
        "gm-weight-negative",
        lambda: _gm().fit(X, sample_weight=-np.ones(50)),
        DataError,
        r"'sample_weight'.*row 0",
    ),
    (
        "gm-weight-nan",
        lambda: _gm().fit(X, sample_weight=_with(np.ones(50), 4, 0, np.nan)),
        DataError,
        r"'sample_weight'.*row 4",
    ),
    (
        "gm-weight-length",
        lambda: _gm().fit(X, sample_weight=np.ones(49)),
        DataError,
        r"'sample_weight' must have length 50",
    ),
    (
        "xd-negative-error",
        lambda: _xd().fit(X, X_err=_with(E, 4, 0, -0.1)),
        DataError,
        r"'X_err'.*row 4",
    ),
    ("xd-error-shape", lambda: _xd().fit(X, X_err=E[:10]), DataError, r"'X_err' must have shape"),
    (
        "xd-error-nan",
        lambda: _xd().fit(X, X_err=_with(E, 2, 1, np.nan)),
        DataError,
        r"'X_err'.*row 2",
    ),
    (
        "xd-cov-not-pd",
        lambda: _xd().fit(X, X_cov=np.tile([[1.0, 2.0], [2.0, 1.0]], (50, 1, 1))),
        DataError,
        r"'X_cov' must be positive semi-definite; row 0",
    ),
    ("select-zero", lambda: select_n_components(X, [0, 1]), SpecError, r"'n_components'"),
    ("kmeans-too-many", lambda: kmeans(X, 80, rng=0), DataError, r"'n_clusters' \(80\)"),
    ("gpz-nan-population", lambda: _gpz(pop=_with(X, 7, 1, np.nan)), DataError, r"'X_pop'.*row 7"),
    (
        "gpz-feature-count",
        lambda: _gpz(train=RNG.normal(size=(20, 3))),
        DataError,
        r"'X_train' must have",
    ),
    ("gpz-threshold", lambda: _gpz(threshold=2), SpecError, r"'threshold'"),
    ("gpz-weights-nan", lambda: _gpz().calc_weights(_with(X, 7, 1, np.nan)), DataError, r"row 7"),
    ("gpz-max-weight", lambda: _gpz().calc_weights(X, max_weight=-1), SpecError, r"max_weight"),
    ("gpz-assign", lambda: _gpz().divide(X, assign="all"), SpecError, r"'assign'"),
    ("gpz-table-unknown", lambda: _gpz_table(features=("a", "zz")), DataError, r"'zz'"),
    (
        "gpz-table-text",
        lambda: _gpz_table(train=Table({"a": ["x"] * 40, "b": T["b"]})),
        DataError,
        r"'a'.*row 0",
    ),
    ("gpz-table-twice", lambda: _gpz_table(features=("a", "a")), BayesmixError, r"'a'"),
    (
        "gpz-table-weights",
        lambda: _gpz_table(train=Table({**T, "weights": np.ones(40)})),
        DataError,
        r"already has a column 'weights'",
    ),
    (
        "gpz-divide-no-train",
        lambda: gpz_divide_table(T, T, ["a", "b"], weight=True),
        SpecError,
        r"train_table",
    ),
    ("line-length", lambda: _line(y=Y_LINE[:19]), DataError, r"'(x|y)'.*(19|20)"),
    (
        "line-negative-error",
        lambda: _line(y_err=_with(E_LINE, 5, 0, -0.1)),
        DataError,
        r"'y_err'.*row 5",
    ),
    (
        "line-zero-error",
        lambda: _line(y_err=_with(E_LINE, 5, 0, 0.0)),
        DataError,
        r"'y_err'.*row 5",
    ),
    ("line-nan", lambda: _line(x=_with(X_LINE, 3, 0, np.nan)), DataError, r"'x'.*row 3"),
    ("line-outlier", lambda: _line(outlier="cauchy"), SpecError, r"'outlier'"),
    (
        "line-prior-name",
        lambda: _line(priors={"slop": {"dist": "Normal", "mu": 0, "sigma": 1}}),
        SpecError,
        r"did you mean 'slope'",
    ),
    (
        "line-prior-value",
        lambda: _line(priors={"slope": {"dist": "Normal", "mu": 0, "sigma": -1}}),
        SpecError,
        r"priors.slope.sigma",
    ),
    (
        "mixture-error-shape",
        lambda: gaussian_mixture(X, X_err=np.ones((50, 3)), n_components=2),
        DataError,
        r"'X_err'",
    ),
    (
        "mixture-labels",
        lambda: gaussian_mixture(X, n_components=2, labels=["a", "a"]),
        SpecError,
        r"'labels'",
    ),
]

KNOWN: dict[str, tuple[str, str]] = {}


@pytest.mark.parametrize(("case", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_argument_is_one_exception_naming_it(request, case, call, error, message):
    if case in KNOWN:
        known_failure(request, *KNOWN[case])
    inputs = [X.copy(), E.copy(), X_LINE.copy(), Y_LINE.copy(), T.copy()]
    with pytest.raises(error) as info:
        call()
    msg = str(info.value)
    assert isinstance(info.value, ValueError | RuntimeError), type(info.value)
    assert "\n" not in msg, msg
    assert re.search(message, msg), (message, msg)
    for before, now in zip(inputs, [X, E, X_LINE, Y_LINE, T], strict=True):
        if isinstance(now, Table):
            assert now.colnames == before.colnames and all(
                np.array_equal(now[c], before[c]) for c in now.colnames
            )
        else:
            np.testing.assert_array_equal(now, before)
