"""Benchmark ActiveOTQuerier (AvAtar) against baseline query strategies on phone-email.

Protocol (issue 7): start from the official 200 training anchors; for each seed,
half of the 800 test pairs form a fixed evaluation set that is never
queryable, the other half is the query pool; budgets of 5% and 10% of the
1,000 source nodes are spent in 5 batches; MRR and Hits@1/10 on the
evaluation set. Also: the backbone alone, sparse vs dense influence (time
and MRR), posterior vs uniform aggregation, and the time of the whole loop.

The strategies run on one backbone (``--backbone``): ``joint`` (default), the
JOENA-style :class:`~skalign.active.JointEmbeddingBackbone`, where each new
anchor moves every node's embedding, or ``parrot``. Both backbones are
measured from the official anchors in the same run.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_active.py            # 5 seeds
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --seeds 2 --budgets 0.05 \
        --strategies AvAtar-L2 random degree      # fast proxy
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --quick    # 1 seed, 10%
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --sweep-only
        # backbone epsilon and marginals; sparse vs dense influence time vs size
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --epsilon-sweep 1e-4 5e-4 2e-3 1e-2
        # AvAtar-L2 vs random at the 5% budget for each epsilon
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --oracle-bound 200
        # upper bound: the 5% batch of the rows whose single query helps most
    OMP_NUM_THREADS=1 python benchmarks/bench_active.py --greedy-oracle 40
        # greedy batch oracle chosen on one half of the evaluation pairs,
        # scored on the other half too (how much of its gain transfers)

The row "re-solved, no queries" re-solves the backbone as many times as a loop
does (warm-started, as ``teach`` does) without adding pairs: the part of every
strategy's gain that comes from re-solving, not from the queried pairs.

The data are read from ``../shared/data/phone-email`` (or ``SKALIGN_DATA``).
"""

import argparse
import copy
import time
import warnings

import numpy as np
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning

