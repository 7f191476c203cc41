import numpy as np
import pytest

from skalign import ActiveOTQuerier
from skalign.active import AnchorHoldoutSearchCV, anchor_holdout_splits
from skalign.datasets import make_noisy_graph_pair


def test_splits_hide_known_partners_only():
    y = np.r_[np.arange(10), -np.ones(5, dtype=int), np.full(15, -2)]
    for y_fit, y_check in anchor_holdout_splits(y, 4, 0.3, random_state=0):
        held = y_check >= 0
        assert held.sum() == 3
        np.testing.assert_array_equal(y_check[held], y[held])
        np.testing.assert_array_equal(y_fit[held], -1)
        np.testing.assert_array_equal(y_fit[~held], y[~held])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_splits": 0}, "n_splits"),
        ({"holdout_fraction": 1.5}, "holdout_fraction"),
        ({"holdout_fraction": 0.01}, "too few"),
    ],
)
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        anchor_holdout_splits(np.r_[np.arange(4), np.full(4, -2)], **kwargs)


def test_search_scores_hidden_partners_and_matches_manual_loop():
    data = make_noisy_graph_pair(40, anchor_fraction=0.4, random_state=1)
    grid = {"epsilon": [0.01, 0.2]}
    search = AnchorHoldoutSearchCV(
        ActiveOTQuerier(random_state=0), grid, n_splits=2, random_state=3
    ).fit(data.X, data.y, adjacency=data.adjacency)
    splits = anchor_holdout_splits(data.y, 2, 0.25, random_state=3)
    for index, params in enumerate(search.cv_results_["params"]):
        manual = [
            ActiveOTQuerier(random_state=0, **params)
            .fit(data.X, y_fit, adjacency=data.adjacency)
            .score(data.X, y_check)
            for y_fit, y_check in splits
        ]
        assert search.cv_results_["mean_test_score"][index] == pytest.approx(
            np.mean(manual)
        )
    assert (
        search.best_estimator_.get_params()["epsilon"] == search.best_params_["epsilon"]
    )
