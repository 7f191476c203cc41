"""Frozen result objects returned by the solvers."""

from dataclasses import dataclass
from typing import Any

__all__ = ["OTResult"]


@dataclass(frozen=True)
class OTResult:
    """Solution of an (entropic) optimal-transport problem.

    The plan is ``plan[i, j] = exp((f[i] + g[j] - cost[i, j]) / epsilon)``
    for entropic solvers (counting reference measure), so the potentials and the
    plan always agree.

    Attributes
    ----------
    plan : array of shape (n, m)
        Transport plan, same namespace and device as the inputs.
    f, g : arrays of shape (n,) and (m,)
        Dual potentials of the source and target marginals.
    n_iter : int
        Scaling iterations performed (all epsilon stages together).
    converged : bool
        Whether the marginal error fell below the tolerance.
    marginal_error : float
        L1 fixed-point residual of the row update at the last check; for
        balanced marginals it is ``||plan.sum(1) - a||_1``.
    epsilon : float
        Entropic regularisation of the final stage (0 for exact solvers).
    transport_cost : float
        ``<cost, plan>``.
    mass : float
        Total transported mass ``plan.sum()``.
    marginals : tuple of str
        Kind of each marginal constraint: ``"balanced"``, ``"kl"`` or
        ``"inequality"``.
    """

    plan: Any
    f: Any
    g: Any
    n_iter: int
    converged: bool
    marginal_error: float
    epsilon: float
    transport_cost: float
    mass: float
    marginals: tuple = ("balanced", "balanced")
