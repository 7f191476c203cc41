import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from skalign.active import (
    ActiveOTQuerier,
    EmbeddingAlignmentBackbone,
    consistency_utility,
    entropy_utility,
    l2_utility,
    top_mass_plan,
)
from skalign.datasets import make_noisy_graph_pair
from skalign.ot import sinkhorn


def _embedding_problem(n=8, m=7, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, 3)), rng.normal(size=(m, 3))])
    y = np.r_[np.full(n, -1), np.full(m, -2)]
    return X, y


def _supervised_plan(cost, beta, H, epsilon, frozen=0.0):
    result = sinkhorn(
        None,
        None,
        cost * (1 - beta * H) + frozen,
        epsilon,
        tol=1e-12,
        max_iter=20000,
        warn=False,
    )
    return result.plan


@pytest.mark.parametrize("utility", ["l2", "entropy"])
def test_influence_matches_finite_differences(utility):
    X, y = _embedding_problem()
    backbone = EmbeddingAlignmentBackbone(
        metric="sqeuclidean", tol=1e-12, max_iter=20000
    )
    querier = ActiveOTQuerier(
        backbone, utility=utility, influence="dense", epsilon=0.2, beta=0.5, ridge=0.0
    ).fit(X, y)
    influence, _ = querier.pair_influence()
    cost = querier.solution_.cost
    f = {"l2": l2_utility, "entropy": entropy_utility}[utility]
    H = np.zeros_like(cost)
    step = 1e-5
    for i, j in [(0, 0), (3, 5), (7, 2)]:
        E = np.zeros_like(cost)
        E[i, j] = step
        up = f(_supervised_plan(cost, 0.5, H + E, 0.2))[0]
        down = f(_supervised_plan(cost, 0.5, H - E, 0.2))[0]
        assert influence[i, j] == pytest.approx(
            (up - down) / (2 * step), rel=1e-4, abs=1e-9
        )


def test_consistency_influence_matches_finite_differences():
    data = make_noisy_graph_pair(12, n_features=3, edge_probability=0.3, random_state=1)
    backbone = EmbeddingAlignmentBackbone(
        metric="sqeuclidean", tol=1e-12, max_iter=20000
    )
    y = np.where(data.y == -2, -2, -1)
    querier = ActiveOTQuerier(
        backbone, utility="consistency", influence="dense", epsilon=0.3, ridge=0.0
    ).fit(data.X, y, adjacency=data.adjacency)
    influence, _ = querier.pair_influence()
    cost = querier.solution_.cost
    context = {"adjacency": data.adjacency}
    step = 1e-5
    for i, j in [(0, 1), (5, 5)]:
        E = np.zeros_like(cost)
        E[i, j] = step
        up = consistency_utility(_supervised_plan(cost, 0.9, E, 0.3), context)[0]
        down = consistency_utility(_supervised_plan(cost, 0.9, -E, 0.3), context)[0]
        # CG stops at a relative residual of 1e-6: agreement to ~1e-3 relative.
        assert influence[i, j] == pytest.approx((up - down) / (2 * step), rel=1e-3)


@pytest.mark.parametrize("utility", [l2_utility, entropy_utility, consistency_utility])
def test_utility_gradients_dense_and_sparse(utility):
    rng = np.random.default_rng(0)
    plan = rng.random((6, 5)) / 30
    A = sp.random(6, 6, density=0.5, random_state=0)
    B = sp.random(5, 5, density=0.5, random_state=1)
    context = {"adjacency": ((A + A.T).tocsr(), (B + B.T).tocsr())}
    value, grad = utility(plan, context)
    step = 1e-6
    E = np.zeros_like(plan)
    E[2, 3] = step
    numeric = (utility(plan + E, context)[0] - utility(plan - E, context)[0]) / (
        2 * step
    )
    assert grad[2, 3] == pytest.approx(numeric, rel=1e-6)
    sparse_value, sparse_grad = utility(sp.csr_matrix(plan), context)
    assert sparse_value == pytest.approx(value)
    np.testing.assert_allclose(sparse_grad.toarray(), grad, rtol=1e-10)


