"""Analysis specs shipped inside the package (``bayesmix demo`` runs one of them).

The files here are the originals; ``models/<name>.toml`` in a clone of the
repository is a relative symbolic link to the same file, so the spec that
``bayesmix demo`` runs from an installed wheel and the one that
``bayesmix run models/<name>.toml`` runs from a clone cannot drift apart.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEMO", "DEMO_FULL", "names", "path"]

DEMO = "blanco1_pm2d"
"""The spec ``bayesmix demo`` runs first: Blanco 1 cluster membership in (pmra, pmdec)."""
DEMO_FULL = "blanco1_full"
"""The spec ``bayesmix demo`` runs next (into ``<out>/full``): the full model, Blanco 1 in
(ra, dec, parallax, pmra, pmdec), with the cluster's distance and 3-D position."""


def names() -> list[str]:
    """Names of the bundled specs (file names without ``.toml``), sorted."""
    root = resources.files("bayesmix.specs")
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def path(name: str = DEMO) -> Path:
    """Return the filesystem path of the bundled spec ``name`` (default: the demo's).

    Raises
    ------
    FileNotFoundError
        There is no bundled spec of that name (the message lists the ones there are).
    """
    p = resources.files("bayesmix.specs").joinpath(f"{name}.toml")
    if not p.is_file():
        raise FileNotFoundError(
            f"bayesmix has no bundled spec {name!r} (bundled: {', '.join(names())})"
        )
    return Path(str(p))
