"""Bad-input battery, part 5: tampered saved models (issue 13, item 2).

A fitted EM model (``GaussianMixture``, ``XDGaussianMixture``) or
``GPzAugment`` is saved, and the file is then changed the way a careless
script or a hostile sender could: shapes, signs, an extra component row,
metadata that disagrees with the arrays, a covariance that is not positive
definite, a truncated archive, metadata that is not JSON, a pickled array.
Loading must give one :class:`~bayesmix.exceptions.FormatError` whose one-line
message names the file and the field, never a model whose probabilities sum
to 3.5 or are NaN; the file itself is not modified by loading.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from _bad_input import SEED
from hypothesis import given
from hypothesis import strategies as st

from bayesmix.em import GaussianMixture, XDGaussianMixture, load
from bayesmix.exceptions import FormatError
from bayesmix.gpz import GPzAugment


def _blobs(n=120, d=2, seed=SEED):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(0, 1, (n // 2, d)), rng.normal(5, 1, (n - n // 2, d))]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The arrays of a saved 2-component full GMM, an XD model and a GPzAugment."""
    folder = tmp_path_factory.mktemp("models")
    X = _blobs()
    GaussianMixture(n_components=2, rng=SEED).fit(X).save(folder / "gmm.npz")
    err = np.full_like(X, 0.3)
    XDGaussianMixture(n_components=2, rng=SEED).fit(X, X_err=err).save(folder / "xd.npz")
    GPzAugment(X, _blobs(seed=SEED + 1)[:60] + 0.5, n_components=2, rng=SEED).save(
        folder / "gpz.npz"
    )
    out = {}
    for name in ("gmm", "xd", "gpz"):
        with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
            out[name] = {k: data[k] for k in data.files}
        out[f"{name}_bytes"] = (folder / f"{name}.npz").read_bytes()
    return out


def _meta(arrays) -> dict:
    return json.loads(str(arrays["meta"]))


def _with_meta(arrays, change, prefix=""):
    meta = _meta(arrays)
    change(meta)
    return {**arrays, "meta": np.array(json.dumps(meta))}


