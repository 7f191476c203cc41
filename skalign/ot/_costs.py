"""Ground costs and the geometry they come from.

Point-cloud costs (:func:`sqeuclidean_cost`, :func:`cosine_cost`) and the soft
rank are written once against the array API, so NumPy arrays give NumPy
arrays and Torch tensors give Torch tensors (differentiable). The graph
geometry (:func:`knn_geodesic_distances`, :func:`knn_graph_laplacian`) is
built with scikit-learn's neighbour search and SciPy's sparse graph routines
and works on NumPy.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

from ._backend import as_float, get_namespace, to_numpy

__all__ = [
    "cosine_cost",
    "knn_geodesic_distances",
    "knn_graph_laplacian",
    "soft_rank",
    "sqeuclidean_cost",
]

_NORMALIZE = (None, "median", "max")

# Sparse graphs drop zero weights, so duplicate points get this edge length.
_ZERO_EDGE = np.finfo(np.float64).tiny


def _check_points(xp, x, name, like=None):
    """Validate a non-empty, finite 2-D point cloud."""
    x = as_float(xp, x, name=name, like=like)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got {x.ndim} "
            "dimension(s)."
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}.")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf).")
    return x


def _check_pair(x, y):
    xp = get_namespace(x, y)
    x = _check_points(xp, x, "x")
    y = _check_points(xp, y, "y", like=x)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got {x.shape[1]} "
            f"and {y.shape[1]}."
        )
    return xp, x, y


def _check_normalize(normalize):
    if normalize not in _NORMALIZE:
        raise ValueError(
            f"normalize must be None, 'median' or 'max', got {normalize!r}."
        )
    return normalize


def _normalize(xp, cost, normalize):
    """Divide ``cost`` by its median or maximum (left unchanged when that is 0)."""
    if normalize is None:
        return cost
    flat = xp.reshape(cost, (-1,))
    if normalize == "max":
        scale = xp.max(flat)
    elif isinstance(cost, np.ndarray):
        scale = np.median(flat)  # selection, not a full sort
    else:
        ordered = xp.sort(flat)
        size = ordered.shape[0]
        scale = (ordered[(size - 1) // 2] + ordered[size // 2]) / 2
    if not bool(scale > 0):
        return cost
    return cost / scale


def sqeuclidean_cost(x, y, normalize=None):
    r"""Squared Euclidean cost ``C[i, j] = ||x_i - y_j||^2``.

    Computed as ``||x||^2 + ||y||^2 - 2 x y^T`` (one matrix product, never an
    ``(n, m, d)`` array) and clipped at 0 against round-off.

    Parameters
    ----------
    x : array of shape (n, d)
        Source points (NumPy or Torch).
    y : array of shape (m, d)
        Target points, same namespace as ``x``.
    normalize : {None, "median", "max"}, default=None
        Divide the cost by its median or maximum entry, which makes an
        ``epsilon`` chosen for one data set usable on another. A zero scale
        leaves the cost unchanged.

    Returns
    -------
    array of shape (n, m)
        Cost matrix in the namespace of the inputs (differentiable in Torch).

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import sqeuclidean_cost
    >>> sqeuclidean_cost(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0]]))
    array([[1.],
           [1.]])
    """
    normalize = _check_normalize(normalize)
    xp, x, y = _check_pair(x, y)
    sq_x = xp.sum(x * x, axis=1)
    sq_y = xp.sum(y * y, axis=1)
    cost = sq_x[:, None] + sq_y[None, :] - 2.0 * (x @ y.T)
    cost = xp.clip(cost, 0.0, None)
    return _normalize(xp, cost, normalize)


def cosine_cost(x, y):
    r"""Cosine cost ``C[i, j] = 1 - <x_i, y_j> / (||x_i|| ||y_j||)``.

    Values lie in ``[0, 2]``. An all-zero row has no direction; its
    similarity to every point is taken as 0 (cost 1).

    Parameters
    ----------
    x : array of shape (n, d)
        Source points (NumPy or Torch).
    y : array of shape (m, d)
        Target points, same namespace as ``x``.

    Returns
    -------
    array of shape (n, m)
        Cost matrix in the namespace of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import cosine_cost
    >>> cosine_cost(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 3.0]]))
    array([[0., 1.],
           [1., 1.]])
    """
    xp, x, y = _check_pair(x, y)
    x_unit = _unit_rows(xp, x)
    y_unit = _unit_rows(xp, y)
    return xp.clip(1.0 - x_unit @ y_unit.T, 0.0, 2.0)


def _unit_rows(xp, x):
    squared = xp.sum(x * x, axis=1)
    # Zero rows stay zero; taking sqrt(1) there keeps Torch gradients finite
    # (the derivative of sqrt at 0 is infinite and would give NaN).
    norms = xp.sqrt(xp.where(squared > 0, squared, xp.ones_like(squared)))
    return x / norms[:, None]


def _check_knn_input(X, n_neighbors):
    X = np.asarray(to_numpy(X), dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D array (n_samples, n_features), got shape "
            f"{X.shape}."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("X must contain only finite values (no NaN or inf).")
    n = X.shape[0]
    if (
        isinstance(n_neighbors, bool)
        or not isinstance(n_neighbors, numbers.Integral)
        or not 1 <= n_neighbors < n
    ):
        raise ValueError(
            f"n_neighbors must be an integer in [1, n_samples - 1] = [1, {n - 1}], "
            f"got {n_neighbors!r}."
        )
    return X, int(n_neighbors)


def _symmetric_knn_graph(X, n_neighbors, mode):
    """kNN graph made symmetric: i ~ j when either is among the other's neighbours."""
    graph = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    graph = graph.kneighbors_graph(mode=mode)
    graph.data = np.maximum(graph.data, _ZERO_EDGE)
    return graph.maximum(graph.T).tocsr()


