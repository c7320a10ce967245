"""End-to-end tests of `bayesmix gpz weights|divide` on the bundled CANDELS COSMOS sample."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from bayesmix.datasets import load_candels_cosmos
from bayesmix.gpz import read_divide_csv

FEATURES = "lupt_F606W-lupt_F814W,lupt_F814W-lupt_F125W,lupt_F160W"


def bayesmix(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "bayesmix", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpz")
    cat = load_candels_cosmos()
    cat.write(d / "cat.csv")
    cat[cat["lupt_F160W"] < 23.5].write(d / "train.csv")
    return d


def test_weights_written_next_to_input(tables):
    r = bayesmix(
        "gpz",
        "weights",
        "train.csv",
        "--pop",
        "cat.csv",
        "--features",
        FEATURES,
        "--n-components",
        "4",
        "--quiet",
        cwd=tables,
    )
    assert r.returncode == 0, r.stderr
    out = Table.read(tables / "train_weights.csv")
    train = Table.read(tables / "train.csv")
    assert len(out) == len(train)
    np.testing.assert_array_equal(out["id"], train["id"])
    assert np.all((out["weights"] > 0) & (out["weights"] <= 100))
    again = bayesmix(
        "gpz", "weights", "train.csv", "--pop", "cat.csv", "--features", FEATURES, cwd=tables
    )
    assert again.returncode == 2
    assert "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_divide_has_gpz_pype_columns(tables):
    r = bayesmix(
        "gpz",
        "divide",
        "cat.csv",
        "--features",
        FEATURES,
        "--n-components",
        "4",
        "--assign",
        "best",
        "--out",
        "div.csv",
        cwd=tables,
    )
    assert r.returncode == 0, r.stderr
    t = read_divide_csv(tables / "div.csv")
    assert t.colnames[:6] == ["index", "best", "m0", "m1", "m2", "m3"]
    assert len(t) == 4830
    np.testing.assert_array_equal(t["index"], np.arange(4830))
    m = np.column_stack([t[f"m{k}"] for k in range(4)])
    assert m.any(axis=1).all()  # assign="best": nobody is left out


def test_unknown_feature_is_a_usage_error(tables):
    r = bayesmix(
        "gpz",
        "weights",
        "train.csv",
        "--pop",
        "cat.csv",
        "--features",
        "nope",
        "--out",
        "x.csv",
        cwd=tables,
    )
    assert r.returncode == 2
    assert "nope" in r.stderr
