"""Loaders for bundled and shared real data, and synthetic generators."""

from ._base import get_data_home, load_npz

__all__ = ["get_data_home", "load_npz"]
