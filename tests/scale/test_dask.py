"""bayesmix.scale on a distributed LocalCluster, failures, threads and imports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from bayesmix import scale  # noqa: E402
from bayesmix.em import GaussianMixture  # noqa: E402
from scale._data import (  # noqa: E402
    CHUNK,
    assert_same_fit,
    cluster_marks,
    init_dict,
    new_line_objects,
    three_blobs,
)


@cluster_marks
def test_distributed_fit_scoring_membership(client, blobs, fitted, line_fit, augment):
    from bayesmix.membership import membership

    Xd = da.from_array(blobs, chunks=(CHUNK, 2))
    # tol 1e-5: 65 iterations (each one a round trip to the cluster) keeps the test quick
    kw = dict(init=init_dict(blobs), tol=1e-5, max_iter=300)
    ref = GaussianMixture(3, **kw).fit(blobs)
    with client.as_current():
        got = scale.fit(GaussianMixture(3, **kw), Xd)
        p = scale.predict_proba(fitted, Xd).compute()
        data = new_line_objects(2_500)
        ds = scale.membership(
            line_fit,
            {k: da.from_array(v, chunks=800) for k, v in data.items()},
            broadcast="scatter",
        )
        mem = ds.compute()
        aug, Xpop = augment
        if aug.weighting_ is None:  # the rule is fitted in memory (a subsample stands in
            aug.fit_weights(Xpop[::3])  # for the training sample here), then scored on workers
        w = scale.gpz_weights(aug, da.from_array(Xpop, chunks=(900, 2))).compute()
    assert_same_fit(got, ref)
    assert got.persisted_
    np.testing.assert_allclose(p, fitted.predict_proba(blobs), rtol=1e-12, atol=1e-15)
    mref = membership(line_fit, data)
    np.testing.assert_allclose(
        mem["probability"].values, mref["probability"].values, rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(w, aug.weights(Xpop), rtol=1e-12)


def _slow_source(block):
    """Stand-in for reading a catalogue partition from slow storage."""
    time.sleep(0.05)
    return block


@cluster_marks
def test_worker_killed_mid_scoring_still_completes(client, fitted):
    """Kill one worker process while scoring runs: distributed recomputes the lost tasks."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rng = np.random.default_rng(12)
    X = three_blobs(rng, n=120_000)
    Xd = da.from_array(X, chunks=(1_000, 2)).map_blocks(_slow_source, dtype=float)
    ref = fitted.predict_proba(X)
    fut = client.compute(scale.predict_proba(fitted, Xd))
    # wait until the computation is under way, then kill one worker process (SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:
        done = client.run_on_scheduler(
            lambda dask_scheduler: sum(ts.state == "memory" for ts in dask_scheduler.tasks.values())
        )
        if done >= 10:
            break
        time.sleep(0.05)
    assert not fut.done()
    victim = next(iter(client.cluster.workers.values()))
    pid = victim.process.process.pid
    os.kill(pid, 9)
    got = fut.result(timeout=120)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    client.wait_for_workers(2, timeout=60)


def test_scale_does_not_import_pymc():
    code = "import bayesmix.scale, sys; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_threading_is_safe_for_concurrent_scoring(fitted, blobs):
    """Two threads scoring at once give the same answer (the kernels share one thread pool)."""
    Xd = da.from_array(blobs, chunks=(500, 2))
    res = {}

    def run(i):
        res[i] = scale.predict_proba(fitted, Xd).compute(scheduler="threads")

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_array_equal(res[0], res[1])
