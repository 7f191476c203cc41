r"""Adaptive optimal transport: inequality marginals, mass chosen by the cost.

Adaptive OT (AOT, arXiv:2503.05087) relaxes both marginal constraints of
optimal transport to inequalities,

.. math::
    \min_{T \ge 0,\ T1 \le a,\ T^\top 1 \le b} \langle C, T\rangle
    + \varepsilon \sum_{ij} T_{ij} (\log T_{ij} - 1),

so that with a mixed-sign cost only pairs with a negative (net) cost are worth
transporting and the total mass is decided by the problem. Its dual has the
Kantorovich potentials of OT with the extra constraints ``f <= 0``, ``g <= 0``.

The entropic problem is solved by the shared log-domain Sinkhorn engine with
its inequality proximal step; ``epsilon=0`` solves the exact linear program
with HiGHS (small problems only).
"""

import numpy as np
import scipy.sparse as sp
from array_api_compat import device
from scipy.optimize import linprog

from ._backend import (
    check_cost,
    check_epsilon,
    check_weights,
    get_namespace,
    is_torch_namespace,
    to_numpy,
)
from ._result import OTResult
from ._sinkhorn import _solve

__all__ = ["adaptive_ot"]

# A dense LP over n * m variables; HiGHS needs seconds and gigabytes beyond this.
_MAX_EXACT_SIZE = 250_000

_INEQUALITY = (("inequality", None), ("inequality", None))


def adaptive_ot(
    a,
    b,
    cost,
    epsilon,
    *,
    max_iter=1000,
    tol=1e-6,
    init=None,
    epsilon_init=None,
    epsilon_decay=0.5,
    check_every=10,
    warn=True,
):
    r"""Adaptive optimal transport with inequality marginal constraints.

    Solves

    .. math::
        \min_{T \ge 0} \langle C, T\rangle + \varepsilon \sum_{ij} T_{ij}
        (\log T_{ij} - 1) \quad \text{s.t.} \quad T1 \le a,\ T^\top 1 \le b.

    The cost may take both signs: pairs with negative cost attract mass, pairs
    with positive cost repel it, and rows or columns whose costs are all
    positive (outliers) end up with (almost) no mass. The dual potentials
    satisfy ``f <= 0`` and ``g <= 0``; a row with ``f[i] < 0`` is saturated
    (``plan[i].sum() == a[i]``).

    Parameters
    ----------
    a : array of shape (n,) or None
        Upper bounds on the row sums (uniform ``1 / n`` when ``None``).
    b : array of shape (m,) or None
        Upper bounds on the column sums (uniform ``1 / m`` when ``None``).
    cost : array of shape (n, m)
        Ground cost, of any sign.
    epsilon : float >= 0
        Entropic regularisation in the units of ``cost``. ``0`` solves the
        exact linear program with HiGHS (``scipy.optimize.linprog``), which
        is only allowed for ``n * m <= 250000``.
    max_iter : int, default=1000
        Maximum scaling iterations per epsilon stage (entropic case).
    tol : float, default=1e-6
        Tolerance on the L1 fixed-point residual of the row scaling.
    init : pair of arrays or None
        Warm start ``(f, g)``, e.g. the potentials of a previous result.
    epsilon_init : float or None
        If given, anneal from ``epsilon_init`` down to ``epsilon``
        geometrically; recommended for small ``epsilon``.
    epsilon_decay : float, default=0.5
        Factor between annealing stages.
    check_every : int, default=10
        Iterations between convergence checks.
    warn : bool, default=True
        Emit a :class:`~sklearn.exceptions.ConvergenceWarning` when the
        tolerance is not reached.

    Returns
    -------
    OTResult
        ``plan`` (with ``plan = exp((f[:, None] + g[None, :] - cost) / epsilon)``
        in the entropic case), potentials ``f, g <= 0``, transported ``mass``
        and ``transport_cost = <cost, plan>``; ``marginals`` is
        ``("inequality", "inequality")``. NumPy in gives NumPy out, Torch in
        gives Torch out. With ``epsilon > 0`` and Torch tensors that require
        grad, the plan is differentiable w.r.t. ``cost``, ``a`` and ``b``
        (implicit differentiation, no unrolling). The exact solver
        (``epsilon=0``) computes with HiGHS on the CPU, converts back, and
        returns tensors detached from the graph.

    See Also
    --------
    skalign.ot.sinkhorn : balanced and KL-relaxed entropic OT.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import adaptive_ot
    >>> cost = np.array([[-1.0, 0.5], [0.5, 0.5]])
    >>> exact = adaptive_ot(None, None, cost, epsilon=0)
    >>> exact.plan
    array([[0.5, 0. ],
           [0. , 0. ]])
    >>> exact.mass
    0.5
    >>> entropic = adaptive_ot(None, None, cost, epsilon=0.01)
    >>> np.round(entropic.plan, 3)
    array([[0.5, 0. ],
           [0. , 0. ]])
    """
    epsilon = check_epsilon(epsilon, allow_zero=True)
    a, b, cost = (_from_sequence(x) for x in (a, b, cost))
    if epsilon > 0:
        return _solve(
            a,
            b,
            cost,
            epsilon,
            _INEQUALITY,
            max_iter=max_iter,
            tol=tol,
            init=init,
            epsilon_init=epsilon_init,
            epsilon_decay=epsilon_decay,
            check_every=check_every,
            warn=warn,
            solver_name="adaptive_ot",
        )
    return _exact_adaptive_ot(a, b, cost)


