"""bayesmix.em.saved: the checked reader of saved .npz files (messages name file and field)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import bayesmix.em.saved as saved_module
from bayesmix.em.saved import SavedArrays, check_version, read_npz
from bayesmix.exceptions import FormatError


def test_docstring_examples():
    result = doctest.testmod(saved_module)
    assert result.attempted > 0 and result.failed == 0


def test_array_checks_name_field_and_index():
    s = SavedArrays({"p__a": np.array([[1.0, np.nan]]), "p__b": np.array([1.0, -2.0])}, "f.npz")
    part = s.part("p__")
    assert part.names() == {"a", "b"}
    with pytest.raises(FormatError, match=r"^f\.npz: field 'p__a' must be finite; got nan at"):
        part.array("a", shape=(1, 2))
    with pytest.raises(FormatError, match=r"field 'p__b' must be >= 0.0; got -2.0 at index \(1,\)"):
        part.array("b", shape=(None,), minimum=0.0)
    with pytest.raises(FormatError, match=r"field 'p__b' must have shape \(3,\) \(K = 3\)"):
        part.array("b", shape=(3,), context="K = 3")
    np.testing.assert_array_equal(part.array("b", shape=(None,)), [1.0, -2.0])
    with pytest.raises(FormatError, match="field 'p__c' is missing"):
        part.check_fields(("a", "b", "c"))
    with pytest.raises(FormatError, match="field 'p__b' is not part of this file format"):
        part.check_fields(("a",))


def test_meta_values_are_type_checked():
    s = SavedArrays(
        {"meta": np.array('{"n": 2, "x": 1.5, "f": true, "format_version": 3, "l": [1, 2]}')}, "m"
    )
    meta = s.meta()
    assert meta.integer("n", minimum=1) == 2
    assert meta.number("x", above=0) == 1.5
    assert meta.flag("f") is True
    assert meta.float_list("l", length=2) == [1.0, 2.0]
    for call, match in [
        (lambda: meta.integer("x"), "meta.x' must be an integer"),
        (lambda: meta.integer("f"), "meta.f' must be an integer"),
        (lambda: meta.number("f"), "must be a finite number"),
        (lambda: meta.text("n"), "must be a string"),
        (lambda: meta.choice("n", ["a"]), "must be one of"),
        (lambda: meta.float_list("l", length=3), "must have 3 entries"),
        (lambda: meta.section("n"), "must be a JSON object"),
        (lambda: meta.value("zz"), "meta.zz' is missing"),
        (lambda: check_version(meta, 2), "written by a newer bayesmix"),
    ]:
        with pytest.raises(FormatError, match=match):
            call()
    assert check_version(meta, 3) == 3


def test_read_npz_refuses_damage_and_pickles(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(3.0))
    assert list(read_npz(good, what="test")) == ["a"]
    obj = tmp_path / "obj.npz"
    np.savez(obj, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(FormatError, match=r"field 'a' cannot be read: Object arrays"):
        read_npz(obj, what="test")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:30])
    with pytest.raises(FormatError, match=r"bad\.npz: not a test file"):
        read_npz(bad, what="test")
    with pytest.raises(IsADirectoryError):
        read_npz(tmp_path, what="test")
