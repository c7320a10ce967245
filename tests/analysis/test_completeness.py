"""completeness: injection-recovery maps and their lookup, against scipy and brute force."""

import math

import numpy as np
import pytest
from scipy import stats

from bayesmix.analysis.completeness import (
    CONTRAST_EDGES,
    N_EDGES,
    SEPARATION_EDGES,
    binomial_interval,
    build_completeness_table,
    cluster_position,
    completeness_of_fit,
    completeness_report,
    expected_completeness,
    load_completeness_table,
    model_of_features,
    pooled_rate,
)
from bayesmix.exceptions import DataError

# --------------------------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k,n", [(0, 1), (0, 40), (3, 10), (97, 100), (100, 100), (512, 1000)])
def test_binomial_interval_is_scipys_exact_interval(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = binomial_interval(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-12)
    assert hi == pytest.approx(ci.high, abs=1e-12)


def test_zero_claims_bound_and_the_runs_a_one_percent_goal_needs():
    # one-sided 95 % upper bound after 0 claims in n runs: 1 - 0.05^(1/n) (about 3/n)
    for n in (40, 299, 360, 400):
        _, hi = binomial_interval(0, n, sided="upper")
        assert hi == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-10)
    assert binomial_interval(0, 299, sided="upper")[1] < 0.01
    assert binomial_interval(0, 298, sided="upper")[1] > 0.01


def test_binomial_interval_rejects_bad_counts():
    with pytest.raises(DataError, match="successes <= trials"):
        binomial_interval(5, 3)
    with pytest.raises(DataError, match="'level'"):
        binomial_interval(1, 3, level=1.5)
    assert binomial_interval(0, 0) == (0.0, 1.0)


def test_pooled_rate_is_binomial_when_runs_agree_and_quasi_binomial_when_not():
    k = np.array([45, 90, 180])
    n = np.array([50, 100, 200])  # the same proportion in every run: phi = 1
    r = pooled_rate(k, n)
    assert r.value == pytest.approx(315 / 350)
    assert r.overdispersion == 1.0
    assert (r.lower, r.upper) == pytest.approx(binomial_interval(315, 350))
    k = np.array([20, 95, 190, 60])
    n = np.array([50, 100, 200, 100])
    p = k.sum() / n.sum()
    chi2 = sum((a - b * p) ** 2 / (b * p * (1 - p)) for a, b in zip(k, n, strict=True))
    r = pooled_rate(k, n)
    assert r.overdispersion == pytest.approx(chi2 / 3)
    assert (r.lower, r.upper) == pytest.approx(
        binomial_interval(k.sum() / r.overdispersion, n.sum() / r.overdispersion)
    )
    # two runs: their own phi is not trusted, the one given (the model's) is used
    r2 = pooled_rate(k[:2], n[:2], overdispersion=2.5)
    assert r2.overdispersion == 2.5
    assert r2.runs == 2
    # three or more runs: their own (here 1: they agree), whatever is given
    r3 = pooled_rate([45, 90, 180], [50, 100, 200], overdispersion=2.5)
    assert r3.overdispersion == 1.0
    with pytest.raises(DataError, match="same length"):
        pooled_rate([1, 2], [3])


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


