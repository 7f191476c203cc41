"""Label-free selection rules: equal to skada's scorers on the same model."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skalign import AdaptiveOTDomainAdapter
from skalign.metrics import (
    mixval_score,
    prediction_entropy,
    reverse_validation_score,
    soft_neighborhood_density,
)

skada_metrics = pytest.importorskip("skada.metrics")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    centres = np.repeat([[0, 0, 0], [3, 0, 0], [0, 3, 0]], 40, axis=0)
    Xs = rng.randn(120, 3) + centres
    ys = np.repeat([0, 1, 2], 40)
    Xt = Xs[rng.permutation(120)[:90]] + [0.7, 0.7, 0.0]
    X = np.r_[Xs, Xt]
    y = np.r_[ys, -np.ones(len(Xt), dtype=int)]
    domain = np.r_[np.ones(len(Xs), dtype=int), -2 * np.ones(len(Xt), dtype=int)]
    model = AdaptiveOTDomainAdapter(beta=2.0, random_state=0).fit(
        X, y, sample_domain=domain
    )
    return model, X, y, domain, Xs, ys, Xt


def test_entropy_ranks_as_skada(fitted):
    model, X, y, domain, _, _, Xt = fitted
    proba = model.predict_proba(Xt)
    # skada averages over rows and classes: ours is that times n_classes.
    skada_value = skada_metrics.PredictionEntropyScorer()(
        model, X, y, sample_domain=domain
    )
    assert prediction_entropy(proba) == pytest.approx(
        -skada_value * proba.shape[1], rel=1e-6
    )
    assert prediction_entropy(np.eye(3)) == 0.0
    assert prediction_entropy(np.full((2, 4), 0.25)) == pytest.approx(np.log(4))


def test_snd_equals_skada(fitted):
    model, X, y, domain, _, _, Xt = fitted
    expected = skada_metrics.SoftNeighborhoodDensity()(
        model, X, y, sample_domain=domain
    )
    assert soft_neighborhood_density(model.predict_proba(Xt)) == pytest.approx(
        expected, rel=1e-9
    )


def test_mixval_equals_skada(fitted):
    model, X, y, domain, _, _, Xt = fitted
    expected = skada_metrics.MixValScorer(random_state=3)(
        model, X, y, sample_domain=domain
    )
    assert mixval_score(model.predict, Xt, random_state=3) == pytest.approx(expected)


def test_reverse_validation_rewards_consistent_labels(fitted):
    _, _, _, _, Xs, ys, Xt = fitted
    good = LogisticRegression(max_iter=1000).fit(Xs - [0.7, 0.7, 0.0], ys).predict(Xt)
    shuffled = np.random.RandomState(1).permutation(good)
    high = reverse_validation_score(Xs, ys, Xt, good)
    low = reverse_validation_score(Xs, ys, Xt, shuffled)
    # The reverse model, fitted on the target with the given labels, is
    # exactly a logistic regression: check against a manual refit.
    manual = LogisticRegression(max_iter=1000).fit(Xt, good).predict(Xs)
    assert high == pytest.approx(np.mean(manual == ys))
    assert high > 0.7 > 0.5 > low
    # One predicted class: the share of source rows of that class.
    assert reverse_validation_score(Xs, ys, Xt, np.zeros(len(Xt))) == pytest.approx(
        1 / 3
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: prediction_entropy(np.ones(3)), "proba must be a 2-D"),
        (lambda: prediction_entropy([[np.nan, 1.0]]), "finite"),
        (lambda: soft_neighborhood_density(np.eye(2), temperature=0), "temperature"),
        (lambda: mixval_score("predict", np.eye(3)), "predict must be a callable"),
        (lambda: mixval_score(np.sign, np.eye(3), alpha=0.4), "alpha"),
        (lambda: mixval_score(np.sign, np.ones(3)), "X_target must be 2-D"),
        (
            lambda: reverse_validation_score(np.eye(3), [0, 1, 2], np.eye(2), [0, 1]),
            "same number of features",
        ),
        (
            lambda: reverse_validation_score(np.eye(3), [0, 1], np.eye(3), [0, 1, 1]),
            "y_source",
        ),
        (
            lambda: reverse_validation_score(np.eye(3), [0, 1, 2], np.eye(3), [0, 1]),
            "y_target_pred",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("scorer_name", ["SoftNeighborhoodDensity", "MixValScorer"])
def test_skada_rule_scorers_in_grid_search(fitted, scorer_name):
    # The rules the DA benchmark compares also work as skada scorers in a
    # GridSearchCV over the adapter (domain-aware splits, sample_domain routed
    # as a fit parameter).
    from skada.model_selection import SourceTargetShuffleSplit
    from sklearn.model_selection import GridSearchCV

    _, X, y, domain, *_ = fitted
    scorer = getattr(skada_metrics, scorer_name)()
    search = GridSearchCV(
        AdaptiveOTDomainAdapter(random_state=0),
        {"beta": [1.0, 2.0]},
        scoring=scorer,
        cv=SourceTargetShuffleSplit(n_splits=2, random_state=0),
        error_score="raise",
    ).fit(X, y, sample_domain=domain)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
