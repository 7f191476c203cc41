"""FOSCTTM against a brute-force oracle, label transfer, and the GW distortion."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skalign.metrics import (
    foscttm,
    gw_distortion,
    gw_distortion_scorer,
    label_transfer_accuracy,
)


def _brute_force_foscttm(source, target):
    """Direct definition with ties counted as half (PITFALLS)."""
    dist = cdist(source, target)
    n = len(source)
    forward = [
        (np.sum(dist[i] < dist[i, i]) + 0.5 * (np.sum(dist[i] == dist[i, i]) - 1))
        / (n - 1)
        for i in range(n)
    ]
    backward = [
        (np.sum(dist[:, j] < dist[j, j]) + 0.5 * (np.sum(dist[:, j] == dist[j, j]) - 1))
        / (n - 1)
        for j in range(n)
    ]
    return np.mean(forward), np.mean(backward)


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_foscttm_matches_brute_force(chunk_size):
    rng = np.random.default_rng(0)
    source = rng.normal(size=(40, 3))
    target = source + 0.8 * rng.normal(size=(40, 3))
    expected = _brute_force_foscttm(source, target)
    got = foscttm(source, target, average=False, chunk_size=chunk_size)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert foscttm(source, target, chunk_size=chunk_size) == pytest.approx(
        np.mean(expected)
    )
    # The two directions differ on this data: both are reported.
    assert got[0] != got[1]


def test_foscttm_counts_ties_as_half():
    rng = np.random.default_rng(1)
    # Integer grid points: many exactly tied distances.
    source = rng.integers(0, 3, size=(30, 2)).astype(float)
    target = rng.integers(0, 3, size=(30, 2)).astype(float)
    expected = _brute_force_foscttm(source, target)
    np.testing.assert_allclose(
        foscttm(source, target, average=False), expected, atol=1e-12
    )
    # A fully collapsed embedding is random (0.5), not 0.25 as with strict "<".
    collapsed = np.zeros((25, 4))
    assert foscttm(collapsed, collapsed) == pytest.approx(0.5)


def test_foscttm_perfect_and_inputs():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(50, 5))
    assert foscttm(source, source) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        foscttm(source, source[:10])
    with pytest.raises(ValueError, match="finite"):
        foscttm(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="chunk_size"):
        foscttm(source, source, chunk_size=0)


def test_label_transfer_accuracy_against_manual_knn():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(60, 2))
    labels_source = (source[:, 0] > 0).astype(int)
    target = rng.normal(size=(40, 2))
    labels_target = (target[:, 0] > 0).astype(int)
    got = label_transfer_accuracy(
        source, labels_source, target, labels_target, n_neighbors=1
    )
    nearest = cdist(target, source).argmin(axis=1)
    assert got == pytest.approx(np.mean(labels_source[nearest] == labels_target))
    with pytest.raises(ValueError, match="labels_source"):
        label_transfer_accuracy(source, labels_source[:5], target, labels_target)
    with pytest.raises(ValueError, match="n_neighbors"):
        label_transfer_accuracy(
            source, labels_source, target, labels_target, n_neighbors=0
        )


def test_gw_distortion_matches_quadruple_sum():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 2))
    y = rng.normal(size=(6, 3))
    d_x, d_y = cdist(x, x), cdist(y, y)
    matching = rng.integers(0, 6, size=8)
    expected = np.mean(
        [
            (d_x[i, k] - d_y[matching[i], matching[k]]) ** 2
            for i in range(8)
            for k in range(8)
        ]
    )
    assert gw_distortion(d_x, d_y, matching) == pytest.approx(expected)
    # An isometry matched correctly has zero distortion, a wrong matching does not.
    assert gw_distortion(d_x, d_x, np.arange(8)) == 0.0
    assert gw_distortion(d_x, d_x, rng.permutation(8)) > 0.0
    with pytest.raises(ValueError, match="matching"):
        gw_distortion(d_x, d_y, np.full(8, 6))


def test_gw_distortion_scorer_rejects_other_estimators():
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError, match="gw_distortion"):
        gw_distortion_scorer(LinearRegression(), np.zeros((3, 2)))