def _records(rng, n_runs=400):
    """Synthetic injection runs with known positions and outcomes."""
    det, fits = [], []
    for i in range(n_runs):
        n = int(rng.choice([20, 50, 100, 200, 1000]))
        sep = float(rng.uniform(0, 60))
        contrast = float(10 ** rng.uniform(-2.5, 1.5))
        hit_p = 0.5 if n < 50 else 0.97
        det.append(
            {
                "design": "map",
                "host": f"h{i % 3}",
                "n": n,
                "offset_in_cluster_sd": sep,
                "field_contrast": contrast,
                "recovered": bool(rng.uniform() < hit_p),
            }
        )
        if i % 4 == 0:
            hits = int(rng.binomial(n, 0.9))
            extra = int(rng.poisson(0.05 * n))
            p = np.clip(rng.beta(2, 2, 200), 0, 1)
            truth = rng.uniform(size=200) < p
            b = np.clip(np.searchsorted(np.linspace(0, 1, 21), p, side="right") - 1, 0, 19)
            fits.append(
                {
                    **det[-1],
                    "n_hits": hits,
                    "n_truth_scored": n,
                    "n_pos": hits + extra,
                    "claim": True,
                    "calib_n": np.bincount(b, minlength=20).tolist(),
                    "calib_members": np.bincount(b, weights=truth, minlength=20).tolist(),
                    "calib_sum_p": np.bincount(b, weights=p, minlength=20).tolist(),
                    "_p": p,
                    "_truth": truth,
                }
            )
    nulls = [{"design": "null", "host": "h0", "n": 0, "found": i == 7} for i in range(150)]
    fit_nulls = [{"design": "null", "host": "h0", "n": 0, "claim": False} for _ in range(10)]
    return det + nulls, fits + fit_nulls


def test_table_cells_and_goals_match_brute_force(rng):
    det, fits = _records(rng)
    t = build_completeness_table(det, {"pm2d": fits}, source="test")
    # detection cells against independent binning
    expect = {}
    for r in det:
        if r["design"] == "null":
            continue
        idx = (
            np.digitize(r["n"], N_EDGES) - 1,
            np.digitize(r["offset_in_cluster_sd"], SEPARATION_EDGES) - 1,
            np.digitize(r["field_contrast"], CONTRAST_EDGES) - 1,
        )
        k, m = expect.get(idx, (0, 0))
        expect[idx] = (k + r["recovered"], m + 1)
    got = {tuple(d["cell"]): (d["detected"], d["runs"]) for d in t["detection"]}
    assert got == expect
    # goals: N >= 50 and separation >= 5
    region = [
        r for r in det if r["design"] != "null" and r["n"] >= 50 and r["offset_in_cluster_sd"] >= 5
    ]
    g = t["goals"]["detection_rate"]
    assert (g["successes"], g["trials"]) == (sum(r["recovered"] for r in region), len(region))
    fc = t["goals"]["first_pass_false_claims"]
    assert (fc["claims"], fc["runs"]) == (1, 150)
    ci = stats.binomtest(1, 150, alternative="less").proportion_ci(0.95, method="exact")
    assert fc["upper_95_one_sided"] == pytest.approx(ci.high, rel=1e-9)
    # recall of the model in the goal region: pooled members
    inj = [r for r in fits if r["design"] != "null"]
    reg = [r for r in inj if r["n"] >= 50 and r["offset_in_cluster_sd"] >= 5]
    rec = t["goals"]["pm2d"]["recall"]
    assert rec["successes"] == sum(r["n_hits"] for r in reg)
    assert rec["trials"] == sum(r["n"] for r in reg)
    assert t["goals"]["pm2d"]["compare_to_field_false_claims"]["runs"] == 10
    # calibration: the ECE of all the fits' stars, computed star by star
    p = np.concatenate([r["_p"] for r in inj])
    truth = np.concatenate([r["_truth"] for r in inj])
    b = np.clip(np.searchsorted(np.linspace(0, 1, 21), p, side="right") - 1, 0, 19)
    ece = (
        sum(abs(p[b == j].mean() - truth[b == j].mean()) * np.sum(b == j) for j in np.unique(b))
        / p.size
    )
    cal = t["models"]["pm2d"]["calibration"]
    assert cal["ece"]["value"] == pytest.approx(ece, rel=1e-10)
    assert cal["ece"]["lower"] <= cal["ece"]["value"] <= cal["ece"]["upper"]


