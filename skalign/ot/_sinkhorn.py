"""Log-domain Sinkhorn with absorption: balanced, KL-relaxed and inequality marginals.

The solver works on the Gibbs kernel ``K = exp((f + g - C) / epsilon)`` built
from the current potentials, so most iterations are two matrix-vector
products; when the scalings ``u, v`` leave a safe range they are absorbed into
the potentials and the kernel is rebuilt by one exact log-sum-exp update
(Schmitzer 2019). This is as stable as a pure log-domain solver at small
epsilon and several times faster, because it calls ``exp`` on the full matrix
only at absorptions, not at every iteration.

One engine serves three kinds of marginal, chosen per side:

- ``"balanced"``: ``plan.sum(1) == a``;
- ``"kl"``: a KL penalty ``reg_m * KL(plan.sum(1) | a)`` (unbalanced OT);
- ``"inequality"``: ``plan.sum(1) <= a`` with a potential ``f <= 0`` (Adaptive
  OT, see :func:`skalign.ot.adaptive_ot`).
"""

import math
import numbers
import warnings

from sklearn.exceptions import ConvergenceWarning

from ._backend import (
    check_cost,
    check_epsilon,
    check_init,
    check_positive_int,
    check_weights,
    get_namespace,
    logsumexp,
)
from ._implicit import differentiable_solve, requires_implicit_grad
from ._result import OTResult

__all__ = ["epsilon_schedule", "sinkhorn"]

# Marginal error at which an intermediate annealing stage hands over.
_ANNEAL_TOL = 1e-3


def epsilon_schedule(epsilon, epsilon_init=None, decay=0.5):
    """Return the decreasing sequence of epsilons used for annealing.

    Parameters
    ----------
    epsilon : float
        Final (target) regularisation.
    epsilon_init : float or None
        First regularisation; ``None`` (or a value ``<= epsilon``) means no
        annealing.
    decay : float in (0, 1)
        Geometric factor between consecutive stages.

    Returns
    -------
    list of float
        ``[epsilon_init, epsilon_init * decay, ..., epsilon]``.

    Examples
    --------
    >>> epsilon_schedule(0.01, epsilon_init=0.1, decay=0.5)
    [0.1, 0.05, 0.025, 0.0125, 0.01]
    """
    epsilon = check_epsilon(epsilon)
    if epsilon_init is None:
        return [epsilon]
    epsilon_init = check_epsilon(epsilon_init, name="epsilon_init")
    if not (isinstance(decay, numbers.Real) and 0 < decay < 1):
        raise ValueError(f"decay must be a real number in (0, 1), got {decay!r}.")
    stages = []
    current = epsilon_init
    while current > epsilon * (1 + 1e-12):
        stages.append(current)
        current *= decay
    stages.append(epsilon)
    return stages


def _parse_reg_m(reg_m):
    """Map ``reg_m`` to a pair of marginal kinds ``(("balanced",) | ("kl", rho))``."""
    if reg_m is None:
        return ("balanced", None), ("balanced", None)
    pair = reg_m if isinstance(reg_m, tuple | list) else (reg_m, reg_m)
    if len(pair) != 2:
        raise ValueError(f"reg_m must be a number or a pair of numbers, got {reg_m!r}.")
    sides = []
    for value in pair:
        if value is None or (isinstance(value, numbers.Real) and math.isinf(value)):
            sides.append(("balanced", None))
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
            raise ValueError(
                f"reg_m must contain positive numbers (or inf/None), got {reg_m!r}."
            )
        sides.append(("kl", float(value)))
    return tuple(sides)


