"""Loaders for bundled and shared real data, and synthetic generators."""

from ._base import get_data_home, load_npz
from ._single_cell import load_multiomics_simulation, load_snareseq
from ._synthetic import (
    make_isometric_pair,
    make_non_isometric_pair,
    make_swiss_roll_pair,
)

__all__ = [
    "get_data_home",
    "load_multiomics_simulation",
    "load_npz",
    "load_snareseq",
    "make_isometric_pair",
    "make_non_isometric_pair",
    "make_swiss_roll_pair",
]