def test_lookup_reads_the_cell_it_falls_in_and_pools_densities_without_one(rng):
    det, fits = _records(rng, 800)
    t = build_completeness_table(det, {"pm2d": fits})
    q = (200.0, 20.0, 0.5)  # cell: N 140-400, separation 13-40, contrast 0.1-1
    est = expected_completeness(*q, table=t)
    cell = [
        r
        for r in det
        if r["design"] != "null"
        and 140 <= r["n"] < 400
        and 13 <= r["offset_in_cluster_sd"] < 40
        and 0.1 <= r["field_contrast"] < 1
    ]
    k = sum(r["recovered"] for r in cell)
    assert est.inside
    assert (est.detection.successes, est.detection.trials) == (k, len(cell))
    assert (est.detection.lower, est.detection.upper) == pytest.approx(
        binomial_interval(k, len(cell))
    )
    fcell = [
        r
        for r in fits
        if r["design"] != "null"
        and 140 <= r["n"] < 400
        and 13 <= r["offset_in_cluster_sd"] < 40
        and 0.1 <= r["field_contrast"] < 1
    ]
    assert fcell
    assert est.recall.successes == sum(r["n_hits"] for r in fcell)
    assert est.precision.trials == sum(r["n_pos"] for r in fcell)
    assert est.cell == {
        "n_members": [140.0, 400.0],
        "separation": [13.0, 40.0],
        "field_contrast": [0.1, 1.0],
    }
    assert "recall" in est.sentence and "N ~ 200" in est.sentence
    assert f"{est.recall.value:.2f}" in est.sentence
    # no field density: every contrast bin at (N, separation)
    est2 = expected_completeness(200, 20, None, table=t)
    wide = [
        r
        for r in det
        if r["design"] != "null" and 140 <= r["n"] < 400 and 13 <= r["offset_in_cluster_sd"] < 40
    ]
    assert est2.detection.trials == len(wide)
    assert est2.cell["field_contrast"] is None
    # a model never fitted: detection only, said so
    est3 = expected_completeness(*q, features=("parallax", "pmra", "pmdec"), table=t)
    assert est3.recall is None and "not measured for the astrometric model" in est3.sentence


@pytest.mark.parametrize(
    "q", [(5, 10, 0.1), (3000, 10, 0.1), (200, 500, 0.1), (200, 10, 2e6), (200, math.nan, 0.1)]
)
def test_points_outside_the_maps_are_said_to_be(rng, q):
    det, fits = _records(rng, 50)
    est = expected_completeness(*q, table=build_completeness_table(det, {"pm2d": fits}))
    assert not est.inside
    assert est.detection is None and est.recall is None
    assert "outside the measured completeness maps" in est.sentence


def test_an_empty_cell_is_outside():
    det = [
        {
            "design": "map",
            "host": "a",
            "n": 50,
            "offset_in_cluster_sd": 30.0,
            "field_contrast": 0.01,
            "recovered": True,
        }
    ]
    t = build_completeness_table(det, {})
    assert expected_completeness(50, 30, 0.01, table=t).inside
    est = expected_completeness(1000, 30, 0.01, table=t)
    assert not est.inside and "no injected cluster in its cell" in est.sentence


def test_the_shipped_table_loads_and_answers():
    t = load_completeness_table()
    assert t["edges"]["n_members"] == list(N_EDGES)
    d = t["detection"][0]
    lo = [
        t["edges"][k][i]
        for k, i in zip(("n_members", "separation", "field_contrast"), d["cell"], strict=True)
    ]
    est = expected_completeness(*(v * 1.01 + 1e-3 for v in lo))
    assert est.inside
    assert est.detection.trials == d["runs"]
    assert est.sentence.startswith("clusters like this one")


def test_loading_a_table_with_other_edges_fails(tmp_path):
    import json

    t = build_completeness_table([], {})
    t["edges"]["separation"] = [0, 1, 2]
    (tmp_path / "c.json").write_text(json.dumps(t))
    with pytest.raises(DataError, match="edges of 'separation'"):
        load_completeness_table(tmp_path / "c.json")
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(DataError, match="not a completeness table"):
        load_completeness_table(tmp_path / "d.json")


def test_model_names():
    assert model_of_features(["pmra", "pmdec"]) == "pm2d"
    assert model_of_features(("ra", "dec", "parallax", "pmra", "pmdec")) == "full"
    assert model_of_features(("ra", "dec", "parallax", "pmra", "pmdec", "radial_velocity")) is None


