"""Tests of the ground costs, kNN graph geometry and the soft rank."""

import numpy as np
import ot
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from scipy.stats import rankdata
from sklearn.neighbors import kneighbors_graph

from skalign.ot import (
    cosine_cost,
    knn_geodesic_distances,
    knn_graph_laplacian,
    soft_rank,
    sqeuclidean_cost,
)


def _points(seed=0, n=7, m=5, d=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((m, d))


# --- squared Euclidean -----------------------------------------------------------


def test_sqeuclidean_matches_cdist_and_pot(xp):
    x, y = _points()
    cost = xp.to_numpy(sqeuclidean_cost(xp.asarray(x), xp.asarray(y)))
    np.testing.assert_allclose(cost, cdist(x, y, "sqeuclidean"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cost, ot.dist(x, y), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("normalize", ["median", "max"])
def test_sqeuclidean_normalize(xp, normalize):
    x, y = _points(1, n=6, m=4)  # 24 entries: the median averages two of them
    ref = cdist(x, y, "sqeuclidean")
    scale = np.median(ref) if normalize == "median" else ref.max()
    cost = sqeuclidean_cost(xp.asarray(x), xp.asarray(y), normalize=normalize)
    np.testing.assert_allclose(xp.to_numpy(cost), ref / scale, rtol=1e-12)


def test_sqeuclidean_zero_scale_left_unchanged():
    x = np.ones((3, 2))
    np.testing.assert_array_equal(sqeuclidean_cost(x, x, normalize="max"), 0.0)


def test_sqeuclidean_clipped_at_zero_for_far_from_origin_points():
    # ||x||^2 + ||y||^2 - 2xy cancels catastrophically here; the result stays >= 0.
    rng = np.random.default_rng(0)
    x = 1e6 + 1e-3 * rng.standard_normal((20, 4))
    cost = sqeuclidean_cost(x, x)
    assert np.all(cost >= 0)
    assert np.all(np.abs(cost - cdist(x, x, "sqeuclidean")) < 1e-2)


def test_sqeuclidean_torch_float32_and_gradient():
    torch = pytest.importorskip("torch")
    x, y = _points(2)
    x32 = torch.as_tensor(x, dtype=torch.float32)
    assert sqeuclidean_cost(x32, torch.as_tensor(y)).dtype == torch.float32
    xt = torch.as_tensor(x, dtype=torch.float64).requires_grad_()
    yt = torch.as_tensor(y, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda u, v: sqeuclidean_cost(u, v, normalize="median"), (xt, yt)
    )


# --- cosine --------------------------------------------------------------------


def test_cosine_matches_cdist(xp):
    x, y = _points(3)
    cost = xp.to_numpy(cosine_cost(xp.asarray(x), xp.asarray(y)))
    np.testing.assert_allclose(cost, cdist(x, y, "cosine"), atol=1e-12)


def test_cosine_zero_rows_and_range(xp):
    x = np.array([[0.0, 0.0], [1.0, 1.0], [-2.0, -2.0]])
    y = np.array([[3.0, 3.0], [0.0, 0.0]])
    cost = xp.to_numpy(cosine_cost(xp.asarray(x), xp.asarray(y)))
    np.testing.assert_allclose(cost, [[1.0, 1.0], [0.0, 1.0], [2.0, 1.0]], atol=1e-12)


def test_cosine_gradient_finite_at_zero_row():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    cosine_cost(x, torch.tensor([[1.0, 0.0]], dtype=torch.float64)).sum().backward()
    assert torch.all(torch.isfinite(x.grad))


@pytest.mark.parametrize("func", [sqeuclidean_cost, cosine_cost])
@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), "same number of features"),
        (np.ones(3), np.ones((3, 3)), "x must be a 2-D array"),
        (np.ones((3, 2)), np.ones((0, 2)), "y must be non-empty"),
        (np.full((3, 2), np.nan), np.ones((3, 2)), "x must contain only finite"),
    ],
)
def test_point_cost_validation(func, x, y, match):
    with pytest.raises(ValueError, match=match):
        func(x, y)


