"""Benchmark ActiveOTQuerier (AvAtar) against baseline query strategies on phone-email.

Protocol (issue 7): start from the official 200 training anchors; for each seed,
half of the 800 test pairs form a fixed evaluation set that is never
queryable, the other half is the query pool; budgets of 5% and 10% of the
1,000 source nodes are spent in 5 batches; MRR and Hits@1/10 on the
evaluation set. Also: the backbone alone, sparse vs dense influence (time
and MRR), posterior vs uniform aggregation, and the time of the whole loop.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_active.py            # 5 seeds
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --quick    # 1 seed, 10%
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --sweep-only
        # backbone epsilon and marginals; sparse vs dense influence time vs size

The data are read from ``../shared/data/phone-email`` (or ``SKALIGN_DATA``).
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skalign.active import (
    ActiveOTQuerier,
    EmbeddingAlignmentBackbone,
    NetworkAlignmentBackbone,
)
from skalign.datasets import load_phone_email
from skalign.metrics import hits_at_k, mean_reciprocal_rank

STRATEGIES = {
    "AvAtar-L2": {"query_strategy": "avatar", "utility": "l2"},
    "AvAtar-consistency": {"query_strategy": "avatar", "utility": "consistency"},
    "random": {"query_strategy": "random"},
    "entropy": {"query_strategy": "entropy"},
    "margin": {"query_strategy": "margin"},
    "degree": {"query_strategy": "degree"},
}
ABLATIONS = {
    "AvAtar-L2 dense influence": {"query_strategy": "avatar", "influence": "dense"},
    "AvAtar-L2 uniform aggregation": {
        "query_strategy": "avatar",
        "aggregation": "uniform",
    },
}


def evaluate(querier, evaluation):
    scores = querier.alignment_scores_[evaluation[:, 0]]
    return (
        mean_reciprocal_rank(evaluation[:, 1], scores),
        hits_at_k(evaluation[:, 1], scores, k=1),
        hits_at_k(evaluation[:, 1], scores, k=10),
    )


def run_loop(base, params, budget, pool, partner, seed):
    querier = copy.deepcopy(base)
    querier.set_params(random_state=seed, **params)
    querier._rng = np.random.RandomState(seed)
    start = time.perf_counter()
    querier.run_active_loop(
        lambda rows: partner[rows], budget, n_batches=5, candidates=pool
    )
    return querier, time.perf_counter() - start


def influence_times(base, repeats=3):
    times = {}
    for mode in ("sparse", "dense"):
        querier = copy.deepcopy(base).set_params(influence=mode)
        querier.row_influence()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            querier.row_influence()
        times[mode] = (time.perf_counter() - start) / repeats
    return times


def backbone_sweep(data, evaluation):
    """Backbone MRR (all 800 test pairs) for several epsilons and marginals."""
    print("\n| backbone setting | MRR | Hits@1 | Hits@10 | fit (s) |")
    print("|---|---|---|---|---|")
    settings = [
        (f"epsilon={eps:g}, balanced", eps, {}) for eps in (5e-4, 2e-3, 1e-2, 5e-2)
    ]
    settings.append(
        ("epsilon=0.0005, target KL rho=0.05", 5e-4, {"reg_m": (None, 0.05)})
    )
    settings.append(("epsilon=0.0005, both KL rho=0.05", 5e-4, {"reg_m": 0.05}))
    # PARROT's published phone-email settings, for comparison with our defaults.
    parrot = {"gw_weight": 2e-5, "n_outer": 10, "n_inner": 5}
    settings.append(("epsilon=0.0005, PARROT's settings", 5e-4, parrot))
    for label, eps, params in settings:
        start = time.perf_counter()
        querier = ActiveOTQuerier(NetworkAlignmentBackbone(**params), epsilon=eps)
        querier.fit(data.X, data.y, adjacency=data.adjacency)
        mrr, h1, h10 = evaluate(querier, evaluation)
        print(
            f"| {label} | {mrr:.3f} | {h1:.3f} | {h10:.3f} | {time.perf_counter() - start:.1f} |"
        )


def influence_scaling(sizes=(1000, 2000, 4000)):
    """Seconds of one influence computation, sparse vs dense, on 2-D point clouds."""
    print("\n| n = m | nnz per row (sparse) | sparse (s) | dense (s) | ratio |")
    print("|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(0)
        X = np.vstack([rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.1])
        y = np.r_[np.full(n, -1), np.full(n, -2)]
        backbone = EmbeddingAlignmentBackbone(metric="sqeuclidean", tol=1e-4)
        base = ActiveOTQuerier(backbone, epsilon=0.01).fit(X, y)
        times = influence_times(base, repeats=1)
        nnz = copy.deepcopy(base).pair_influence()[0].nnz / n
        print(
            f"| {n} | {nnz:.1f} | {times['sparse']:.3f} | {times['dense']:.3f} | "
            f"{times['dense'] / times['sparse']:.1f}x |"
        )


def fmt(values):
    values = np.asarray(values)
    return (
        f"{values.mean():.3f} ± {values.std():.3f}"
        if values.size > 1
        else f"{values[0]:.3f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 10%% budget only")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=5e-4)
    parser.add_argument(
        "--sweep-only",
        action="store_true",
        help="only the backbone epsilon/marginal sweep and the influence scaling",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    data = load_phone_email()
    if args.sweep_only:
        backbone_sweep(data, data.anchors_test)
        influence_scaling()
        return
    n_source = data.adjacency[0].shape[0]
    partner = np.full(data.X.shape[0], -1)
    partner[data.anchors_test[:, 0]] = data.anchors_test[:, 1]
    seeds = [0] if args.quick else list(range(args.seeds))
    budgets = [0.10] if args.quick else [0.05, 0.10]

    start = time.perf_counter()
    base = ActiveOTQuerier(epsilon=args.epsilon).fit(
        data.X, data.y, adjacency=data.adjacency
    )
    fit_time = time.perf_counter() - start
    times = influence_times(base)
    print(
        f"backbone fit from {len(data.anchors_train)} anchors: {fit_time:.1f} s; "
        f"influence sparse {times['sparse']:.3f} s, dense {times['dense']:.3f} s, "
        f"ratio {times['dense'] / times['sparse']:.1f}x",
        flush=True,
    )

    rows = {}  # (method, budget) -> list of (mrr, h1, h10, seconds)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(data.anchors_test))
        half = len(order) // 2
        evaluation = data.anchors_test[order[:half]]
        pool = data.anchors_test[order[half:], 0]
        rows.setdefault(("backbone (official anchors)", 0.0), []).append(
            (*evaluate(base, evaluation), fit_time)
        )
        for budget_fraction in budgets:
            budget = round(budget_fraction * n_source)
            methods = dict(STRATEGIES)
            if budget_fraction == budgets[-1]:
                methods.update(ABLATIONS)
            for name, params in methods.items():
                querier, seconds = run_loop(base, params, budget, pool, partner, seed)
                result = (*evaluate(querier, evaluation), seconds + fit_time)
                rows.setdefault((name, budget_fraction), []).append(result)
                print(
                    f"seed {seed} budget {budget_fraction:.0%} {name}: MRR {result[0]:.3f} "
                    f"H@1 {result[1]:.3f} H@10 {result[2]:.3f} ({result[3]:.1f} s)",
                    flush=True,
                )

    print(
        f"\nphone-email, {len(seeds)} seed(s), epsilon={args.epsilon}; times on a shared CPU"
    )
    print("| method | budget | MRR | Hits@1 | Hits@10 | time (s) |")
    print("|---|---|---|---|---|---|")
    for (name, budget_fraction), values in rows.items():
        values = np.asarray(values)
        print(
            f"| {name} | {budget_fraction:.0%} | {fmt(values[:, 0])} | {fmt(values[:, 1])} | "
            f"{fmt(values[:, 2])} | {values[:, 3].mean():.1f} |"
        )
    print(
        f"\ninfluence computation: sparse {times['sparse']:.3f} s, dense "
        f"{times['dense']:.3f} s ({times['dense'] / times['sparse']:.1f}x)"
    )


if __name__ == "__main__":
    main()