class _Side:
    """Proximal update of one marginal in scaling form: ``u = prox(K v)``."""

    def __init__(self, xp, weights, kind, rho, epsilon):
        self.xp = xp
        self.weights = weights
        self.kind = kind
        self.rho = rho
        tiny = xp.finfo(weights.dtype).tiny
        positive = weights > 0
        self.positive = positive
        self.log_weights = xp.where(
            positive, xp.log(xp.where(positive, weights, tiny)), -xp.inf
        )
        self.set_epsilon(epsilon)

    def set_epsilon(self, epsilon):
        self.epsilon = epsilon
        self.lam = 1.0 if self.kind != "kl" else self.rho / (self.rho + epsilon)

    def log_update(self, lse):
        """Exact potential from ``lse = LSE_j((g_j - C_ij) / eps)``."""
        xp = self.xp
        eps = self.epsilon
        pot = eps * (self.log_weights - lse)
        if self.kind == "kl":
            pot = self.lam * pot
        elif self.kind == "inequality":
            pot = xp.minimum(pot, xp.zeros_like(pot))
        # Rows with zero weight or no reachable column carry no mass.
        return xp.where(xp.isfinite(pot), pot, xp.full_like(pot, -xp.inf))

    def scaling(self, kv, pot_abs, log_cap):
        """Scaling ``u`` given ``kv = K v`` and the absorbed potential."""
        xp = self.xp
        tiny = xp.finfo(kv.dtype).tiny
        safe_kv = xp.where(kv > 0, kv, xp.full_like(kv, tiny))
        if self.kind == "balanced":
            # w / max(kv, w / cap) caps u at exp(log_cap) without overflowing;
            # a capped u is out of range, so the caller absorbs and rebuilds.
            floor = self.weights * math.exp(-log_cap)
            u = self.weights / xp.maximum(safe_kv, floor)
        elif self.kind == "kl":
            log_u = self.lam * (self.log_weights - xp.log(safe_kv))
            log_u = log_u - (1.0 - self.lam) * self.safe_pot(pot_abs) / self.epsilon
            u = xp.exp(xp.clip(log_u, -xp.inf, log_cap))
        else:
            cap = xp.exp(xp.clip(-self.safe_pot(pot_abs) / self.epsilon, 0.0, log_cap))
            # min(w / kv, cap) without overflowing w / tiny when a row underflows.
            u = self.weights / xp.maximum(safe_kv, self.weights / cap)
        return xp.where(self.positive, u, xp.zeros_like(u))

    def safe_pot(self, pot):
        xp = self.xp
        return xp.where(xp.isfinite(pot), pot, xp.zeros_like(pot))


