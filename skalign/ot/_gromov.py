r"""Gromov-Wasserstein: the square-loss GW objective and an entropic solver.

The square-loss GW objective of a plan ``T`` between metric-measure spaces
with distance matrices ``D_x`` (n x n) and ``D_y`` (m x m) is

.. math::
    \mathrm{GW}(T) = \sum_{ijkl} (D^x_{ik} - D^y_{jl})^2 T_{ij} T_{kl}.

Peyré, Cuturi and Solomon (ICML 2016, Prop. 1) expand the square so that it
costs three matrix products instead of an ``n^2 m^2`` tensor:

.. math::
    \mathrm{GW}(T) = p^\top (D^x \odot D^x) p + q^\top (D^y \odot D^y) q
    - 2 \langle D^x T D^{y\top}, T\rangle, \qquad p = T1,\ q = T^\top 1.

:func:`entropic_gromov_wasserstein` is the reference solver for small
problems (dense ``n x m`` plans, a few dense ``n x n`` matrices): a baseline
for the scalable aligners and an oracle for their tests.
"""

import math
import numbers
import warnings

from sklearn.exceptions import ConvergenceWarning

from ._backend import (
    as_float,
    check_epsilon,
    check_positive_int,
    check_weights,
    get_namespace,
)
from ._result import OTResult
from ._sinkhorn import sinkhorn

__all__ = ["entropic_gromov_wasserstein", "gw_loss"]


def _check_square(xp, D, name, like=None):
    D = as_float(xp, D, name=name, like=like)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty square 2-D array, got shape {tuple(D.shape)}."
        )
    if not bool(xp.all(xp.isfinite(D))):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf).")
    return D


def _check_plan(xp, plan, n, m, name, like):
    plan = as_float(xp, plan, name=name, like=like)
    if tuple(plan.shape) != (n, m):
        raise ValueError(
            f"{name} must have shape ({n}, {m}) to match D_x and D_y, "
            f"got {tuple(plan.shape)}."
        )
    if not bool(xp.all(xp.isfinite(plan))) or bool(xp.any(plan < 0)):
        raise ValueError(f"{name} must contain finite, non-negative values.")
    return plan


def _cross_term(D_x, D_y, plan):
    """``<D_x T D_y^T, T>``: the only part of GW that couples the two spaces."""
    return (D_x @ plan) @ D_y.T


def gw_loss(D_x, D_y, plan):
    r"""Square-loss Gromov-Wasserstein objective of a plan, without a 4-D tensor.

    .. math::
        \sum_{ijkl} (D^x_{ik} - D^y_{jl})^2 T_{ij} T_{kl}
        = p^\top (D^x)^{\odot 2} p + q^\top (D^y)^{\odot 2} q
        - 2 \langle D^x T D^{y\top}, T\rangle,

    with ``p, q`` the marginals of ``T`` itself, so the value is exact for
    any non-negative ``T`` (also one that misses the target marginals) and
    for non-symmetric ``D``. Cost ``O(n^2 m + n m^2)``, memory ``O(nm)``.
    With Torch tensors the result is differentiable w.r.t. all three inputs.
    Near a perfect isometry the three terms cancel, so expect round-off of
    order ``1e-16 * max(D)^2`` (the value can be tiny and negative).

    Parameters
    ----------
    D_x : array of shape (n, n)
        Distances (or any dissimilarities) in the source space.
    D_y : array of shape (m, m)
        Distances in the target space.
    plan : array of shape (n, m)
        Non-negative coupling.

    Returns
    -------
    scalar array
        The GW loss (a 0-d array in the namespace of the inputs; use
        ``float()`` for a Python number).

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import gw_loss
    >>> D = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> float(gw_loss(D, D, np.eye(2) / 2))
    0.0
    >>> float(gw_loss(D, D, np.full((2, 2), 0.25)))  # half the pairs mismatch
    0.5
    """
    xp = get_namespace(D_x, D_y, plan)
    D_x = _check_square(xp, D_x, "D_x")
    D_y = _check_square(xp, D_y, "D_y", like=D_x)
    plan = _check_plan(xp, plan, D_x.shape[0], D_y.shape[0], "plan", like=D_x)
    return _gw_loss(xp, D_x, D_y, plan)