def _bridge_components(X, graph, labels, n_components):
    """Join components by their closest pairs along a minimum spanning tree."""
    members = [np.flatnonzero(labels == c) for c in range(n_components)]
    gaps = np.zeros((n_components, n_components))
    ends = {}
    for p in range(n_components):
        for q in range(p + 1, n_components):
            dist = cdist(X[members[p]], X[members[q]])
            i, j = np.unravel_index(np.argmin(dist), dist.shape)
            gaps[p, q] = max(dist[i, j], _ZERO_EDGE)
            ends[p, q] = (members[p][i], members[q][j], gaps[p, q])
    tree = csgraph.minimum_spanning_tree(gaps).tocoo()
    graph = graph.tolil()
    for p, q in zip(tree.row, tree.col, strict=True):
        i, j, dist = ends[min(p, q), max(p, q)]
        graph[i, j] = graph[j, i] = dist
    return graph.tocsr()


def knn_geodesic_distances(X, n_neighbors=10, normalize="max"):
    """Geodesic distances along the symmetric k-nearest-neighbour graph of ``X``.

    The graph joins each point to its ``n_neighbors`` nearest neighbours with
    Euclidean edge lengths (made symmetric), and the distance of two points is
    the length of the shortest path between them (Dijkstra). If the graph is
    disconnected, its components are joined by their closest pairs of points
    (along a minimum spanning tree of the components) and a warning is
    raised: infinite distances would make every downstream alignment
    meaningless (FOSCTTM ~ 0.5).

    Parameters
    ----------
    X : array-like of shape (n, d)
        Points (a Torch tensor is converted to NumPy).
    n_neighbors : int, default=10
        Neighbours per point, ``1 <= n_neighbors < n``.
    normalize : {None, "median", "max"}, default="max"
        Divide the distances by their maximum or median.

    Returns
    -------
    ndarray of shape (n, n)
        Dense, symmetric geodesic distance matrix with zero diagonal (memory
        ``O(n^2)``: meant for the few thousand points a GW solver takes).

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import knn_geodesic_distances
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0]])
    >>> knn_geodesic_distances(X, n_neighbors=1, normalize=None)
    array([[0., 1., 2., 4.],
           [1., 0., 1., 3.],
           [2., 1., 0., 2.],
           [4., 3., 2., 0.]])
    """
    normalize = _check_normalize(normalize)
    X, n_neighbors = _check_knn_input(X, n_neighbors)
    graph = _symmetric_knn_graph(X, n_neighbors, mode="distance")
    n_components, labels = csgraph.connected_components(graph, directed=False)
    if n_components > 1:
        warnings.warn(
            f"The {n_neighbors}-nearest-neighbour graph has {n_components} connected "
            "components; they were joined by their closest pairs of points. Increase "
            "n_neighbors for a connected graph.",
            UserWarning,
            stacklevel=2,
        )
        graph = _bridge_components(X, graph, labels, n_components)
    dist = csgraph.shortest_path(graph, method="D", directed=False)
    # Paths made only of duplicate-point edges have length 0.
    dist[dist < X.shape[0] * _ZERO_EDGE] = 0.0
    return _normalize(np, dist, normalize)


