"""Ranking metrics for alignment: MRR and Hits@k, with ties at their expected rank.

For each query row the true partner's score is compared with every candidate
score. Exact ties are common in graph alignment (structurally identical nodes
get identical plan columns), and breaking them by index order would reward
an uninformative (flat) score matrix with rank 1. A tie is therefore counted
at its expectation under uniformly random tie-breaking: the rank of the
true partner is ``1 + n_greater + n_tied / 2`` and its Hits@k is the
probability that it lands in the first ``k`` positions.
"""

import numbers

import numpy as np

__all__ = [
    "hits_at_k",
    "hits_at_k_scorer",
    "mean_reciprocal_rank",
    "mrr_scorer",
    "partner_ranks",
]

# Elements of one comparison block: bounds the memory of a chunk (32 MiB in float64).
_BLOCK_ELEMENTS = 1 << 22


def _check_inputs(y_true, y_score):
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be a 1-D array, got shape {y_true.shape}.")
    if y_true.size and not np.all(y_true == np.round(y_true)):
        raise ValueError("y_true must hold integer partner positions (-1 = unknown).")
    y_true = y_true.astype(np.int64)
    if not hasattr(y_score, "shape") or len(y_score.shape) != 2:
        y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim != 2 or y_score.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_score must be a 2-D array with one row per entry of y_true "
            f"({y_true.shape[0]}), got shape {y_score.shape}."
        )
    n_candidates = y_score.shape[1]
    if np.any(y_true >= n_candidates):
        raise ValueError(
            f"y_true holds partner positions up to {int(y_true.max())} but y_score has "
            f"only {n_candidates} columns."
        )
    return y_true, y_score


def partner_ranks(y_true, y_score, *, chunk_size=None):
    """Tie-aware rank of each row's true partner among all candidates.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Column of the true partner of each row; rows with a negative value
        (unknown partner) are skipped.
    y_score : array-like of shape (n_rows, n_candidates)
        Alignment scores, higher is better. Read one chunk of rows at a time.
    chunk_size : int or None
        Rows per chunk (default: about 4 million compared entries per chunk).

    Returns
    -------
    n_greater : ndarray of shape (n_labelled,)
        Candidates scored strictly above the true partner.
    n_tied : ndarray of shape (n_labelled,)
        Other candidates scored exactly as the true partner.

    Examples
    --------
    >>> partner_ranks([0, 1], [[0.5, 0.5, 0.1], [0.9, 0.2, 0.3]])
    (array([0, 2]), array([1, 0]))
    """
    y_true, y_score = _check_inputs(y_true, y_score)
    labelled = np.flatnonzero(y_true >= 0)
    n_candidates = max(y_score.shape[1], 1)
    if chunk_size is None:
        chunk_size = max(1, _BLOCK_ELEMENTS // n_candidates)
    elif not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    greater = np.empty(labelled.size, dtype=np.int64)
    tied = np.empty(labelled.size, dtype=np.int64)
    for start in range(0, labelled.size, chunk_size):
        rows = labelled[start : start + chunk_size]
        block = np.asarray(y_score[rows], dtype=np.float64)
        if not np.all(np.isfinite(block)):
            raise ValueError("y_score must contain only finite values (no NaN or inf).")
        true = block[np.arange(rows.size), y_true[rows]][:, None]
        greater[start : start + rows.size] = np.sum(block > true, axis=1)
        tied[start : start + rows.size] = np.sum(block == true, axis=1) - 1
    return greater, tied


def mean_reciprocal_rank(y_true, y_score, *, sample_weight=None, chunk_size=None):
    """Mean reciprocal rank of the true partners, ties at their expected rank.

    The rank of a partner tied with ``t`` other candidates below ``g`` strictly
    better ones is ``1 + g + t / 2`` (its expectation under random
    tie-breaking), so a constant score matrix gets ``2 / (n_candidates + 1)``.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Column of the true partner of each row; negative = unknown (skipped).
    y_score : array-like of shape (n_rows, n_candidates)
        Alignment scores, higher is better.
    sample_weight : array-like of shape (n_rows,) or None
        Weight of each row in the mean (rows with an unknown partner ignored).
    chunk_size : int or None
        Rows compared at a time.

    Returns
    -------
    float
        Mean of ``1 / rank`` over the rows with a known partner.

    Examples
    --------
    >>> mean_reciprocal_rank([0, 1], [[0.9, 0.1], [0.5, 0.5]])
    0.8333333333333333
    """
    greater, tied = partner_ranks(y_true, y_score, chunk_size=chunk_size)
    if greater.size == 0:
        raise ValueError("y_true has no row with a known partner (all negative).")
    reciprocal = 1.0 / (1.0 + greater + tied / 2.0)
    if sample_weight is None:
        return float(np.mean(reciprocal))
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    labelled = np.asarray(y_true) >= 0
    if sample_weight.shape != labelled.shape:
        raise ValueError(
            f"sample_weight must have one entry per row of y_true "
            f"({labelled.size}), got shape {sample_weight.shape}."
        )
    return float(np.average(reciprocal, weights=sample_weight[labelled]))


def hits_at_k(y_true, y_score, *, k=1, chunk_size=None):
    """Fraction of rows whose true partner is among the ``k`` best candidates.

    A partner tied with ``t`` others behind ``g`` better candidates occupies a
    uniformly random position in ``g + 1 .. g + t + 1``; it counts with the
    probability ``clip(k - g, 0, t + 1) / (t + 1)`` that the position is
    ``<= k``.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Column of the true partner of each row; negative = unknown (skipped).
    y_score : array-like of shape (n_rows, n_candidates)
        Alignment scores, higher is better.
    k : int, default=1
        Cut-off.
    chunk_size : int or None
        Rows compared at a time.

    Returns
    -------
    float

    Examples
    --------
    >>> hits_at_k([0, 1], [[0.9, 0.1], [0.5, 0.5]], k=1)
    0.75
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    greater, tied = partner_ranks(y_true, y_score, chunk_size=chunk_size)
    if greater.size == 0:
        raise ValueError("y_true has no row with a known partner (all negative).")
    hit = np.clip(k - greater, 0, tied + 1) / (tied + 1.0)
    return float(np.mean(hit))


def _labelled_scores(estimator, X, y):
    """True partners and alignment scores of the rows of ``X``.

    ``estimator.decision_function(X)`` gives one row of scores over the target
    rows per row of ``X``; rows whose ``y`` is negative (unknown partner, or a
    target row) are skipped by the metrics.
    """
    return np.asarray(y), estimator.decision_function(X)


def mrr_scorer(estimator, X, y):
    """Scorer for ``GridSearchCV(scoring=mrr_scorer)`` on an alignment estimator.

    ``estimator.decision_function(X)`` must return one row of alignment
    scores over the target rows per row of ``X``; ``y`` holds each source
    row's true partner (negative = unknown or a target row: skipped).
    """
    y_true, scores = _labelled_scores(estimator, X, y)
    return mean_reciprocal_rank(y_true, scores)


def hits_at_k_scorer(k=1):
    """Return a scorer computing :func:`hits_at_k` at cut-off ``k``.

    Examples
    --------
    >>> scorer = hits_at_k_scorer(10)
    >>> scorer.__name__
    'hits_at_10_scorer'
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")

    def scorer(estimator, X, y):
        y_true, scores = _labelled_scores(estimator, X, y)
        return hits_at_k(y_true, scores, k=k)

    scorer.__name__ = f"hits_at_{k}_scorer"
    return scorer
