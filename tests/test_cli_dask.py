"""`bayesmix gmm fit|gpz --dask` on Parquet: same numbers as in memory, every row kept."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")


def bayesmix(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "bayesmix", *args], cwd=cwd, capture_output=True, text=True
    )


def test_gmm_fit_dask_matches_in_memory(tmp_path):
    r = np.random.default_rng(3)
    X = np.concatenate([r.normal(0, 1, (3000, 2)), r.normal(5, 1, (2000, 2))])
    X[7, 1] = np.nan
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame.to_parquet(tmp_path / "cat.parquet")
    frame.to_csv(tmp_path / "cat.csv", index=False)
    common = ["--columns", "a,b", "--n-components", "1-3", "--seed", "5", "--quiet"]
    d = bayesmix("gmm", "fit", "cat.parquet", "--dask", "--out", "d", *common, cwd=tmp_path)
    assert d.returncode == 0, d.stderr
    m = bayesmix("gmm", "fit", "cat.csv", "--out", "m", *common, cwd=tmp_path)
    assert m.returncode == 0, m.stderr
    sd = json.loads((tmp_path / "d" / "summary.json").read_text())
    sm = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert sd["selected"]["n_components"] == sm["selected"]["n_components"] == 2
    # same seeds, same initialisations (all rows fit in the init sample): same EM, same BIC
    bic_mem = [row["bic"] for row in sm["selection"]]
    np.testing.assert_allclose([row["bic"] for row in sd["selection"]], bic_mem, rtol=1e-8)
    out = pd.read_parquet(tmp_path / "d" / "membership.parquet")
    assert len(out) == len(frame)
    np.testing.assert_array_equal(out["a"].to_numpy(), frame["a"].to_numpy())
    assert out["unscored_reason"].iloc[7] != ""
    assert (out["unscored_reason"] == "").sum() == len(frame) - 1
    mem = pd.read_csv(tmp_path / "m" / "membership.csv")
    np.testing.assert_allclose(out["p_c0"], mem["p_c0"], rtol=1e-8)
    assert {p.name for p in (tmp_path / "d").iterdir()} == {
        "membership.parquet",
        "summary.json",
        "summary.txt",
        "bic_aic.png",
        "em_history.png",
    }
    again = bayesmix("gmm", "fit", "cat.parquet", "--dask", "--out", "d", *common, cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_dask_needs_parquet(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    r = bayesmix("gmm", "fit", "t.csv", "--columns", "a", "--dask", cwd=tmp_path)
    assert r.returncode == 2 and "Parquet" in r.stderr


def test_gpz_weights_and_divide_dask_match_in_memory(tmp_path):
    from bayesmix.datasets import load_candels_cosmos

    t = load_candels_cosmos()
    t["c1"] = t["lupt_F606W"] - t["lupt_F814W"]
    t["c2"] = t["lupt_F814W"] - t["lupt_F125W"]
    train = t[t["lupt_F160W"] < 23.5]
    t.to_pandas().to_parquet(tmp_path / "pop.parquet")
    train.to_pandas().to_parquet(tmp_path / "train.parquet")
    t.write(tmp_path / "pop.csv")
    train.write(tmp_path / "train.csv")
    feats = ["--features", "c1,c2,lupt_F160W", "--n-components", "4", "--quiet"]
    d = bayesmix(
        "gpz", "weights", "train.parquet", "--pop", "pop.parquet", "--dask", *feats, cwd=tmp_path
    )
    assert d.returncode == 0, d.stderr
    m = bayesmix("gpz", "weights", "train.csv", "--pop", "pop.csv", *feats, cwd=tmp_path)
    assert m.returncode == 0, m.stderr
    wd = pd.read_parquet(tmp_path / "train_weights.parquet")["weights"].to_numpy()
    wm = pd.read_csv(tmp_path / "train_weights.csv")["weights"].to_numpy()
    # the whole population fits in the fit sample: same data, same seed, same mixtures
    np.testing.assert_allclose(wd, wm, rtol=1e-9)
    dv = bayesmix("gpz", "divide", "pop.parquet", "--dask", *feats, cwd=tmp_path)
    assert dv.returncode == 0, dv.stderr
    div = pd.read_parquet(tmp_path / "pop_divide.parquet")
    assert len(div) == len(t)  # every input row and column, in order, divide columns added
    assert list(div.columns)[: len(t.colnames)] == t.colnames
    dm = bayesmix("gpz", "divide", "pop.csv", *feats, cwd=tmp_path)
    assert dm.returncode == 0, dm.stderr
    mem = pd.read_csv(tmp_path / "pop_divide.csv")
    np.testing.assert_array_equal(mem["index"].to_numpy(), np.arange(len(t)))
    for k in range(4):
        np.testing.assert_array_equal(div[f"m{k}"].to_numpy(), mem[f"m{k}"].to_numpy())
    np.testing.assert_array_equal(div["best"].to_numpy(), mem["best"].to_numpy())
    # colour expressions work over Dask too (each partition evaluates them)
    expr = ["--features", "lupt_F606W-lupt_F814W,lupt_F814W-lupt_F125W,lupt_F160W"]
    e = bayesmix(
        "gpz",
        "weights",
        "train.parquet",
        "--pop",
        "pop.parquet",
        "--dask",
        *expr,
        "--n-components",
        "4",
        "--quiet",
        "--out",
        "x.parquet",
        cwd=tmp_path,
    )
    assert e.returncode == 0, e.stderr
    we = pd.read_parquet(tmp_path / "x.parquet")["weights"].to_numpy()
    np.testing.assert_allclose(we, wm, rtol=1e-9)
