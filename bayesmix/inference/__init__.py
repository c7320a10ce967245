"""Sampling and point estimates for :class:`~bayesmix.builders.MixtureModel`.

:func:`sample` runs NUTS (nutpie by default, PyMC's own sampler as fallback)
with a seed drawn from ``rng`` and returns a :class:`Fit`: the ArviZ DataTree,
the model, the integer seed and a diagnostics summary.  Poor diagnostics give a
:class:`~bayesmix.exceptions.DiagnosticsWarning`.

Reproducibility note
--------------------
PyTensor compiles model graphs to numba with ``fastmath`` on by default, and
numba's on-disk cache stores that machine code.  With PyMC 6.4, PyTensor 3.3 and
nutpie 0.16 a freshly compiled gradient and the same gradient loaded from the
cache differ in the last bits, so the same seed gave different draws in a cold
process (empty cache) and a warm one; the difference grows through tuning.
With ``fastmath`` off, cold and warm runs give identical draws (tested in
``tests/test_inference.py`` with a subprocess on an empty cache directory).
:func:`sample` therefore compiles and samples with ``numba__fastmath=False``.

Compile cache
-------------
nutpie calls the model through two numba C callbacks that it compiles in every process and
never caches (on the Hogg 20-point model ~9 of the ~12 s a fresh ``bayesmix run`` took).
:func:`compiled_nutpie` compiles them through :func:`bayesmix.inference.compiled.compile_nutpie`:
numba caches the callbacks in PyTensor's compile directory, and a checked record keyed on the
model's structure lets a later process load them without building or compiling any PyTensor
graph (same draws either way: tested).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesmix._random import as_generator, derive_seed
from bayesmix._validate import check_choice, check_int
from bayesmix.exceptions import DiagnosticsWarning
from bayesmix.inference.compiled import compile_nutpie, import_nutpie
from bayesmix.inference.convergence import posterior_diagnostics

__all__ = ["Fit", "RHAT_MAX", "ESS_MIN", "compiled_nutpie", "diagnostics", "find_map", "sample"]

#: R-hat above this is reported as poor (Vehtari et al. 2021).
RHAT_MAX = 1.01
#: Bulk or tail ESS below this is reported as poor (Vehtari et al. 2021).
ESS_MIN = 400


@dataclass(frozen=True, eq=False)
class Fit:
    """A sampled mixture model.

    Attributes
    ----------
    idata : xarray.DataTree
        ArviZ results tree: ``posterior`` and ``sample_stats`` of the kept draws (the
        tuning draws are not stored, with either sampler).
    model : MixtureModel
        The model that was sampled.
    diagnostics : dict
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``,
        ``n_draws`` (total over chains), ``sampling_time`` (s, the sampler call
        alone; with PyMC's sampler it includes compilation), ``wall_time`` (s,
        compilation and diagnostics included).
    seed : int
        The integer seed given to the sampler.
    sampler : str
        ``"nutpie"`` or ``"pymc"``.
    """

    idata: Any
    model: Any
    diagnostics: dict = field(default_factory=dict)
    seed: int = 0
    sampler: str = "nutpie"

    @property
    def posterior(self):
        """The posterior group as an :class:`xarray.Dataset`."""
        return self.idata["posterior"].to_dataset()


def diagnostics(idata) -> dict[str, float]:
    """Summarise convergence: max rank R-hat, min bulk/tail ESS and divergences.

    R-hat and ESS come from :func:`bayesmix.inference.convergence.posterior_diagnostics`
    (Vehtari et al. 2021; tail ESS at the 5 % and 95 % quantiles).  Variables that are
    constant over draws (e.g. the zero upper triangle of a Cholesky factor) give NaN R-hat
    and are ignored.
    """
    post = idata["posterior"].to_dataset()
    per_var = posterior_diagnostics(post)

    def _reduce(key, fn):
        vals = [np.ravel(v[key]) for v in per_var.values()]
        vals = np.concatenate(vals) if vals else np.array([np.nan])
        vals = vals[np.isfinite(vals)]
        return float(fn(vals)) if vals.size else float("nan")

    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else None
    div = 0
    if stats is not None and "diverging" in stats:
        div = int(np.asarray(stats["diverging"].values).sum())
    return {
        "max_rhat": _reduce("r_hat", np.max),
        "min_ess_bulk": _reduce("ess_bulk", np.min),
        "min_ess_tail": _reduce("ess_tail", np.min),
        "divergences": div,
        "n_draws": int(post.sizes["chain"] * post.sizes["draw"]),
    }


def _warn_poor(diag: dict) -> None:
    problems = []
    if diag["max_rhat"] > RHAT_MAX:
        problems.append(f"max R-hat {diag['max_rhat']:.3f} > {RHAT_MAX}")
    if diag["min_ess_bulk"] < ESS_MIN:
        problems.append(f"min bulk ESS {diag['min_ess_bulk']:.0f} < {ESS_MIN}")
    if diag["min_ess_tail"] < ESS_MIN:
        problems.append(f"min tail ESS {diag['min_ess_tail']:.0f} < {ESS_MIN}")
    if diag["divergences"] > 0:
        problems.append(f"{diag['divergences']} divergent transitions (> 0)")
    if problems:
        warnings.warn(
            "poor MCMC diagnostics: "
            + "; ".join(problems)
            + ". Run more draws/tune or chains; with divergences, reparameterise or tighten "
            "priors before trusting the posterior.",
            DiagnosticsWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def _deterministic_flags():
    import pytensor

    # see the module docstring: cached fastmath code differs from fresh code
    with pytensor.config.change_flags(numba__fastmath=False), warnings.catch_warnings():
        # helper graphs (initial points) use PyTensor's C linker, which warns when a
        # pip-installed PyTensor finds no BLAS; the sampled logp/gradient are numba.
        warnings.filterwarnings(
            "ignore", message="PyTensor could not link to a BLAS", category=UserWarning
        )
        yield


def _start_options(mm) -> dict:
    """Return the initialisation options for nutpie.

    Gaussian-mixture models carry initial values from an EM fit (see the builder); chains
    start there without jitter, because jittered starts of an overlapping mixture fall
    into local modes (one broad plus one narrow component) that trap a chain.
    """
    if mm.spec.get("builder") == "gaussian_mixture":
        return {"jitter_rvs": set()}
    return {}


#: nutpie models compiled in this process, per PyMC model and start options.  Weak keys: an
#: entry goes with its model (the compiled model holds no reference to the PyMC model).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_nutpie(mm):
    """Return the nutpie model :func:`sample` uses for ``mm``, compiling it on first use.

    The result is kept for the lifetime of ``mm.model`` (the :class:`pymc.Model`), so sampling
    the same model again skips compilation; the :class:`~bayesmix.builders.MixtureModel`
    itself is not modified.
    """
    options = _start_options(mm)
    key = tuple(sorted((k, repr(sorted(map(str, v)))) for k, v in options.items()))
    per_model = _COMPILED.setdefault(mm.model, {})
    if key not in per_model:
        with _deterministic_flags():
            per_model[key] = compile_nutpie(mm.model, **options).compiled
    return per_model[key]


#: the NUTS settings each sampler spells its own way (bayesmix's name -> the sampler's)
_SPELLING = {"nutpie": {"progressbar": "progress_bar"}, "pymc": {"seed": "random_seed"}}


def _run_sampler(mm, sampler: str, settings: dict[str, Any]):
    """Run ``sampler`` on ``mm`` with the NUTS ``settings``; return (idata, sampling seconds)."""
    kw = {_SPELLING[sampler].get(k, k): v for k, v in settings.items()}
    if sampler == "nutpie":
        nutpie = import_nutpie()
        compiled = compiled_nutpie(mm)

        def draw():
            # tuning draws are not kept (as PyMC's sampler does): half the conversion and
            # the netCDF; the kept draws are the same
            return nutpie.sample(compiled, **kw, save_warmup=False)
    else:
        import pymc as pm

        def draw():
            return pm.sample(
                **kw,
                model=mm.model,
                nuts_sampler="pymc",
                compute_convergence_checks=False,
                compile_kwargs={"mode": "NUMBA"},
            )

    with _deterministic_flags():
        t0 = time.perf_counter()
        idata = draw()
        return idata, time.perf_counter() - t0


def sample(
    model,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    rng: int | np.random.Generator | None = None,
    sampler: str = "nutpie",
    progressbar: bool = True,
    cores: int | None = None,
    target_accept: float = 0.8,
) -> Fit:
    """Draw posterior samples of a mixture model with NUTS.

    Parameters
    ----------
    model : MixtureModel
        A model from a :mod:`bayesmix.builders` function.
    draws, tune : int
        Draws kept and tuning steps per chain.
    chains : int
        Number of chains (at least 2 for R-hat).
    rng : int, numpy.random.Generator or None
        Source of the integer sampler seed (stored in ``Fit.seed``).
    sampler : {"nutpie", "pymc"}, default "nutpie"
        nutpie (compiled with numba) or PyMC's own NUTS.
    progressbar : bool, default True
        Show the sampler's progress bar.
    cores : int, optional
        Chains run in parallel (default ``min(chains, os.cpu_count())``).
    target_accept : float, default 0.8
        NUTS target acceptance rate; raise it (e.g. 0.95) when there are
        divergences.  On Hogg's 20 points the broad, weakly constrained outlier
        component gives a few divergences per 4000 draws at 0.8 and none at 0.95.

    Returns
    -------
    Fit

    Warns
    -----
    DiagnosticsWarning
        When max R-hat > 1.01, min bulk or tail ESS < 400, or any divergence.

    Notes
    -----
    The same seed, versions and sampler give identical draws, in a fresh
    process as in a warm one (numba ``fastmath`` is disabled while compiling
    and sampling; see the module docstring).  With nutpie the compiled model is
    kept for the lifetime of the PyMC model (:func:`compiled_nutpie`), so sampling it
    again skips compilation.

    References
    ----------
    Hoffman, M. D. & Gelman, A. 2014, JMLR 15, 1593 (NUTS).
    Vehtari, A. et al. 2021, Bayesian Analysis 16, 667 (R-hat, ESS thresholds).
    """
    sampler = check_choice(sampler, name="sampler", choices={"nutpie", "pymc"})
    draws = check_int(draws, name="draws", minimum=1)
    tune = check_int(tune, name="tune", minimum=0)
    chains = check_int(chains, name="chains", minimum=1)
    if cores is None:
        cores = min(chains, os.cpu_count() or 1)
    seed = derive_seed(as_generator(rng))
    t0 = time.perf_counter()
    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed}
    settings.update(progressbar=progressbar, cores=cores, target_accept=float(target_accept))
    idata, sampling_time = _run_sampler(model, sampler, settings)
    wall = time.perf_counter() - t0
    diag = diagnostics(idata)
    diag["wall_time"] = wall
    diag["sampling_time"] = sampling_time
    idata["posterior"].attrs["bayesmix_seed"] = seed
    idata["posterior"].attrs["bayesmix_sampler"] = sampler
    _warn_poor(diag)
    return Fit(idata=idata, model=model, diagnostics=diag, seed=seed, sampler=sampler)


def find_map(model, *, rng: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Maximum a posteriori point of a mixture model (L-BFGS-B, via ``pymc.find_MAP``).

    Parameters
    ----------
    model : MixtureModel
    rng : int, numpy.random.Generator or None
        Seed for the jitter of the starting point.

    Returns
    -------
    dict of str to numpy.ndarray
        Values of the model's variables (untransformed) at the optimum.

    Notes
    -----
    Mixture posteriors can be multimodal; the result is a local mode reached
    from the model's initial point (data quantiles for Gaussian-mixture means).
    """
    import pymc as pm

    seed = derive_seed(as_generator(rng))
    with _deterministic_flags():
        tree = pm.find_MAP(
            model=model.model,
            progressbar=False,
            random_seed=seed,
            jitter=False,
            return_inferencedata=True,
            compile_kwargs={"mode": "NUMBA"},
        )
    post = tree["posterior"].to_dataset()
    return {k: np.asarray(v.values).reshape(v.shape[2:]) for k, v in post.data_vars.items()}
