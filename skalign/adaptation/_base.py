"""Pieces shared by the domain-adaptation estimators."""

from typing import ClassVar

__all__ = ["_DomainMetadataMixin"]

_PREDICT_REQUEST = {"sample_domain": True, "allow_source": True}


class _DomainMetadataMixin:
    """Metadata routing of skada's convention, declared once for both adapters.

    ``fit`` requests ``sample_domain``; every prediction-time method requests
    ``sample_domain`` and ``allow_source`` (skada's scorers and pipelines pass
    them), and ``score`` also ``sample_weight``. Requests for a method the
    estimator does not define are ignored by scikit-learn.
    """

    __metadata_request__fit: ClassVar[dict] = {"sample_domain": True}
    __metadata_request__predict: ClassVar[dict] = dict(_PREDICT_REQUEST)
    __metadata_request__predict_proba: ClassVar[dict] = dict(_PREDICT_REQUEST)
    __metadata_request__predict_log_proba: ClassVar[dict] = dict(_PREDICT_REQUEST)
    __metadata_request__decision_function: ClassVar[dict] = dict(_PREDICT_REQUEST)
    __metadata_request__transform: ClassVar[dict] = dict(_PREDICT_REQUEST)
    __metadata_request__score: ClassVar[dict] = {
        **_PREDICT_REQUEST,
        "sample_weight": True,
    }
