"""Tests of the PARROT network-alignment backbone against closed forms."""

import numpy as np
import pytest
import scipy.sparse as sp

from skalign.active import NetworkAlignmentBackbone
from skalign.active._backbones import _edge_cost, _transition


def _random_graph(n, p, rng):
    upper = np.triu(rng.random((n, n)) < p, 1)
    A = (upper | upper.T).astype(float)
    ring = np.eye(n, k=1) + np.eye(n, k=-1)  # connected, no isolated node
    return sp.csr_matrix(np.maximum(A, ring))


def _unit(R):
    return R / np.linalg.norm(R, axis=1, keepdims=True)


def _explicit_cost(A1, A2, anchors, restart, discount):
    """PARROT's cost with closed-form RWR and the explicit product graph."""
    W1 = A1.toarray() / A1.toarray().sum(1, keepdims=True)
    W2 = A2.toarray() / A2.toarray().sum(1, keepdims=True)

    def rwr(W, seeds):
        E = np.zeros((W.shape[0], len(seeds)))
        E[seeds, np.arange(len(seeds))] = 1.0
        return restart * np.linalg.solve(np.eye(len(W)) - (1 - restart) * W, E)

    R1, R2 = _unit(rwr(W1, anchors[:, 0])), _unit(rwr(W2, anchors[:, 1]))
    node = np.exp(-(R1 @ R2.T))
    n, m = node.shape
    anchor_index = anchors[:, 0] * m + anchors[:, 1]
    free = np.setdiff1d(np.arange(n * m), anchor_index)
    # Fixed point of x = (1 + discount*restart) node + (1-restart) discount K x
    # with x = 0 on anchor pairs, K = W1 (x) W2 the product-graph walk.
    K = np.kron(W1, W2)[np.ix_(free, free)]
    x = np.zeros(n * m)
    x[free] = np.linalg.solve(
        np.eye(len(free)) - (1 - restart) * discount * K,
        (1 + discount * restart) * node.ravel()[free],
    )
    return (1 - discount) * x.reshape(n, m)


def test_product_graph_cost_matches_explicit_kronecker():
    rng = np.random.default_rng(0)
    A1, A2 = _random_graph(7, 0.3, rng), _random_graph(6, 0.3, rng)
    anchors = np.array([[0, 2], [4, 5], [6, 0]])
    backbone = NetworkAlignmentBackbone()
    X1, X2 = np.ones((7, 1)), np.ones((6, 1))
    cost = backbone.build_cost(X1, X2, anchors, (A1, A2))
    expected = _explicit_cost(A1, A2, anchors, backbone.restart, backbone.discount)
    # The recursion stops when a step moves the cost by less than 1e-2.
    np.testing.assert_allclose(cost, expected, atol=1e-2)
    assert np.all(cost[anchors[:, 0], anchors[:, 1]] == 0.0)
    assert np.all(np.delete(cost.ravel(), anchors[:, 0] * 6 + anchors[:, 1]) > 0)


