"""The in-memory GMM analysis (fit_gmm_selection): membership table, labels, summary, report."""

import json

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bayesmix.exceptions import DataError, SpecError
from bayesmix.workflows.gmm import (
    analysis_summary,
    fit_gmm_selection,
    format_report,
    membership_table,
    parse_candidates,
    relabel,
)


def make_table(seed=3, n=(120, 80)):
    gen = np.random.default_rng(seed)
    a = gen.multivariate_normal([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]], n[0])
    b = gen.multivariate_normal([6.0, 3.0], [[0.5, 0.0], [0.0, 0.5]], n[1])
    X = np.vstack([a, b])
    perm = gen.permutation(len(X))
    X, truth = X[perm], (perm >= n[0]).astype(int)
    t = Table({"id": np.arange(len(X)) + 1000, "a": X[:, 0], "b": X[:, 1], "truth": truth})
    return t


@pytest.fixture(scope="module")
def analysis():
    t = make_table()
    t["b"] = MaskedColumn(t["b"], mask=np.arange(len(t)) == 7)
    t["a"][11] = np.nan
    # tol=1e-3: the over-fitted K = 3 candidate converges slowly and is not what is tested
    return fit_gmm_selection(t, ["a", "b"], candidates=range(1, 4), n_init=2, tol=1e-3, rng=4)


def test_parse_candidates():
    assert parse_candidates("1-6") == [1, 2, 3, 4, 5, 6]
    assert parse_candidates("3") == [3]
    assert parse_candidates("4,1, 2") == [1, 2, 4]
    assert parse_candidates("1-2,5") == [1, 2, 5]
    assert parse_candidates(range(2, 4)) == [2, 3]
    for bad in ["0-3", "a", "3-1", "", "1-"]:
        with pytest.raises(SpecError, match="n_components"):
            parse_candidates(bad)


def test_selects_two_and_recovers_truth(analysis):
    assert analysis.selected.n_components == 2
    assert analysis.selected.labels == ("c0", "c1")
    # c0 has the lower mean in the first column
    assert analysis.selected.means[0, 0] < analysis.selected.means[1, 0]
    t = membership_table(analysis.table, analysis.selected, analysis.X, analysis.usable)
    ok = analysis.usable
    pred = (np.asarray(t["component"])[ok] == "c1").astype(int)
    assert (pred == np.asarray(t["truth"])[ok]).mean() > 0.99


def test_membership_table_keeps_rows_and_columns(analysis):
    t = membership_table(analysis.table, analysis.selected, analysis.X, analysis.usable)
    assert len(t) == len(analysis.table) == 200
    assert t.colnames == ["id", "a", "b", "truth", "p_c0", "p_c1", "component", "unscored_reason"]
    np.testing.assert_array_equal(t["id"], analysis.table["id"])  # input order
    p = np.column_stack([t["p_c0"], t["p_c1"]])
    assert np.isnan(p[[7, 11]]).all()
    assert list(t["component"][[7, 11]]) == ["", ""]
    assert "missing" in t["unscored_reason"][7] and t["unscored_reason"][0] == ""
    good = np.delete(p, [7, 11], axis=0)
    np.testing.assert_allclose(good.sum(axis=1), 1.0, rtol=1e-12)
    assert analysis.n_unscored == 2
    # the input table itself is untouched
    assert "p_c0" not in analysis.table.colnames


def test_membership_table_refuses_clobbering_input_columns(analysis):
    t = analysis.table.copy()
    t["component"] = 1
    with pytest.raises(DataError, match="'component'"):
        membership_table(t, analysis.selected, analysis.X, analysis.usable)


def test_labels_do_not_depend_on_component_order(analysis):
    from types import SimpleNamespace

    m = analysis.selected.model
    swapped = SimpleNamespace(means_=m.means_[::-1])
    fm = relabel(swapped, by=0)
    np.testing.assert_array_equal(fm.order, np.argsort(m.means_[::-1, 0]))


def test_same_seed_same_numbers():
    t = make_table()
    a1 = fit_gmm_selection(t, ["a", "b"], candidates=[1, 2], n_init=2, rng=11)
    a2 = fit_gmm_selection(t, ["a", "b"], candidates=[1, 2], n_init=2, rng=11)
    np.testing.assert_array_equal(a1.selected.means, a2.selected.means)
    np.testing.assert_array_equal(a1.selection.table["bic"], a2.selection.table["bic"])
    assert a1.seed == a2.seed == 11
    a3 = fit_gmm_selection(t, ["a", "b"], candidates=[1, 2], n_init=2, rng=None)
    assert isinstance(a3.seed, int)


def test_errors_name_the_problem():
    t = make_table(n=(3, 2))
    with pytest.raises(DataError, match="unknown column 'c'.*available columns: id, a, b"):
        fit_gmm_selection(t, ["a", "c"], candidates=[1])
    with pytest.raises(DataError, match="5 usable row.*6 components"):
        fit_gmm_selection(t, ["a", "b"], candidates=range(1, 7))
    with pytest.raises(SpecError, match="criterion"):
        fit_gmm_selection(t, ["a", "b"], candidates=[1], criterion="dic")


def test_report_and_summary(analysis):
    report = format_report(analysis)
    assert "<- selected" in report and "selected by BIC: K = 2" in report
    assert "2 not scored" in report
    summary = analysis_summary(analysis)
    json.dumps(summary)  # JSON-able
    assert summary["selected"]["n_components"] == 2
    assert summary["n_unscored"] == 2 and summary["seed"] == 4
    assert summary["data"]["unscored_reasons"] == {"missing or non-finite value in a, b": 2}
    assert [r["n_components"] for r in summary["selection"]] == [1, 2, 3]
    # the selected model's statistics are those of the selection table
    i = [r["n_components"] for r in summary["selection"]].index(2)
    assert summary["selected"]["bic"] == summary["selection"][i]["bic"]
    X = analysis.X[analysis.usable]
    np.testing.assert_allclose(
        summary["selected"]["mean_log_likelihood"], analysis.selected.model.score(X), rtol=1e-12
    )


def test_one_column(tmp_path):
    t = make_table()
    a = fit_gmm_selection(t, ["a"], candidates=[1, 2], n_init=1, rng=2)
    out = membership_table(a.table, a.selected, a.X, a.usable)
    assert len(out) == 200
    assert "corr" not in format_report(a)
