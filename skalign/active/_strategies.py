"""Baseline query strategies: scores per source row, higher = ask first.

Each strategy takes the current plan restricted to the candidate rows (dense,
rows = candidates, columns = target rows) and a context dictionary, and
returns one score per candidate row.
"""

import numpy as np

__all__ = [
    "STRATEGIES",
    "degree_scores",
    "entropy_scores",
    "margin_scores",
    "random_scores",
]


def _row_distribution(plan):
    mass = plan.sum(axis=1, keepdims=True)
    return plan / np.where(mass > 0, mass, 1.0)


def random_scores(plan, context):
    """Uniform random scores (the passive baseline)."""
    return context["random_state"].random_sample(plan.shape[0])


def entropy_scores(plan, context):
    """Entropy of each row of the plan seen as a distribution over target rows."""
    p = _row_distribution(plan)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -np.sum(p * logs, axis=1)


def margin_scores(plan, context):
    """Minus the gap between the two largest posterior probabilities of a row."""
    p = _row_distribution(plan)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    return -(top2[:, 0] - top2[:, 1])


def degree_scores(plan, context):
    """Degree of each candidate node in the source graph (hubs first)."""
    adjacency = context.get("adjacency")
    if adjacency is None:
        raise ValueError(
            "query_strategy='degree' needs graphs: pass adjacency=(A_source, A_target) "
            "to fit."
        )
    degree = np.asarray(adjacency[0].sum(axis=1)).ravel()
    return degree[context["candidates"]].astype(np.float64)


STRATEGIES = {
    "random": random_scores,
    "entropy": entropy_scores,
    "margin": margin_scores,
    "degree": degree_scores,
}
