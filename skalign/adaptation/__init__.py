"""Unsupervised domain adaptation with Adaptive optimal transport."""

from ._adaptive_ot import AdaptiveOTDomainAdapter

__all__ = ["AdaptiveOTDomainAdapter"]
