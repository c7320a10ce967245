"""The thin/thick-disc demo workflow on the bundled RAVE x APOGEE abundances."""

import json

import numpy as np
import pytest

from bayesmix.datasets import load_rave_apogee
from bayesmix.io import read_table
from bayesmix.workflows.disc import (
    demo_output_paths,
    disc_report,
    run_disc_demo,
    write_disc_outputs,
)


@pytest.fixture(scope="module")
def result():
    # reduced settings: 3 candidates, one EM start each, loose tolerance
    return run_disc_demo(max_components=3, n_init=1, tol=1e-3, rng=7)


def test_thin_thick_labels_follow_mgfe(result):
    two = result.thin_thick
    assert two.labels == ("thin", "thick")
    assert two.means[1, 1] > two.means[0, 1]  # thick has the higher mean [Mg/Fe]
    # the thick disc is the metal-poorer, alpha-richer sequence
    assert two.means[1, 0] < two.means[0, 0]
    p = result.thick_probability()
    assert p.shape == (3904,) and np.all((p >= 0) & (p <= 1))
    # stars with [Mg/Fe] > 0.3 are thick, solar-[Mg/Fe] metal-rich stars thin (a sanity check)
    t = load_rave_apogee()
    feh, mgfe = np.asarray(t["FeH"]), np.asarray(t["MgFe"])
    assert np.mean(p[mgfe > 0.3] > 0.5) > 0.95
    assert np.mean(p[(mgfe < 0.03) & (feh > 0.0)] < 0.5) > 0.95


def test_selected_components_grouped(result):
    sel = result.analysis.selected
    assert set(result.selected_groups) == set(sel.labels)
    assert set(result.selected_groups.values()) <= {"thin", "thick"}
    # the highest-[Mg/Fe] component is in the thick group, the lowest in the thin one
    assert result.selected_groups[sel.labels[-1]] == "thick"
    assert result.selected_groups[sel.labels[0]] == "thin"
    p = result.thick_probability_selected()
    assert np.all((p >= -1e-12) & (p <= 1 + 1e-12))


def test_report_mentions_everything(result):
    text = disc_report(result)
    for needle in ["BIC", "AIC", "selected by BIC", "thin:", "thick:", "thick group",
                   "2-component fit", "stars classified thick"]:
        assert needle in text


def test_outputs(result, tmp_path):
    paths = write_disc_outputs(result, tmp_path)
    assert set(paths) == set(demo_output_paths(tmp_path))
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    tt = read_table(paths["membership_thin_thick"])
    t = load_rave_apogee()
    assert len(tt) == len(t)
    assert tt.colnames == t.colnames + ["p_thin", "p_thick", "component"]
    assert list(tt["RAVE_OBS_ID"]) == list(t["RAVE_OBS_ID"])
    np.testing.assert_allclose(np.asarray(tt["p_thin"]) + np.asarray(tt["p_thick"]), 1.0,
                               rtol=1e-12)
    summary = json.loads(paths["summary_json"].read_text())
    assert summary["thin_thick"]["labels"] == ["thin", "thick"]
    assert summary["seed"] == 7
    assert "2 components" in summary["explanation"] or "2-component" in summary["explanation"]
