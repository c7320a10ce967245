"""Loading saved EM models (``.npz`` + JSON metadata; never pickle)."""

from __future__ import annotations

from bayesmix.em._base import load_model as load

__all__ = ["load"]