def test_sparse_influence_equals_dense_with_full_mass():
    # With the whole mass kept the two paths solve the same adjoint system and
    # differ only in floating-point order; the gap is the CG stopping error,
    # about cond(A) * cg_tol (8e-4 relative at cg_tol=1e-6, 2e-8 at 1e-10).
    data = make_noisy_graph_pair(30, random_state=0)
    kwargs = {"epsilon": 1e-3, "mass_fraction": 1.0, "max_k": 30, "random_state": 0}
    fitted = {
        (mode, tol): ActiveOTQuerier(influence=mode, cg_tol=tol, **kwargs).fit(
            data.X, data.y, adjacency=data.adjacency
        )
        for mode in ("sparse", "dense")
        for tol in (1e-6, 1e-10)
    }
    sparse_pairs = fitted["sparse", 1e-10].pair_influence()[0]
    assert sparse_pairs.nnz == 30 * 30
    dense_pairs = fitted["dense", 1e-10].pair_influence()[0]
    scale = np.abs(dense_pairs).max()
    np.testing.assert_allclose(
        sparse_pairs.toarray(), dense_pairs, rtol=0, atol=1e-6 * scale
    )
    np.testing.assert_allclose(
        fitted["sparse", 1e-10].row_influence(),
        fitted["dense", 1e-10].row_influence(),
        rtol=0,
        atol=1e-6 * np.abs(fitted["dense", 1e-10].row_influence()).max(),
    )
    # At the default tolerance each path is within the CG error of the precise
    # influences, and the ranking of rows is unchanged.
    for mode in ("sparse", "dense"):
        pairs = fitted[mode, 1e-6].pair_influence()[0]
        pairs = pairs.toarray() if sp.issparse(pairs) else pairs
        np.testing.assert_allclose(pairs, dense_pairs, rtol=0, atol=1e-2 * scale)
        top = np.argsort(-fitted[mode, 1e-6].row_influence())[:5]
        assert set(top) == set(np.argsort(-fitted["dense", 1e-10].row_influence())[:5])


def test_top_mass_plan_keeps_the_requested_mass():
    rng = np.random.default_rng(0)
    plan = rng.random((20, 15)) ** 4
    sparse = top_mass_plan(plan, mass_fraction=0.7, max_k=15)
    kept = np.asarray(sparse.sum(axis=1)).ravel()
    assert np.all(kept >= 0.7 * plan.sum(axis=1) - 1e-12)
    # Dropping the smallest kept entry of each row would fall below the fraction.
    dense = sparse.toarray()
    smallest = np.where(dense > 0, dense, np.inf).min(axis=1)
    assert np.all(kept - smallest < 0.7 * plan.sum(axis=1) + 1e-12)


@pytest.fixture(scope="module")
def graph():
    # Noisy enough that the backbone alone is not already perfect.
    return make_noisy_graph_pair(40, feature_noise=1.0, edge_noise=0.3, random_state=0)


@pytest.fixture(scope="module")
def fitted(graph):
    return ActiveOTQuerier(epsilon=1e-3, random_state=0).fit(
        graph.X, graph.y, adjacency=graph.adjacency
    )


@pytest.mark.parametrize(
    "strategy", ["avatar", "random", "entropy", "margin", "degree"]
)
def test_query_returns_unlabelled_candidates(graph, fitted, strategy):
    querier = pickle.loads(pickle.dumps(fitted)).set_params(query_strategy=strategy)
    candidates = np.r_[np.flatnonzero(graph.y[:40] >= 0)[:3], np.arange(10, 25)]
    rows = querier.query(n_instances=5, candidates=candidates)
    assert rows.shape == (5,) and np.unique(rows).size == 5
    assert set(rows) <= set(candidates)
    assert np.all(graph.y[rows] == -1)


def test_teach_changes_predictions_and_loop_spends_budget(graph, fitted):
    querier = pickle.loads(pickle.dumps(fitted))
    before = querier.predict(graph.X)
    rows = np.flatnonzero(graph.y[:40] == -1)[:10]
    querier.teach(rows, graph.partner[rows])
    after = querier.predict(graph.X)
    np.testing.assert_array_equal(after[rows], graph.partner[rows])
    assert np.any(before != after)
    assert np.all(after[40:] == -2)

    looped = pickle.loads(pickle.dumps(fitted))
    asked = []

    def oracle(rows):
        asked.extend(rows)
        return graph.partner[rows]

    looped.run_active_loop(oracle, budget=7, n_batches=3)
    assert len(asked) == 7 == len(set(asked))
    assert int(np.sum(looped.partners_ >= 0)) == int(np.sum(graph.y >= 0)) + 7
    assert [len(entry["rows"]) for entry in looped.history_] == [2, 3, 2]


def test_beta_only_scales_network_influence(graph, fitted):
    # The network backbone gives anchor pairs cost 0, so C * (1 - beta H) = C:
    # beta leaves the plan unchanged and only scales I(p_ij) = -beta C_ij dF/dC~_ij,
    # hence the ranking of queries.
    other = ActiveOTQuerier(epsilon=1e-3, beta=0.3, random_state=0).fit(
        graph.X, graph.y, adjacency=graph.adjacency
    )
    np.testing.assert_array_equal(other.solution_.plan, fitted.solution_.plan)
    np.testing.assert_allclose(
        other.row_influence(), fitted.row_influence() * 0.3 / 0.9, rtol=1e-12
    )
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(other)).query(5),
        pickle.loads(pickle.dumps(fitted)).query(5),
    )


def test_active_learning_improves_mrr(graph, fitted):
    querier = pickle.loads(pickle.dumps(fitted))
    unknown = np.flatnonzero(graph.y[:40] == -1)
    truth = np.full(graph.X.shape[0], -1)
    truth[unknown] = graph.partner[unknown]
    start = querier.score(graph.X, truth)
    querier.run_active_loop(lambda rows: graph.partner[rows], budget=10, n_batches=2)
    assert querier.score(graph.X, truth) > start