def knn_graph_laplacian(X, n_neighbors=10, normalized=False):
    r"""Laplacian of the symmetric k-nearest-neighbour connectivity graph.

    ``L = D - W`` with ``W[i, j] = 1`` when ``i`` is among the
    ``n_neighbors`` nearest neighbours of ``j`` or the reverse, and ``D`` the
    diagonal degree matrix; ``normalized=True`` gives
    ``I - D^{-1/2} W D^{-1/2}``. ``L`` is symmetric positive semi-definite;
    ``x^T L x = sum_{i~j} (x_i - x_j)^2`` is the smoothness penalty used by
    graph-regularised embeddings.

    Parameters
    ----------
    X : array-like of shape (n, d)
        Points (a Torch tensor is converted to NumPy).
    n_neighbors : int, default=10
        Neighbours per point, ``1 <= n_neighbors < n``.
    normalized : bool, default=False
        Return the symmetric normalised Laplacian.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n, n)
        ``O(n * n_neighbors)`` non-zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import knn_graph_laplacian
    >>> knn_graph_laplacian(np.array([[0.0], [1.0], [3.0]]), n_neighbors=1).toarray()
    array([[ 1., -1.,  0.],
           [-1.,  2., -1.],
           [ 0., -1.,  1.]])
    """
    if not isinstance(normalized, bool | np.bool_):
        raise ValueError(f"normalized must be a bool, got {normalized!r}.")
    X, n_neighbors = _check_knn_input(X, n_neighbors)
    adjacency = _symmetric_knn_graph(X, n_neighbors, mode="connectivity")
    return sp.csr_matrix(csgraph.laplacian(adjacency, normed=bool(normalized)))


def soft_rank(values, regularization_strength=1.0):
    r"""Differentiable ranks along the last axis (pairwise-sigmoid relaxation).

    .. math::
        r_i = \tfrac12 + \sum_j \sigma\!\left(\frac{v_i - v_j}{\tau}\right),

    with ``tau = regularization_strength``. As ``tau -> 0`` this tends to
    the 1-based rank with ties averaged (``scipy.stats.rankdata``): the
    ``j = i`` term gives ``1/2``, each smaller value 1 and each tied value
    ``1/2``. Larger ``tau`` gives smoother ranks that shrink towards the
    mean rank ``(n + 1) / 2``. Gradients flow through Torch autograd.

    Memory and time are ``O(n^2)`` per row (an ``(..., n, n)`` array of
    pairwise differences), which suits minibatches of a few thousand values;
    it is not meant for ranking millions of values at once.

    Parameters
    ----------
    values : array of shape (..., n)
        Values to rank along the last axis (NumPy or Torch).
    regularization_strength : float > 0, default=1.0
        Temperature ``tau`` in the units of ``values``.

    Returns
    -------
    array of shape (..., n)
        Soft ranks in ``[1, n]``, same namespace, dtype and device.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import soft_rank
    >>> np.round(soft_rank(np.array([3.0, 1.0, 2.0, 2.0]), 1e-3), 6)
    array([4. , 1. , 2.5, 2.5])
    """
    tau = regularization_strength
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not tau > 0:
        raise ValueError(
            f"regularization_strength must be a positive number, got {tau!r}."
        )
    xp = get_namespace(values)
    values = as_float(xp, values, name="values")
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError(
            "values must have at least one dimension with a non-empty last axis, "
            f"got shape {tuple(values.shape)}."
        )
    if not bool(xp.all(xp.isfinite(values))):
        raise ValueError("values must contain only finite values (no NaN or inf).")
    diff = (values[..., :, None] - values[..., None, :]) / float(tau)
    # sigmoid(z) = (1 + tanh(z / 2)) / 2 never overflows, unlike 1 / (1 + exp(-z)).
    sigmoid = 0.5 + 0.5 * xp.tanh(0.5 * diff)
    return 0.5 + xp.sum(sigmoid, axis=-1)
