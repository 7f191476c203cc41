"""Network-alignment data: the phone-email graphs and noisy permuted graph pairs.

Both loaders return the one-table convention of :class:`skalign.ActiveOTQuerier`:
``X`` stacks the node attributes of the source graph, then of the target
graph (a constant column when a graph has none); ``y`` of a source row is
the position of its known partner among the target rows (``-1`` unknown),
``y`` of a target row is ``-2``; ``sample_domain`` is ``1`` / ``-2``.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state

from ._base import load_npz

__all__ = ["load_phone_email", "make_noisy_graph_pair"]

TARGET_ROW = -2


def _symmetric_adjacency(edges, n_nodes):
    """Unweighted symmetric CSR adjacency from an edge list of shape (2, n_edges)."""
    edges = np.asarray(edges)
    ones = np.ones(edges.shape[1])
    A = sp.coo_matrix((ones, (edges[0], edges[1])), shape=(n_nodes, n_nodes)).tocsr()
    return ((A + A.T) > 0).astype(np.float64).tocsr()


def _one_table(X_source, X_target, anchors):
    """Stack the two attribute blocks; ``y`` holds the known partners."""
    n_source = X_source.shape[0]
    X = np.vstack([X_source, X_target]).astype(np.float64)
    y = np.full(X.shape[0], -1, dtype=np.int64)
    y[n_source:] = TARGET_ROW
    y[anchors[:, 0]] = anchors[:, 1]
    sample_domain = np.r_[np.ones(n_source), np.full(X_target.shape[0], -2)]
    return X, y, sample_domain.astype(np.int64)


def load_phone_email(data_home=None):
    """Load the phone-email network-alignment pair (official PARROT split).

    Two communication networks of the same people: graph 1 (source) is the
    phone-call network (1,000 nodes), graph 2 (target) the e-mail network
    (1,003 nodes, ids permuted so node order leaks nothing). The data carry no
    licence and are not bundled: the file ``phone-email/phone-email.npz`` is
    read from ``data_home`` (or ``SKALIGN_DATA``, see
    :func:`skalign.datasets.get_data_home`).

    Parameters
    ----------
    data_home : str or path-like, optional
        Directory holding ``phone-email/phone-email.npz``.

    Returns
    -------
    Bunch
        ``X`` (2003, 1): a constant attribute column (plain graphs);
        ``y``: partner position of the 200 training anchors, ``-1`` for the
        other source rows, ``-2`` for target rows; ``sample_domain``;
        ``adjacency`` = ``(A_source, A_target)`` symmetric CSR matrices;
        ``anchors_train`` (200, 2) and ``anchors_test`` (800, 2) as
        ``(source node, target node)``; ``description``.

    Examples
    --------
    >>> data = load_phone_email()  # doctest: +SKIP
    >>> data.adjacency[0].shape, data.adjacency[1].shape  # doctest: +SKIP
    ((1000, 1000), (1003, 1003))
    """
    raw = load_npz("phone-email", data_home=data_home)
    n1, n2 = int(raw["n1"]), int(raw["n2"])
    A1 = _symmetric_adjacency(raw["edges1"], n1)
    A2 = _symmetric_adjacency(raw["edges2"], n2)
    X1 = raw["X1"] if "X1" in raw else np.ones((n1, 1))
    X2 = raw["X2"] if "X2" in raw else np.ones((n2, 1))
    train = np.asarray(raw["anchors_train"], dtype=np.int64)
    test = np.asarray(raw["anchors_test"], dtype=np.int64)
    X, y, sample_domain = _one_table(X1, X2, train)
    return Bunch(
        X=X,
        y=y,
        sample_domain=sample_domain,
        adjacency=(A1, A2),
        anchors_train=train,
        anchors_test=test,
        description=(
            "phone-email: phone-call (source, 1000 nodes) and e-mail (target, 1003 "
            "nodes) networks of the same people; 200 training / 800 test anchors "
            "(PARROT split). Graph-2 ids permuted. No licence stated; cite PARROT "
            "(Zeng et al., WWW 2023) and FINAL (Zhang & Tong, KDD 2016)."
        ),
    )


def make_noisy_graph_pair(
    n_nodes=100,
    *,
    n_features=4,
    edge_probability=0.08,
    edge_noise=0.1,
    feature_noise=0.1,
    anchor_fraction=0.2,
    random_state=None,
):
    """Two noisy, permuted copies of a random attributed graph.

    The source graph is an Erdos-Renyi graph with Gaussian node attributes;
    the target graph removes a fraction ``edge_noise`` of its edges, adds as
    many random ones, perturbs the attributes and permutes the nodes.

    Parameters
    ----------
    n_nodes : int, default=100
        Nodes of each graph.
    n_features : int, default=4
        Attribute columns (0 gives a constant column, i.e. plain graphs).
    edge_probability : float, default=0.08
        Edge probability of the source graph.
    edge_noise : float in [0, 1], default=0.1
        Fraction of edges removed and re-added at random in the target graph.
    feature_noise : float >= 0, default=0.1
        Standard deviation of the attribute noise of the target graph.
    anchor_fraction : float in [0, 1), default=0.2
        Fraction of source nodes whose partner is known (``y >= 0``).
    random_state : int, RandomState or None
        Seed.

    Returns
    -------
    Bunch
        ``X``, ``y`` (known partners, ``-1`` unknown, ``-2`` target rows),
        ``sample_domain``, ``adjacency``, ``partner`` (the true partner of
        every source node, for evaluation) and ``description``.

    Examples
    --------
    >>> data = make_noisy_graph_pair(30, random_state=0)
    >>> data.X.shape, int((data.y >= 0).sum())
    ((60, 4), 6)
    """
    for name, value, low, high in (
        ("edge_probability", edge_probability, 0.0, 1.0),
        ("edge_noise", edge_noise, 0.0, 1.0),
        ("anchor_fraction", anchor_fraction, 0.0, 0.999999),
    ):
        if not isinstance(value, numbers.Real) or not low <= value <= high:
            raise ValueError(
                f"{name} must be a number in [{low}, {high}], got {value!r}."
            )
    if not isinstance(n_nodes, numbers.Integral) or n_nodes < 2:
        raise ValueError(f"n_nodes must be an integer >= 2, got {n_nodes!r}.")
    if not isinstance(n_features, numbers.Integral) or n_features < 0:
        raise ValueError(f"n_features must be an integer >= 0, got {n_features!r}.")
    rng = check_random_state(random_state)
    upper = np.triu(rng.random_sample((n_nodes, n_nodes)) < edge_probability, 1)
    edges = np.array(np.nonzero(upper))
    n_edges = edges.shape[1]
    n_swap = round(edge_noise * n_edges)
    kept = edges[:, rng.permutation(n_edges)[n_swap:]]
    added = rng.randint(0, n_nodes, size=(2, n_swap))
    noisy = np.hstack([kept, added[:, added[0] != added[1]]])
    perm = rng.permutation(n_nodes)  # source node i is target node perm[i]
    A1 = _symmetric_adjacency(edges, n_nodes)
    A2 = _symmetric_adjacency(perm[noisy], n_nodes)
    if n_features:
        X1 = rng.normal(size=(n_nodes, n_features))
        X2 = np.empty_like(X1)
        X2[perm] = X1 + feature_noise * rng.normal(size=X1.shape)
    else:
        X1, X2 = np.ones((n_nodes, 1)), np.ones((n_nodes, 1))
    n_anchors = round(anchor_fraction * n_nodes)
    known = np.sort(rng.permutation(n_nodes)[:n_anchors])
    anchors = np.c_[known, perm[known]]
    X, y, sample_domain = _one_table(X1, X2, anchors)
    return Bunch(
        X=X,
        y=y,
        sample_domain=sample_domain,
        adjacency=(A1, A2),
        partner=perm,
        description=(
            f"Noisy permuted graph pair: {n_nodes} nodes, edge noise {edge_noise}, "
            f"feature noise {feature_noise}, {n_anchors} known anchors."
        ),
    )