def test_reproducible(graph):
    def rows(seed):
        querier = ActiveOTQuerier(
            query_strategy="random", epsilon=1e-3, random_state=seed
        )
        querier.fit(graph.X, graph.y, adjacency=graph.adjacency)
        return querier.query(5)

    np.testing.assert_array_equal(rows(3), rows(3))
    assert not np.array_equal(rows(3), rows(4))


def test_decision_function_subset_and_fit_idempotent(graph, fitted):
    full = fitted.decision_function(graph.X)
    subset = fitted.decision_function(graph.X[[5, 1, 60]])
    np.testing.assert_array_equal(subset, full[[5, 1, 60]])
    assert np.all(subset[2] == 0)
    refit = ActiveOTQuerier(epsilon=1e-3, random_state=0).fit(
        graph.X, graph.y, adjacency=graph.adjacency
    )
    np.testing.assert_allclose(refit.alignment_scores_, fitted.alignment_scores_)


def test_sample_domain_instead_of_marker(graph):
    y = np.where(graph.y == -2, -1, graph.y)
    querier = ActiveOTQuerier(epsilon=1e-3).fit(
        graph.X, y, sample_domain=graph.sample_domain, adjacency=graph.adjacency
    )
    assert querier.target_index_.size == 40


def test_bad_inputs(graph, fitted):
    querier = pickle.loads(pickle.dumps(fitted))
    with pytest.raises(ValueError, match=r"budget .* larger than the pool"):
        querier.run_active_loop(lambda r: graph.partner[r], budget=1000)
    with pytest.raises(ValueError, match="oracle returned invalid partners"):
        querier.run_active_loop(lambda r: np.full(len(r), 99), budget=2, n_batches=1)
    with pytest.raises(ValueError, match="one partner per queried row"):
        querier.run_active_loop(lambda r: [0], budget=2, n_batches=1)
    with pytest.raises(ValueError, match="target rows"):
        querier.query(2, candidates=[50, 51])
    with pytest.raises(ValueError, match="n_instances"):
        querier.query(100)
    with pytest.raises(ValueError, match="transductive"):
        querier.predict(np.full((1, graph.X.shape[1]), 123.0))
    A1, A2 = graph.adjacency
    with pytest.raises(ValueError, match="adjacency A_target must have shape"):
        ActiveOTQuerier().fit(graph.X, graph.y, adjacency=(A1, A2[:30, :30]))
    X = graph.X.copy()
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ActiveOTQuerier().fit(X, graph.y, adjacency=graph.adjacency)
    with pytest.raises(ValueError, match="y == -2"):
        ActiveOTQuerier().fit(graph.X, np.where(graph.y == -2, -1, graph.y))
    y = graph.y.copy()
    y[0] = 100
    with pytest.raises(ValueError, match="target position"):
        ActiveOTQuerier().fit(graph.X, y, adjacency=graph.adjacency)
    with pytest.raises(ValueError, match="needs graphs"):
        ActiveOTQuerier(query_strategy="degree", epsilon=0.05).fit(
            graph.X, graph.y
        ).query(1)


@pytest.mark.slow
def test_phone_email_slice_backbone(shared_data_dir):
    from skalign.datasets import load_phone_email
    from skalign.metrics import mean_reciprocal_rank

    data = load_phone_email(shared_data_dir)
    querier = ActiveOTQuerier().fit(data.X, data.y, adjacency=data.adjacency)
    test = data.anchors_test[:200]
    mrr = mean_reciprocal_rank(test[:, 1], querier.alignment_scores_[test[:, 0]])
    assert mrr > 0.2  # random ranking of 1003 candidates gives about 0.007


def test_influence_through_joint_backbone_matches_finite_differences():
    # The JOENA-style backbone freezes its GW term at the previous plan in the
    # last solve; AvAtar differentiates through that solve.
    from skalign.active import JointEmbeddingBackbone

    data = make_noisy_graph_pair(20, edge_noise=0.1, random_state=1)
    backbone = JointEmbeddingBackbone(tol=1e-11, max_iter=200000)
    querier = ActiveOTQuerier(
        backbone, influence="dense", epsilon=0.1, beta=0.5, ridge=0.0, cg_tol=1e-12
    ).fit(data.X, data.y, adjacency=data.adjacency)
    solution = querier.solution_
    H = np.zeros_like(solution.cost)
    anchors = querier._anchors()
    H[anchors[:, 0], anchors[:, 1]] = 1.0
    Q = solution.f[:, None] + solution.g[None, :] - 0.1 * np.log(solution.plan)
    frozen = Q - solution.cost * (1 - 0.5 * H)
    influence, _ = querier.pair_influence()
    step = 1e-5
    for i, j in [(0, 3), (7, 7), (15, 2)]:
        E = np.zeros_like(H)
        E[i, j] = step
        values = [
            l2_utility(_supervised_plan(solution.cost, 0.5, H + s * E, 0.1, frozen))[0]
            for s in (1, -1)
        ]
        assert influence[i, j] == pytest.approx(
            (values[0] - values[1]) / (2 * step), rel=1e-4, abs=1e-9
        )
