"""Saved EM models are checked on load (issue 13.2): one FormatError naming file and field.

Every class of tampering with a saved ``.npz`` (shapes, weights, component
rows, hyperparameters, covariances, non-finite values, dtypes, missing or
extra arrays, truncation, metadata, class, version) is refused; an untouched
file loads losslessly (hypothesis over models).
"""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayesmix.em import GaussianMixture, XDGaussianMixture, from_arrays, load, to_arrays
from bayesmix.exceptions import ConvergenceWarning, FormatError


def _blobs(seed: int, n: int = 240, d: int = 2) -> np.ndarray:
    r = np.random.default_rng(seed)
    centers = r.normal(0, 5, (3, d))
    return np.concatenate([r.normal(c, 1.0, (n // 3, d)) for c in centers])


@pytest.fixture(scope="module")
def saved():
    """Arrays of a fitted 3-component full-covariance model with a background."""
    gm = GaussianMixture(3, rng=0, background=True).fit(_blobs(0))
    return to_arrays(gm)


def _write(path, arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _meta(arrays) -> dict:
    return json.loads(str(arrays["meta"]))


def _with_meta(arrays, edit) -> dict:
    out = dict(arrays)
    meta = _meta(arrays)
    edit(meta)
    out["meta"] = np.array(json.dumps(meta))
    return out


def _refused(tmp_path, arrays, field: str, match: str = "") -> str:
    """Write ``arrays``, load, and return the message (one line, naming file and field)."""
    path = tmp_path / "model.npz"
    _write(path, arrays)
    with pytest.raises(FormatError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: field '{field}'"), msg
    if match:
        assert match in msg, msg
    return msg


# --------------------------------------------------------------- tampering classes
def test_changed_shape(saved, tmp_path):
    a = dict(saved, means=np.hstack([saved["means"], saved["means"][:, :1]]))
    _refused(tmp_path, a, "means", "must have shape (3, 2)")
    a = dict(saved, full_covariances=saved["full_covariances"][:, :1, :1].copy())
    _refused(tmp_path, a, "full_covariances", "must have shape (3, 2, 2)")
    a = dict(saved, weights=saved["weights"][None, :])
    _refused(tmp_path, a, "weights", "must have shape (3,)")


def test_negative_weights(saved, tmp_path):
    w = saved["weights"].copy()
    w[0], w[1] = -w[0], w[1] + 2 * w[0]  # still sums to one
    _refused(tmp_path, dict(saved, weights=w), "weights", "must be >= 0.0; got -")


def test_weights_not_normalised(saved, tmp_path):
    bg = _meta(saved)["fitted"]["background_weight"]
    w = saved["weights"] * (3.5 - bg) / saved["weights"].sum()
    _refused(tmp_path, dict(saved, weights=w), "weights", "must sum to 1")


def test_extra_component_row(saved, tmp_path):
    a = {
        "meta": saved["meta"],
        "weights": np.append(saved["weights"], 0.0),
        "means": np.vstack([saved["means"], saved["means"][:1]]),
        "full_covariances": np.concatenate([saved["full_covariances"]] * 2)[:4],
        "bounding_box": saved["bounding_box"],
    }
    _refused(tmp_path, a, "weights", "(n_components = 3)")


def test_n_components_disagrees_with_arrays(saved, tmp_path):
    a = _with_meta(saved, lambda m: m["params"].update(n_components=4))
    _refused(tmp_path, a, "weights", "must have shape (4,) (n_components = 4); got (3,)")


def test_bogus_hyperparameters(saved, tmp_path):
    cases = [
        ("covariance_type", "bogus", "must be one of ['diag', 'full', 'spherical', 'tied']"),
        ("n_components", 0, "must be >= 1"),
        ("n_components", 2.5, "must be an integer"),
        ("tol", -1.0, "must be >= 0.0"),
        ("reg_covar", "1e-6", "must be a finite number"),
        ("max_iter", True, "must be an integer"),
        ("nan_policy", "ignore", "must be one of"),
        ("init", "magic", "must be one of"),
        ("background", 1, "must be true or false"),
        ("frozen", [7], "component indices in 0..2"),
        ("frozen", {"colours": [0]}, "unknown key"),
        ("rng", -3, "must be >= 0"),
    ]
    for key, value, match in cases:
        a = _with_meta(saved, lambda m, k=key, v=value: m["params"].update({k: v}))
        _refused(tmp_path, a, f"meta.params.{key}", match)
    a = _with_meta(saved, lambda m: m["params"].update(colour="red"))
    _refused(tmp_path, a, "meta.params.colour", "unexpected key")
    a = _with_meta(saved, lambda m: m["params"].pop("tol"))
    _refused(tmp_path, a, "meta.params.tol", "is missing")


def test_fitted_values_inconsistent(saved, tmp_path):
    meta = _meta(saved)
    n_iter = meta["fitted"]["n_iter"]
    cases = [
        ("n_iter", 10**6, "must be <= 100"),
        ("n_iter", n_iter + 1, None),  # then the history is one short
        ("lower_bound", meta["fitted"]["lower_bound"] + 1, None),
        ("background_weight", 1.5, "must be < 1.0"),
        ("background_log_density", None, "must be a number with background = true"),
        ("converged", "yes", "must be true or false"),
        ("n_features_in", 3, None),
    ]
    fields = {
        ("n_iter", n_iter + 1): "meta.fitted.log_likelihood_history",
        ("lower_bound", meta["fitted"]["lower_bound"] + 1): "meta.fitted.log_likelihood_history",
        ("n_features_in", 3): "means",
    }
    for key, value, match in cases:
        a = _with_meta(saved, lambda m, k=key, v=value: m["fitted"].update({k: v}))
        field = fields.get((key, value), f"meta.fitted.{key}")
        _refused(tmp_path, a, field, match or "")
    # the background density must be that of the saved bounding box
    a = _with_meta(saved, lambda m: m["fitted"].update(background_log_density=0.0))
    _refused(tmp_path, a, "meta.fitted.background_log_density", "-sum(log(bounding box widths))")
    box = saved["bounding_box"][::-1].copy()
    _refused(tmp_path, dict(saved, bounding_box=box), "bounding_box", "lower < upper")


def test_not_positive_definite(saved, tmp_path):
    full = saved["full_covariances"].copy()
    full[1] = np.array([[1.0, 2.0], [2.0, 1.0]])
    _refused(tmp_path, dict(saved, full_covariances=full), "full_covariances", "component 1 is not")
    full[1] = np.array([[1.0, 0.5], [0.2, 1.0]])
    _refused(tmp_path, dict(saved, full_covariances=full), "full_covariances", "not symmetric")


def test_covariances_not_of_the_saved_type(tmp_path):
    X = _blobs(1)
    for cov_type, match in [
        ("diag", "off-diagonal"),
        ("spherical", "off-diagonal"),
        ("tied", "differs from component 0"),
    ]:
        a = to_arrays(GaussianMixture(3, covariance_type=cov_type, rng=0).fit(X))
        full = a["full_covariances"].copy()
        full[2] += np.array([[0.0, 0.1], [0.1, 0.0]])
        _refused(tmp_path, dict(a, full_covariances=full), "full_covariances", match)
    a = to_arrays(GaussianMixture(3, covariance_type="spherical", rng=0).fit(X))
    full = a["full_covariances"].copy()
    full[0, 0, 0] *= 2
    _refused(tmp_path, dict(a, full_covariances=full), "full_covariances", "unequal variances")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("field", ["weights", "means", "full_covariances", "bounding_box"])
def test_non_finite_values(saved, tmp_path, field, bad):
    a = saved[field].copy()
    a.flat[-1] = bad
    _refused(tmp_path, dict(saved, **{field: a}), field, "must be finite; got")


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.astype(np.float32),
        lambda a: a.astype(np.int64),
        lambda a: a.astype(str),
        lambda a: a.astype(np.complex128),
    ],
    ids=["float32", "int64", "str", "complex"],
)
def test_wrong_dtype(saved, tmp_path, make):
    _refused(tmp_path, dict(saved, means=make(saved["means"])), "means", "must be a float64 array")


def test_object_arrays_never_load(saved, tmp_path):
    """An object array needs pickle: it is refused unread, naming the field."""
    obj = np.empty(3, dtype=object)
    obj[:] = [1.0, "x", None]
    _refused(tmp_path, dict(saved, weights=obj), "weights", "cannot be read")
    a = dict(saved, meta=np.array([{"class": "GaussianMixture"}], dtype=object))
    _refused(tmp_path, a, "meta", "cannot be read")


def test_missing_and_extra_arrays(saved, tmp_path):
    for field in ("meta", "weights", "means", "full_covariances", "bounding_box"):
        a = {k: v for k, v in saved.items() if k != field}
        _refused(tmp_path, a, field, "is missing")
    _refused(tmp_path, dict(saved, evil=np.zeros(2)), "evil", "unexpected array")
    no_bg = to_arrays(GaussianMixture(2, rng=0).fit(_blobs(2)))
    a = dict(no_bg, bounding_box=saved["bounding_box"])
    _refused(tmp_path, a, "bounding_box", "unexpected array")


def test_bad_metadata(saved, tmp_path):
    _refused(tmp_path, dict(saved, meta=np.array("{not json")), "meta", "is not valid JSON")
    _refused(tmp_path, dict(saved, meta=np.array("[1, 2]")), "meta", "must be a JSON object")
    _refused(tmp_path, dict(saved, meta=np.arange(3.0)), "meta", "must be a JSON text")
    a = _with_meta(saved, lambda m: m.update(params=[1]))
    _refused(tmp_path, a, "meta.params", "must be a JSON object")
    a = _with_meta(saved, lambda m: m.pop("fitted"))
    _refused(tmp_path, a, "meta.fitted", "is missing")


def test_wrong_class_and_newer_version(saved, tmp_path):
    a = _with_meta(saved, lambda m: m.update({"class": "GPzAugment"}))
    _refused(tmp_path, a, "meta.class", "got 'GPzAugment'")
    a = _with_meta(saved, lambda m: m.update(format_version=2))
    msg = _refused(tmp_path, a, "meta.format_version", "newer bayesmix")
    assert "upgrade" in msg
    a = _with_meta(saved, lambda m: m.update(format_version="1"))
    _refused(tmp_path, a, "meta.format_version", "must be an integer")


def test_truncated_corrupt_and_foreign_files(saved, tmp_path):
    buf = io.BytesIO()
    np.savez(buf, **saved)
    data = buf.getvalue()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "empty.npz": b"",
        "text.npz": b"weights,means\n1,2\n",
    }
    # one flipped byte inside an array: the zip CRC check catches it
    pos = data.index(b"\x93NUMPY", data.index(b"means.npy")) + 140
    cases["flipped.npz"] = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(FormatError, match=rf"^{path}: ") as info:
            load(path)
        assert "\n" not in str(info.value)
    np.save(tmp_path / "single.npy", saved["means"])
    with pytest.raises(FormatError, match="not an .npz archive"):
        load(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")


def test_from_arrays_names_a_prefixed_part(saved):
    arrays = {f"pop__{k}": v for k, v in saved.items()}
    arrays["pop__weights"] = arrays["pop__weights"] * 2
    with pytest.raises(FormatError, match=r"^gpz\.npz: field 'pop__weights' must sum to 1"):
        from_arrays(arrays, source="gpz.npz", prefix="pop__")


# ------------------------------------------------------------------ round trip
def _same_model(a, b) -> None:
    assert type(a) is type(b)
    for name in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_cholesky_",
        "bounding_box_",
    ):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None
        else:
            np.testing.assert_array_equal(x, y)
            assert np.asarray(y).dtype == np.float64
    for name in (
        "background_weight_",
        "background_log_density_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "log_likelihood_history_",
        "n_features_in_",
        "n_components",
        "covariance_type",
        "tol",
        "reg_covar",
        "max_iter",
        "n_init",
        "nan_policy",
        "background",
        "frozen",
        "rng",
    ):
        assert getattr(a, name) == getattr(b, name), name


@given(
    K=st.integers(1, 3),
    D=st.integers(1, 3),
    cov=st.sampled_from(["full", "diag", "spherical", "tied"]),
    background=st.booleans(),
    xd=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_save_load_is_lossless(tmp_path_factory, K, D, cov, background, xd, seed):
    r = np.random.default_rng(seed)
    X = r.normal(0, 1, (60, D)) + r.integers(0, 3, 60)[:, None] * 4.0
    cls = XDGaussianMixture if xd else GaussianMixture
    model = cls(K, covariance_type=cov, background=background, rng=seed, max_iter=30)
    err = np.abs(r.normal(0.2, 0.05, X.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, X_err=err) if xd else model.fit(X)
    path = tmp_path_factory.mktemp("rt") / "m.npz"
    model.save(path)
    back = load(path)
    _same_model(model, back)
    _same_model(model, from_arrays(to_arrays(model)))
    args = (X, err) if xd else (X,)
    np.testing.assert_array_equal(back.predict_proba(*args), model.predict_proba(*args))
    np.testing.assert_array_equal(back.score_samples(*args), model.score_samples(*args))


def test_frozen_model_round_trip_keeps_its_parameter_count(tmp_path):
    X = _blobs(3)
    init = {
        "means": [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]],
        "weights": [0.2, 0.4, 0.4],
        "covariances": np.stack([np.eye(2)] * 3),
    }
    gm = GaussianMixture(3, init=init, frozen={"means": [0]}).fit(X)
    gm.save(tmp_path / "f.npz")
    back = load(tmp_path / "f.npz")
    assert back.frozen == {"means": [0]}
    assert back.n_parameters() == gm.n_parameters()
    assert back.bic(X) == gm.bic(X)


def test_flipped_bytes_anywhere_give_a_model_or_one_format_error(saved, tmp_path):
    """A 16-byte window flipped at 150 offsets over the archive (headers, zip directory,
    array data, JSON): every load is a FormatError or a model that passes every check."""
    buf = io.BytesIO()
    np.savez(buf, **saved)
    data = buf.getvalue()
    path = tmp_path / "x.npz"
    for start in range(0, len(data), max(1, len(data) // 150)):
        b = bytearray(data)
        for i in range(start, min(len(b), start + 16)):
            b[i] ^= 0xFF
        path.write_bytes(bytes(b))
        try:
            model = load(path)
        except FormatError as exc:
            assert "\n" not in str(exc)
            continue
        assert np.all(np.isfinite(model.predict_proba(model.means_)))
