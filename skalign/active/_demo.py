"""Demo of ``python -m skalign active``: active alignment of a noisy graph pair."""

import copy
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datasets import make_noisy_graph_pair
from ..metrics import mean_reciprocal_rank
from ._querier import ActiveOTQuerier


def run_demo(seed=0):
    """Align two noisy permuted graphs; compare AvAtar with random queries."""
    data = make_noisy_graph_pair(
        150,
        n_features=2,
        feature_noise=2.0,
        edge_noise=0.2,
        anchor_fraction=0.1,
        random_state=seed,
    )
    n = data.adjacency[0].shape[0]
    rng = np.random.default_rng(seed)
    unknown = rng.permutation(np.flatnonzero(data.y[:n] == -1))
    evaluation, pool = unknown[: unknown.size // 2], unknown[unknown.size // 2 :]
    truth = np.full(data.X.shape[0], -1)
    truth[evaluation] = data.partner[evaluation]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base = ActiveOTQuerier(epsilon=1e-3, random_state=seed)
        base.fit(data.X, data.y, adjacency=data.adjacency)
        print(f"{n} + {n} nodes, {int(np.sum(data.y >= 0))} known pairs")
        print(f"  backbone alone          MRR {base.score(data.X, truth):.3f}")
        for strategy in ("avatar", "random"):
            querier = copy.deepcopy(base).set_params(query_strategy=strategy)
            querier.run_active_loop(
                lambda rows: data.partner[rows], budget=15, n_batches=3, candidates=pool
            )
            mrr = mean_reciprocal_rank(truth, querier.decision_function(data.X))
            print(f"  {strategy:>7} + 15 queries   MRR {mrr:.3f}")