def _save(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _cov(arrays, key="full_covariances"):
    return np.array(arrays[key], dtype=float)


def _set(arrays, **fields):
    return {**arrays, **fields}


def _not_pd(a):
    c = _cov(a)
    c[0] = np.array([[1.0, 2.0], [2.0, 1.0]])  # symmetric, eigenvalues 3 and -1
    return _set(a, full_covariances=c)


def _asymmetric(a):
    c = _cov(a)
    c[1, 0, 1] += 0.5
    return _set(a, full_covariances=c)


def _extra_row(a):
    return _set(
        a,
        weights=np.r_[a["weights"] * 0.9, 0.1],
        means=np.vstack([a["means"], a["means"][:1]]),
        full_covariances=np.concatenate([a["full_covariances"], a["full_covariances"][:1]]),
    )


def _meta_k(a, k):
    def change(meta):
        meta["params"]["n_components"] = k

    return _with_meta(a, change)


def _meta_set(a, section, key, value):
    def change(meta):
        (meta[section] if section else meta)[key] = value

    return _with_meta(a, change)


#: (case id, tampering of the EM arrays, field the message must name)
EM_TAMPERING = [
    ("weights-negative", lambda a: _set(a, weights=np.array([-0.5, 1.5])), "weights"),
    ("weights-sum-3.5", lambda a: _set(a, weights=a["weights"] * 3.5), "weights"),
    ("weights-nan", lambda a: _set(a, weights=np.array([np.nan, 1.0])), "weights"),
    ("weights-shape", lambda a: _set(a, weights=a["weights"][:1]), "weights"),
    ("weights-text", lambda a: _set(a, weights=np.array(["0.5", "0.5"])), "weights"),
    ("means-feature-dropped", lambda a: _set(a, means=a["means"][:, :1]), "means"),
    ("means-inf", lambda a: _set(a, means=a["means"] * np.inf), "means"),
    ("means-3d", lambda a: _set(a, means=a["means"][None]), "means"),
    ("extra-component-row", _extra_row, "n_components|weights|means"),
    ("covariance-not-pd", _not_pd, "full_covariances"),
    ("covariance-asymmetric", _asymmetric, "full_covariances"),
    ("covariance-nan", lambda a: _set(a, full_covariances=_cov(a) * np.nan), "full_covariances"),
    (
        "covariance-shape",
        lambda a: _set(a, full_covariances=_cov(a)[:, :1, :1]),
        "full_covariances",
    ),
    (
        "covariance-missing",
        lambda a: {k: v for k, v in a.items() if k != "full_covariances"},
        "full_covariances",
    ),
    (
        "covariance-type-bogus",
        lambda a: _meta_set(a, "params", "covariance_type", "round"),
        "covariance_type",
    ),
    (
        "covariance-type-diag",
        lambda a: _meta_set(a, "params", "covariance_type", "diag"),
        "covariance_type|full_covariances",
    ),
    ("n-components-3", lambda a: _meta_k(a, 3), "n_components"),
    ("n-components-0", lambda a: _meta_k(a, 0), "n_components"),
    ("n-components-text", lambda a: _meta_k(a, "two"), "n_components"),
    ("n-features-in", lambda a: _meta_set(a, "fitted", "n_features_in", 5), "n_features_in"),
    ("format-version-future", lambda a: _meta_set(a, None, "format_version", 99), "format_version"),
    ("class-unknown", lambda a: _meta_set(a, None, "class", "Pickle"), "class"),
    ("meta-not-json", lambda a: _set(a, meta=np.array("{not json")), "meta"),
    ("meta-list", lambda a: _set(a, meta=np.array("[1, 2]")), "meta"),
    ("meta-missing", lambda a: {k: v for k, v in a.items() if k != "meta"}, "meta"),
    ("meta-params-missing", lambda a: _with_meta(a, lambda m: m.pop("params")), "params"),
    (
        "lower-bound-nan",
        lambda a: _meta_set(a, "fitted", "lower_bound", float("nan")),
        "lower_bound",
    ),
    ("tol-negative", lambda a: _meta_set(a, "params", "tol", -1.0), "tol"),
    ("extra-array", lambda a: _set(a, payload=np.arange(3)), "payload"),
]


def _assert_one_format_error(path, field, loader):
    before = path.read_bytes()
    with pytest.raises(FormatError) as info:
        loader(path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert str(path) in msg or path.name in msg, msg
    assert any(f in msg for f in field.split("|")), (field, msg)
    assert path.read_bytes() == before


@pytest.mark.parametrize("model", ["gmm", "xd"])
@pytest.mark.parametrize(
    ("case", "tamper", "field"), EM_TAMPERING, ids=[t[0] for t in EM_TAMPERING]
)
def test_tampered_em_model_is_one_format_error(saved, tmp_path, model, case, tamper, field):
    path = _save(tmp_path / "model.npz", tamper(dict(saved[model])))
    _assert_one_format_error(path, field, load)


def _gpz(a, **fields):
    return {**a, **fields}


GPZ_TAMPERING = [
    ("scale-zero", lambda a: _gpz(a, scale=a["scale"] * 0), "scale"),
    ("scale-negative", lambda a: _gpz(a, scale=-a["scale"]), "scale"),
    ("center-shape", lambda a: _gpz(a, center=a["center"][:1]), "center"),
    ("center-nan", lambda a: _gpz(a, center=a["center"] * np.nan), "center"),
    ("pop-weights-negative", lambda a: _gpz(a, pop__weights=np.array([-0.5, 1.5])), "pop__weights"),
    (
        "train-weights-sum",
        lambda a: _gpz(a, train__weights=a["train__weights"] * 3.5),
        "train__weights",
    ),
    (
        "pop-means-feature-dropped",
        lambda a: _gpz(a, pop__means=a["pop__means"][:, :1]),
        "pop__means",
    ),
    (
        "train-missing",
        lambda a: {k: v for k, v in a.items() if not k.startswith("train__")},
        "train",
    ),
    (
        "pop-covariance-not-pd",
        lambda a: _gpz(
            a, pop__full_covariances=np.array([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
        ),
        "pop__full_covariances",
    ),
    ("class-other", lambda a: _meta_set(a, None, "class", "GaussianMixture"), "class"),
    ("meta-not-json", lambda a: _gpz(a, meta=np.array("{")), "meta"),
    ("threshold-out-of-range", lambda a: _meta_set(a, "params", "threshold", 1.5), "threshold"),
    ("n-components-disagree", lambda a: _meta_k(a, 7), "n_components"),
]


@pytest.mark.parametrize(
    ("case", "tamper", "field"), GPZ_TAMPERING, ids=[t[0] for t in GPZ_TAMPERING]
)
def test_tampered_gpz_model_is_one_format_error(saved, tmp_path, case, tamper, field):
    path = _save(tmp_path / "gpz.npz", tamper(dict(saved["gpz"])))
    _assert_one_format_error(path, field, GPzAugment.load)


def _truncated(data):
    return data[: len(data) // 2]


def _pickled(data):
    """The weights stored as a pickled object array (loading it would run pickle)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        names = src.namelist()
        target = "weights.npy" if "weights.npy" in names else "pop__weights.npy"
        assert target in names
        for item in src.infolist():
            body = src.read(item)
            if item.filename == target:
                inner = io.BytesIO()
                np.save(inner, np.array([0.5, 0.5], dtype=object), allow_pickle=True)
                body = inner.getvalue()
            dst.writestr(item, body)
    return buf.getvalue()


def _flipped(data):
    b = bytearray(data)
    for i in range(len(b) // 3, len(b) // 3 + 64):
        b[i] ^= 0xFF
    return bytes(b)


FILE_DAMAGE = [
    ("truncated", _truncated, "npz|archive|zip"),
    ("truncated-end", lambda d: d[:-30], "npz|archive|zip"),
    ("corrupt-bytes", _flipped, "npz|archive|zip|field|crc|CRC"),
    ("empty", lambda d: b"", "npz|archive|zip|empty"),
    ("not-a-zip", lambda d: b"just text\n" * 50, "npz|archive|zip"),
    ("pickled-array", _pickled, "weights"),
]


@pytest.mark.parametrize("model", ["gmm", "gpz"])
@pytest.mark.parametrize(("case", "damage", "field"), FILE_DAMAGE, ids=[f[0] for f in FILE_DAMAGE])
def test_damaged_model_file_is_one_format_error(saved, tmp_path, model, case, damage, field):
    path = tmp_path / f"{model}.npz"
    path.write_bytes(damage(saved[f"{model}_bytes"]))
    _assert_one_format_error(path, field, load if model == "gmm" else GPzAugment.load)


@pytest.mark.parametrize("model", ["gmm", "xd"])
def test_an_untouched_model_loads_and_predicts_the_same(saved, tmp_path, model):
    # the other side of the checks: a file as saved loads, and its probabilities are right
    path = _save(tmp_path / "m.npz", dict(saved[model]))
    m = load(path)
    X = _blobs(40, seed=5)
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(m.weights_, saved[model]["weights"])


@given(data=st.data())
def test_random_byte_changes_give_a_format_error_or_a_valid_model(saved, tmp_path_factory, data):
    model = data.draw(st.sampled_from(["gmm", "xd", "gpz"]))
    raw = bytearray(saved[f"{model}_bytes"])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("flip") / f"{model}.npz"
    path.write_bytes(bytes(raw))
    loader = GPzAugment.load if model == "gpz" else load
    try:
        m = loader(path)
    except FormatError as exc:
        assert "\n" not in str(exc) and path.name in str(exc)
        return
    # loaded: then it is a valid model (probabilities of any point finite and summing to 1)
    X = _blobs(20, seed=9)
    p = np.exp(m.log_membership(X)) if model == "gpz" else m.predict_proba(X)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
