"""Tests of Adaptive OT (inequality marginals): exact LP and entropic solver."""

import warnings
from itertools import pairwise

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skalign.ot import adaptive_ot


def _problem(seed, n=7, m=6, b_scale=1.3):
    """Mixed-sign cost in [-1, 1] and unequal total masses."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(-1, 1, (n, m))
    a = rng.uniform(0.5, 1.5, n)
    a /= a.sum()
    b = rng.uniform(0.5, 1.5, m)
    b /= b.sum() * b_scale
    return a, b, cost


def _augmented_emd(a, b, cost):
    """Independent oracle: balanced OT with a zero-cost dummy point on each side."""
    n, m = cost.shape
    big_cost = np.zeros((n + 1, m + 1))
    big_cost[:n, :m] = cost
    plan = ot.emd(np.r_[a, b.sum()], np.r_[b, a.sum()], big_cost)
    return plan[:n, :m]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_matches_augmented_emd(seed):
    a, b, cost = _problem(seed)
    result = adaptive_ot(a, b, cost, epsilon=0)
    oracle = _augmented_emd(a, b, cost)
    assert result.transport_cost == pytest.approx(np.sum(oracle * cost), abs=1e-12)
    assert result.mass <= min(a.sum(), b.sum()) + 1e-12
    assert result.epsilon == 0.0
    assert result.marginals == ("inequality", "inequality")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_exact_kkt_conditions(seed):
    a, b, cost = _problem(seed)
    res = adaptive_ot(a, b, cost, epsilon=0)
    plan, f, g = res.plan, res.f, res.g
    tol = 1e-9
    # Primal feasibility.
    assert np.all(plan >= 0)
    assert np.all(plan.sum(1) <= a + tol)
    assert np.all(plan.sum(0) <= b + tol)
    # Dual feasibility: f, g <= 0 and f_i + g_j <= C_ij.
    assert np.all(f <= 0) and np.all(g <= 0)
    assert np.all(f[:, None] + g[None, :] <= cost + tol)
    # Complementary slackness.
    support = plan > tol
    np.testing.assert_allclose(
        (f[:, None] + g[None, :])[support], cost[support], atol=tol
    )
    np.testing.assert_allclose(plan.sum(1)[f < -tol], a[f < -tol], atol=tol)
    np.testing.assert_allclose(plan.sum(0)[g < -tol], b[g < -tol], atol=tol)
    # Strong duality.
    assert res.transport_cost == pytest.approx(f @ a + g @ b, abs=1e-10)
    assert res.marginal_error <= tol


@pytest.mark.parametrize("seed", [0, 2])
def test_entropic_converges_to_exact(seed):
    a, b, cost = _problem(seed)
    exact = adaptive_ot(a, b, cost, epsilon=0)
    value_err, plan_err = [], []
    for eps in [0.1, 0.03, 0.01, 0.003, 0.001]:
        res = adaptive_ot(a, b, cost, eps, epsilon_init=1.0, max_iter=10_000, tol=1e-10)
        assert res.converged
        value_err.append(abs(res.transport_cost - exact.transport_cost))
        plan_err.append(np.abs(res.plan - exact.plan).sum())
    # Monotone until the error reaches round-off (the plan can become exact early).
    for errors in (value_err, plan_err):
        assert all(e1 < e0 or e1 < 1e-9 for e0, e1 in pairwise(errors)), errors
    assert value_err[0] > 1e-3
    assert value_err[-1] < 1e-6
    assert plan_err[-1] < 1e-4


def test_entropic_potentials_approach_lp_duals():
    # The LP duals are unique on this problem; the entropic ones converge at rate eps.
    a, b, cost = _problem(0)
    exact = adaptive_ot(a, b, cost, epsilon=0)
    errors = []
    for eps in [0.01, 0.001]:
        res = adaptive_ot(a, b, cost, eps, epsilon_init=1.0, max_iter=10_000, tol=1e-10)
        errors.append(max(np.abs(res.f - exact.f).max(), np.abs(res.g - exact.g).max()))
    assert errors[1] < errors[0] / 5
    assert errors[1] < 1e-2


def test_entropic_plan_constraints_and_potentials(xp):
    a, b, cost = _problem(4)
    res = adaptive_ot(xp.asarray(a), xp.asarray(b), xp.asarray(cost), 0.05, tol=1e-9)
    plan, f, g = xp.to_numpy(res.plan), xp.to_numpy(res.f), xp.to_numpy(res.g)
    assert res.converged
    assert np.all(f <= 0) and np.all(g <= 0)
    assert np.all(plan.sum(1) <= a * (1 + 1e-12))
    assert np.all(plan.sum(0) <= b + 1e-8)
    assert res.mass <= min(a.sum(), b.sum()) + 1e-8
    assert res.mass == pytest.approx(plan.sum())
    assert res.transport_cost == pytest.approx(np.sum(plan * cost))
    # The plan is the Gibbs form of its potentials (counting reference measure).
    np.testing.assert_allclose(
        plan, np.exp((f[:, None] + g[None, :] - cost) / 0.05), rtol=1e-10, atol=1e-300
    )


def test_numpy_torch_parity():
    torch = pytest.importorskip("torch")
    a, b, cost = _problem(5)
    ref = adaptive_ot(a, b, cost, 0.02, epsilon_init=0.5, tol=1e-10)
    out = adaptive_ot(
        torch.as_tensor(a), torch.as_tensor(b), torch.as_tensor(cost), 0.02,
        epsilon_init=0.5, tol=1e-10,
    )  # fmt: skip
    assert isinstance(out.plan, torch.Tensor) and isinstance(out.f, torch.Tensor)
    np.testing.assert_allclose(out.plan.numpy(), ref.plan, atol=1e-12)
    np.testing.assert_allclose(out.f.numpy(), ref.f, atol=1e-10)
    np.testing.assert_allclose(out.g.numpy(), ref.g, atol=1e-10)


def test_exact_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    a, b, cost = _problem(1)
    ref = adaptive_ot(a, b, cost, epsilon=0)
    out = adaptive_ot(
        torch.as_tensor(a, dtype=torch.float32),
        torch.as_tensor(b, dtype=torch.float32),
        torch.as_tensor(cost, dtype=torch.float32),
        epsilon=0,
    )
    assert out.plan.dtype == torch.float32 and out.g.dtype == torch.float32
    np.testing.assert_allclose(out.plan.numpy(), ref.plan, atol=1e-6)
    np.testing.assert_allclose(out.f.numpy(), ref.f, atol=1e-6)


@pytest.mark.parametrize("epsilon", [0, 0.01])
def test_positive_cost_transports_nothing(xp, epsilon):
    rng = np.random.default_rng(0)
    cost = rng.uniform(0.2, 1.0, (5, 4))
    res = adaptive_ot(None, None, xp.asarray(cost), epsilon)
    assert res.mass < 1e-8
    assert np.all(xp.to_numpy(res.plan) < 1e-8)


@pytest.mark.parametrize("epsilon", [0, 0.005])
def test_negative_cost_transports_smaller_measure(epsilon):
    rng = np.random.default_rng(1)
    cost = rng.uniform(-1.0, -0.2, (5, 4))
    a = np.full(5, 0.2)
    b = np.full(4, 0.15)  # total 0.6 < 1
    res = adaptive_ot(a, b, cost, epsilon, epsilon_init=1.0 if epsilon else None)
    assert res.mass == pytest.approx(0.6, abs=1e-6)
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-6)


@pytest.mark.parametrize("epsilon", [0, 0.01])
def test_outlier_row_gets_no_mass(epsilon):
    # Two matched clusters; source row 6 is far from every target (positive cost).
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 0.0]])
    x = np.vstack([centres[i % 2] + 0.1 * rng.standard_normal(2) for i in range(6)])
    x = np.vstack([x, [[1.5, 5.0]]])
    z = np.vstack([centres[i % 2] + 0.1 * rng.standard_normal(2) for i in range(6)])
    cost = ((x[:, None, :] - z[None, :, :]) ** 2).sum(-1) - 1.0
    res = adaptive_ot(None, None, cost, epsilon, epsilon_init=1.0 if epsilon else None)
    row_mass = res.plan.sum(1)
    assert row_mass[6] < 1e-10
    np.testing.assert_allclose(row_mass[:6], 1 / 7, atol=1e-6)
    # Mass only moves within a cluster.
    same = (np.arange(7)[:, None] % 2) == (np.arange(6)[None, :] % 2)
    assert res.plan[:6][~same[:6]].sum() < 1e-8


def test_warm_start_converges_faster():
    a, b, cost = _problem(6)
    first = adaptive_ot(a, b, cost, 0.02, tol=1e-9, max_iter=20_000)
    again = adaptive_ot(a, b, cost, 0.02, tol=1e-9, init=(first.f, first.g))
    assert first.converged and again.converged
    assert again.n_iter <= 20 < first.n_iter
    np.testing.assert_allclose(again.plan, first.plan, atol=1e-8)


def test_non_convergence_warns():
    a, b, cost = _problem(1)
    with pytest.warns(ConvergenceWarning, match="adaptive_ot did not converge"):
        res = adaptive_ot(a, b, cost, 0.001, max_iter=20)
    assert not res.converged


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    m=st.integers(1, 6),
    log_eps=st.floats(-4, 0),
)
def test_property_random_costs(seed, n, m, log_eps):
    rng = np.random.default_rng(seed)
    cost = rng.uniform(-1, 1, (n, m))
    a = rng.uniform(0, 1, n) + 1e-3
    b = rng.uniform(0, 1, m) + 1e-3
    eps = 10.0**log_eps
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = adaptive_ot(a, b, cost, eps, epsilon_init=1.0, max_iter=3000, warn=False)
    plan = res.plan
    assert np.all(np.isfinite(plan)) and np.all(plan >= 0)
    assert not np.any(np.isnan(res.f)) and not np.any(np.isnan(res.g))
    assert np.all(res.f <= 0) and np.all(res.g <= 0)
    assert np.all(plan.sum(1) <= a * (1 + 1e-10))
    if res.converged:
        assert np.all(plan.sum(0) <= b + 1e-5)
    assert res.mass <= min(a.sum(), b.sum()) * (1 + 1e-6) + 1e-6
    # Never worse than transporting nothing (the objective is at most eps * mass).
    entropy = np.sum(plan[plan > 0] * (np.log(plan[plan > 0]) - 1))
    if res.converged:
        assert res.transport_cost + eps * entropy <= 1e-6


def test_exact_too_large_refused():
    with pytest.raises(ValueError, match=r"epsilon=0 .* n \* m = 250500"):
        adaptive_ot(None, None, np.zeros((501, 500)), epsilon=0)


@pytest.mark.parametrize("epsilon", [0, 0.1])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"a": [-0.5, 1.0, 0.5]}, "a must be non-negative"),
        ({"b": [0.5, 0.5, 0.5]}, "b must be a 1-D array of length 2"),
        ({"cost": [[np.nan, 0], [0, 0], [0, 0]]}, "cost must contain only finite"),
        ({"cost": np.zeros((0, 2)), "a": None}, "must be non-empty"),
        ({"cost": np.zeros(3)}, "cost must be a 2-D array"),
    ],
)
def test_bad_input_names_parameter(kwargs, match, epsilon):
    args = {"a": [0.3, 0.3, 0.4], "b": [0.5, 0.5], "cost": np.zeros((3, 2))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        adaptive_ot(args["a"], args["b"], args["cost"], epsilon)


@pytest.mark.parametrize("epsilon", [-0.1, np.nan, "0.1", None])
def test_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon must"):
        adaptive_ot(None, None, np.zeros((2, 2)), epsilon)


def test_underflowing_row_does_not_overflow():
    # Regression: a 1 x 5 problem at eps ~ 1e-3 whose kernel row underflows made
    # the inequality scaling divide by the smallest float (overflow warning).
    rng = np.random.default_rng(37)
    n, m = rng.integers(1, 7, 2)
    cost = rng.uniform(-1, 1, (n, m))
    a = rng.uniform(0, 1, n) + 1e-3
    b = rng.uniform(0, 1, m) + 1e-3
    eps = 10 ** rng.uniform(-4, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = adaptive_ot(a, b, cost, eps, epsilon_init=1.0, max_iter=3000)
    exact = adaptive_ot(a, b, cost, 0)
    assert res.converged
    assert res.transport_cost == pytest.approx(exact.transport_cost, abs=1e-2)


def test_torch_gradient_of_entropic_plan_matches_finite_differences():
    torch = pytest.importorskip("torch")
    a, b, cost = _problem(7, n=5, m=4)

    def loss(c):
        plan = adaptive_ot(a, b, c, 0.05, tol=1e-13, max_iter=20_000).plan
        return (plan**2).sum() + (plan * np.arange(4.0)).sum()

    t_cost = torch.tensor(cost, requires_grad=True)
    plan = adaptive_ot(torch.tensor(a), torch.tensor(b), t_cost, 0.05, tol=1e-13).plan
    ((plan**2).sum() + (plan * torch.arange(4.0)).sum()).backward()
    step = 1e-6
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        bump = np.zeros_like(cost)
        bump[i, j] = step
        numeric = (loss(cost + bump) - loss(cost - bump)) / (2 * step)
        assert t_cost.grad[i, j].item() == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_exact_torch_requiring_grad_is_detached():
    torch = pytest.importorskip("torch")
    cost = torch.tensor(_problem(2)[2], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = adaptive_ot(None, None, cost, 0)
    assert not res.plan.requires_grad
