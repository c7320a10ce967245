"""nutpie models through a checked compile record: nutpie's own compile is the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import _bayes_fits as fits
import numpy as np
import pytest

from bayesmix.builders import line_outlier
from bayesmix.inference import _deterministic_flags
from bayesmix.inference import compiled as cmod


def _hogg(scale=1.0):
    t = fits.hogg_table()
    return line_outlier(t["x"], t["y"], np.asarray(t["sigma_y"]) * scale, ids=t["ID"])


def _draws(compiled, seed=11):
    import nutpie

    with _deterministic_flags():
        tree = nutpie.sample(compiled, draws=40, tune=40, chains=2, seed=seed, progress_bar=False)
    return tree


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """A record folder of its own; the first compile writes, the second reads."""
    folder = tmp_path_factory.mktemp("records")
    mp = pytest.MonkeyPatch()
    mp.setattr(cmod, "cache_directory", lambda: folder)
    with _deterministic_flags():
        first = cmod.compile_nutpie(_hogg().model)
        second = cmod.compile_nutpie(_hogg().model)
    yield folder, first, second
    mp.undo()


def test_first_compile_writes_a_record_the_second_reads_it(records):
    folder, first, second = records
    assert first.source == "compiled" and first.note == "no record yet"
    assert second.source == "record" and second.note == ""
    assert first.key == second.key
    record = json.loads((folder / f"{first.key}.json").read_text())
    assert record["key"] == first.key and record["n_dim"] == first.compiled.n_dim
    assert {e["name"] for e in record["shared"]} == {v.name for v in first.compiled.shared_var_keys}
    # the loaded model built no PyTensor function
    assert second.compiled.logp_func is None and first.compiled.logp_func is not None


def test_record_samples_exactly_like_nutpie_s_own_compile(records):
    import nutpie

    _, first, second = records
    with _deterministic_flags():
        reference = nutpie.compile_pymc_model(_hogg().model, backend="numba")
    trees = [_draws(c) for c in (reference, first.compiled, second.compiled)]
    ref = trees[0]["posterior"].to_dataset()
    for tree in trees[1:]:
        post = tree["posterior"].to_dataset()
        assert list(post.data_vars) == list(ref.data_vars)
        for k in ref.data_vars:
            assert post[k].dims == ref[k].dims
            np.testing.assert_array_equal(post[k].values, ref[k].values)
        for k in ("diverging", "n_steps", "step_size"):
            np.testing.assert_array_equal(
                tree["sample_stats"][k].values, trees[0]["sample_stats"][k].values
            )


def test_starting_points_and_callbacks_equal_pymc_s(records):
    """Starting points for fresh seeds; log-density and gradient at them, bit for bit."""
    _, first, second = records
    gen = np.random.default_rng(5)
    for seed in [int(s) for s in gen.integers(0, 2**63, 5)] + [2**64 - 1]:
        a = first.compiled.initial_point_func(seed)
        b = second.compiled.initial_point_func(seed)
        np.testing.assert_array_equal(a, b)
        ra = cmod._call_logp(first.compiled.compiled_logp_func, a, first.compiled.user_data)
        rb = cmod._call_logp(second.compiled.compiled_logp_func, b, second.compiled.user_data)
        assert ra[:2] == rb[:2]
        np.testing.assert_array_equal(ra[2], rb[2])


def test_starting_points_without_jitter(tmp_path, monkeypatch):
    """No jitter (as for EM-started Gaussian mixtures): the support point for every seed."""
    import pymc as pm
    from pymc.initial_point import make_initial_point_fn

    monkeypatch.setattr(cmod, "cache_directory", lambda: tmp_path)
    model = _hogg().model
    with _deterministic_flags():
        cmod.compile_nutpie(model, jitter_rvs=set())
        loaded = cmod.compile_nutpie(_hogg().model, jitter_rvs=set())
    assert loaded.source == "record"
    fn = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    expected = np.concatenate([np.ravel(fn(0)[n]) for n in names])
    for seed in (3, 2**40):
        np.testing.assert_array_equal(loaded.compiled.initial_point_func(seed), expected)
    assert isinstance(model, pm.Model)


def _tamper(path, edit):
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda r: r["checks"][0].update(logp=(float.fromhex(r["checks"][0]["logp"]) + 1).hex()),
         "logp"),
        (lambda r: r["callbacks"]["logp"].update(src=r["callbacks"]["logp"]["src"] + "\n"),
         "logp callback source"),
        (lambda r: r["start"]["base"].update({r["start"]["names"][0]: [(0.5).hex()]}),
         "starting point"),
        (lambda r: r["shared"][0].update(name="nope"), "shared variable 'nope'"),
        (lambda r: r.update(names=r["names"][::-1]), "variable names"),
        (lambda r: r["callbacks"]["expand"].update(key="0" * 64), "expand callback source"),
    ],
)  # fmt: skip
def test_a_tampered_record_is_not_used_and_is_rewritten(records, tmp_path, monkeypatch, edit, why):
    folder, first, _ = records
    path = tmp_path / f"{first.key}.json"
    path.write_text((folder / path.name).read_text())
    _tamper(path, edit)
    monkeypatch.setattr(cmod, "cache_directory", lambda: tmp_path)
    with _deterministic_flags():
        again = cmod.compile_nutpie(_hogg().model)
        assert again.source == "compiled" and why in again.note
        assert cmod.compile_nutpie(_hogg().model).source == "record"  # rewritten


def test_a_damaged_record_file_is_not_used(records, tmp_path, monkeypatch):
    _, first, _ = records
    (tmp_path / f"{first.key}.json").write_text('{"format": 1, "key": ')
    monkeypatch.setattr(cmod, "cache_directory", lambda: tmp_path)
    with _deterministic_flags():
        again = cmod.compile_nutpie(_hogg().model)
    assert again.source == "compiled" and "JSONDecodeError" in again.note


def test_other_data_other_record(records, monkeypatch):
    folder, first, _ = records
    with _deterministic_flags():
        other = cmod.compile_nutpie(_hogg(scale=1.5).model)
    assert other.key != first.key and other.source == "compiled"
    assert (folder / f"{other.key}.json").is_file()


def test_records_off_compiles_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr(cmod, "cache_directory", lambda: tmp_path)
    with _deterministic_flags():
        r = cmod.compile_nutpie(_hogg().model, use_records=False)
    assert r.source == "compiled" and r.key is None and not list(tmp_path.iterdir())


_SCRIPT = textwrap.dedent("""
    import json, sys, time, warnings
    t0 = time.perf_counter()
    from bayesmix.builders import line_outlier
    from bayesmix.datasets import load_hogg2010
    from bayesmix.inference import compiled_nutpie, sample
    from bayesmix.inference.compiled import compile_nutpie
    warnings.simplefilter("ignore")
    import bayesmix.inference.compiled as cm
    seen = []
    real = cm.compile_nutpie
    def spy(*a, **k):
        r = real(*a, **k)
        seen.append(r.source)
        return r
    import bayesmix.inference as inf
    inf.compile_nutpie = spy
    t = load_hogg2010()
    mm = line_outlier(t["x"], t["y"], t["sigma_y"], ids=t["ID"])
    fit = sample(mm, draws=100, tune=100, chains=2, rng=7, progressbar=False)
    cm_ = compiled_nutpie(mm)
    json.dump({"source": seen,
               "hits": [cm_.compiled_logp_func.cache_hits, cm_.compiled_expand_func.cache_hits],
               "slope": fit.posterior["slope"].values.ravel().tolist(),
               "seconds": time.perf_counter() - t0}, sys.stdout)
