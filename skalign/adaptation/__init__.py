"""Unsupervised domain adaptation with Adaptive optimal transport."""

from ._adaptive_ot import AdaptiveOTDomainAdapter
from ._deep import DeepAdaptiveOTDomainAdapter

__all__ = ["AdaptiveOTDomainAdapter", "DeepAdaptiveOTDomainAdapter"]
