"""End-to-end analyses behind the ``bayesmix`` command (fit, summarise, write outputs).

Each workflow keeps the computing (numpy, :mod:`bayesmix.em`) apart from the
writing (:mod:`bayesmix.io`, :mod:`bayesmix.plot`), so it can be used from a
notebook as well as from the command line.  Submodules are imported on use.
"""

from __future__ import annotations

__all__ = ["gmm", "run"]
