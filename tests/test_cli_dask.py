"""`bayesmix gmm fit --dask` on Parquet: same selection as in memory, every row kept."""

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
    assert sd["selected_n_components"] == 2
    # same seeds, same initialisations (all rows fit in the init sample): same EM, same BIC
    bic_mem = [row["bic"] for row in sm["selection"]]
    np.testing.assert_allclose([row["bic"] for row in sd["selection"]], bic_mem, rtol=1e-8)
    out = pd.read_parquet(tmp_path / "d" / "membership.parquet")
    assert len(out) == len(frame)
    np.testing.assert_array_equal(out["a"].to_numpy(), frame["a"].to_numpy())
    assert out["unscored_reason"].iloc[7] != ""
    assert (out["unscored_reason"] == "").sum() == len(frame) - 1
    again = bayesmix("gmm", "fit", "cat.parquet", "--dask", "--out", "d", *common, cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_dask_needs_parquet(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    r = bayesmix("gmm", "fit", "t.csv", "--columns", "a", "--dask", cwd=tmp_path)
    assert r.returncode == 2 and "Parquet" in r.stderr
