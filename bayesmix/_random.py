"""Seeding helpers: every random choice in bayesmix goes through a numpy Generator."""

from __future__ import annotations

import numpy as np

__all__ = ["as_generator", "derive_seed"]


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Return ``rng`` as a :class:`numpy.random.Generator` (ints and None are seeds)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"'rng' must be an int, a numpy.random.Generator or None, got {type(rng).__name__}"
    )


def derive_seed(rng: np.random.Generator) -> int:
    """Draw an integer seed (0 <= seed < 2**31) from ``rng`` for a sub-task."""
    return int(rng.integers(0, 2**31 - 1))
