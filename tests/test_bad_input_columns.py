"""Bad-input battery, part 2: columns, missing values and numerical extremes (issue 13: 3, 5, 6).

- An input column named like a column the run adds is refused, naming it and
  the file, before any fitting (item 3); so is a column named twice.
- One missing-value policy in every command (item 5): a row with a missing,
  masked or non-finite feature (or a missing, non-finite or negative GPz
  error) keeps its place with an ``unscored_reason``, and the other rows get
  exactly the answer they get when the bad rows are not there at all.
- Data around 1e300 (or 1e-300) are fitted as the same data at unit scale
  (membership probabilities do not depend on the unit), or refused with one
  line; never NaN parameters (item 6).
"""

from __future__ import annotations

import numpy as np
import pytest
from _bad_input import SEED, assert_refused, known_failure, run_cli, two_blobs, write
from astropy.table import MaskedColumn, Table

from bayesmix.datasets import load_hogg2010
from bayesmix.exceptions import DataError
from bayesmix.io import read_table, table_to_array

FIT = ["--n-components", "2", "--n-init", "1", "--seed", "7", "--quiet"]


def _gmm_spec(path: str, features=("a", "b")) -> str:
    return (
        f'seed = 7\n[data]\npath = "{path}"\nfeatures = {list(features)!r}\n'.replace("'", '"')
        + '[builder]\nname = "gmm"\nn_components = 2\nn_init = 1\n[output]\nfigures = []\n'
    )


def _gpz_spec(path: str, kind: str, features=("a", "b"), extra: str = "") -> str:
    return (
        f'seed = 7\n[data]\npath = "{path}"\nfeatures = {list(features)!r}\n'.replace("'", '"')
        + f'[data.population]\npath = "{path}"\n[builder]\nname = "{kind}"\n'
        + f"n_components = 2\n{extra}[output]\nfigures = []\n"
    )


def _bayes_spec(path: str) -> str:
    return (
        f'seed = 1\n[data]\npath = "{path}"\nids = "ID"\n[data.columns]\nx = "x"\ny = "y"\n'
        'y_err = "sigma_y"\n[builder]\nname = "line_outlier"\n[sampler]\ndraws = 10\n'
        "tune = 10\nchains = 1\n[output]\nfigures = []\nposterior = false\n"
    )


# --------------------------------------------------------------------------------------------
# item 3: input columns are never replaced, renamed or doubled
# --------------------------------------------------------------------------------------------

#: (command, input column that collides with an added one)
COLLISIONS = [
    ("gmm-fit", "p_c0"),
    ("gmm-fit", "p_c1"),
    ("gmm-fit", "component"),
    ("gmm-fit", "unscored_reason"),
    ("run-gmm", "p_c1"),
    ("run-gmm", "unscored_reason"),
    ("gpz-weights", "weights"),
    ("gpz-weights", "unscored_reason"),
    ("run-gpz-weights", "weights"),
    ("run-bayes", "p_outlier"),
    ("run-bayes", "unscored_reason"),
]


@pytest.mark.parametrize(("command", "column"), COLLISIONS)
def test_input_column_named_like_an_added_column_is_refused_first(tmp_path, command, column):
    if command == "run-bayes":
        t = load_hogg2010()
    else:
        t = two_blobs()
    t[column] = ["x"] * len(t) if column in ("unscored_reason", "component") else 0.5
    write(tmp_path / "t.csv", t)
    argv = {
        "gmm-fit": ["gmm", "fit", "t.csv", "--columns", "a,b", "--out", "out", *FIT],
        "gpz-weights": ["gpz", "weights", "t.csv", "--features", "a,b", "--out", "w.csv", *FIT],
    }.get(command, ["run", "s.toml", "--out", "out", "--quiet"])
    spec = {
        "run-gmm": _gmm_spec("t.csv"),
        "run-gpz-weights": _gpz_spec("t.csv", "gpz_weights"),
        "run-bayes": _bayes_spec("t.csv"),
    }.get(command)
    if spec is not None:
        write(tmp_path / "s.toml", spec)
    assert_refused(tmp_path, argv, 2, rf"t.csv already has a column named '{column}'")


#: (command, the argument naming a column twice)
REPEATS = [
    (["gmm", "fit", "t.csv", "--columns", "a,a", "--out", "o"], r"--columns.*'a'.*twice|repeats"),
    (["gmm", "fit", "t.csv", "--columns", "a,b,a", "--out", "o"], r"--columns.*'a'"),
    (["gpz", "weights", "t.csv", "--features", "a,a"], r"--features.*'a'"),
    (["gpz", "divide", "t.csv", "--features", "b,a-b,b"], r"--features.*'b'"),
    (["run", "s_em.toml", "--out", "o"], r"\[data\]\.features\[1\] repeats 'a'"),
    (["run", "s_gm.toml", "--out", "o"], r"\[data.columns\]\.X\[1\] repeats 'a'"),
]


