"""Alignment metrics and scorers usable as ``GridSearchCV(scoring=...)``."""

from ._alignment import (
    foscttm,
    gw_distortion,
    gw_distortion_scorer,
    label_transfer_accuracy,
)

__all__ = [
    "foscttm",
    "gw_distortion",
    "gw_distortion_scorer",
    "label_transfer_accuracy",
]
