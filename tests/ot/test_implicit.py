"""Implicit (adjoint) gradients of entropic plans against finite differences,
unrolled autograd and torch.autograd.gradcheck."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skalign.ot import (
    adaptive_ot,
    implicit_cost_gradient,
    implicit_gradients,
    sinkhorn,
)
from skalign.ot._sinkhorn import _solve

EPSILON = 0.3

# (kinds, whether the cost is mixed-sign, scale of a, scale of b): inequality sides
# get spare mass and mixed-sign costs so that some rows/columns are clamped and
# the others saturated, away from the kink where both hold.
CASES = {
    "balanced": ((("balanced", None), ("balanced", None)), False, 1.0, 1.0),
    "kl-balanced": ((("kl", 0.7), ("balanced", None)), False, 1.0, 1.0),
    "kl-kl": ((("kl", 0.7), ("kl", 1.5)), False, 1.0, 1.3),
    "inequality": ((("inequality", None), ("inequality", None)), True, 1.3, 1.5),
    "inequality-balanced": ((("inequality", None), ("balanced", None)), True, 1.3, 1.0),
    "inequality-kl": ((("inequality", None), ("kl", 0.5)), True, 1.3, 1.5),
}


def _problem(case, n=5, m=4, seed=0):
    kinds, mixed, scale_a, scale_b = CASES[case]
    rng = np.random.default_rng(seed)
    cost = rng.random((n, m))
    if mixed:
        cost -= 0.5
        cost[1] += 0.8  # an outlier row that stays below its bound
        cost[:, 2] += 0.6
    a = rng.random(n) + 0.5
    b = rng.random(m) + 0.5
    return kinds, cost, scale_a * a / a.sum(), scale_b * b / b.sum()


def _solve_tight(kinds, cost, a, b):
    return _solve(
        a,
        b,
        cost,
        EPSILON,
        kinds,
        max_iter=100_000,
        tol=1e-14,
        init=None,
        epsilon_init=None,
        epsilon_decay=0.5,
        check_every=1,
        warn=False,
        solver_name="test",
    )


def _loss(plan, weights):
    # Linear part plus the L2 utility of AvAtar, so G depends on the plan.
    return (weights * plan).sum() + (plan**2).sum()


def _grad_loss(plan, weights):
    return weights + 2 * plan


def _gradients(kinds, cost, a, b, weights, result):
    return implicit_gradients(
        result.plan,
        _grad_loss(result.plan, weights),
        EPSILON,
        a=a,
        b=b,
        marginals=tuple(kind for kind, _ in kinds),
        reg_m=tuple(rho for _, rho in kinds),
        f=result.f,
        g=result.g,
        tol=1e-13,
    )


def _central_difference(func, x, step=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        bump = np.zeros_like(x)
        bump[index] = step
        grad[index] = (func(x + bump) - func(x - bump)) / (2 * step)
    return grad


def _relative_error(got, expected):
    return np.linalg.norm(got - expected) / np.linalg.norm(expected)


@pytest.mark.parametrize("case", list(CASES))
def test_cost_gradient_matches_finite_differences(case):
    kinds, cost, a, b = _problem(case)
    weights = np.random.default_rng(1).standard_normal(cost.shape)
    result = _solve_tight(kinds, cost, a, b)
    grads = _gradients(kinds, cost, a, b, weights, result)

    def loss_of_cost(c):
        return _loss(_solve_tight(kinds, c, a, b).plan, weights)

    expected = _central_difference(loss_of_cost, cost)
    assert grads.converged
    assert _relative_error(grads.cost, expected) <= 1e-5


@pytest.mark.parametrize("case", [c for c in CASES if c != "balanced"])
def test_weight_gradients_match_finite_differences(case):
    # With one side relaxed (KL, or an inequality side with spare mass) every
    # weight direction is feasible and dL/da, dL/db are unique.
    kinds, cost, a, b = _problem(case)
    weights = np.random.default_rng(2).standard_normal(cost.shape)
    grads = _gradients(kinds, cost, a, b, weights, _solve_tight(kinds, cost, a, b))
    grad_a = _central_difference(
        lambda x: _loss(_solve_tight(kinds, cost, x, b).plan, weights), a
    )
    grad_b = _central_difference(
        lambda x: _loss(_solve_tight(kinds, cost, a, x).plan, weights), b
    )
    assert _relative_error(grads.a, grad_a) <= 1e-5
    assert _relative_error(grads.b, grad_b) <= 1e-5


@pytest.mark.parametrize("case", ["balanced", "inequality-balanced"])
def test_weight_gradients_along_feasible_directions(case):
    kinds, cost, a, b = _problem(case)
    weights = np.random.default_rng(3).standard_normal(cost.shape)
    grads = _gradients(kinds, cost, a, b, weights, _solve_tight(kinds, cost, a, b))
    rng = np.random.default_rng(4)
    # Mass-preserving directions on balanced sides; the inequality side of
    # "inequality-balanced" has spare mass, so any direction is feasible there.
    da = rng.standard_normal(a.shape)
    db = rng.standard_normal(b.shape)
    db -= db.mean()
    if kinds[0][0] == "balanced":
        da -= da.mean()
    step = 1e-6

    def loss_at(t):
        return _loss(_solve_tight(kinds, cost, a + t * da, b + t * db).plan, weights)

    expected = (loss_at(step) - loss_at(-step)) / (2 * step)
    got = grads.a @ da + grads.b @ db
    assert got == pytest.approx(expected, rel=1e-5)
    # The returned representative of the (c, -c) family is the canonical one.
    if case == "balanced":
        assert grads.a.mean() == pytest.approx(grads.b.mean(), abs=1e-12)


def test_balanced_cost_gradient_is_invariant_to_row_and_column_shifts():
    # Adding a constant to a row (column) of the cost leaves the balanced plan
    # unchanged, so dL/dC has zero row and column sums.
    kinds, cost, a, b = _problem("balanced", n=7, m=6)
    weights = np.random.default_rng(5).standard_normal(cost.shape)
    result = _solve_tight(kinds, cost, a, b)
    grad = implicit_cost_gradient(
        result.plan, _grad_loss(result.plan, weights), EPSILON, tol=1e-12
    )
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(grad.sum(axis=0), 0, atol=1e-12)
    assert np.abs(grad).max() > 1e-3


# ---------------------------------------------------------------- unrolled oracle


def _unrolled_sinkhorn(torch, cost, a, b, kinds, n_iter):
    """Plain log-domain Sinkhorn, every iteration recorded by autograd."""
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)

    def prox(kind, rho, log_w, lse):
        pot = EPSILON * (log_w - lse)
        if kind == "kl":
            return rho / (rho + EPSILON) * pot
        if kind == "inequality":
            return torch.clamp(pot, max=0.0)
        return pot

    for _ in range(n_iter):
        lse = torch.logsumexp((g[None, :] - cost) / EPSILON, dim=1)
        f = prox(kinds[0][0], kinds[0][1], torch.log(a), lse)
        lse = torch.logsumexp((f[:, None] - cost) / EPSILON, dim=0)
        g = prox(kinds[1][0], kinds[1][1], torch.log(b), lse)
    return torch.exp((f[:, None] + g[None, :] - cost) / EPSILON)


@pytest.mark.parametrize("case", ["balanced", "kl-kl", "inequality"])
def test_matches_autograd_unrolled_through_sinkhorn(case):
    torch = pytest.importorskip("torch")
    kinds, cost_np, a_np, b_np = _problem(case, n=6, m=5)
    weights = torch.as_tensor(np.random.default_rng(6).standard_normal((6, 5)))

    def leaf(x):
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    cost, a, b = leaf(cost_np), leaf(a_np), leaf(b_np)
    _loss(_unrolled_sinkhorn(torch, cost, a, b, kinds, 500), weights).backward()

    cost2, a2, b2 = leaf(cost_np), leaf(a_np), leaf(b_np)
    result = _solve_tight(kinds, cost2, a2, b2)
    _loss(result.plan, weights).backward()

    np.testing.assert_allclose(cost2.grad.numpy(), cost.grad.numpy(), atol=1e-6)
    if case == "balanced":
        # Only mass-preserving directions are defined: compare centred weight
        # gradients and the direction (a, b) that scales both masses alike.
        for got, expected in ((a2.grad, a.grad), (b2.grad, b.grad)):
            np.testing.assert_allclose(
                got - got.mean(), expected - expected.mean(), atol=1e-6
            )
        scale = (a2.grad @ a2 + b2.grad @ b2).item()
        assert scale == pytest.approx((a.grad @ a + b.grad @ b).item(), abs=1e-6)
    else:
        np.testing.assert_allclose(a2.grad.numpy(), a.grad.numpy(), atol=1e-6)
        np.testing.assert_allclose(b2.grad.numpy(), b.grad.numpy(), atol=1e-6)


# ---------------------------------------------------------------- public entry points


def test_backward_through_public_sinkhorn_and_adaptive_ot():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    cost_np = rng.random((6, 5))
    weights = torch.as_tensor(rng.standard_normal((6, 5)))

    cost = torch.tensor(cost_np, requires_grad=True)
    result = sinkhorn(None, None, cost, EPSILON, tol=1e-12, max_iter=10_000)
    assert result.plan.requires_grad and not result.f.requires_grad
    _loss(result.plan, weights).backward()
    expected = implicit_cost_gradient(
        result.plan.detach().numpy(),
        _grad_loss(result.plan.detach(), weights).numpy(),
        EPSILON,
        tol=1e-12,
    )
    np.testing.assert_allclose(cost.grad.numpy(), expected, atol=1e-9)

    mixed = torch.tensor(cost_np - 0.6, requires_grad=True)
    result = adaptive_ot(None, None, mixed, EPSILON, tol=1e-12, max_iter=10_000)
    _loss(result.plan, weights).backward()
    assert torch.all(torch.isfinite(mixed.grad))
    assert mixed.grad.abs().max() > 1e-4
    # Without requires_grad nothing is recorded and no graph is kept.
    plain = sinkhorn(None, None, torch.tensor(cost_np), EPSILON)
    assert not plain.plan.requires_grad


@pytest.mark.parametrize(
    ("solver", "reg_m", "with_weights"),
    [("sinkhorn", None, False), ("sinkhorn", 0.7, True), ("adaptive_ot", None, True)],
)
def test_gradcheck(solver, reg_m, with_weights):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    cost = rng.random((4, 3)) - (0.5 if solver == "adaptive_ot" else 0.0)
    a = rng.random(4) + 0.5
    b = 1.4 * (rng.random(3) + 0.5) / 2.0
    inputs = [torch.tensor(cost, requires_grad=True)]
    if with_weights:
        inputs += [
            torch.tensor(a / a.sum(), requires_grad=True),
            torch.tensor(b, requires_grad=True),
        ]
    options = {"tol": 1e-13, "max_iter": 100_000, "check_every": 1}

    def plan_of(c, a_=None, b_=None):
        if solver == "adaptive_ot":
            return adaptive_ot(a_, b_, c, EPSILON, **options).plan
        return sinkhorn(a_, b_, c, EPSILON, reg_m=reg_m, **options).plan

    assert torch.autograd.gradcheck(plan_of, inputs, atol=1e-7)


def test_numpy_and_torch_plans_give_the_same_gradient(xp):
    kinds, cost, a, b = _problem("kl-balanced", n=6, m=7)
    weights = np.random.default_rng(9).standard_normal(cost.shape)
    result = _solve_tight(kinds, cost, a, b)
    grad = implicit_cost_gradient(
        xp.asarray(result.plan),
        xp.asarray(_grad_loss(result.plan, weights)),
        EPSILON,
        marginals=("kl", "balanced"),
        reg_m=(0.7, None),
        tol=1e-12,
    )
    expected = _gradients(kinds, cost, a, b, weights, result).cost
    assert type(grad) is type(xp.asarray(cost))
    np.testing.assert_allclose(xp.to_numpy(grad), expected, atol=1e-10)


def test_torch_plan_that_requires_grad_is_not_recorded():
    torch = pytest.importorskip("torch")
    cost = torch.rand(5, 4, dtype=torch.float64, requires_grad=True)
    plan = sinkhorn(None, None, cost, EPSILON, tol=1e-10).plan
    grad = implicit_cost_gradient(plan, 2 * plan, EPSILON)
    assert isinstance(grad, torch.Tensor) and not grad.requires_grad


def test_torch_float32_stays_float32():
    torch = pytest.importorskip("torch")
    cost = torch.rand(8, 6, generator=torch.Generator().manual_seed(0))
    cost.requires_grad_(True)
    plan = sinkhorn(None, None, cost, EPSILON, tol=1e-6).plan
    (plan**2).sum().backward()
    assert cost.grad.dtype == torch.float32
    assert torch.all(torch.isfinite(cost.grad))


# ---------------------------------------------------------------- sparse plans


def _top_k(plan, k):
    rows = np.repeat(np.arange(plan.shape[0]), k)
    cols = np.argsort(-plan, axis=1)[:, :k].ravel()
    return sp.csr_matrix((plan[rows, cols], (rows, cols)), shape=plan.shape)


def test_sparse_top_k_plan_matches_dense_gradient_on_its_pattern():
    # Eight clusters of five points: the plan is (nearly) block sparse, so its
    # top-5 entries per row hold all but ~1e-12 of the mass.
    rng = np.random.default_rng(10)
    angles = 2 * np.pi * np.repeat(np.arange(8), 5) / 8
    centres = 2 * np.column_stack([np.cos(angles), np.sin(angles)])
    x = centres + 0.1 * rng.standard_normal(centres.shape)
    y = centres + 0.1 * rng.standard_normal(centres.shape)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    epsilon = 0.05
    result = sinkhorn(None, None, cost, epsilon, tol=1e-12, max_iter=20_000)
    weights = rng.standard_normal(cost.shape)
    grad_plan = _grad_loss(result.plan, weights)
    dense = implicit_cost_gradient(result.plan, grad_plan, epsilon, tol=1e-12)

    sparse_plan = _top_k(result.plan, k=5)
    assert sparse_plan.sum() > 1 - 1e-10
    sparse = implicit_cost_gradient(sparse_plan, grad_plan, epsilon, tol=1e-12)
    assert sp.issparse(sparse)
    assert np.array_equal(sparse.indptr, sparse_plan.indptr)
    assert np.array_equal(sparse.indices, sparse_plan.indices)
    on_pattern = dense[sparse_plan.nonzero()]
    assert _relative_error(np.asarray(sparse[sparse_plan.nonzero()]), on_pattern) < 1e-6
    # A sparse grad_plan gives the same result as the dense one.
    again = implicit_cost_gradient(
        sparse_plan, sp.csr_matrix(grad_plan), epsilon, tol=1e-12
    )
    np.testing.assert_allclose(again.toarray(), sparse.toarray(), atol=1e-14)


def test_sparse_plan_never_densifies():
    # 30000 x 30000 dense would take 7 GB; the solve must stay O(nnz).
    n, k = 30_000, 4
    rng = np.random.default_rng(11)
    rows = np.repeat(np.arange(n), k)
    cols = (rows + rng.integers(0, 50, size=rows.size)) % n
    plan = sp.csr_matrix((rng.random(rows.size) / (n * k), (rows, cols)), shape=(n, n))
    grad_plan = sp.csr_matrix((rng.standard_normal(rows.size), (rows, cols)), (n, n))
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grad = implicit_cost_gradient(plan, grad_plan, 0.1, max_iter=20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert grad.nnz == plan.nnz
    assert peak < 60e6
    assert np.all(np.isfinite(grad.data))


# ---------------------------------------------------------------- conditioning, inputs


def test_warns_when_cg_does_not_converge():
    kinds, cost, a, b = _problem("balanced", n=30, m=30)
    result = _solve_tight(kinds, cost, a, b)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        _, info = implicit_cost_gradient(
            result.plan, result.plan, EPSILON, max_iter=1, return_info=True
        )
    assert not info.converged and info.n_iter == 1


def _pseudo_inverse_gradient(plan, grad_plan, epsilon):
    """Balanced dL/dC from a dense least-squares solve of the adjoint system."""
    n = plan.shape[0]
    system = np.block([[np.diag(plan.sum(1)), plan], [plan.T, np.diag(plan.sum(0))]])
    weighted = plan * grad_plan
    rhs = np.concatenate([weighted.sum(1), weighted.sum(0)])
    x = np.linalg.lstsq(system, rhs, rcond=1e-13)[0]
    return (plan * (x[:n, None] + x[None, n:]) - weighted) / epsilon


def test_pinned_rows_and_ridge():
    # Anchors (negative cost) pin rows 0-2 to one column each (98% of their
    # mass): the adjoint system is nearly decoupled there.
    rng = np.random.default_rng(12)
    cost = rng.random((30, 30))
    cost[np.arange(3), np.arange(3)] = -2.0
    epsilon = 0.2
    result = sinkhorn(None, None, cost, epsilon, tol=1e-12, max_iter=20_000)
    assert result.plan[0, 0] * 30 > 0.98
    grad_plan = 2 * result.plan + rng.standard_normal(cost.shape)
    oracle = _pseudo_inverse_gradient(result.plan, grad_plan, epsilon)
    exact, info = implicit_cost_gradient(
        result.plan, grad_plan, epsilon, tol=1e-12, return_info=True
    )
    assert info.converged
    np.testing.assert_allclose(exact, oracle, atol=1e-10 * np.abs(oracle).max())
    # The relative ridge changes the gradient by O(ridge) only.
    ridged = implicit_cost_gradient(result.plan, grad_plan, epsilon, ridge=1e-8)
    error = np.abs(ridged - oracle).max() / np.abs(oracle).max()
    assert 0 < error <= 1e-6


def test_zero_mass_rows_get_zero_gradient():
    rng = np.random.default_rng(13)
    cost = rng.random((5, 4))
    a = np.array([0.3, 0.0, 0.3, 0.2, 0.2])
    result = sinkhorn(a, None, cost, EPSILON, tol=1e-12, max_iter=10_000)
    grads = implicit_gradients(result.plan, 2 * result.plan, EPSILON, tol=1e-12)
    assert np.all(grads.cost[1] == 0) and grads.a[1] == 0
    assert np.all(np.isfinite(grads.cost)) and grads.converged


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grad_plan": np.ones((3, 4))}, "grad_plan"),
        ({"grad_plan": np.full((4, 3), np.nan)}, "grad_plan"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"marginals": ("balanced", "exact")}, "marginals"),
        ({"marginals": ("kl", "balanced")}, "reg_m"),
        ({"marginals": ("inequality", "balanced")}, "f"),
        ({"ridge": -1.0}, "ridge"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"plan": -np.ones((4, 3))}, "plan"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(kwargs, match):
    params = {"plan": np.full((4, 3), 1 / 12), "grad_plan": np.ones((4, 3))}
    params["epsilon"] = 0.1
    params.update(kwargs)
    plan, grad_plan, epsilon = (params.pop(k) for k in ("plan", "grad_plan", "epsilon"))
    with pytest.raises(ValueError, match=match):
        implicit_cost_gradient(plan, grad_plan, epsilon, **params)


def test_kl_weights_of_wrong_length_raise():
    plan = np.full((4, 3), 1 / 12)
    with pytest.raises(ValueError, match="b must be a 1-D array of length 3"):
        implicit_gradients(
            plan, plan, 0.1, b=np.ones(4), marginals="kl", reg_m=1.0, tol=1e-10
        )


def test_adjoint_keeps_less_for_backward_than_unrolling():
    # The adjoint saves the plan only; unrolling saves every iteration's tensors.
    torch = pytest.importorskip("torch")
    kinds, cost_np, a_np, b_np = _problem("balanced", n=30, m=30)

    def backward_through(build):
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        cost = torch.tensor(cost_np, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            plan = build(cost)
        (plan**2).sum().backward()
        return sum(saved), cost.grad.numpy()

    a, b = torch.as_tensor(a_np), torch.as_tensor(b_np)
    adjoint_bytes, adjoint_grad = backward_through(
        lambda c: _solve_tight(kinds, c, a, b).plan
    )
    unrolled_bytes, unrolled_grad = backward_through(
        lambda c: _unrolled_sinkhorn(torch, c, a, b, kinds, 500)
    )
    np.testing.assert_allclose(adjoint_grad, unrolled_grad, atol=1e-6)
    assert 10 * adjoint_bytes < unrolled_bytes