# --------------------------------------------------------------------------------------------
# a fitted cluster's position
# --------------------------------------------------------------------------------------------


def _cluster_run(rng, *, full_cov=False):
    n_f, n_c = 5000, 300
    field = rng.normal([2.0, -3.0], 5.0, size=(n_f, 2))
    mu, disp = np.array([10.0, 4.0]), 0.3
    err = np.concatenate([rng.uniform(0.1, 0.5, n_f), rng.uniform(0.2, 0.4, n_c)])
    clus = mu + rng.normal(0, 1, (n_c, 2)) * np.hypot(disp, err[n_f:, None])
    pm = np.vstack([field, clus])
    truth = np.r_[np.zeros(n_f), np.ones(n_c)]
    p = np.clip(truth * 0.97 + rng.uniform(0, 0.02, truth.size), 0, 1)
    if full_cov:
        par = {
            "cluster_pmra_dispersion": {"mean": 0.25},
            "cluster_pmdec_dispersion": {"mean": 0.35},
        }
    else:
        par = {"cluster_pm_dispersion": {"mean": disp}}
    cluster = {
        "parameters": {"cluster_pmra": {"mean": mu[0]}, "cluster_pmdec": {"mean": mu[1]}, **par},
        "members": {"expected": float(p.sum())},
    }
    return cluster, pm, err, p


@pytest.mark.parametrize("full_cov", [False, True])
def test_cluster_position_by_brute_force(rng, full_cov):
    cluster, pm, err, p = _cluster_run(rng, full_cov=full_cov)
    pos = cluster_position(cluster, pmra=pm[:, 0], pmdec=pm[:, 1], p_cluster=p, pmra_error=err)
    bulk = np.median(pm[p <= 0.5], axis=0)
    s = math.hypot(0.3, np.median(err[p > 0.5]))
    mu = np.array([10.0, 4.0])
    inside = [i for i in range(len(p)) if math.dist(pm[i], mu) < 2 * s]
    assert pos["n_members"] == pytest.approx(p.sum())
    assert pos["spread"] == pytest.approx(s)
    assert pos["separation"] == pytest.approx(math.dist(mu, bulk) / s)
    assert pos["field_contrast"] == pytest.approx(sum(1 - p[i] for i in inside) / p.sum())
    # without errors: the spread is the intrinsic dispersion
    pos0 = cluster_position(cluster, pmra=pm[:, 0], pmdec=pm[:, 1], p_cluster=p)
    assert pos0["spread"] == pytest.approx(0.3)


def test_cluster_position_names_what_is_missing(rng):
    cluster, pm, err, p = _cluster_run(rng)
    del cluster["parameters"]["cluster_pm_dispersion"]
    with pytest.raises(DataError, match="cluster_pm_dispersion"):
        cluster_position(cluster, pmra=pm[:, 0], pmdec=pm[:, 1], p_cluster=p)
    cluster, *_ = _cluster_run(rng)
    with pytest.raises(DataError, match="same length"):
        cluster_position(cluster, pmra=pm[:, 0], pmdec=pm[:, 1], p_cluster=p[:-1])


def test_completeness_report_combines_both(rng):
    cluster, pm, err, p = _cluster_run(rng)
    pos = cluster_position(cluster, pmra=pm[:, 0], pmdec=pm[:, 1], p_cluster=p, pmra_error=err)
    det = [
        {
            "design": "map",
            "host": "a",
            "n": 300,
            "recovered": True,
            "offset_in_cluster_sd": pos["separation"],
            "field_contrast": pos["field_contrast"],
        }
    ] * 4
    fits = [{**det[0], "n_hits": 290, "n_truth_scored": 300, "n_pos": 300, "claim": True}] * 2
    t = build_completeness_table(det, {"pm2d": fits})
    rep = completeness_report(
        cluster,
        features=("pmra", "pmdec"),
        pmra=pm[:, 0],
        pmdec=pm[:, 1],
        p_cluster=p,
        pmra_error=err,
        table=t,
    )
    assert rep["position"] == pos
    assert rep["inside"] and rep["recall"]["value"] == pytest.approx(580 / 600)
    assert rep["detection"]["trials"] == 4
    assert "recall 0.97" in rep["sentence"]