def _from_sequence(x):
    """Lists and tuples become NumPy arrays; arrays and ``None`` pass through."""
    return np.asarray(x) if isinstance(x, list | tuple) else x


def _exact_adaptive_ot(a, b, cost):
    """Exact AOT as the linear program ``min <C, T>`` s.t. ``T1 <= a, T^T 1 <= b``."""
    xp = get_namespace(cost, a, b)
    # The LP solution is piecewise constant in the cost: nothing to differentiate.
    a, b, cost = (x.detach() if hasattr(x, "detach") else x for x in (a, b, cost))
    cost = check_cost(xp, cost)
    n, m = cost.shape
    if n * m > _MAX_EXACT_SIZE:
        raise ValueError(
            f"epsilon=0 solves a dense linear program with n * m = {n * m} "
            f"variables, more than the supported {_MAX_EXACT_SIZE}; use epsilon > 0 "
            "(with epsilon_init to anneal) for problems of this size."
        )
    a = check_weights(xp, a, n, name="a", like=cost)
    b = check_weights(xp, b, m, name="b", like=cost)
    cost_np = to_numpy(cost).astype(np.float64)
    a_np = to_numpy(a).astype(np.float64)
    b_np = to_numpy(b).astype(np.float64)

    plan, f, g, n_iter = _aot_linprog(a_np, b_np, cost_np)
    violation = float(
        np.maximum(plan.sum(1) - a_np, 0).sum()
        + np.maximum(plan.sum(0) - b_np, 0).sum()
    )
    if is_torch_namespace(xp):
        plan, f, g = (
            xp.asarray(v, dtype=cost.dtype, device=device(cost)) for v in (plan, f, g)
        )
    return OTResult(
        plan=plan,
        f=f,
        g=g,
        n_iter=n_iter,
        converged=True,
        marginal_error=violation,
        epsilon=0.0,
        transport_cost=float(np.sum(cost_np * to_numpy(plan))),
        mass=float(np.sum(to_numpy(plan))),
        marginals=("inequality", "inequality"),
    )


def _aot_linprog(a, b, cost):
    """Solve the AOT linear program with HiGHS; return plan, f, g, iterations.

    The duals of ``T1 <= a`` and ``T^T 1 <= b`` in a minimisation are
    ``<= 0`` (HiGHS reports them as ``d objective / d bound``), which is the
    sign convention of the AOT potentials; they satisfy ``f_i + g_j <= C_ij``.
    """
    n, m = cost.shape
    # Variable T_ij sits at index i * m + j (row-major ravel).
    rows = sp.kron(sp.eye(n, format="csr"), np.ones((1, m)), format="csr")
    cols = sp.kron(np.ones((1, n)), sp.eye(m, format="csr"), format="csr")
    res = linprog(
        cost.ravel(),
        A_ub=sp.vstack([rows, cols], format="csr"),
        b_ub=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(
            f"adaptive_ot (epsilon=0): HiGHS failed with status {res.status}: "
            f"{res.message}"
        )
    plan = np.maximum(res.x.reshape(n, m), 0.0)
    duals = np.minimum(res.ineqlin.marginals, 0.0)
    return plan, duals[:n], duals[n:], int(res.nit)
