"""Structural keys of PyMC models: equal for equal models, different for any change."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from bayesmix.inference.model_key import model_key


def _model(
    y=(1.0, 2.0, 4.0),
    err=(0.5, 0.5, 1.0),
    sigma=2.0,
    name="mu",
    transform_lower=0.0,
    data_name="err",
    initval=None,
):
    with pm.Model(coords={"obj": range(len(y))}) as m:
        e = pm.Data(data_name, np.asarray(err), dims="obj")
        mu = pm.Normal(name, 0.0, sigma, initval=initval)
        s = pm.HalfNormal("s", 1.0)
        w = pm.Dirichlet("w", a=np.ones(2))
        lo = pm.Uniform("lo", transform_lower, 10.0)
        pm.Deterministic("total", mu + s)
        pm.Normal("y", mu + lo * w[0], pt.sqrt(s**2 + e**2), observed=np.asarray(y), dims="obj")
    return m


def _key(m, **kw):
    key, shared = model_key(m, **kw)
    assert key is not None, shared
    return key


def test_same_model_built_twice_same_key_and_shared_variables():
    k1, shared = model_key(_model())
    k2, _ = model_key(_model())
    assert k1 == k2 and len(k1) == 64
    assert "err" in shared  # the data the compiled functions may read, by name


@pytest.mark.parametrize(
    "change",
    [
        {"y": (1.0, 2.0, np.nextafter(4.0, 5.0))},  # one observed value by one ulp
        {"err": (0.5, 0.5, np.nextafter(1.0, 2.0))},  # one shared data value by one ulp
        {"y": (1.0, 2.0, 4.0, 5.0), "err": (0.5, 0.5, 1.0, 1.0)},  # one more object
        {"sigma": 2.5},  # a prior parameter
        {"name": "mu2"},  # a variable name
        {"data_name": "err2"},  # a data name
        {"transform_lower": -1.0},  # a transform's bound
        {"initval": 0.5},  # a starting value
    ],
)
def test_any_change_changes_the_key(change):
    assert _key(_model(**change)) != _key(_model())


def test_extra_settings_are_part_of_the_key():
    m = _model()
    assert _key(m, extra={"jitter": ["mu"]}) != _key(m, extra={"jitter": []})
    assert _key(m, extra={"jitter": ["mu"]}) == _key(m, extra={"jitter": ["mu"]})


def test_pytensor_flags_are_part_of_the_key():
    import pytensor

    m = _model()
    with pytensor.config.change_flags(numba__fastmath=False):
        off = _key(m)
    with pytensor.config.change_flags(numba__fastmath=True):
        on = _key(m)
    assert off != on


def test_unnamed_shared_data_gives_no_key():
    import pytensor

    with pm.Model() as m:
        e = pytensor.shared(np.array([0.5, 1.0]))  # not pm.Data: no name
        mu = pm.Normal("mu")
        pm.Normal("y", mu, e, observed=np.array([1.0, 2.0]))
    key, reason = model_key(m)
    assert key is None and "unnamed shared variable" in reason


def test_an_operation_s_source_folder_is_part_of_the_key(tmp_path, monkeypatch):
    """An operation defined outside PyTensor/PyMC adds a digest of its module's folder."""
    import importlib
    import sys

    from bayesmix.inference import model_key as mk

    src = (
        "import pytensor.tensor as pt\n"
        "from pytensor.graph.op import Op\n"
        "from pytensor.graph.basic import Apply\n"
        "class Twice(Op):\n"
        "    __props__ = ()\n"
        "    def make_node(self, x):\n"
        "        x = pt.as_tensor_variable(x)\n"
        "        return Apply(self, [x], [x.type()])\n"
        "    def perform(self, node, inputs, outputs):\n"
        "        outputs[0][0] = 2 * inputs[0]\n"
    )
    keys = []
    for version in ("# v1\n", "# v2\n"):
        folder = tmp_path / version[2:4]
        folder.mkdir()
        (folder / "twice_op.py").write_text(version + src)
        monkeypatch.syspath_prepend(str(folder))
        sys.modules.pop("twice_op", None)
        mod = importlib.import_module("twice_op")
        with pm.Model() as m:
            mu = pm.Normal("mu")
            pm.Potential("p", mod.Twice()(mu))
        keys.append(_key(m))
        monkeypatch.setattr(mk, "_SOURCE_DIGESTS", {})
        sys.path.remove(str(folder))
    sys.modules.pop("twice_op", None)
    assert keys[0] != keys[1]


def test_unstable_description_gives_no_key():
    """An operation parameter known only by its memory address cannot be keyed."""
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class Opaque:
        __slots__ = ()  # no state to describe it by: its repr is its address

    class WithObject(Op):
        __props__ = ("thing",)

        def __init__(self, thing):
            self.thing = thing

        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = inputs[0]

    with pm.Model() as m:
        mu = pm.Normal("mu")
        pm.Potential("p", WithObject(Opaque())(mu))
    key, reason = model_key(m)
    assert key is None and "no stable description" in reason
