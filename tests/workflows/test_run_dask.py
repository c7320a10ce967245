"""``bayesmix run SPEC --dask`` on Parquet: same columns as the in-memory run, every row kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

from bayesmix.cli import main  # noqa: E402
from bayesmix.io import read_table  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "models"
# the in-memory run reads pandas-written Parquet with astropy, which notes missing string widths
pytestmark = pytest.mark.filterwarnings(
    "ignore::astropy.utils.exceptions.AstropyUserWarning:astropy.io.misc.parquet"
)

EM_SPEC = """
seed = 7
[data]
path = "{path}"
features = ["a", "b"]
select = "keep == 'yes'"
[builder]
name = "gmm"
n_components = "1-2"
n_init = 1
[output]
figures = ["bic_aic", "membership"]
"""

GM_SPEC = """
seed = 11
[data]
path = "{path}"
select = "keep == 'yes'"
[data.columns]
X = ["a", "b"]
[builder]
name = "gaussian_mixture"
n_components = 2
[sampler]
draws = 50
tune = 50
chains = 2
sampler = "pymc"
[output]
figures = []
"""

LINE_SPEC = """
seed = 5
[data]
path = "{path}"
[data.columns]
x = "x"
y = "y"
y_err = "e"
[builder]
name = "line_outlier"
[sampler]
draws = 50
tune = 50
chains = 2
sampler = "pymc"
[output]
figures = []
"""


def _frame(n: int = 240, seed: int = 3):
    r = np.random.default_rng(seed)
    a = np.concatenate([r.normal(0, 1, n // 2), r.normal(6, 1, n // 2)])
    b = a + r.normal(0, 0.5, n)
    a[5] = np.nan
    keep = np.where(np.arange(n) % 10 == 9, "no", "yes")
    return pd.DataFrame({"id": np.arange(n) + 1000, "a": a, "b": b, "keep": keep})


def _spec(tmp_path, text: str, path: str, name: str) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text.format(path=path))
    return p


def _strings(col) -> np.ndarray:
    return np.where(np.ma.getmaskarray(col), "", np.ma.getdata(col).astype(str))


def _compare(dask_table, mem_path: Path, frame, *, rtol: float) -> None:
    """Same rows, order, input columns and new columns as the in-memory table."""
    mem = read_table(mem_path)
    assert list(dask_table.columns) == mem.colnames
    assert len(dask_table) == len(frame) == len(mem)
    pd.testing.assert_frame_equal(
        dask_table[list(frame.columns)].reset_index(drop=True),
        frame.reset_index(drop=True),
        check_dtype=False,
    )
    for name in dask_table.columns[len(frame.columns) :]:
        d = dask_table[name].to_numpy()
        if d.dtype.kind == "f":
            m = np.ma.filled(np.ma.asarray(mem[name], dtype=np.float64), np.nan)
            np.testing.assert_allclose(d, m, rtol=rtol, atol=1e-300, err_msg=name)
        else:
            assert [str(v) for v in d] == list(_strings(mem[name])), name


def test_em_dask_matches_in_memory(tmp_path, capsys):
    frame = _frame()
    frame.to_parquet(tmp_path / "cat.parquet")
    spec = _spec(tmp_path, EM_SPEC, "cat.parquet", "em")
    assert main(["run", str(spec), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert main(["run", str(spec), "--dask", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    out = pd.read_parquet(tmp_path / "d" / "membership.parquet")
    _compare(out, tmp_path / "m" / "membership.csv", frame, rtol=1e-10)
    assert out["unscored_reason"].iloc[5] == "missing or non-finite value in a, b"
    assert out["unscored_reason"].iloc[9] == "excluded by [data].select"
    assert np.isnan(out["p_c0"].iloc[[5, 9]]).all() and out["component"].iloc[5] == ""
    sd = json.loads((tmp_path / "d" / "summary.json").read_text())
    sm = json.loads((tmp_path / "m" / "summary.json").read_text())
    np.testing.assert_allclose(
        [r["bic"] for r in sd["selection"]], [r["bic"] for r in sm["selection"]], rtol=1e-10
    )
    assert sd["unscored_reasons"] == sm["unscored_reasons"]
    assert sd["dask"]["figures_skipped"] == ["membership"]
    assert {p.name for p in (tmp_path / "d").iterdir()} == {
        "membership.parquet",
        "summary.json",
        "summary.txt",
        "bic_aic.png",
    }
    # a folder of partitions (and a glob of them) gives the same rows, in the same order
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, len(frame), 100)):
        frame.iloc[start : start + 100].to_parquet(parts / f"part.{i}.parquet")
    for path, out_name in (("parts", "f"), ("parts/part.*.parquet", "g")):
        spec_p = _spec(tmp_path, EM_SPEC, path, out_name)
        assert (
            main(["run", str(spec_p), "--dask", "--out", str(tmp_path / out_name), "--quiet"]) == 0
        )
        again = pd.read_parquet(tmp_path / out_name / "membership.parquet")
        assert len(list((tmp_path / out_name / "membership.parquet").iterdir())) == 3
        _compare(again, tmp_path / "m" / "membership.csv", frame, rtol=1e-10)
    # outputs are never replaced without --overwrite
    capsys.readouterr()
    assert main(["run", str(spec), "--dask", "--out", str(tmp_path / "d"), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--dask"], ["--scheduler", "threads"]])
def test_dask_needs_parquet(tmp_path, capsys, option):
    frame = _frame(40)
    frame.to_csv(tmp_path / "cat.csv", index=False)
    spec = _spec(tmp_path, EM_SPEC, "cat.csv", "em")
    assert main(["run", str(spec), *option, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"bayesmix: error: {option[0]} needs a Parquet")
    assert "cat.csv" in err
    assert not (tmp_path / "o").exists()
    assert (
        main(
            ["run", str(MODELS / "thin_thick_disc_em.toml"), *option, "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "dataset 'rave_apogee'" in capsys.readouterr().err
    assert main(["run", str(spec), "--fit-rows", "10", "--out", str(tmp_path / "o")]) == 2
    assert "--fit-rows needs --dask" in capsys.readouterr().err


def test_bayes_dask_matches_in_memory(tmp_path):
    """All rows fitted: the same posterior, so the same membership of every row."""
    frame = _frame(160)
    frame.to_parquet(tmp_path / "cat.parquet")
    spec = _spec(tmp_path, GM_SPEC, "cat.parquet", "gm")
    assert main(["run", str(spec), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert main(["run", str(spec), "--dask", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    out = pd.read_parquet(tmp_path / "d" / "membership.parquet")
    _compare(out, tmp_path / "m" / "membership.csv", frame, rtol=1e-12)
    assert out["unscored_reason"].iloc[5] == "missing or non-finite value in a, b"
    sd = json.loads((tmp_path / "d" / "summary.json").read_text())
    sm = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert sd["sampler_seed"] == sm["sampler_seed"]
    assert sd["fit_sample"]["n_rows"] == sd["fit_sample"]["of_rows"] == 144
    assert sd["fit_sample"]["seed"] == 11
    assert sd["data"] == sm["data"] | {"source": "cat.parquet"}
    for lab, m in sm["membership"].items():
        assert sd["membership"][lab]["n_most_probable"] == m["n_most_probable"]
        assert sd["membership"][lab]["expected_count"] == pytest.approx(m["expected_count"])
    assert (tmp_path / "d" / sd["files"][0]).exists()


def test_bayes_dask_fit_sample_keeps_unscorable_rows(tmp_path):
    """A sampled fit; rows the model cannot score keep their place with NaN and the reason."""
    r = np.random.default_rng(1)
    n = 400
    x = r.uniform(0, 10, n)
    e = np.full(n, 0.5)
    y = 2 * x + 1 + r.normal(0, 0.5, n)
    y[::25] += 15  # outliers
    fit_rows = 120
    picked = np.sort(np.random.default_rng(5).choice(n, fit_rows, replace=False))
    outside = np.setdiff1d(np.arange(n), picked)
    bad_err, missing = int(outside[3]), int(outside[7])
    e[bad_err] = -1.0  # the builder would refuse it; scoring marks the row instead
    y[missing] = np.nan
    frame = pd.DataFrame({"x": x, "y": y, "e": e})
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, n, 150)):
        frame.iloc[start : start + 150].to_parquet(parts / f"p{i}.parquet")
    spec = _spec(tmp_path, LINE_SPEC, "parts", "line")
    out_dir = tmp_path / "d"
    assert (
        main(
            [
                "run",
                str(spec),
                "--dask",
                "--fit-rows",
                str(fit_rows),
                "--out",
                str(out_dir),
                "--quiet",
            ]
        )
        == 0
    )
    out = pd.read_parquet(out_dir / "membership.parquet")
    assert len(out) == n
    np.testing.assert_array_equal(out["x"].to_numpy(), x)
    reasons = out["unscored_reason"].to_numpy()
    assert "y_err" in reasons[bad_err] and "this row" in reasons[bad_err]
    assert reasons[missing] == "missing or non-finite value in y"
    assert (reasons == "").sum() == n - 2
    p = out[["p_inlier", "p_outlier"]].to_numpy()
    assert np.isnan(p[[bad_err, missing]]).all()
    ok = reasons == ""
    np.testing.assert_allclose(p[ok].sum(axis=1), 1.0, rtol=1e-12)
    assert (out["component"].to_numpy()[::25][ok[::25]] == "outlier").mean() > 0.9
    s = json.loads((out_dir / "summary.json").read_text())
    assert s["fit_sample"] | {"how": None} == {
        "n_rows": fit_rows,
        "of_rows": n,
        "seed": 5,
        "max_rows": fit_rows,
        "how": None,
    }
    assert s["data"]["n_unscored"] == 2
    assert (out_dir / "posterior.nc").exists() or (out_dir / "posterior.zarr.zip").exists()


@pytest.mark.parametrize(
    ("kind", "components", "table"),
    [("weights", "n_components = 8", "weights"), ("divide", "n_components = 4", "divide_table")],
)
def test_gpz_dask_matches_in_memory(tmp_path, kind, components, table):
    from bayesmix.datasets import load_candels_cosmos

    t = load_candels_cosmos()[::6]
    frame = t.to_pandas()
    frame.to_parquet(tmp_path / "cc.parquet")
    text = (
        (MODELS / f"gpz_{kind}_candels_cosmos.toml")
        .read_text()
        .replace('dataset = "candels_cosmos"', 'path = "cc.parquet"')
        .replace(components, "n_components = 2")
    )
    spec = tmp_path / "g.toml"
    spec.write_text(text)
    assert main(["run", str(spec), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert main(["run", str(spec), "--dask", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    out = pd.read_parquet(tmp_path / "d" / f"{table}.parquet")
    if kind == "divide":  # booleans come back from CSV as text
        for c in ("m0", "m1", "unassigned"):
            out[c] = out[c].astype(str)
    _compare(out, tmp_path / "m" / f"{table}.csv", frame, rtol=1e-10)
    assert (tmp_path / "d" / "gpz_model.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blanco1_pm2d", "blanco1_full"])
def test_cluster_field_dask_matches_in_memory(tmp_path, name):
    from bayesmix.datasets import load_blanco1

    frame = load_blanco1()[::12].to_pandas()
    if name == "blanco1_full":  # positions are used without their errors
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith(("ra_", "dec_"))])
    frame.to_parquet(tmp_path / "bl.parquet")
    text = (
        (MODELS / f"{name}.toml").read_text().replace('dataset = "blanco1"', 'path = "bl.parquet"')
    )
    spec = tmp_path / "cf.toml"
    spec.write_text(text)
    common = ["--draws", "50", "--tune", "50", "--chains", "2", "--quiet"]
    assert main(["run", str(spec), "--out", str(tmp_path / "m"), *common]) == 0
    assert main(["run", str(spec), "--dask", "--out", str(tmp_path / "d"), *common]) == 0
    out = pd.read_parquet(tmp_path / "d" / "membership.parquet")
    _compare(out, tmp_path / "m" / "membership.csv", frame, rtol=1e-12)