class _ScalingSolver:
    """Absorption-stabilised scaling iterations for one epsilon stage."""

    def __init__(self, xp, cost, side_a, side_b, f, g, log_cap):
        self.xp = xp
        self.cost = cost
        self.side_a = side_a
        self.side_b = side_b
        self.f = f
        self.g = g
        self.log_cap = log_cap

    def _rebuild(self):
        """Exact log-domain update of f (and of g if needed); rebuild the kernel."""
        xp, eps = self.xp, self.side_a.epsilon
        scaled = (self.side_b.safe_pot(self.g)[None, :] - self.cost) / eps
        scaled = xp.where(xp.isfinite(self.g)[None, :], scaled, -xp.inf)
        self.f = self.side_a.log_update(logsumexp(xp, scaled, axis=1))
        kernel = xp.exp(scaled + self.side_a.safe_pot(self.f)[:, None] / eps)
        kernel = xp.where(xp.isfinite(self.f)[:, None], kernel, 0.0)
        col_mass = xp.sum(kernel, axis=0)
        if bool(xp.any((col_mass <= 0) & self.side_b.positive)):
            # Some columns underflowed entirely: update g exactly as well.
            scaled = (self.side_a.safe_pot(self.f)[:, None] - self.cost) / eps
            scaled = xp.where(xp.isfinite(self.f)[:, None], scaled, -xp.inf)
            self.g = self.side_b.log_update(logsumexp(xp, scaled, axis=0))
            kernel = xp.exp(scaled + self.side_b.safe_pot(self.g)[None, :] / eps)
            kernel = xp.where(xp.isfinite(self.g)[None, :], kernel, 0.0)
        self.kernel = kernel
        self.u = xp.ones_like(self.f)
        self.v = xp.ones_like(self.g)

    def _absorb(self):
        xp, eps = self.xp, self.side_a.epsilon
        with_log = self.f + eps * xp.log(xp.where(self.u > 0, self.u, 1.0))
        self.f = xp.where(self.u > 0, with_log, -xp.inf)
        with_log = self.g + eps * xp.log(xp.where(self.v > 0, self.v, 1.0))
        self.g = xp.where(self.v > 0, with_log, -xp.inf)
        self._rebuild()

    def _out_of_range(self, scaling):
        xp = self.xp
        positive = scaling[scaling > 0]
        if positive.shape[0] == 0:
            return False
        return bool(
            xp.max(xp.abs(xp.log(positive))) > self.log_cap
            or not bool(xp.all(xp.isfinite(scaling)))
        )

    def run(self, max_iter, tol, check_every):
        xp = self.xp
        self._rebuild()
        error = math.inf
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            ktu = self.kernel.T @ self.u
            self.v = self.side_b.scaling(ktu, self.g, 2 * self.log_cap)
            kv = self.kernel @ self.v
            u_new = self.side_a.scaling(kv, self.f, 2 * self.log_cap)
            if n_iter % check_every == 0 or n_iter == max_iter:
                # Row residual of the plan (u, v) before the row update.
                error = float(xp.sum(xp.abs((self.u - u_new) * kv)))
            self.u = u_new
            if error <= tol:
                break
            if self._out_of_range(self.u) or self._out_of_range(self.v):
                self._absorb()
        self._absorb_final()
        return n_iter, error

    def _absorb_final(self):
        xp, eps = self.xp, self.side_a.epsilon
        self.plan = self.kernel * self.u[:, None] * self.v[None, :]
        for name, scaling in (("f", self.u), ("g", self.v)):
            pot = getattr(self, name)
            safe = xp.where(scaling > 0, scaling, 1.0)
            setattr(
                self, name, xp.where(scaling > 0, pot + eps * xp.log(safe), -xp.inf)
            )
        for name, side in (("f", self.side_a), ("g", self.side_b)):
            if side.kind == "inequality":
                pot = getattr(self, name)
                setattr(self, name, xp.minimum(pot, xp.zeros_like(pot)))


def _solve(
    a,
    b,
    cost,
    epsilon,
    kinds,
    *,
    max_iter,
    tol,
    init,
    epsilon_init,
    epsilon_decay,
    check_every,
    warn,
    solver_name,
):
    """Shared driver of :func:`sinkhorn` and :func:`skalign.ot.adaptive_ot`."""
    if requires_implicit_grad(a, b, cost):
        # Differentiate the converged plan by the adjoint system, not the iterations.
        return differentiable_solve(
            _solve,
            a,
            b,
            cost,
            epsilon,
            kinds,
            max_iter=max_iter,
            tol=tol,
            init=init,
            epsilon_init=epsilon_init,
            epsilon_decay=epsilon_decay,
            check_every=check_every,
            warn=warn,
            solver_name=solver_name,
        )
    xp = get_namespace(cost, a, b)
    cost = check_cost(xp, cost)
    n, m = cost.shape
    a = check_weights(xp, a, n, name="a", like=cost)
    b = check_weights(xp, b, m, name="b", like=cost)
    max_iter = check_positive_int(max_iter, name="max_iter")
    check_every = check_positive_int(check_every, name="check_every")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}.")
    stages = epsilon_schedule(epsilon, epsilon_init, epsilon_decay)

    f, g = check_init(xp, init, n, m, like=cost)

    log_cap = 69.0 if cost.dtype == xp.float64 else 18.0
    side_a = _Side(xp, a, kinds[0][0], kinds[0][1], stages[0])
    side_b = _Side(xp, b, kinds[1][0], kinds[1][1], stages[0])
    total_iter = 0
    solver = None
    for stage, eps in enumerate(stages):
        side_a.set_epsilon(eps)
        side_b.set_epsilon(eps)
        solver = _ScalingSolver(xp, cost, side_a, side_b, f, g, log_cap)
        # Intermediate annealing stages only need to warm-start the next one.
        stage_tol = tol if stage == len(stages) - 1 else max(tol, _ANNEAL_TOL)
        n_iter, error = solver.run(max_iter, stage_tol, check_every)
        total_iter += n_iter
        f, g = solver.f, solver.g

    plan = solver.plan
    if not bool(xp.all(xp.isfinite(plan))):
        raise FloatingPointError(
            f"{solver_name} produced a non-finite plan; this is a bug, please report "
            "it with the inputs."
        )
    converged = bool(error <= tol)
    if warn and not converged:
        warnings.warn(
            f"{solver_name} did not converge in {max_iter} iterations "
            f"(marginal error {error:.2e} > tol={tol:.1e}) at epsilon={stages[-1]:.3g}. "
            "Increase max_iter, increase epsilon, or anneal with epsilon_init.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return OTResult(
        plan=plan,
        f=f,
        g=g,
        n_iter=total_iter,
        converged=converged,
        marginal_error=error,
        epsilon=stages[-1],
        transport_cost=float(xp.sum(cost * plan)),
        mass=float(xp.sum(plan)),
        marginals=(kinds[0][0], kinds[1][0]),
    )


