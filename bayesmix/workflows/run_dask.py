"""Deprecated module: runs over Dask are :func:`bayesmix.workflows.run.run_spec` with ``dask=True``.

The names below still work for one release and warn ``FutureWarning`` naming
their replacement (``dask_output_paths(spec, out)`` is now
``bayesmix.workflows.outputs.output_paths(spec, out, dask=True)``).
"""

from __future__ import annotations

from bayesmix._deprecation import moved_names

__all__: list[str] = []  # every name here is deprecated (resolved by __getattr__)

__getattr__ = moved_names(
    __name__,
    {
        "DEFAULT_FIT_ROWS": "bayesmix.workflows.rows",
        "run_spec_dask": "bayesmix.workflows.run",
        "load_spec_dask": "bayesmix.spec:load_spec",
        "dask_output_paths": "bayesmix.workflows.outputs:output_paths",
    },
)
