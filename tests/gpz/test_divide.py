"""The one divide rule (bayesmix.gpz.divide), used in memory and by bayesmix.scale."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from bayesmix.exceptions import SpecError
from bayesmix.gpz import ASSIGN_RULES
from bayesmix.gpz.divide import (
    MIN_MEMBERS,
    DivideWarning,
    check_threshold,
    divide_columns,
    divide_summary,
    warn_divide,
)


def _log_resp(rng, n=500, K=4):
    lj = rng.normal(scale=2.0, size=(n, K))
    return lj - logsumexp(lj, axis=1, keepdims=True)


def _brute_force(log_resp, threshold, assign):
    """Object by object, as gpz_pype's loop reads."""
    n, K = log_resp.shape
    best = np.empty(n, dtype=np.int64)
    member = np.zeros((n, K), dtype=bool)
    for i in range(n):
        p = [float(np.exp(v)) for v in log_resp[i]]
        best[i] = max(range(K), key=lambda k: p[k])
        for k in range(K):
            member[i, k] = p[k] > threshold or (assign == "best" and k == best[i])
    return best, member


@pytest.mark.parametrize("assign", ASSIGN_RULES)
@pytest.mark.parametrize("threshold", [0.3, 0.6])
def test_columns_equal_brute_force(assign, threshold):
    lr = _log_resp(np.random.default_rng(0))
    w = np.random.default_rng(1).uniform(0.1, 5.0, lr.shape[0])
    cols = divide_columns(lr, threshold=threshold, assign=assign, return_density=True, weights=w)
    K = lr.shape[1]
    assert list(cols) == ["best"] + [f"m{k}" for k in range(K)] + [f"p{k}" for k in range(K)] + [
        "weights",
        "unassigned",
    ]
    best, member = _brute_force(lr, threshold, assign)
    np.testing.assert_array_equal(cols["best"], best)
    assert cols["best"].dtype == np.int64
    for k in range(K):
        np.testing.assert_array_equal(cols[f"m{k}"], member[:, k])
        np.testing.assert_allclose(cols[f"p{k}"], np.exp(lr[:, k]), rtol=1e-15)
    np.testing.assert_array_equal(cols["unassigned"], ~member.any(axis=1))
    np.testing.assert_array_equal(cols["weights"], w)
    if assign == "best":
        assert not cols["unassigned"].any()


def test_unscored_rows_keep_their_place():
    rng = np.random.default_rng(2)
    scored = rng.uniform(size=300) < 0.8
    lr = _log_resp(rng, n=int(scored.sum()), K=3)
    w = rng.uniform(size=lr.shape[0])
    full = divide_columns(
        lr, threshold=0.5, assign="threshold", return_density=True, weights=w, scored=scored
    )
    alone = divide_columns(lr, threshold=0.5, assign="threshold", return_density=True, weights=w)
    for name, values in full.items():
        assert values.shape[0] == scored.shape[0]
        np.testing.assert_array_equal(values[scored], alone[name])
    off = ~scored
    assert (full["best"][off] == -1).all() and full["unassigned"][off].all()
    assert not any(full[f"m{k}"][off].any() for k in range(3))
    assert np.isnan(full["p0"][off]).all() and np.isnan(full["weights"][off]).all()


def test_summary_counts_and_warning():
    lr = np.log(
        np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.45, 0.55, 0.0], [0.5, 0.5, 0.0]]) + 1e-300
    )
    cols = divide_columns(lr, threshold=0.5, assign="threshold")
    summary = divide_summary(cols, threshold=0.5, assign="threshold")
    assert summary == {
        "n_objects": 4,
        "n_components": 3,
        "threshold": 0.5,
        "assign": "threshold",
        "member_counts": [2, 1, 0],
        "n_unassigned": 1,
        "unassigned_fraction": 0.25,
    }
    with pytest.warns(DivideWarning) as record:
        warn_divide(summary)
    msg = str(record[0].message)
    assert "mixture sample(s) 2 empty" in msg
    assert f"0 (2), 1 (1) with fewer than {MIN_MEMBERS} members" in msg
    assert "1 of 4 objects (25.0%) in no mixture sample" in msg
    assert "use assign='best'" in msg and "unassigned fraction 0.250" in msg
    assert record[0].filename == __file__  # stacklevel points at the caller
    # a divide with large samples and nobody left out says nothing
    big = {**summary, "member_counts": [50, 60, 70], "n_unassigned": 0, "unassigned_fraction": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_divide(big)


def test_augment_divide_is_this_rule(candels):
    X, sel, aug = candels
    Xt = X[sel]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivideWarning)
        table = aug.divide(Xt, threshold=0.4, assign="best", return_density=True)
    cols = divide_columns(aug.log_membership(Xt), threshold=0.4, assign="best", return_density=True)
    for name, values in cols.items():
        np.testing.assert_array_equal(np.asarray(table[name]), values)
    assert (
        table.meta["member_counts"]
        == divide_summary(cols, threshold=0.4, assign="best")["member_counts"]
    )


def test_check_threshold():
    assert check_threshold(0.25) == 0.25
    for bad in (0, 1, -0.5, 2.0, True, "0.5", float("nan")):
        with pytest.raises(SpecError, match="threshold.*strictly between 0 and 1"):
            check_threshold(bad)
