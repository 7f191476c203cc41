"""Utilities ``f(T)`` of a transport plan and their gradients ``dF/dT``.

A utility encodes the quality of a whole alignment in one number (higher is
better); AvAtar ranks queries by how much supervision would raise it. Each
utility works on dense NumPy plans and on ``scipy.sparse`` (top-k) plans; on a
sparse plan the gradient is returned on the plan's pattern only, which is all
the adjoint system reads.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["UTILITIES", "consistency_utility", "entropy_utility", "l2_utility"]


def _pattern(plan):
    rows = np.repeat(np.arange(plan.shape[0]), np.diff(plan.indptr))
    return rows, plan.indices


def _on_pattern(plan, data):
    return sp.csr_matrix(
        (data, plan.indices.copy(), plan.indptr.copy()), shape=plan.shape
    )


def l2_utility(plan, context=None):
    r"""``f(T) = ||T||_F^2``: large when the plan is close to a permutation.

    Returns ``(value, gradient)`` with gradient ``2 T``.

    Examples
    --------
    >>> value, grad = l2_utility(np.array([[0.5, 0.0], [0.0, 0.5]]))
    >>> value, float(grad[0, 0])
    (0.5, 1.0)
    """
    if sp.issparse(plan):
        plan = sp.csr_matrix(plan)
        return float(np.sum(plan.data**2)), _on_pattern(plan, 2.0 * plan.data)
    return float(np.sum(plan**2)), 2.0 * plan


def entropy_utility(plan, context=None):
    r"""``f(T) = sum_ij T_ij log T_ij`` (negative entropy): large for a sharp plan.

    Returns ``(value, gradient)`` with gradient ``log T + 1``; zero entries
    (which carry no mass) contribute nothing and get gradient ``0``.

    Examples
    --------
    >>> value, grad = entropy_utility(np.array([[0.5, 0.0], [0.0, 0.5]]))
    >>> round(value, 4), round(float(grad[0, 0]), 4), float(grad[0, 1])
    (-0.6931, 0.3069, 0.0)
    """
    if sp.issparse(plan):
        plan = sp.csr_matrix(plan)
        data = plan.data
        logs = np.log(np.where(data > 0, data, 1.0))
        grad = np.where(data > 0, logs + 1.0, 0.0)
        return float(np.sum(data * logs)), _on_pattern(plan, grad)
    positive = plan > 0
    logs = np.log(np.where(positive, plan, 1.0))
    return float(np.sum(plan * logs)), np.where(positive, logs + 1.0, 0.0)


def normalized_adjacency(adjacency):
    r"""``D^{-1/2} A D^{-1/2} = I - L_sym`` (isolated nodes get an empty row)."""
    A = sp.csr_matrix(adjacency, dtype=np.float64)
    degree = np.asarray(A.sum(axis=1)).ravel()
    scale = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    return (sp.diags(scale) @ A @ sp.diags(scale)).tocsr()


def consistency_utility(plan, context):
    r"""Neighbourhood consistency ``f(T) = <T, S_1 T S_2>``.

    ``S_k = I - L_k`` where ``L_k`` is the symmetric normalised graph Laplacian
    of graph ``k``: the utility counts (degree-normalised) edges ``(i, i')`` of
    the source graph mapped onto edges ``(j, j')`` of the target graph, as
    ``T_ij T_i'j'``. ``context["adjacency"]`` holds ``(A_source, A_target)``.
    Returns ``(value, gradient)``, gradient ``S_1 T S_2 + S_1^T T S_2^T``.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> value, grad = consistency_utility(np.eye(2) / 2, {"adjacency": (A, A)})
    >>> value
    0.5
    """
    if context is None or context.get("adjacency") is None:
        raise ValueError(
            "utility='consistency' needs graphs: pass adjacency=(A_source, A_target) to fit."
        )
    S1, S2 = (normalized_adjacency(A) for A in context["adjacency"])
    if sp.issparse(plan):
        plan = sp.csr_matrix(plan)
        rows, cols = _pattern(plan)
        left = (S1 @ plan).tocsr()
        # (S1 T S2)_ij on the pattern only: row i of S1 T times column j of S2.
        forward = np.asarray(
            left[rows].multiply(S2.T.tocsr()[cols]).sum(axis=1)
        ).ravel()
        left_t = (S1.T @ plan).tocsr()
        backward = np.asarray(
            left_t[rows].multiply(S2.tocsr()[cols]).sum(axis=1)
        ).ravel()
        value = float(np.sum(plan.data * forward))
        return value, _on_pattern(plan, forward + backward)
    forward = S1 @ (S2.T @ plan.T).T
    backward = S1.T @ (S2 @ plan.T).T
    return float(np.sum(plan * forward)), forward + backward


UTILITIES = {
    "l2": l2_utility,
    "entropy": entropy_utility,
    "consistency": consistency_utility,
}
