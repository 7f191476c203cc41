"""Gromov-Wasserstein alignment of datasets living in different feature spaces."""

from ._gw_embedding import GWEmbeddingAligner
from ._modules import GWEmbeddingModule, GWEmbeddingNet, GWLoss

__all__ = ["GWEmbeddingAligner", "GWEmbeddingModule", "GWEmbeddingNet", "GWLoss"]