def _gw_loss(xp, D_x, D_y, plan):
    p = xp.sum(plan, axis=1)
    q = xp.sum(plan, axis=0)
    own_x = xp.sum(((D_x * D_x) @ p) * p)
    own_y = xp.sum(((D_y * D_y) @ q) * q)
    return own_x + own_y - 2.0 * xp.sum(_cross_term(D_x, D_y, plan) * plan)


def _gw_gradient(D_x, D_y, const, plan):
    r"""Gradient of GW at ``plan`` on the transport polytope of ``(a, b)``.

    ``dGW/dT = L(D_x, D_y) (x) T + L(D_x^T, D_y^T) (x) T`` where
    ``L(D_x, D_y) (x) T = const - 2 D_x T D_y^T`` for a plan with marginals
    ``(a, b)`` (``const`` holds the two marginal terms for both orientations).
    For symmetric inputs this is ``2 (const - 2 D_x T D_y^T)``, POT's
    ``gwggrad``.
    """
    return const - 2.0 * (_cross_term(D_x, D_y, plan) + _cross_term(D_x.T, D_y.T, plan))


def entropic_gromov_wasserstein(
    D_x,
    D_y,
    a=None,
    b=None,
    *,
    epsilon,
    max_iter=100,
    tol=1e-7,
    init_plan=None,
    inner_max_iter=1000,
    inner_tol=1e-9,
    warn=True,
):
    r"""Entropic Gromov-Wasserstein by projected mirror descent (reference solver).

    Looks for a stationary point of

    .. math::
        \min_{T \in \Pi(a, b)} \mathrm{GW}(T) + \varepsilon \sum_{ij} T_{ij}
        (\log T_{ij} - 1)

    by the iteration of Peyré, Cuturi and Solomon (2016) (POT's
    ``solver="PGD"``): each step solves one balanced entropic OT problem
    whose cost is the gradient of GW at the current plan,
    ``dGW/dT = const - 2 (D_x T D_y^T + D_x^T T D_y)`` (``= 2 (const' - 2 D_x
    T D_y^T)`` for symmetric inputs), with :func:`skalign.ot.sinkhorn`
    warm-started from the previous step's potentials. GW is not convex:
    the result depends on ``init_plan``.

    Meant for small problems (it holds a few dense ``n x n``, ``m x m`` and
    ``n x m`` arrays); use the scalable aligners for more points.

    Parameters
    ----------
    D_x : array of shape (n, n)
        Distances in the source space (NumPy or Torch).
    D_y : array of shape (m, m)
        Distances in the target space.
    a : array of shape (n,) or None
        Source weights (uniform when ``None``).
    b : array of shape (m,) or None
        Target weights (uniform when ``None``).
    epsilon : float > 0
        Entropic regularisation, in the units of the GW gradient (squared
        distances); normalise ``D_x`` and ``D_y`` (e.g. by their maximum) so
        that one value fits several data sets.
    max_iter : int, default=100
        Maximum mirror-descent (outer) iterations.
    tol : float, default=1e-7
        Stop when ``sum |T_k - T_{k-1}|`` falls below ``tol``.
    init_plan : array of shape (n, m) or None
        Starting plan; ``None`` uses the independent coupling ``a b^T`` (as
        POT does).
    inner_max_iter : int, default=1000
        Maximum Sinkhorn iterations per outer step.
    inner_tol : float, default=1e-9
        Sinkhorn marginal tolerance per outer step.
    warn : bool, default=True
        Emit a :class:`~sklearn.exceptions.ConvergenceWarning` when the outer
        iteration, or the last Sinkhorn solve, did not converge.

    Returns
    -------
    OTResult
        ``plan``; ``f, g`` the potentials of the last Sinkhorn step (duals of
        the linearised problem); ``n_iter`` the outer iterations;
        ``converged`` whether the outer tolerance was met (and the last
        Sinkhorn solve converged); ``marginal_error`` of the last Sinkhorn
        solve; ``transport_cost`` holds the **GW loss** ``gw_loss(D_x, D_y,
        plan)`` of the final plan (not a linear cost); ``mass`` the plan's
        total. The plan is not differentiated (Torch inputs are detached):
        differentiate ``gw_loss(D_x, D_y, result.plan)`` instead (envelope
        theorem).

    See Also
    --------
    gw_loss : the objective.
    skalign.ot.sinkhorn : the inner solver.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import entropic_gromov_wasserstein
    >>> x = np.array([0.0, 1.0, 3.0]) / 3
    >>> D_x = np.abs(x[:, None] - x[None, :])
    >>> order = [2, 0, 1]
    >>> D_y = D_x[np.ix_(order, order)]  # the same points, listed in another order
    >>> result = entropic_gromov_wasserstein(D_x, D_y, epsilon=0.2)
    >>> result.plan.argmax(axis=1)  # row i is matched to the column holding x_i
    array([1, 2, 0])
    >>> result.converged
    True
    """
    xp = get_namespace(D_x, D_y, a, b, init_plan)
    D_x, D_y, init_plan = (
        x.detach() if hasattr(x, "detach") else x for x in (D_x, D_y, init_plan)
    )
    D_x = _check_square(xp, D_x, "D_x")
    D_y = _check_square(xp, D_y, "D_y", like=D_x)
    n, m = D_x.shape[0], D_y.shape[0]
    a = check_weights(xp, a, n, name="a", like=D_x)
    b = check_weights(xp, b, m, name="b", like=D_x)
    epsilon = check_epsilon(epsilon)
    max_iter = check_positive_int(max_iter, name="max_iter")
    inner_max_iter = check_positive_int(inner_max_iter, name="inner_max_iter")
    for name, value in (("tol", tol), ("inner_tol", inner_tol)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if init_plan is None:
        plan = a[:, None] * b[None, :]
    else:
        plan = _check_plan(xp, init_plan, n, m, "init_plan", like=D_x)

    # Marginal terms of both orientations of the GW gradient (fixed: a, b).
    sq_x, sq_y = D_x * D_x, D_y * D_y
    const = ((sq_x + sq_x.T) @ a)[:, None] + ((sq_y + sq_y.T) @ b)[None, :]
    potentials = None
    change = math.inf
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        inner = sinkhorn(
            a,
            b,
            _gw_gradient(D_x, D_y, const, plan),
            epsilon,
            max_iter=inner_max_iter,
            tol=inner_tol,
            init=potentials,
            warn=False,
        )
        potentials = (inner.f, inner.g)
        change = float(xp.sum(xp.abs(inner.plan - plan)))
        plan = inner.plan
        if change <= tol:
            break

    converged = bool(change <= tol and inner.converged)
    if warn and not converged:
        what = (
            f"after {max_iter} iterations the plan still moved by {change:.2e} "
            f"(> tol={tol:.1e})"
            if change > tol
            else f"the last Sinkhorn step stopped at marginal error "
            f"{inner.marginal_error:.2e} (> inner_tol={inner_tol:.1e})"
        )
        warnings.warn(
            f"entropic_gromov_wasserstein did not converge: {what} at "
            f"epsilon={epsilon:.3g}. Increase max_iter / inner_max_iter or epsilon.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return OTResult(
        plan=plan,
        f=inner.f,
        g=inner.g,
        n_iter=n_iter,
        converged=converged,
        marginal_error=inner.marginal_error,
        epsilon=epsilon,
        transport_cost=float(_gw_loss(xp, D_x, D_y, plan)),
        mass=float(xp.sum(plan)),
        marginals=("balanced", "balanced"),
    )