@pytest.mark.parametrize(
    ("argv", "message"), REPEATS, ids=[" ".join(r[0][:2]) + str(i) for i, r in enumerate(REPEATS)]
)
def test_a_column_named_twice_is_refused(tmp_path, argv, message):
    write(tmp_path / "t.csv", two_blobs())
    write(tmp_path / "s_em.toml", _gmm_spec("t.csv", ("a", "a")))
    write(
        tmp_path / "s_gm.toml",
        'seed = 1\n[data]\npath = "t.csv"\n[data.columns]\nX = ["a", "a"]\n'
        '[builder]\nname = "gaussian_mixture"\nn_components = 2\n',
    )
    assert_refused(tmp_path, [*argv, "--quiet"], 2, message)


@pytest.mark.parametrize("columns", ["a,", ",a", "a,,b", " , "])
def test_an_empty_column_name_in_a_list_is_refused(tmp_path, columns):
    write(tmp_path / "t.csv", two_blobs())
    argv = ["gmm", "fit", "t.csv", "--columns", columns, "--out", "o", *FIT]
    assert_refused(tmp_path, argv, 2, "--columns")


# --------------------------------------------------------------------------------------------
# item 5: one missing-value policy in every command
# --------------------------------------------------------------------------------------------

#: rows made bad, and how: NaN, +inf, -inf, a masked (empty) value, in either feature
BAD_ROWS = {
    3: ("a", np.nan),
    8: ("b", np.inf),
    17: ("a", -np.inf),
    31: ("b", None),
    44: ("a", None),
}


def _with_bad_rows(table: Table) -> Table:
    t = table.copy()
    for col in ("a", "b"):
        t[col] = MaskedColumn(np.asarray(t[col], float), mask=np.zeros(len(t), bool))
    for row, (col, value) in BAD_ROWS.items():
        if value is None:
            t[col].mask[row] = True
        else:
            t[col][row] = value
    return t


def _errors(table: Table, negative_row: int | None = None) -> Table:
    t = table.copy()
    t["e_a"] = np.full(len(t), 0.2)
    t["e_b"] = np.full(len(t), 0.3)
    if negative_row is not None:
        t["e_b"][negative_row] = -0.3
    t.rename_columns(["a", "b"], ["m_a", "m_b"])
    return t


def _reasons(table: Table) -> np.ndarray:
    if "unscored_reason" not in table.colnames:  # gpz divide: present when a row is unscored
        return np.full(len(table), "")
    col = table["unscored_reason"]
    missing = np.ma.getmaskarray(col)
    return np.array(["" if m else str(v) for v, m in zip(np.ma.getdata(col), missing, strict=True)])


#: command -> (argv with {t} for the input and {o} for the output, output file, value columns)
POLICY = {
    "gmm-fit": (
        ["gmm", "fit", "{t}", "--columns", "a,b", "--out", "{o}", *FIT],
        "{o}/membership.csv",
        ("p_c0", "p_c1"),
    ),
    "run-gmm": (["run", "{s}", "--out", "{o}", "--quiet"], "{o}/membership.csv", ("p_c0", "p_c1")),
    "gpz-weights": (
        ["gpz", "weights", "{t}", "--pop", "{t}", "--features", "a,b", "--out", "{o}.csv", *FIT],
        "{o}.csv",
        ("weights",),
    ),
    "gpz-divide": (
        [
            "gpz",
            "divide",
            "{t}",
            "--pop",
            "{t}",
            "--features",
            "a-b,b",
            "--out",
            "{o}.csv",
            "--return-density",
            *FIT,
        ],
        "{o}.csv",
        ("p0", "p1", "best"),
    ),
    "gpz-divide-weight": (
        [
            "gpz",
            "divide",
            "{t}",
            "--pop",
            "{t}",
            "--features",
            "a,b",
            "--weight",
            "--out",
            "{o}.csv",
            *FIT,
        ],
        "{o}.csv",
        ("weights", "m0"),
    ),
    "run-gpz-weights": (["run", "{s}", "--out", "{o}", "--quiet"], "{o}/weights.csv", ("weights",)),
    "run-gpz-divide": (
        ["run", "{s}", "--out", "{o}", "--quiet"],
        "{o}/divide_table.csv",
        ("p0", "p1", "m0", "m1"),
    ),
}