""")


@pytest.mark.slow  # three fresh processes, the first compiling on an empty cache: 1-3 min
def test_record_used_across_processes_same_draws(tmp_path):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / 'cache'}")
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
            timeout=900, check=True,
        )  # fmt: skip
        runs.append(json.loads(out.stdout))
    assert runs[0]["source"] == ["compiled"] and runs[0]["hits"] == [0, 0]  # compiled, stored
    for run in runs[1:]:
        assert run["source"] == ["record"] and run["hits"] == [1, 1]  # loaded, no graph built
        np.testing.assert_array_equal(run["slope"], runs[0]["slope"])
    assert len(list((tmp_path / "cache" / "bayesmix_nutpie").glob("*.json"))) == 1


_IMPORT_SCRIPT = textwrap.dedent("""
    import json, sys
    from bayesmix.inference.compiled import import_nutpie
    nutpie = import_nutpie()
    light = {m: m in sys.modules for m in ("arviz", "arviz_plots", "arviz_stats", "matplotlib")}
    import arviz_base
    ns = sys.modules["nutpie.sample"]  # (nutpie.sample is also the name of a function)
    same = [ns.arviz.from_dict is arviz_base.from_dict,
            ns.arviz.dict_to_dataset is arviz_base.dict_to_dataset]
    import arviz  # the real package, not the stand-in
    real = hasattr(arviz, "summary") and arviz is not ns.arviz and ns.arviz.summary is arviz.summary
    json.dump({"light": light, "same": same, "real": real}, sys.stdout)
""")


def test_nutpie_imported_without_arviz():
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_SCRIPT], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    assert not any(got["light"].values()), got["light"]
    assert got["same"] == [True, True] and got["real"]
