"""Alignment metrics and scorers usable as ``GridSearchCV(scoring=...)``."""

from ._adaptation import (
    low_mass_share,
    mass_per_class,
    mixval_score,
    prediction_entropy,
    rejected_mass_share,
    reverse_validation_score,
    soft_neighborhood_density,
)
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
    "low_mass_share",
    "mass_per_class",
    "mean_reciprocal_rank",
    "mixval_score",
    "mrr_scorer",
    "partner_ranks",
    "prediction_entropy",
    "rejected_mass_share",
    "reverse_validation_score",
    "soft_neighborhood_density",
]