def test_transition_matrix_and_isolated_nodes():
    A = sp.csr_matrix(
        np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0.0]])
    )
    W = _transition(A).toarray()
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    np.testing.assert_allclose(W[0], [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(W[3], 0.25)  # isolated: uniform jump (PARROT)


def test_edge_cost_is_exp_minus_cosine_on_edges():
    rng = np.random.default_rng(1)
    A = _random_graph(8, 0.4, rng)
    V = _unit(rng.random((8, 3)))
    np.testing.assert_allclose(
        _edge_cost(A, V).toarray(), A.toarray() * np.exp(-(V @ V.T)), rtol=1e-12
    )


@pytest.fixture(scope="module")
def permuted_pair():
    rng = np.random.default_rng(2)
    n = 40
    A1 = _random_graph(n, 0.1, rng)
    perm = rng.permutation(n)  # node i of graph 1 is node perm[i] of graph 2
    P = sp.csr_matrix((np.ones(n), (perm, np.arange(n))), shape=(n, n))
    A2 = (P @ A1 @ P.T).tocsr()
    anchors = np.c_[np.arange(6), perm[:6]]
    return A1, A2, perm, anchors


def test_solve_recovers_a_permuted_graph(permuted_pair):
    A1, A2, perm, anchors = permuted_pair
    X = np.ones((A1.shape[0], 1))
    solution = NetworkAlignmentBackbone().solve(
        X, X, anchors, adjacency=(A1, A2), epsilon=1e-3, beta=0.9
    )
    predicted = solution.scores.argmax(axis=1)
    assert np.mean(predicted[6:] == perm[6:]) > 0.9
    # Balanced final solve: uniform marginals up to the solver's L1 tolerance.
    plan = solution.plan
    error = (
        np.abs(plan.sum(axis=1) - 1 / 40).sum()
        + np.abs(plan.sum(axis=0) - 1 / 40).sum()
    )
    assert error <= 2 * NetworkAlignmentBackbone().tol
    assert solution.converged and np.all(np.isfinite(solution.plan))
    backbone = NetworkAlignmentBackbone()
    assert solution.epsilon == pytest.approx(
        1e-3 + backbone.smooth_weight + backbone.prior_weight + backbone.proximal_weight
    )


def test_solve_is_deterministic_and_uses_anchors(permuted_pair):
    A1, A2, perm, anchors = permuted_pair
    X = np.ones((A1.shape[0], 1))
    kwargs = {"adjacency": (A1, A2), "epsilon": 1e-3, "beta": 0.9}
    first = NetworkAlignmentBackbone().solve(X, X, anchors, **kwargs)
    second = NetworkAlignmentBackbone().solve(X, X, anchors, **kwargs)
    np.testing.assert_array_equal(first.plan, second.plan)
    # Without anchors a plain graph has no position information.
    blind = NetworkAlignmentBackbone().solve(X, X, anchors[:0], **kwargs)
    accuracy = np.mean(blind.scores.argmax(axis=1) == perm)
    assert accuracy < np.mean(first.scores.argmax(axis=1) == perm)


def test_solve_needs_graphs():
    X = np.ones((3, 1))
    with pytest.raises(ValueError, match="adjacency"):
        NetworkAlignmentBackbone().solve(
            X, X, np.zeros((0, 2), int), epsilon=1e-3, beta=0.9
        )


@pytest.mark.slow
def test_phone_email_backbone_reaches_target(shared_data_dir):
    from skalign.datasets import load_phone_email
    from skalign.metrics import mean_reciprocal_rank

    data = load_phone_email(shared_data_dir)
    n1 = data.adjacency[0].shape[0]
    solution = NetworkAlignmentBackbone().solve(
        data.X[:n1],
        data.X[n1:],
        data.anchors_train,
        adjacency=data.adjacency,
        epsilon=5e-4,
        beta=0.9,
    )
    test = data.anchors_test
    mrr = mean_reciprocal_rank(test[:, 1], solution.scores[test[:, 0]])
    assert mrr >= 0.5  # issue 7 target; the previous backbone reached 0.32


# ---------------------------------------------------------------- JOENA-style
def _graph_pair():
    from skalign.datasets import make_noisy_graph_pair

    return make_noisy_graph_pair(30, edge_noise=0.1, random_state=0)


def _joint_solve(data, anchors, epsilon=0.01, **params):
    from skalign.active import JointEmbeddingBackbone

    n = data.adjacency[0].shape[0]
    X1, X2 = np.ones((n, 1)), np.ones((data.adjacency[1].shape[0], 1))
    backbone = JointEmbeddingBackbone(**params)
    return backbone.solve(
        X1, X2, anchors, adjacency=data.adjacency, epsilon=epsilon, beta=0.9
    )


def _accuracy(solution, data, rows):
    return np.mean(solution.scores[rows].argmax(1) == data.partner[rows])


def test_joint_backbone_anchors_shape_the_cost():
    data = _graph_pair()
    rows = np.arange(30)
    known = np.c_[rows, data.partner[rows]]
    few, many = _joint_solve(data, known[:3]), _joint_solve(data, known[:12])
    # Anchor pairs cost 0; every other pair exp(-cos) > exp(-1).
    assert np.all(many.cost[known[:12, 0], known[:12, 1]] == 0.0)
    others = np.ones_like(many.cost, dtype=bool)
    others[known[:12, 0], known[:12, 1]] = False
    assert np.all(many.cost[others] > np.exp(-1.0) - 1e-12)
    # More anchors: better matches of the rows that are not anchors.
    free = rows[12:]
    assert _accuracy(many, data, free) > _accuracy(few, data, free)
    assert _accuracy(many, data, free) > 0.5  # chance is 1/30


def test_joint_backbone_returns_entropic_plan_of_its_last_cost():
    from skalign.active import JointEmbeddingBackbone

    data = _graph_pair()
    anchors = np.c_[np.arange(5), data.partner[:5]]
    params = {"tol": 1e-9, "max_iter": 100000}
    solution = _joint_solve(data, anchors, epsilon=0.1, **params)
    assert solution.converged
    np.testing.assert_allclose(solution.plan.sum(1), 1 / 30, rtol=1e-6)
    # The contract the querier differentiates through: plan = exp((f + g - Q)
    # / epsilon) with Q = C (1 - beta H) + w L(T_prev - threshold).
    backbone = JointEmbeddingBackbone(**params)
    X = np.ones((30, 1))
    Z1, Z2 = backbone.embed(X, X, anchors, data.adjacency)
    H = supervision(anchors, 30)
    np.testing.assert_allclose(
        solution.cost, np.where(H, 0.0, np.exp(-(Z1 @ Z2.T))), rtol=1e-12
    )
    supervised = solution.cost * (1 - 0.9 * H)
    _, E1, E2 = backbone._costs(Z1, Z2, anchors, data.adjacency)
    previous, _ = backbone._fgw_steps(supervised, E1, E2, 0.1, None)
    Q = supervised + backbone._gw_weight(30, 30) * backbone._linear_term(
        E1, E2, previous - backbone.threshold / 900
    )
    expected = np.exp((solution.f[:, None] + solution.g[None, :] - Q) / 0.1)
    np.testing.assert_allclose(solution.plan, expected, rtol=1e-9)


def supervision(anchors, n):
    H = np.zeros((n, n), dtype=bool)
    H[anchors[:, 0], anchors[:, 1]] = True
    return H


def test_joint_backbone_new_anchor_keeps_the_other_weights():
    from skalign.active import JointEmbeddingBackbone

    backbone = JointEmbeddingBackbone(hidden_dim=5, out_dim=4)
    anchors = np.array([[0, 3], [2, 1], [5, 5]])
    W1, b1, W2, b2 = backbone._network(anchors, 3)
    V1, c1, V2, c2 = backbone._network(np.r_[anchors, [[7, 0]]], 4)
    # Same draws, rescaled by 1 / sqrt(fan_in) (torch.nn.Linear's bound).
    np.testing.assert_allclose(V1[:3], W1 * np.sqrt(3 / 4), rtol=1e-12)
    np.testing.assert_allclose(V2[:3], W2[:3] * np.sqrt(8 / 9), rtol=1e-12)
    np.testing.assert_allclose(V2[4:], W2[3:] * np.sqrt(8 / 9), rtol=1e-12)
    np.testing.assert_allclose(c1, b1 * np.sqrt(3 / 4), rtol=1e-12)
    np.testing.assert_allclose(c2, b2 * np.sqrt(8 / 9), rtol=1e-12)
    assert W1.shape == (3, 5) and V2.shape == (9, 4)
    # The weights of a pair do not depend on its position in the anchor list.
    U1 = backbone._network(anchors[::-1], 3)[0]
    np.testing.assert_array_equal(U1, W1[::-1])


def test_joint_backbone_reproducible_with_random_state():
    data = _graph_pair()
    anchors = np.c_[np.arange(5), data.partner[:5]]
    first = _joint_solve(data, anchors, random_state=3)
    again = _joint_solve(data, anchors, random_state=3)
    other = _joint_solve(data, anchors, random_state=4)
    np.testing.assert_array_equal(first.plan, again.plan)
    assert not np.allclose(first.plan, other.plan)


def test_joint_backbone_loss_matches_linear_term_and_training_lowers_it():
    import torch

    from skalign.active import JointEmbeddingBackbone

    data = _graph_pair()
    anchors = np.c_[np.arange(6), data.partner[:6]]
    backbone = JointEmbeddingBackbone()
    X = np.ones((30, 1))
    Z1, Z2 = backbone.embed(X, X, anchors, data.adjacency)
    rng = np.random.default_rng(0)
    S = rng.random((30, 30)) / 900 - 0.5 / 900
    cost, E1, E2 = backbone._costs(Z1, Z2, anchors, data.adjacency)
    expected = np.sum(cost * S) + backbone._gw_weight(30, 30) * np.sum(
        backbone._linear_term(E1, E2, S) * S
    )
    loss = backbone._loss(
        torch.tensor(Z1), torch.tensor(Z2), torch.tensor(S), anchors, data.adjacency
    )
    assert float(loss) == pytest.approx(expected, rel=1e-10)
    # Training moves the embedding, reproducibly; each Adam step lowers the
    # loss at the plan it was taken on, so one tiny step must lower it.
    trained = JointEmbeddingBackbone(n_epochs=1, learning_rate=1e-6)
    Y1, Y2 = trained.embed(X, X, anchors, data.adjacency)
    assert not np.allclose(Y1, Z1)
    np.testing.assert_array_equal(Y1, trained.embed(X, X, anchors, data.adjacency)[0])
    P1, _ = backbone.positions(X, X, anchors, data.adjacency)
    weights = backbone._network(anchors, P1.shape[1])
    cost, E1, E2 = backbone._costs(Z1, Z2, anchors, data.adjacency)
    plan, _ = backbone._fgw_steps(cost, E1, E2, 0.01, None)
    S = torch.tensor(plan - backbone.threshold / plan.size)
    before = float(
        backbone._loss(torch.tensor(Z1), torch.tensor(Z2), S, anchors, data.adjacency)
    )
    after = float(
        backbone._loss(torch.tensor(Y1), torch.tensor(Y2), S, anchors, data.adjacency)
    )
    assert after < before
    assert weights[0].shape == (P1.shape[1], backbone.hidden_dim)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": 1.0}, "alpha"),
        ({"restart": 0.0}, "restart"),
        ({"n_epochs": -1}, "n_epochs"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"threshold": -1.0}, "threshold"),
    ],
)
def test_joint_backbone_bad_parameters(params, match):
    data = _graph_pair()
    with pytest.raises(ValueError, match=match):
        _joint_solve(data, np.c_[[0], data.partner[:1]], **params)


def test_joint_backbone_needs_graphs():
    from skalign.active import JointEmbeddingBackbone

    with pytest.raises(ValueError, match="adjacency"):
        JointEmbeddingBackbone().solve(
            np.ones((3, 1)),
            np.ones((3, 1)),
            np.zeros((0, 2), int),
            epsilon=0.1,
            beta=0.5,
        )
