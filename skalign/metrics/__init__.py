"""Alignment metrics and scorers usable as ``GridSearchCV(scoring=...)``."""

from ._alignment import (
    foscttm,
    gw_distortion,
    gw_distortion_scorer,
    label_transfer_accuracy,
)
from ._ranking import (
    hits_at_k,
    hits_at_k_scorer,
    mean_reciprocal_rank,
    mrr_scorer,
    partner_ranks,
)

__all__ = [
    "foscttm",
    "gw_distortion",
    "gw_distortion_scorer",
    "hits_at_k",
    "hits_at_k_scorer",
    "label_transfer_accuracy",
    "mean_reciprocal_rank",
    "mrr_scorer",
    "partner_ranks",
]