@pytest.mark.parametrize("command", POLICY)
def test_missing_values_keep_their_row_and_change_no_other_row(tmp_path, command):
    argv, out_file, values = POLICY[command]
    clean = two_blobs()
    write(tmp_path / "clean.csv", clean.copy()[[i not in BAD_ROWS for i in range(len(clean))]])
    write(tmp_path / "bad.csv", _with_bad_rows(clean))
    before = (tmp_path / "bad.csv").read_bytes()
    outs = {}
    for name in ("clean", "bad"):
        kind = {"run-gpz-weights": "gpz_weights", "run-gpz-divide": "gpz_divide"}.get(command)
        spec = _gmm_spec(f"{name}.csv") if kind is None else _gpz_spec(f"{name}.csv", kind)
        write(tmp_path / f"s_{name}.toml", spec)
        args = [a.format(t=f"{name}.csv", o=f"out_{name}", s=f"s_{name}.toml") for a in argv]
        code, _, err = run_cli(args, tmp_path)
        assert code == 0, err
        outs[name] = read_table(tmp_path / out_file.format(o=f"out_{name}"))
    assert (tmp_path / "bad.csv").read_bytes() == before
    bad, ref = outs["bad"], outs["clean"]
    assert len(bad) == len(clean)  # every input row, in input order
    if "index" in bad.colnames:  # gpz_pype's divide layout
        np.testing.assert_array_equal(bad["index"], np.arange(len(clean)))
    else:
        np.testing.assert_array_equal(bad["id"], clean["id"])
    reasons = _reasons(bad)
    is_bad = np.isin(np.arange(len(clean)), list(BAD_ROWS))
    assert (reasons[is_bad] != "").all() and (reasons[~is_bad] == "").all()
    for col in values:
        if col.startswith("m"):  # booleans, read back from CSV as True/False text
            got = (np.asarray(bad[col]).astype(str) == "True")[:, None].astype(float)
            want = (np.asarray(ref[col]).astype(str) == "True")[:, None].astype(float)
        else:
            got, _ = table_to_array(bad, [col])
            want, _ = table_to_array(ref, [col])
        if col in ("best",):
            assert (got[is_bad, 0] == -1).all()
        elif not col.startswith("m"):
            assert np.isnan(got[is_bad, 0]).all(), col
        np.testing.assert_allclose(got[~is_bad, 0], want[:, 0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("command", ["weights", "divide"])
@pytest.mark.parametrize("fault", ["negative", "nan", "masked"])
def test_bad_gpz_errors_leave_the_row_unscored(tmp_path, command, fault):
    t = _errors(two_blobs())
    if fault == "negative":
        t["e_b"][12] = -0.3
    elif fault == "nan":
        t["e_b"][12] = np.nan
    else:
        t["e_b"] = MaskedColumn(t["e_b"], mask=np.arange(len(t)) == 12)
    write(tmp_path / "t.csv", t)
    before = (tmp_path / "t.csv").read_bytes()
    argv = [
        "gpz",
        command,
        "t.csv",
        "--pop",
        "t.csv",
        "--features",
        "m_a,m_b",
        "--errors",
        "m_:e_",
        "--out",
        "o.csv",
        *FIT,
    ]
    code, _, err = run_cli(argv, tmp_path)
    assert code == 0, err
    assert (tmp_path / "t.csv").read_bytes() == before
    out = read_table(tmp_path / "o.csv")
    reasons = _reasons(out)
    assert len(out) == len(t)
    assert "error" in reasons[12] and (np.delete(reasons, 12) == "").all()


# --------------------------------------------------------------------------------------------
# item 6: numerical extremes
# --------------------------------------------------------------------------------------------

SCALES = [1e300, 1e-300, 1e150, 1e-150]
_EXTREME_BUG = (
    "helper A, em.GaussianMixture.fit",
    "data scaled by {scale:g}: NaN parameters or probabilities that differ from the same data "
    "at unit scale (EM must rescale internally, or refuse with one DataError)",
)


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_mixture_fits_extreme_scales_as_unit_scale_or_refuses(request, scale):
    from bayesmix.em import GaussianMixture

    X, _ = table_to_array(two_blobs(200), ["a", "b"])
    ref = GaussianMixture(n_components=2, rng=SEED).fit(X)
    try:
        gm = GaussianMixture(n_components=2, rng=SEED).fit(X * scale)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    ok = np.isfinite(gm.means_).all() and np.isfinite(gm.weights_).all()
    p, p_ref = gm.predict_proba(X * scale), ref.predict_proba(X)
    same = ok and np.allclose(p, p_ref, atol=1e-6) and np.allclose(gm.means_ / scale, ref.means_)
    if not same:
        known_failure(request, _EXTREME_BUG[0], _EXTREME_BUG[1].format(scale=scale))
    assert ok, "NaN parameters"
    np.testing.assert_allclose(p, p_ref, atol=1e-6)
    np.testing.assert_allclose(gm.means_ / scale, ref.means_, rtol=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_gmm_fit_on_extreme_scales_gives_unit_scale_answers_or_one_error(request, tmp_path, scale):
    t = two_blobs()
    write(tmp_path / "unit.csv", t)
    t["a"] = t["a"] * scale
    t["b"] = t["b"] * scale
    write(tmp_path / "big.csv", t)
    outs = {}
    for name in ("unit", "big"):
        code, _, err = run_cli(
            ["gmm", "fit", f"{name}.csv", "--columns", "a,b", "--out", name, *FIT], tmp_path
        )
        if name == "big" and code != 0:
            if code != 2 or "Traceback" in err:
                known_failure(request, "helper A / lead", f"gmm fit, data x {scale:g}: {err!r}")
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            return
        assert code == 0, err
        outs[name] = read_table(tmp_path / name / "membership.csv")
    p_big, _ = table_to_array(outs["big"], ["p_c0", "p_c1"])
    p_unit, _ = table_to_array(outs["unit"], ["p_c0", "p_c1"])
    if not np.allclose(p_big, p_unit, atol=1e-6):
        known_failure(request, _EXTREME_BUG[0], _EXTREME_BUG[1].format(scale=scale))
    np.testing.assert_allclose(p_big, p_unit, atol=1e-6)


@pytest.mark.parametrize("value", [1e308, -1e308])
def test_values_near_the_float_limit_never_give_nan(request, tmp_path, value):
    # one extreme row among ordinary ones: scored (finite probabilities) or refused, never NaN
    t = two_blobs()
    t["a"][5] = value
    write(tmp_path / "t.csv", t)
    code, _, err = run_cli(
        ["gmm", "fit", "t.csv", "--columns", "a,b", "--out", "o", *FIT], tmp_path
    )
    assert "Traceback" not in err
    if code == 2:
        if not ("'a'" in err and "t.csv" in err and "row 5" in err):
            known_failure(
                request,
                "lead, workflows/em.py (or helper A, em input check)",
                f"gmm fit with a = {value:g} in row 5 of t.csv: {err.strip()!r}; expected the "
                "one line to name column 'a' of t.csv and row 5 (the first bad row), not "
                "\"feature 0 of 'X'\"",
            )
        assert len(err.strip().splitlines()) == 1, err
        assert "'a'" in err and "t.csv" in err and "row 5" in err, err
        return
    assert code == 0, err
    out = read_table(tmp_path / "o" / "membership.csv")
    p, _ = table_to_array(out, ["p_c0", "p_c1"])
    reasons = _reasons(out)
    scored = reasons == ""
    assert np.isfinite(p[scored]).all()
    np.testing.assert_allclose(p[scored].sum(axis=1), 1.0)


def test_constant_feature_is_fitted_or_refused_never_nan(tmp_path):
    t = two_blobs()
    t["b"] = 3.0
    write(tmp_path / "t.csv", t)
    code, _, err = run_cli(
        ["gmm", "fit", "t.csv", "--columns", "a,b", "--out", "o", *FIT], tmp_path
    )
    assert "Traceback" not in err and code in (0, 2), err
    if code == 0:
        p, _ = table_to_array(read_table(tmp_path / "o" / "membership.csv"), ["p_c0", "p_c1"])
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0)


# --------------------------------------------------------------------------------------------
# [data.training] / --train: the training sample that gives the weights of a divide
# --------------------------------------------------------------------------------------------


def test_divide_weights_come_from_the_training_table(tmp_path):
    from bayesmix.gpz import gpz_divide_table

    table, pop = two_blobs(seed=1), two_blobs(200, seed=2)
    train = two_blobs(seed=3)[:40]  # a different sample: weights differ from table's own
    for name, t in (("t.csv", table), ("p.csv", pop), ("train.csv", train)):
        write(tmp_path / name, t)
    base = ["gpz", "divide", "t.csv", "--pop", "p.csv", "--features", "a,b", "--weight", *FIT]
    for out, extra in (("own.csv", []), ("train.csv.out.csv", ["--train", "train.csv"])):
        code, _, err = run_cli([*base, *extra, "--out", out], tmp_path)
        assert code == 0, err
    own = read_table(tmp_path / "own.csv")
    got = read_table(tmp_path / "train.csv.out.csv")
    want, _ = gpz_divide_table(
        pop, table, ["a", "b"], train_table=train, weight=True, n_components=2, rng=7
    )
    np.testing.assert_allclose(got["weights"], want["weights"], rtol=1e-9)
    assert not np.allclose(got["weights"], own["weights"])  # the training table mattered