def test_completeness_of_fit_reads_the_fitted_stars(rng):
    from types import SimpleNamespace

    cluster, pm, err, p = _cluster_run(rng)
    plx = rng.normal(1.0, 0.2, len(p))
    X = np.column_stack([plx, pm])
    C = np.zeros((len(p), 3, 3))
    C[:, 0, 0] = 0.04
    C[:, 1, 1] = err**2
    C[:, 2, 2] = (1.1 * err) ** 2
    fit = SimpleNamespace(
        model=SimpleNamespace(
            spec={"features": ["ra", "dec", "parallax", "pmra", "pmdec"]},
            data={"X": X, "X_cov": C},
        )
    )
    got = completeness_of_fit(fit, cluster, p)
    want = completeness_report(
        cluster,
        features=("ra", "dec", "parallax", "pmra", "pmdec"),
        pmra=pm[:, 0],
        pmdec=pm[:, 1],
        p_cluster=p,
        pmra_error=err,
    )
    assert got["position"] == want["position"]
    assert got["sentence"] == want["sentence"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayesmix.exceptions.DiagnosticsWarning")  # short chains
def test_a_fitted_cluster_sits_where_it_was_injected(shared_data):
    # the fit-based position (what reports use) against the truth-based one (what the
    # sweep bins on), for a cluster injected into the real RA 45 DR3 field
    from bayesmix.builders import cluster_field
    from bayesmix.inference import sample
    from bayesmix.io import read_table
    from bayesmix.membership import membership
    from bayesmix.simulate import ClusterSpec, inject_clusters

    field = read_table(
        shared_data / "gaia_field_dr3_ra45_dec0" / "gaiadr3_field_ra45_dec0_r0p5.csv.gz"
    )
    pm = np.column_stack([np.ma.filled(field[c], np.nan) for c in ("pmra", "pmdec")])
    bulk = np.nanmedian(pm, axis=0)
    c = ClusterSpec(
        300,
        44.9,
        -0.05,
        0.1,
        pmra=bulk[0] + 4.0,
        pmdec=bulk[1] + 3.0,
        parallax=1.0,
        pm_dispersion=0.3,
    )
    inj = inject_clusters(field, c, rng=5)
    t = inj.table
    truth = np.asarray(inj.is_member)
    err = np.ma.filled(t["pmra_error"], np.nan).astype(float)
    obs = np.column_stack([np.ma.filled(t[k], np.nan).astype(float) for k in ("pmra", "pmdec")])
    s = math.hypot(0.3, np.nanmedian(err[truth]))
    sep_true = math.dist((c.pmra, c.pmdec), bulk) / s
    inside = np.hypot(obs[:, 0] - c.pmra, obs[:, 1] - c.pmdec) < 2 * s
    contrast_true = np.sum(inside & ~truth) / 300
    mm = cluster_field(t, features=("pmra", "pmdec"), rng=1)
    fit = sample(mm, draws=300, tune=300, chains=2, rng=1, progressbar=False)
    p = np.asarray(membership(fit, quantiles=False)["probability"].sel(component="cluster").values)
    post = fit.posterior
    cluster = {
        "parameters": {
            k: {"mean": float(post[k].mean())}
            for k in ("cluster_pmra", "cluster_pmdec", "cluster_pm_dispersion")
        },
        "members": {"expected": float(p.sum())},
    }
    rep = completeness_of_fit(fit, cluster, p)
    pos = rep["position"]
    assert pos["n_members"] == pytest.approx(300, rel=0.15)
    assert pos["separation"] == pytest.approx(sep_true, rel=0.15)
    assert pos["field_contrast"] == pytest.approx(contrast_true, abs=0.05)
    assert rep["sentence"].startswith(("clusters like this one", "this cluster"))
