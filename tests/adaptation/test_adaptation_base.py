"""The metadata requests shared by both domain-adaptation estimators."""

import pytest

from skalign import AdaptiveOTDomainAdapter, DeepAdaptiveOTDomainAdapter

PREDICT_METHODS = ("predict", "predict_proba", "transform")


@pytest.mark.parametrize(
    "estimator", [AdaptiveOTDomainAdapter(), DeepAdaptiveOTDomainAdapter()]
)
def test_adapters_request_domains_everywhere(estimator):
    routing = estimator.get_metadata_routing()
    assert routing.fit.requests == {"sample_domain": True}
    for method in PREDICT_METHODS:
        assert getattr(routing, method).requests == {
            "sample_domain": True,
            "allow_source": True,
        }
    assert routing.score.requests["sample_weight"] is True


def test_requests_follow_defined_methods():
    # decision_function exists only where the inner model has it; the deep
    # adapter defines none, so it gets no setter for it.
    assert hasattr(AdaptiveOTDomainAdapter(), "set_decision_function_request")
    assert not hasattr(DeepAdaptiveOTDomainAdapter(), "set_decision_function_request")
