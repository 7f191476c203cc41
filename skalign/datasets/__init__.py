"""Loaders for bundled and shared real data, and synthetic generators."""

from ._base import get_data_home, load_npz
from ._domain_adaptation import load_mnist_usps, load_office_caltech10
from ._networks import load_phone_email, make_noisy_graph_pair
from ._single_cell import load_multiomics_simulation, load_snareseq
from ._synthetic import (
    make_isometric_pair,
    make_non_isometric_pair,
    make_swiss_roll_pair,
)

__all__ = [
    "get_data_home",
    "load_mnist_usps",
    "load_multiomics_simulation",
    "load_npz",
    "load_office_caltech10",
    "load_phone_email",
    "load_snareseq",
    "make_isometric_pair",
    "make_noisy_graph_pair",
    "make_non_isometric_pair",
    "make_swiss_roll_pair",
]