def sinkhorn(
    a,
    b,
    cost,
    epsilon,
    *,
    reg_m=None,
    max_iter=1000,
    tol=1e-6,
    init=None,
    epsilon_init=None,
    epsilon_decay=0.5,
    check_every=10,
    warn=True,
):
    r"""Entropic optimal transport by log-domain Sinkhorn with absorption.

    Solves

    .. math::
        \min_{T \ge 0} \langle C, T\rangle + \varepsilon \sum_{ij} T_{ij}
        (\log T_{ij} - 1) + \rho_a \mathrm{KL}(T1 | a) + \rho_b
        \mathrm{KL}(T^\top 1 | b),

    where a side with ``reg_m`` infinite (the default) is a hard constraint.
    NumPy inputs give NumPy outputs, Torch tensors give Torch tensors on the
    same device. When ``cost`` (or ``a``, ``b``) requires grad, the returned
    plan is differentiable through the implicit function theorem: the backward
    pass solves the adjoint system by conjugate gradients
    (:func:`skalign.ot.implicit_cost_gradient`) instead of unrolling the
    iterations. The potentials ``f``, ``g`` are then detached and
    ``transport_cost`` is a float; differentiate ``(cost * plan).sum()``.

    Parameters
    ----------
    a : array of shape (n,) or None
        Source weights (uniform when ``None``).
    b : array of shape (m,) or None
        Target weights (uniform when ``None``).
    cost : array of shape (n, m)
        Ground cost.
    epsilon : float > 0
        Entropic regularisation, in the units of ``cost``.
    reg_m : None, float or pair of floats, default=None
        KL marginal relaxation ``rho``; ``None`` or ``inf`` means balanced, a
        pair relaxes each side separately (``(inf, rho)`` is semi-relaxed).
    max_iter : int, default=1000
        Maximum scaling iterations per epsilon stage.
    tol : float, default=1e-6
        Tolerance on the L1 marginal (fixed-point) error.
    init : pair of arrays or None
        Warm start ``(f, g)``, e.g. the potentials of a previous result.
    epsilon_init : float or None
        If given, anneal from ``epsilon_init`` down to ``epsilon``
        geometrically, warm-starting each stage.
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
        ``plan``, potentials ``f`` and ``g`` with
        ``plan = exp((f[:, None] + g[None, :] - cost) / epsilon)``, and
        convergence diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import sinkhorn
    >>> cost = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> result = sinkhorn(None, None, cost, epsilon=0.05)
    >>> np.round(result.plan, 3)
    array([[0.5, 0. ],
           [0. , 0.5]])
    >>> result.converged
    True
    """
    epsilon = check_epsilon(epsilon)
    kinds = _parse_reg_m(reg_m)
    return _solve(
        a,
        b,
        cost,
        epsilon,
        kinds,
        max_iter=max_iter,
        tol=tol,
        init=init,
        epsilon_init=epsilon_init,
        epsilon_decay=epsilon_decay,
        check_every=check_every,
        warn=warn,
        solver_name="sinkhorn",
    )
