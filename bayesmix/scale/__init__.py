"""EM fitting and scoring over Dask arrays and dataframes: catalogues larger than memory.

The functions here run bayesmix's own EM engine and scorers block by block on
`Dask <https://www.dask.org>`_ collections, so that a catalogue of 10^9 rows
(Gaia DR3, an LSST object table, a photometric population for GPz weights) is
scored, or a mixture fitted, on any Dask scheduler: the default threaded one,
a ``dask.distributed`` ``LocalCluster``, or a real cluster.

- :func:`fit` -- EM for an unfitted :class:`~bayesmix.em.GaussianMixture` or
  :class:`~bayesmix.em.XDGaussianMixture`.  Every iteration computes the
  sufficient statistics (weighted log-likelihood, N_k, N_bg, S1, S2) of each
  block with :func:`bayesmix.em.blocks.block_statistics` and sums them on the
  client; the loop is the estimator's own
  (:func:`bayesmix.em.blocks.fit_statistics`).  Started from the same means,
  the fit equals the in-memory fit iteration by iteration, whatever the
  chunking (the only difference is the order of the sums).
- :func:`select_n_components` -- the BIC/AIC selection of
  :func:`bayesmix.em.select_n_components` (same seeds per candidate), each
  candidate fitted by :func:`fit`.
- :func:`predict_proba`, :func:`score_samples` -- lazy membership
  probabilities / log-densities of a fitted EM model, as Dask arrays with the
  input's row chunks and order.
- :func:`gpz_weights`, :func:`gpz_divide` -- lazy GPz cost-sensitive weights and
  divides of a fitted :class:`~bayesmix.gpz.GPzAugment`.
- :func:`membership` -- Bayesian membership probabilities (posterior mean and
  spread over draws, :func:`bayesmix.membership.membership`) of new objects,
  with the posterior draws sent once to every worker.
- :func:`score_parquet` -- Parquet in, Parquet out, partition by partition,
  input columns kept (what ``bayesmix ... --dask`` calls).
- :func:`scheduler_context` -- activate a scheduler by name or address.

Modules: ``_dask`` (plumbing), :mod:`~bayesmix.scale.em`,
:mod:`~bayesmix.scale.gpz`, :mod:`~bayesmix.scale.bayes` (membership),
:mod:`~bayesmix.scale.parquet`.

Rows are never lost: a row that cannot be scored (a missing or non-finite
feature the model cannot marginalise, a bad measurement error) keeps its place
and gets NaN outputs; dataframe outputs also get an ``unscored_reason`` column
(empty for scored rows).  Unlike the in-memory methods, which raise on such
rows, the lazy scorers never fail half-way through a catalogue because of one
row.  :func:`fit` validates its input in a first pass and raises
:class:`~bayesmix.exceptions.DataError` naming the first bad row (global index).

Pointing it at a cluster
------------------------
Everything is lazy until ``.compute()``/``.persist()`` (or, for :func:`fit`
and :func:`score_parquet`, immediately), and runs on whatever Dask scheduler
is active.  For a cluster, create a ``distributed.Client`` first::

    from dask.distributed import Client, LocalCluster
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # one machine
    client = Client("tcp://scheduler-host:8786")                       # an existing cluster

    # HPC batch systems (SLURM, PBS, SGE, LSF, HTCondor): dask-jobqueue
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=8, processes=8, memory="32GiB", walltime="02:00:00")
    cluster.scale(jobs=10)
    client = Client(cluster)

    # Kubernetes: the dask-kubernetes operator (a DaskCluster resource)
    from dask_kubernetes.operator import KubeCluster
    cluster = KubeCluster(name="bayesmix", image="ghcr.io/dask/dask:latest", n_workers=20)
    client = Client(cluster)

The workers need ``bayesmix`` (and its numba kernels) installed in the same
version as the client.  One worker *process* per core with one thread each
(``processes=8, cores=8`` above) suits the kernels best: each block is scored
on one core (inside a task this module feeds the kernels slices small enough
that they stay on the task's thread).

Catalogues
----------
Parquet: ``dd.read_parquet(path, columns=[...])`` gives a Dask dataframe; pass it
with ``columns=`` naming the features.  HATS catalogues read with LSDB
(``cat = lsdb.read_hats(path, columns=[...])``) are Dask dataframes underneath:
``cat._ddf`` is that dataframe (LSDB's own ``cat.map_partitions`` is the public
route if you stay inside LSDB).  bayesmix does not depend on LSDB.

Memory
------
Scoring holds a few blocks per worker thread at a time: with 1e6-row blocks
and 3 features, tens of MB each.  :func:`fit` persists the input blocks in
(cluster) memory between iterations when they fit in half of it
(``persist="auto"``); otherwise every iteration re-reads the source (e.g. the
Parquet files) -- slower, but memory stays bounded whatever the size.

References
----------
Rocklin, M. 2015, "Dask: parallel computation with blocked algorithms and task
scheduling", Proc. 14th Python in Science Conf., 130.
Caplar, N. et al. 2025, "Using LSDB to enable large-scale catalog distribution,
cross-matching, and analytics", arXiv:2501.02103.
Bovy, J., Hogg, D. W. & Roweis, S. T. 2011, "Extreme deconvolution", Ann. Appl.
Stat. 5, 1657.
"""

from __future__ import annotations

from bayesmix.scale._dask import REASONS, scheduler_context
from bayesmix.scale.bayes import membership
from bayesmix.scale.em import fit, predict_proba, score_samples, select_n_components
from bayesmix.scale.gpz import gpz_divide, gpz_weights
from bayesmix.scale.parquet import score_parquet

__all__ = [
    "REASONS",
    "fit",
    "gpz_divide",
    "gpz_weights",
    "membership",
    "predict_proba",
    "scheduler_context",
    "score_parquet",
    "score_samples",
    "select_n_components",
]
