"""Active alignment by optimal transport: the AvAtar querier, utilities, backbones."""

from ._backbones import (
    AlignmentSolution,
    EmbeddingAlignmentBackbone,
    JointEmbeddingBackbone,
    NetworkAlignmentBackbone,
)
from ._querier import ActiveOTQuerier, top_mass_plan
from ._search import AnchorHoldoutSearchCV, anchor_holdout_splits
from ._strategies import degree_scores, entropy_scores, margin_scores, random_scores
from ._utilities import consistency_utility, entropy_utility, l2_utility

__all__ = [
    "ActiveOTQuerier",
    "AlignmentSolution",
    "AnchorHoldoutSearchCV",
    "EmbeddingAlignmentBackbone",
    "JointEmbeddingBackbone",
    "NetworkAlignmentBackbone",
    "anchor_holdout_splits",
    "consistency_utility",
    "degree_scores",
    "entropy_scores",
    "entropy_utility",
    "l2_utility",
    "margin_scores",
    "random_scores",
    "top_mass_plan",
]
