"""OT alignment backbones wrapped by :class:`skalign.ActiveOTQuerier`.

A backbone turns node (or sample) attributes, optional graphs and the known
anchor pairs into an entropic transport plan. The protocol is small, so users
can pass their own object:

``solve(X_source, X_target, anchors, *, adjacency=None, epsilon, beta,
init=None) -> AlignmentSolution``

where ``anchors`` is an int array of shape (n_anchors, 2) of
``(source row, target row)`` pairs. The returned plan must be the converged
entropic plan ``exp((f + g - Q) / epsilon)`` of a cost ``Q`` that contains the
supervised cost ``C * (1 - beta * H)`` linearly with weight ``cost_weight``
(``dQ/dH_ij = -beta * cost_weight * C_ij``): the querier differentiates
through this last solve with the adjoint system to score queries.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from ..ot import sinkhorn

__all__ = [
    "AlignmentSolution",
    "EmbeddingAlignmentBackbone",
    "NetworkAlignmentBackbone",
    "supervision_matrix",
]


@dataclass(frozen=True)
class AlignmentSolution:
    """Output of a backbone solve.

    Attributes
    ----------
    plan : ndarray of shape (n_source, n_target)
        Converged entropic plan of the last solve.
    cost : ndarray of shape (n_source, n_target)
        Unsupervised cost ``C`` whose supervised version ``C * (1 - beta H)``
        enters the last solve with weight ``cost_weight``.
    cost_weight : float
        Weight of the supervised cost in the last solve.
    epsilon : float
        Entropic regularisation of the last solve.
    f, g : ndarrays
        Its dual potentials (warm start of the next solve).
    reg_m : None, float or pair
        Marginal relaxation of the last solve (``None`` = balanced).
    scores : ndarray of shape (n_source, n_target)
        Alignment scores reported to users (higher = more likely partners).
    n_iter : int
        Sinkhorn iterations over all stages.
    converged : bool
        Whether the last solve reached its tolerance.
    """

    plan: Any
    cost: Any
    cost_weight: float
    epsilon: float
    f: Any
    g: Any
    reg_m: Any
    scores: Any
    n_iter: int
    converged: bool


def supervision_matrix(anchors, shape):
    """Dense 0/1 matrix ``H`` with ``H[i, j] = 1`` for each anchor pair."""
    H = np.zeros(shape)
    if len(anchors):
        H[anchors[:, 0], anchors[:, 1]] = 1.0
    return H


def _marginal_kinds(reg_m):
    if reg_m is None:
        return ("balanced", "balanced")
    pair = reg_m if isinstance(reg_m, tuple | list) else (reg_m, reg_m)
    return tuple("balanced" if r is None or np.isinf(r) else "kl" for r in pair)


def _row_normalize(A):
    degree = np.asarray(A.sum(axis=1)).ravel()
    return (sp.diags(1.0 / np.where(degree > 0, degree, 1.0)) @ A).tocsr()


def _unit_rows(R):
    norms = np.linalg.norm(R, axis=1, keepdims=True)
    # A node no anchor can reach gets the uninformative direction (all ones).
    fallback = np.full((1, R.shape[1]), 1.0 / np.sqrt(max(R.shape[1], 1)))
    return np.where(norms > 0, R / np.where(norms > 0, norms, 1.0), fallback)


class NetworkAlignmentBackbone(BaseEstimator):
    """PARROT-style alignment of two attributed graphs by entropic OT.

    The cost is rebuilt from the anchors at every solve:

    1. random walk with restart on each graph from the anchor nodes gives
       every node a position vector (one entry per anchor); the cross cost is
       ``exp(-cos(r_i, r_j))``, plus ``attribute_weight * exp(-cos(x_i, x_j))``
       when the nodes carry attributes;
    2. the cost is propagated on the product graph (a discounted Bellman
       recursion, anchors absorbing at cost 0), so a pair is cheap when its
       neighbours are cheap pairs;
    3. a constrained proximal-point loop re-solves entropic OT with the
       supervised cost ``C * (1 - beta H)``, a smoothness term
       ``-smooth_weight * log(W_1 T W_2^T)`` and the fused-GW neighbourhood
       term ``-gw_weight * n * W_1 T W_2^T`` (``W`` = random-walk matrices), and
       a proximal term that keeps each plan close to the previous one.

    Parameters
    ----------
    restart : float, default=0.15
        Restart probability of the random walks.
    discount : float, default=0.7
        Discount of the product-graph recursion.
    attribute_weight : float, default=1.0
        Weight of the attribute cost (ignored for constant attributes).
    smooth_weight, proximal_weight : float, default=5e-3, 5e-4
        Weights of the smoothness and proximal terms; the entropic
        regularisation of each solve is ``epsilon`` (the querier's).
    gw_weight : float, default=0.2
        Weight of the fused-GW neighbourhood term.
    n_outer : int, default=10
        Proximal-point iterations.
    n_inner : int, default=20
        Sinkhorn iterations per proximal step (the last step runs to ``tol``).
    reg_m : None, float or pair, default=None
        Marginal relaxation of the solves (``None`` = balanced; ``(None, rho)``
        relaxes the target side).
    tol, max_iter : float, int
        Tolerance and iteration cap of the final Sinkhorn solve.
    """

    def __init__(
        self,
        *,
        restart=0.15,
        discount=0.7,
        attribute_weight=1.0,
        smooth_weight=5e-3,
        proximal_weight=5e-4,
        gw_weight=0.2,
        n_outer=10,
        n_inner=20,
        reg_m=None,
        tol=2e-3,
        max_iter=1000,
    ):
        self.restart = restart
        self.discount = discount
        self.attribute_weight = attribute_weight
        self.smooth_weight = smooth_weight
        self.proximal_weight = proximal_weight
        self.gw_weight = gw_weight
        self.n_outer = n_outer
        self.n_inner = n_inner
        self.reg_m = reg_m
        self.tol = tol
        self.max_iter = max_iter

    def _rwr(self, W, seeds, n_iter=100):
        """Random walk with restart: ``R = (1 - c) W R + c E`` (one column per seed)."""
        E = np.zeros((W.shape[0], len(seeds)))
        E[seeds, np.arange(len(seeds))] = 1.0
        R = np.zeros_like(E)
        for _ in range(n_iter):
            updated = (1.0 - self.restart) * (W @ R) + self.restart * E
            if np.max(np.abs(updated - R), initial=0.0) < 1e-6:
                return updated
            R = updated
        return R

    def build_cost(self, X_source, X_target, anchors, adjacency):
        """Cross-graph cost of every (source node, target node) pair."""
        W1, W2 = (_row_normalize(sp.csr_matrix(A, dtype=np.float64)) for A in adjacency)
        if len(anchors) == 0:
            cost = np.ones((W1.shape[0], W2.shape[0]))
        else:
            R1 = _unit_rows(self._rwr(W1, anchors[:, 0]))
            R2 = _unit_rows(self._rwr(W2, anchors[:, 1]))
            cost = np.exp(-(R1 @ R2.T))
        if (
            self.attribute_weight
            and np.ptp(np.vstack([X_source, X_target]), axis=0).any()
        ):
            cost = cost + self.attribute_weight * np.exp(
                -(_unit_rows(X_source) @ _unit_rows(X_target).T)
            )
        return self._propagate(cost, W1, W2, anchors)

    def _propagate(self, node_cost, W1, W2, anchors, n_iter=50):
        """Discounted product-graph recursion; anchor pairs absorb at cost 0."""
        rows, cols = (anchors[:, 0], anchors[:, 1]) if len(anchors) else ([], [])
        c, gamma = self.restart, self.discount
        cost = np.zeros_like(node_cost)
        for _ in range(n_iter):
            updated = (1 + gamma * c) * node_cost + (1 - c) * gamma * (
                W1 @ (W2 @ cost.T).T
            )
            updated[rows, cols] = 0.0
            done = np.max(np.abs(updated - cost)) < 1e-2
            cost = updated
            if done:
                break
        cost = (1 - gamma) * cost
        cost[rows, cols] = 0.0
        return cost

    def solve(
        self, X_source, X_target, anchors, *, adjacency=None, epsilon, beta, init=None
    ):
        """Build the cost from the anchors and run the proximal-point OT loop."""
        if adjacency is None:
            raise ValueError(
                "NetworkAlignmentBackbone needs graphs: pass adjacency=(A_source, A_target)."
            )
        cost = self.build_cost(X_source, X_target, anchors, adjacency)
        n, m = cost.shape
        supervised = cost * (1.0 - beta * supervision_matrix(anchors, cost.shape))
        W1, W2 = (_row_normalize(sp.csr_matrix(A, dtype=np.float64)) for A in adjacency)
        plan = np.full((n, m), 1.0 / (n * m))
        total_eps = epsilon + self.smooth_weight + self.proximal_weight
        tiny = np.finfo(np.float64).tiny
        n_iter = 0
        for step in range(self.n_outer):
            neighbours = W1 @ (W2 @ plan.T).T
            extra = -self.smooth_weight * np.log(np.maximum(neighbours, tiny))
            extra -= self.gw_weight * n * neighbours
            extra -= self.proximal_weight * np.log(np.maximum(plan, tiny))
            last = step == self.n_outer - 1
            result = sinkhorn(
                None,
                None,
                supervised + extra,
                total_eps,
                reg_m=self.reg_m,
                max_iter=self.max_iter if last else self.n_inner,
                tol=self.tol,
                init=init,
                check_every=10,
                warn=last,
            )
            init = (result.f, result.g)
            n_iter += result.n_iter
            plan = result.plan
        return AlignmentSolution(
            plan=plan,
            cost=cost,
            cost_weight=1.0,
            epsilon=total_eps,
            f=result.f,
            g=result.g,
            reg_m=self.reg_m,
            scores=plan,
            n_iter=n_iter,
            converged=result.converged,
        )


class EmbeddingAlignmentBackbone(BaseEstimator):
    """Cross-domain alignment of two embedding sets by entropic (fused) OT.

    Parameters
    ----------
    metric : {"cosine", "sqeuclidean"}, default="cosine"
        Cross cost; squared Euclidean costs are divided by their median.
    method : {"wasserstein", "fused_gw"}, default="wasserstein"
        ``"fused_gw"`` adds the Gromov-Wasserstein term between the
        intra-domain cost matrices, linearised at the current plan
        (``n_outer`` Sinkhorn solves), with weight ``alpha``.
    alpha : float in [0, 1), default=0.5
        Weight of the GW term for ``method="fused_gw"``.
    n_outer : int, default=10
        Linearisation steps for ``"fused_gw"``.
    reg_m : None, float or pair, default=None
        Marginal relaxation (``None`` = balanced).
    tol, max_iter : float, int
        Sinkhorn tolerance and iteration cap.
    """

    def __init__(
        self,
        *,
        metric="cosine",
        method="wasserstein",
        alpha=0.5,
        n_outer=10,
        reg_m=None,
        tol=1e-6,
        max_iter=2000,
    ):
        self.metric = metric
        self.method = method
        self.alpha = alpha
        self.n_outer = n_outer
        self.reg_m = reg_m
        self.tol = tol
        self.max_iter = max_iter

    def _cost(self, X, Y):
        if self.metric == "cosine":
            return 1.0 - _unit_rows(X) @ _unit_rows(Y).T
        if self.metric == "sqeuclidean":
            sq = np.sum(X**2, 1)[:, None] + np.sum(Y**2, 1)[None, :] - 2 * X @ Y.T
            sq = np.maximum(sq, 0.0)
            scale = np.median(sq)
            return sq / (scale if scale > 0 else 1.0)
        raise ValueError(
            f"metric must be 'cosine' or 'sqeuclidean', got {self.metric!r}."
        )

    def solve(
        self, X_source, X_target, anchors, *, adjacency=None, epsilon, beta, init=None
    ):
        """Solve entropic OT (or linearised fused GW) with the supervised cost."""
        if self.method not in ("wasserstein", "fused_gw"):
            raise ValueError(
                f"method must be 'wasserstein' or 'fused_gw', got {self.method!r}."
            )
        cost = self._cost(X_source, X_target)
        supervised = cost * (1.0 - beta * supervision_matrix(anchors, cost.shape))
        weight, n_steps = 1.0, 1
        if self.method == "fused_gw":
            if not 0 <= self.alpha < 1:
                raise ValueError(f"alpha must be in [0, 1), got {self.alpha!r}.")
            weight, n_steps = 1.0 - self.alpha, self.n_outer
            D1, D2 = self._cost(X_source, X_source), self._cost(X_target, X_target)
        plan = np.full(cost.shape, 1.0 / cost.size)
        n_iter = 0
        for step in range(n_steps):
            total = weight * supervised
            if self.method == "fused_gw":
                # Gradient of the square-loss GW term at the current plan (up to
                # terms constant along rows/columns of a balanced plan).
                total = total - self.alpha * 2.0 * (D1 @ plan @ D2.T) * cost.size
            result = sinkhorn(
                None,
                None,
                total,
                epsilon,
                reg_m=self.reg_m,
                max_iter=self.max_iter,
                tol=self.tol,
                init=init,
                warn=step == n_steps - 1,
            )
            init = (result.f, result.g)
            n_iter += result.n_iter
            plan = result.plan
        return AlignmentSolution(
            plan=plan,
            cost=cost,
            cost_weight=weight,
            epsilon=epsilon,
            f=result.f,
            g=result.g,
            reg_m=self.reg_m,
            scores=plan,
            n_iter=n_iter,
            converged=result.converged,
        )


def marginal_kinds(solution):
    """Marginal kinds of a solution, as ``implicit_cost_gradient`` expects them."""
    return _marginal_kinds(solution.reg_m)
