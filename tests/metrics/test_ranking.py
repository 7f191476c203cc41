import itertools

import numpy as np
import pytest

from skalign.metrics import hits_at_k, mean_reciprocal_rank, partner_ranks


def _brute_force(y_true, scores, k):
    """Average over every tie-breaking order of the tied candidates (exact)."""
    reciprocal, hits = [], []
    for row, partner in zip(scores, y_true, strict=True):
        if partner < 0:
            continue
        tied = np.flatnonzero(row == row[partner])
        greater = int(np.sum(row > row[partner]))
        positions = []
        for order in itertools.permutations(range(tied.size)):
            positions.append(greater + 1 + order[list(tied).index(partner)])
        positions = np.asarray(positions)
        reciprocal.append(1.0 / positions.mean())
        hits.append(np.mean(positions <= k))
    return np.mean(reciprocal), np.mean(hits)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2, 4])
def test_ties_match_brute_force(seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, size=(12, 6)).astype(float)  # many exact ties
    y_true = rng.integers(-1, 6, size=12)
    y_true[0] = 2
    expected_mrr, expected_hits = _brute_force(y_true, scores, k)
    assert mean_reciprocal_rank(y_true, scores) == pytest.approx(expected_mrr)
    assert hits_at_k(y_true, scores, k=k) == pytest.approx(expected_hits)


def test_flat_scores_are_not_rank_one():
    scores = np.zeros((4, 9))
    assert mean_reciprocal_rank([0, 3, 5, 8], scores) == pytest.approx(2 / 10)
    assert hits_at_k([0, 3, 5, 8], scores, k=3) == pytest.approx(3 / 9)


def test_chunks_give_the_same_result():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 20))
    y_true = rng.integers(0, 20, size=50)
    full = partner_ranks(y_true, scores)
    for chunk in (1, 7, 50):
        chunked = partner_ranks(y_true, scores, chunk_size=chunk)
        np.testing.assert_array_equal(full[0], chunked[0])
        np.testing.assert_array_equal(full[1], chunked[1])


@pytest.mark.parametrize(
    "y_true, scores, match",
    [
        ([0, 1], np.zeros((3, 2)), "one row per entry"),
        ([0, 5], np.zeros((2, 2)), "only 2 columns"),
        ([0, 1], [[0.0, np.nan], [0.0, 1.0]], "finite"),
        ([-1, -1], np.zeros((2, 2)), "no row with a known partner"),
        ([0.5, 1], np.zeros((2, 2)), "integer"),
    ],
)
def test_bad_inputs(y_true, scores, match):
    with pytest.raises(ValueError, match=match):
        mean_reciprocal_rank(y_true, scores)


def test_bad_k():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        hits_at_k([0], [[1.0]], k=0)


def test_weighted_mrr_is_the_weighted_mean_of_reciprocal_ranks():
    y_score = np.array([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
    y_true = np.array([0, 0, -1])
    # reciprocal ranks 1 and 1/2; the unknown row's weight is ignored
    assert mean_reciprocal_rank(y_true, y_score, sample_weight=[3.0, 1.0, 100.0]) == (
        pytest.approx((3 * 1 + 1 * 0.5) / 4)
    )
    with pytest.raises(ValueError, match="sample_weight"):
        mean_reciprocal_rank(y_true, y_score, sample_weight=[1.0, 2.0])
