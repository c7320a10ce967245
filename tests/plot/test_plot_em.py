"""EM figures: log-likelihood history and BIC/AIC selection curves."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bayesmix.em import GaussianMixture, select_n_components
from bayesmix.exceptions import DataError
from bayesmix.plot import plot_log_likelihood_history, plot_selection


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    gen = np.random.default_rng(5)
    return np.vstack([gen.normal(0, 1, (150, 2)), gen.normal(5, 0.5, (100, 2))])


def test_history_from_fitted_model(data):
    gm = GaussianMixture(2, rng=1).fit(data)
    _, ax = plt.subplots()
    out = plot_log_likelihood_history(gm, ax=ax)
    assert out is ax
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_ydata(), gm.log_likelihood_history_)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, gm.n_iter_ + 1))
    assert ax.get_xlabel() == "EM iteration"
    assert "log-likelihood" in ax.get_ylabel()
    assert ax.get_legend().get_texts()[0].get_text().startswith("K = 2")


def test_history_several_models_and_plain_list():
    models = {"a": [1.0, 2.0, 2.5], "b": SimpleNamespace(log_likelihood_history_=[0.0, 1.0])}
    ax = plot_log_likelihood_history(models)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    ax2 = plot_log_likelihood_history([1.0, 2.0])
    assert ax2.get_legend() is None
    with pytest.raises(DataError, match="empty"):
        plot_log_likelihood_history([])


def test_selection_curves_mark_best(data):
    sel = select_n_components(data, candidates=[1, 2, 3], rng=0)
    _, ax = plt.subplots()
    out = plot_selection(sel, ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["BIC", "AIC"] or set(labels) >= {"BIC", "AIC"}
    assert any(lab.startswith(f"selected: K = {sel.best_n_components}") for lab in labels)
    bic_line = next(line for line in ax.lines if line.get_label() == "BIC")
    np.testing.assert_array_equal(bic_line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(bic_line.get_ydata(), sel.table["bic"], rtol=0)
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 2
    filled = [s for s in stars if s.get_markerfacecolor() != "none"]
    assert len(filled) == 1 and filled[0].get_xdata()[0] == sel.best_n_components
    assert ax.get_xlabel() == "number of components"


def test_selection_from_plain_table():
    table = {"n_components": [1, 2, 3], "bic": [10.0, 5.0, 7.0], "aic": [9.0, 4.0, 3.0]}
    ax = plot_selection(table)
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert [s.get_xdata()[0] for s in stars] == [2, 3]
    with pytest.raises(DataError, match="bic"):
        plot_selection({"n_components": [1]})
