"""bayesmix.analysis.report: the cluster record of ``bayesmix run`` and its text."""

import numpy as np

from bayesmix.analysis import (
    CLUSTER_MAX_DRAWS,
    cluster_report,
    cluster_summary,
    format_cluster_report,
    thin_draws,
)
from tests._cluster_fits import sim_fit


def _record(**over):
    rec = {
        "interval": 0.9,
        "n_draws": 1000,
        "n_draws_total": 4000,
        "parameters": {
            "n_members": {"mean": 212.4, "sd": 5.0, "lower": 204.0, "upper": 221.0, "unit": ""},
            "cluster_pmra": {
                "mean": 18.7391,
                "sd": 0.01,
                "lower": 18.72,
                "upper": 18.76,
                "unit": "mas/yr",
            },
            "cluster_fraction": {
                "mean": 0.14,
                "sd": 0.01,
                "lower": 0.13,
                "upper": 0.15,
                "unit": "",
            },
            "cluster_distance_pc": {
                "mean": 23456.0,
                "sd": 1.0,
                "lower": 23000.0,
                "upper": 24000.0,
                "unit": "pc",
            },
        },
        "reference": {
            "source": "Cantat-Gaudin et al. 2020",
            "cluster_pmra": 18.739,
            "cluster_parallax": 4.216,
        },
        "members": {"n_p_gt_0.5": 210, "n_p_gt_0.9": 180, "expected": 212.44, "n_scored": 1500},
        "compare_to_field": {
            "cluster": True,
            "elpd_diff": 812.34,
            "se_diff": 40.1,
            "sky_z": 9.87,
            "criterion": "elpd_diff > 4",
        },
        "compare_to_field_note": None,
    }
    rec.update(over)
    return rec


def test_format_cluster_report_lines():
    text = format_cluster_report(_record())
    lines = text.splitlines()
    assert lines[0] == ""
    assert lines[1] == (
        "cluster (posterior mean and 90% interval, from 1000 of the 4000 "
        "draws); published: Cantat-Gaudin et al. 2020"
    )
    # parameters first, then the cluster's size; published value and unit on the row
    assert lines[2].split() == ["quantity", "mean", "90%", "interval", "published"]
    names = [ln.split()[0] for ln in lines[3:8]]
    assert names == [
        "cluster_pmra",
        "cluster_distance_pc",
        "cluster_fraction",
        "n_members",
        "cluster_parallax",
    ]
    pm = next(ln for ln in lines if ln.startswith("  cluster_pmra"))
    assert pm.split() == ["cluster_pmra", "18.74", "[18.72,", "18.76]", "18.739", "mas/yr"]
    dist = next(ln for ln in lines if ln.startswith("  cluster_distance_pc"))
    assert dist.split()[1:4] == ["23456", "[23000,", "24000]"]  # >= 1e4: no exponent
    plx = next(ln for ln in lines if ln.startswith("  cluster_parallax"))
    assert "(not in this model)" in plx and plx.rstrip().endswith("4.216  mas")
    assert (
        "members: 210 stars with p(cluster) > 0.5, 180 with p > 0.9; expected number "
        "(sum of p) 212.4, of 1500 stars scored"
    ) in lines
    assert (
        "is there a cluster? yes: cluster + field beats the field alone by elpd 812.3 "
        "+- 40.1 (PSIS-LOO); probable members concentrated on the sky at z = 9.9"
    ) in lines
    assert lines[-1] == "  (criterion: elpd_diff > 4)"
    assert text.endswith("\n")


def test_format_cluster_report_without_comparison():
    text = format_cluster_report(
        _record(
            n_draws=600,
            n_draws_total=600,
            reference={},
            compare_to_field=None,
            compare_to_field_note="not computed: free field",
        )
    )
    assert "cluster (posterior mean and 90% interval)\n" in text
    assert "published" not in text.splitlines()[1]
    assert text.endswith("is there a cluster? not computed: free field\n")


def test_cluster_report_on_a_fit():
    fit, _, _ = sim_fit()
    p = np.linspace(0.0, 1.0, 101)
    p = np.r_[p, np.nan]  # a row that was not scored
    rep = cluster_report(fit, p, reference={"cluster_pmra": 8.0}, max_draws=150)
    assert rep["n_draws_total"] == 600 and rep["n_draws"] == 150
    want = cluster_summary(thin_draws(fit, 150), interval=0.9)
    assert list(rep["parameters"]) == list(want)
    for k, v in want.items():
        assert {kk: rep["parameters"][k][kk] for kk in v} == v
    assert rep["parameters"]["cluster_pmra"]["unit"] == "mas/yr"
    assert rep["members"] == {
        "n_p_gt_0.5": 50,
        "n_p_gt_0.9": 10,
        "expected": float(np.nansum(p)),
        "n_scored": 101,
    }
    assert rep["reference"] == {"cluster_pmra": 8.0}
    assert rep["compare_to_field"]["cluster"] is True
    assert rep["compare_to_field_note"] is None
    assert CLUSTER_MAX_DRAWS == 1000