from skalign.active import (
    ActiveOTQuerier,
    EmbeddingAlignmentBackbone,
    JointEmbeddingBackbone,
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


BACKBONES = {
    # name: (backbone factory, default epsilon)
    "parrot": (NetworkAlignmentBackbone, 5e-4),
    "joint": (JointEmbeddingBackbone, 1e-2),
}


def make_querier(backbone, epsilon=None, **params):
    factory, default = BACKBONES[backbone]
    return ActiveOTQuerier(
        factory(), epsilon=default if epsilon is None else epsilon, **params
    )


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


def resolve_only(base, n_batches=5):
    """The backbone re-solved ``n_batches`` times (warm-started) without new pairs."""
    querier = copy.deepcopy(base)
    start = time.perf_counter()
    nothing = np.array([], dtype=np.int64)
    for _ in range(n_batches):
        querier.teach(nothing, nothing)
    return querier, time.perf_counter() - start


def split(data, seed):
    """Seeded halves of the test pairs: (evaluation pairs, pool rows)."""
    order = np.random.default_rng(seed).permutation(len(data.anchors_test))
    half = len(order) // 2
    return data.anchors_test[order[:half]], data.anchors_test[order[half:], 0]


def epsilon_sweep(data, partner, epsilons, seeds, budget, backbone):
    """AvAtar-L2 vs random at one budget for several epsilons."""
    print("\n| epsilon | backbone MRR | AvAtar-L2 | random | AvAtar-L2 / random |")
    print("|---|---|---|---|---|")
    for eps in epsilons:
        base = make_querier(backbone, eps).fit(data.X, data.y, adjacency=data.adjacency)
        results = {"backbone": [], "avatar": [], "random": []}
        for seed in seeds:
            evaluation, pool = split(data, seed)
            results["backbone"].append(evaluate(base, evaluation)[0])
            for name in ("avatar", "random"):
                querier, _ = run_loop(
                    base, {"query_strategy": name}, budget, pool, partner, seed
                )
                results[name].append(evaluate(querier, evaluation)[0])
        ratio = np.asarray(results["avatar"]) / np.asarray(results["random"])
        print(
            f"| {eps:g} | {fmt(results['backbone'])} | {fmt(results['avatar'])} | "
            f"{fmt(results['random'])} | {fmt(ratio)} |",
            flush=True,
        )


def single_query_mrr(querier, rows, partner, evaluation):
    """Evaluation MRR after teaching each of ``rows`` alone from ``querier``'s state."""
    return np.array(
        [
            evaluate(copy.deepcopy(querier).teach([row], partner[[row]]), evaluation)[0]
            for row in rows
        ]
    )


def oracle_bound(data, partner, n_candidates, budget, backbone, epsilon, seed=0):
    """MRR of the batch of the rows whose single query raises MRR most.

    Uses the evaluation pairs to value each query (an oracle no strategy has):
    each of ``n_candidates`` pool rows is taught alone and the rise of the
    evaluation MRR recorded; the ``budget`` best are then taught together.
    """
    base = make_querier(backbone, epsilon).fit(data.X, data.y, adjacency=data.adjacency)
    evaluation, pool = split(data, seed)
    reference, _ = resolve_only(base, n_batches=1)
    floor = evaluate(reference, evaluation)[0]
    candidates = np.random.default_rng(seed).choice(pool, n_candidates, replace=False)
    gains = single_query_mrr(base, candidates, partner, evaluation) - floor
    print(
        f"\nsingle-query MRR gains over the re-solved backbone ({floor:.4f}), "
        f"{n_candidates} pool rows: mean {gains.mean():.4f}, std {gains.std():.4f}, "
        f"min {gains.min():.4f}, max {gains.max():.4f}"
    )

    def taught(rows):
        return evaluate(copy.deepcopy(base).teach(rows, partner[rows]), evaluation)[0]

    print(
        f"| rows of the {n_candidates} candidates | Spearman with the single gain | "
        f"MRR of the top {budget} taught at once |"
    )
    print("|---|---|---|")
    best, worst = np.argsort(-gains)[:budget], np.argsort(gains)[:budget]
    print(f"| best single gains (oracle) | 1 | {taught(candidates[best]):.4f} |")
    print(f"| worst single gains (oracle) | -1 | {taught(candidates[worst]):.4f} |")
    draws = [
        taught(np.random.default_rng(draw).choice(candidates, budget, replace=False))
        for draw in range(3)
    ]
    print(f"| random (3 draws) | 0 | {fmt(draws)} |", flush=True)
    for name, params in {**STRATEGIES, **ABLATIONS}.items():
        if name == "random" or "dense" in name:
            continue
        querier = copy.deepcopy(base).set_params(**params)
        scores = querier.query_scores(candidates)
        signs = [(name, 1.0)]
        if name.startswith("AvAtar"):  # sign check: lowest influence first
            signs.append((f"{name}, lowest influence first", -1.0))
        for label, sign in signs:
            rho = spearmanr(sign * scores, gains)[0]
            rows = candidates[np.argsort(-sign * scores)[:budget]]
            print(f"| {label} | {rho:.3f} | {taught(rows):.4f} |", flush=True)


def greedy_oracle(
    data,
    partner,
    n_candidates,
    budget,
    backbone,
    epsilon,
    seed=0,
    halving=1,
    half="A",
):
    """Greedy batch oracle that reads half of the evaluation labels.

    The evaluation pairs are split in two halves (``halving`` seeds the
    split; ``half`` says which one is read, "A" or "B"). In each of the 5
    batches, ``n_candidates`` fresh pool rows are taught one at a time from
    the current state and the ``budget / 5`` whose single query raises the
    MRR of the *selection* half most are taught together. The *held-out*
    half says how much of the oracle's gain comes from queries that help
    alignment in general, rather than from picking the perturbations that
    happen to favour the rows it reads (single-query effects are not
    additive and partly chaotic, so the label-reading choice overfits).
    """
    base = make_querier(backbone, epsilon).fit(data.X, data.y, adjacency=data.adjacency)
    evaluation, pool = split(data, seed)
    order = np.random.default_rng(halving).permutation(len(evaluation))
    first, second = np.array_split(evaluation[order], 2)
    selection, held_out = (first, second) if half == "A" else (second, first)
    batch = budget // 5
    rng = np.random.default_rng(seed)
    randomly, _ = run_loop(base, STRATEGIES["random"], budget, pool, partner, seed)
    current, left = copy.deepcopy(base), pool.copy()
    print(
        f"\ngreedy oracle, {backbone} backbone, seed {seed}, halving {halving}, "
        f"selection half {half}: 5 batches of the best "
        f"{batch} of {n_candidates} fresh pool rows by single-query MRR gain on the "
        "selection half"
    )
    print("| after | selection half MRR | held-out half MRR |")
    print("|---|---|---|")
    print(
        f"| backbone | {evaluate(base, selection)[0]:.4f} | "
        f"{evaluate(base, held_out)[0]:.4f} |"
    )
    for step in range(5):
        floor = evaluate(current, selection)[0]
        candidates = rng.choice(left, n_candidates, replace=False)
        gains = single_query_mrr(current, candidates, partner, selection)
        picked = candidates[np.argsort(floor - gains)[:batch]]
        current = current.teach(picked, partner[picked])
        left = np.setdiff1d(left, picked)
        print(
            f"| oracle batch {step + 1} | {evaluate(current, selection)[0]:.4f} | "
            f"{evaluate(current, held_out)[0]:.4f} |",
            flush=True,
        )
    print(
        f"| random loop ({budget} queries) | {evaluate(randomly, selection)[0]:.4f} | "
        f"{evaluate(randomly, held_out)[0]:.4f} |"
    )


def paper_protocol(data, partner, budgets, backbone, epsilon, seed=0):
    """Strategies under the protocol the paper's random figures fit.

    The pool and the evaluation set are both all the official test pairs, so
    the queried rows are scored too (unlike the main benchmark, which keeps a
    fixed evaluation half out of the pool).
    """
    base = make_querier(backbone, epsilon).fit(data.X, data.y, adjacency=data.adjacency)
    test = data.anchors_test
    print(
        f"\npaper-like protocol, {backbone} backbone, seed {seed}: pool = evaluation = "
        f"all {len(test)} test pairs (backbone MRR {evaluate(base, test)[0]:.4f})"
    )
    print("| strategy | " + " | ".join(f"MRR at {b} queries" for b in budgets) + " |")
    print("|---|" + "---|" * len(budgets))
    for name in ("random", "AvAtar-L2", "entropy", "margin"):
        row = []
        for budget in budgets:
            queried, _ = run_loop(
                base, STRATEGIES[name], budget, test[:, 0], partner, seed
            )
            row.append(f"{evaluate(queried, test)[0]:.4f}")
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)


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
    parser.add_argument(
        "--backbone",
        choices=sorted(BACKBONES),
        default="joint",
        help="backbone the strategies run on (default: joint, where anchors propagate)",
    )
    parser.add_argument(
        "--epsilon",
        type=float,
        default=None,
        help="entropic regularisation (default: 0.01 for joint, 5e-4 for parrot)",
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=sorted(STRATEGIES),
        default=None,
        help="only these strategies (and no ablations): a fast proxy",
    )
    parser.add_argument(
        "--budgets", type=float, nargs="+", default=None, help="budget fractions"
    )
    parser.add_argument(
        "--epsilon-sweep",
        type=float,
        nargs="+",
        metavar="EPS",
        help="only AvAtar-L2 vs random at the 5%% budget for these epsilons",
    )
    parser.add_argument(
        "--oracle-bound",
        type=int,
        metavar="N",
        help="only the oracle upper bound at the 5%% budget from N pool rows (seed 0)",
    )
    parser.add_argument(
        "--greedy-oracle",
        type=int,
        metavar="N",
        help="only the greedy batch oracle at the 5%% budget from N fresh pool rows "
        "per batch, chosen on half of the evaluation pairs (seed 0)",
    )
    parser.add_argument(
        "--paper-protocol",
        action="store_true",
        help="only random, AvAtar-L2, entropy and margin at 5%% and 10%% with pool = "
        "evaluation = all test pairs (seed 0), the protocol the paper's figures fit",
    )
    parser.add_argument(
        "--oracle-halving",
        type=int,
        default=1,
        help="seed of the split of the evaluation pairs for --greedy-oracle",
    )
    parser.add_argument(
        "--oracle-half",
        choices=("A", "B"),
        default="A",
        help="which half of that split --greedy-oracle reads",
    )
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
    if args.epsilon_sweep:
        epsilon_sweep(
            data,
            partner,
            args.epsilon_sweep,
            list(range(args.seeds)),
            round(0.05 * n_source),
            args.backbone,
        )
        return
    if args.oracle_bound:
        oracle_bound(
            data,
            partner,
            args.oracle_bound,
            round(0.05 * n_source),
            args.backbone,
            args.epsilon,
        )
        return
    if args.paper_protocol:
        paper_protocol(
            data,
            partner,
            [round(0.05 * n_source), round(0.10 * n_source)],
            args.backbone,
            args.epsilon,
        )
        return
    if args.greedy_oracle:
        greedy_oracle(
            data,
            partner,
            args.greedy_oracle,
            round(0.05 * n_source),
            args.backbone,
            args.epsilon,
            halving=args.oracle_halving,
            half=args.oracle_half,
        )
        return
    seeds = [0] if args.quick else list(range(args.seeds))
    budgets = args.budgets or ([0.10] if args.quick else [0.05, 0.10])
    strategies = (
        {name: STRATEGIES[name] for name in args.strategies}
        if args.strategies
        else STRATEGIES
    )

    backbones = {}  # both backbones from the official anchors, side by side
    for name in sorted(BACKBONES, key=lambda name: name != args.backbone):
        if args.strategies and name != args.backbone:
            continue
        start = time.perf_counter()
        querier = make_querier(name, args.epsilon if name == args.backbone else None)
        backbones[name] = (
            querier.fit(data.X, data.y, adjacency=data.adjacency),
            time.perf_counter() - start,
        )
    base, fit_time = backbones[args.backbone]
    times = influence_times(base)
    print(
        f"backbone fit from {len(data.anchors_train)} anchors: {fit_time:.1f} s; "
        f"influence sparse {times['sparse']:.3f} s, dense {times['dense']:.3f} s, "
        f"ratio {times['dense'] / times['sparse']:.1f}x",
        flush=True,
    )

    rows = {}  # (method, budget) -> list of (mrr, h1, h10, seconds)
    resolved, resolve_time = resolve_only(base)
    for seed in seeds:
        evaluation, pool = split(data, seed)
        for name, (querier, seconds) in backbones.items():
            label = f"{name} backbone (official anchors), epsilon={querier.epsilon:g}"
            rows.setdefault((label, 0.0), []).append(
                (*evaluate(querier, evaluation), seconds)
            )
        rows.setdefault(("re-solved 5 times, no queries", 0.0), []).append(
            (*evaluate(resolved, evaluation), fit_time + resolve_time)
        )
        for budget_fraction in budgets:
            budget = round(budget_fraction * n_source)
            methods = dict(strategies)
            if budget_fraction == budgets[-1] and not args.strategies:
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

    ratios = {}
    for (name, budget_fraction), values in rows.items():
        if budget_fraction and ("random", budget_fraction) in rows:
            reference = np.asarray(rows[("random", budget_fraction)])[:, 0]
            ratios[(name, budget_fraction)] = np.asarray(values)[:, 0] / reference
    print(
        f"\nphone-email, {len(seeds)} seed(s), {args.backbone} backbone, "
        f"epsilon={base.epsilon:g}; times on a shared CPU (2 cores, other jobs running)"
    )
    print("| method | budget | MRR | Hits@1 | Hits@10 | MRR / random | time (s) |")
    print("|---|---|---|---|---|---|---|")
    for (name, budget_fraction), values in rows.items():
        values = np.asarray(values)
        ratio = ratios.get((name, budget_fraction))
        print(
            f"| {name} | {budget_fraction:.0%} | {fmt(values[:, 0])} | {fmt(values[:, 1])} | "
            f"{fmt(values[:, 2])} | {'' if ratio is None else fmt(ratio)} | "
            f"{values[:, 3].mean():.1f} |"
        )
    print(
        f"\ninfluence computation: sparse {times['sparse']:.3f} s, dense "
        f"{times['dense']:.3f} s ({times['dense'] / times['sparse']:.1f}x)"
    )


if __name__ == "__main__":
    main()