def test_bad_normalize():
    with pytest.raises(ValueError, match="normalize must be None, 'median' or 'max'"):
        sqeuclidean_cost(np.ones((2, 2)), np.ones((2, 2)), normalize="mean")


# --- kNN geodesic distances ----------------------------------------------------


def test_geodesic_on_path_equals_path_length():
    # Points on a circular arc with growing steps: each point's nearest neighbour
    # is the previous one, so the 1-NN graph is the path and the geodesic between
    # i and j is the sum of the chords in between (not the straight line).
    angles = np.cumsum(np.linspace(0.1, 0.3, 12))
    X = np.c_[np.cos(angles), np.sin(angles)]
    chords = np.linalg.norm(np.diff(X, axis=0), axis=1)
    along = np.r_[0.0, np.cumsum(chords)]
    expected = np.abs(along[:, None] - along[None, :])
    dist = knn_geodesic_distances(X, n_neighbors=1, normalize=None)
    np.testing.assert_allclose(dist, expected, atol=1e-12)
    assert dist[0, -1] > np.linalg.norm(X[0] - X[-1]) + 0.1
    normed = knn_geodesic_distances(X, n_neighbors=1)
    np.testing.assert_allclose(normed, expected / expected.max(), atol=1e-12)


def test_geodesic_disconnected_graph_is_bridged_with_warning():
    rng = np.random.default_rng(1)
    blobs = [rng.standard_normal((8, 2)) * 0.1 + c for c in ([0, 0], [5, 0], [0, 9])]
    X = np.vstack(blobs)
    with pytest.warns(UserWarning, match="3 connected components"):
        dist = knn_geodesic_distances(X, n_neighbors=3, normalize=None)
    assert dist.shape == (24, 24)
    assert np.all(np.isfinite(dist))
    np.testing.assert_allclose(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    # Crossing between the first two blobs costs at least their closest gap.
    gap = cdist(blobs[0], blobs[1]).min()
    assert dist[:8, 8:16].min() == pytest.approx(gap)
    # Geodesics never undercut straight lines.
    assert np.all(dist >= cdist(X, X) - 1e-12)


def test_geodesic_duplicate_points_are_at_distance_zero():
    # Zero-length kNN edges must stay edges (sparse graphs drop stored zeros).
    x = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 5.0])
    with pytest.warns(UserWarning, match="2 connected components"):
        dist = knn_geodesic_distances(x[:, None], n_neighbors=1, normalize=None)
    np.testing.assert_array_equal(dist, np.abs(x[:, None] - x[None, :]))
    same = knn_geodesic_distances(np.zeros((4, 2)), n_neighbors=1)
    np.testing.assert_array_equal(same, 0.0)


