"""Deprecated module: runs over Dask are :func:`bayesmix.workflows.run.run_spec` with ``dask=True``.

The names below still work for one release and warn ``FutureWarning`` naming
their replacement.
"""

from __future__ import annotations

import importlib
import warnings

__all__: list[str] = []  # every name here is deprecated (resolved by __getattr__)

_MOVED = {
    "DEFAULT_FIT_ROWS": ("bayesmix.workflows.rows", "DEFAULT_FIT_ROWS"),
    "run_spec_dask": ("bayesmix.workflows.run", "run_spec_dask"),
    "load_spec_dask": ("bayesmix.spec", "load_spec"),
}


def _dask_output_paths(spec, out_dir):
    from bayesmix.workflows.outputs import output_paths

    return output_paths(spec, out_dir, dask=True)


def __getattr__(name: str):
    if name == "dask_output_paths":
        warnings.warn(
            "bayesmix.workflows.run_dask.dask_output_paths is deprecated; use "
            "bayesmix.workflows.outputs.output_paths(spec, out_dir, dask=True)",
            FutureWarning,
            stacklevel=2,
        )
        return _dask_output_paths
    if name in _MOVED:
        module, new = _MOVED[name]
        warnings.warn(
            f"bayesmix.workflows.run_dask.{name} is deprecated; use {module}.{new}",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new)
    raise AttributeError(f"module 'bayesmix.workflows.run_dask' has no attribute {name!r}")