def test_geodesic_connected_graph_does_not_warn():
    import warnings

    X, _ = _points(4, n=30, d=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = knn_geodesic_distances(X, n_neighbors=10)
    assert dist.max() == pytest.approx(1.0)


def test_geodesic_accepts_torch():
    torch = pytest.importorskip("torch")
    X, _ = _points(5, n=10)
    out = knn_geodesic_distances(torch.as_tensor(X), n_neighbors=4)
    np.testing.assert_allclose(out, knn_geodesic_distances(X, n_neighbors=4))


# --- kNN graph Laplacian -------------------------------------------------------


@pytest.mark.parametrize("normalized", [False, True])
def test_laplacian_properties(normalized):
    X, _ = _points(6, n=25, d=3)
    lap = knn_graph_laplacian(X, n_neighbors=4, normalized=normalized)
    assert sp.issparse(lap) and lap.shape == (25, 25)
    dense = lap.toarray()
    np.testing.assert_allclose(dense, dense.T)
    eig = np.linalg.eigvalsh(dense)
    assert eig.min() > -1e-10
    if normalized:
        np.testing.assert_allclose(np.diag(dense), 1.0)
        assert eig.max() <= 2 + 1e-10
    else:
        np.testing.assert_allclose(dense.sum(1), 0.0, atol=1e-12)
        # Oracle: L = D - W on sklearn's symmetrised connectivity graph.
        W = kneighbors_graph(X, 4).toarray()
        W = np.maximum(W, W.T)
        np.testing.assert_allclose(dense, np.diag(W.sum(1)) - W)


def test_laplacian_quadratic_form_is_smoothness():
    X, _ = _points(7, n=15, d=2)
    lap = knn_graph_laplacian(X, n_neighbors=3)
    W = -lap.toarray()
    np.fill_diagonal(W, 0)
    v = np.random.default_rng(0).standard_normal(15)
    smooth = 0.5 * np.sum(W * (v[:, None] - v[None, :]) ** 2)
    assert v @ (lap @ v) == pytest.approx(smooth)


@pytest.mark.parametrize("func", [knn_geodesic_distances, knn_graph_laplacian])
@pytest.mark.parametrize(
    ("X", "k", "match"),
    [
        (np.ones((5, 2)), 5, r"n_neighbors must be an integer in \[1, n_samples - 1\]"),
        (np.ones((5, 2)), 0, "n_neighbors must be"),
        (np.ones((5, 2)), 2.0, "n_neighbors must be"),
        (np.ones(5), 2, "X must be a non-empty 2-D array"),
        (np.full((5, 2), np.inf), 2, "X must contain only finite"),
    ],
)
def test_knn_validation(func, X, k, match):
    with pytest.raises(ValueError, match=match):
        func(X, n_neighbors=k)


def test_laplacian_bad_normalized():
    with pytest.raises(ValueError, match="normalized must be a bool"):
        knn_graph_laplacian(np.eye(4), n_neighbors=2, normalized="yes")


# --- soft rank -----------------------------------------------------------------


def test_soft_rank_tends_to_rankdata_with_ties(xp):
    values = np.array([[0.3, -1.0, 2.0, 0.3, 5.0, -1.0, 0.7], [1, 2, 3, 4, 5, 6, 7.0]])
    exact = rankdata(values, axis=-1)
    errors = []
    for tau in [1.0, 0.3, 0.1, 0.03]:
        ranks = xp.to_numpy(soft_rank(xp.asarray(values), regularization_strength=tau))
        errors.append(np.abs(ranks - exact).max())
    assert all(np.diff(errors) < 0), errors
    sharp = xp.to_numpy(soft_rank(xp.asarray(values), regularization_strength=1e-4))
    np.testing.assert_allclose(sharp, exact, atol=1e-10)


def test_soft_rank_sum_and_smoothing():
    values = np.random.default_rng(0).standard_normal(9)
    n = values.shape[0]
    for tau in [1e-3, 1.0, 1e3]:
        assert soft_rank(values, tau).sum() == pytest.approx(n * (n + 1) / 2)
    # Large temperature: every rank tends to the mean rank.
    np.testing.assert_allclose(soft_rank(values, 1e6), (n + 1) / 2, atol=1e-4)
    # Monotone in the values for any temperature.
    order = np.argsort(values)
    assert np.all(np.diff(soft_rank(values, 0.5)[order]) > 0)


def test_soft_rank_gradcheck():
    torch = pytest.importorskip("torch")
    values = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: soft_rank(v, 0.3), (values,))


def test_soft_rank_torch_float32():
    torch = pytest.importorskip("torch")
    out = soft_rank(torch.tensor([2.0, 1.0, 3.0]), 1e-3)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [2.0, 1.0, 3.0], atol=1e-5)


@pytest.mark.parametrize(
    ("values", "tau", "match"),
    [
        (np.ones(3), 0.0, "regularization_strength must be a positive number"),
        (np.ones(3), -1, "regularization_strength must be a positive number"),
        (np.ones(3), "1", "regularization_strength must be a positive number"),
        (np.float64(1.0), 1.0, "values must have at least one dimension"),
        (np.ones((2, 0)), 1.0, "values must have at least one dimension"),
        (np.array([1.0, np.nan]), 1.0, "values must contain only finite"),
    ],
)
def test_soft_rank_validation(values, tau, match):
    with pytest.raises(ValueError, match=match):
        soft_rank(values, tau)
