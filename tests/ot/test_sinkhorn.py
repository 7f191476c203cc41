"""Dense log-domain Sinkhorn against POT and the optimality conditions."""

import warnings

import numpy as np
import ot
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skalign.ot import epsilon_schedule, sinkhorn

TIGHT = dict(tol=1e-13, max_iter=100_000)


def _problem(n=9, m=7, seed=0, mass_b=1.0):
    rng = np.random.default_rng(seed)
    cost = rng.uniform(size=(n, m))
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    return a / a.sum(), mass_b * b / b.sum(), cost


def _assert_potentials_up_to_shift(f, g, f_ref, g_ref, atol=1e-6):
    # Balanced potentials are unique up to (f + c, g - c).
    shift = np.mean(f - f_ref)
    np.testing.assert_allclose(f - shift, f_ref, atol=atol)
    np.testing.assert_allclose(g + shift, g_ref, atol=atol)


@pytest.mark.parametrize("epsilon", [1.0, 0.1, 0.02])
def test_balanced_matches_pot_plan_and_potentials(epsilon):
    a, b, cost = _problem()
    ref, log = ot.sinkhorn(
        a,
        b,
        cost,
        epsilon,
        method="sinkhorn_log",
        stopThr=1e-14,
        numItermax=100_000,
        log=True,
    )
    res = sinkhorn(a, b, cost, epsilon, **TIGHT)
    assert res.converged
    np.testing.assert_allclose(res.plan, ref, atol=1e-6, rtol=0)
    # POT's log-scalings times reg are potentials in the same counting convention.
    _assert_potentials_up_to_shift(
        res.f, res.g, epsilon * log["log_u"], epsilon * log["log_v"]
    )


def test_plan_is_exp_of_potentials():
    a, b, cost = _problem()
    for reg_m in (None, 0.3):
        res = sinkhorn(a, b, cost, 0.05, reg_m=reg_m, tol=1e-9)
        rebuilt = np.exp((res.f[:, None] + res.g[None, :] - cost) / 0.05)
        np.testing.assert_allclose(res.plan, rebuilt, rtol=1e-10, atol=1e-300)
        assert res.mass == pytest.approx(res.plan.sum())
        assert res.transport_cost == pytest.approx((res.plan * cost).sum())


@pytest.mark.parametrize("reg_m", [0.05, 1.0, 10.0])
def test_kl_relaxed_matches_pot_unbalanced(reg_m):
    a, b, cost = _problem(mass_b=1.7)
    with warnings.catch_warnings():
        # POT notes that reg_type="entropy" uses the counting reference measure.
        warnings.simplefilter("ignore", UserWarning)
        ref = ot.unbalanced.sinkhorn_unbalanced(
            a,
            b,
            cost,
            0.05,
            reg_m,
            reg_type="entropy",
            method="sinkhorn",
            stopThr=1e-15,
            numItermax=200_000,
        )
    res = sinkhorn(a, b, cost, 0.05, reg_m=reg_m, **TIGHT)
    assert res.converged and res.marginals == ("kl", "kl")
    np.testing.assert_allclose(res.plan, ref, atol=1e-6, rtol=0)
    # First-order conditions of the KL penalty: f = -rho log(plan 1 / a).
    np.testing.assert_allclose(res.f, -reg_m * np.log(res.plan.sum(1) / a), atol=1e-6)
    np.testing.assert_allclose(res.g, -reg_m * np.log(res.plan.sum(0) / b), atol=1e-6)


@pytest.mark.parametrize("reg_m", [(np.inf, 0.5), (0.5, np.inf), (None, 2.0)])
def test_semi_relaxed(reg_m):
    a, b, cost = _problem(mass_b=1.3)
    pot_reg_m = tuple(np.inf if r is None else r for r in reg_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = ot.unbalanced.sinkhorn_unbalanced(
            a,
            b,
            cost,
            0.1,
            pot_reg_m,
            reg_type="entropy",
            method="sinkhorn",
            stopThr=1e-15,
            numItermax=200_000,
        )
    res = sinkhorn(a, b, cost, 0.1, reg_m=reg_m, **TIGHT)
    np.testing.assert_allclose(res.plan, ref, atol=1e-6, rtol=0)
    balanced_rows = reg_m[0] in (None, np.inf)
    assert res.marginals == (
        ("balanced", "kl") if balanced_rows else ("kl", "balanced")
    )
    exact, weights = (res.plan.sum(1), a) if balanced_rows else (res.plan.sum(0), b)
    np.testing.assert_allclose(exact, weights, atol=1e-10)


def test_warm_start_reduces_iterations():
    a, b, cost = _problem(n=30, m=25, seed=2)
    cold = sinkhorn(a, b, cost, 0.01, tol=1e-9, max_iter=20_000)
    warm = sinkhorn(a, b, cost, 0.01, tol=1e-9, max_iter=20_000, init=(cold.f, cold.g))
    assert cold.converged and warm.converged
    assert warm.n_iter < cold.n_iter / 5
    # A warm start from a nearby epsilon also helps.
    near = sinkhorn(a, b, cost, 0.012, tol=1e-9, max_iter=20_000)
    from_near = sinkhorn(
        a, b, cost, 0.01, tol=1e-9, max_iter=20_000, init=(near.f, near.g)
    )
    assert from_near.n_iter < cold.n_iter
    np.testing.assert_allclose(from_near.plan, cold.plan, atol=1e-8)


def test_annealing_reaches_direct_solution():
    a, b, cost = _problem(n=30, m=25, seed=3)
    direct = sinkhorn(a, b, cost, 0.005, tol=1e-11, max_iter=50_000)
    annealed = sinkhorn(a, b, cost, 0.005, tol=1e-11, max_iter=50_000, epsilon_init=0.5)
    assert direct.converged and annealed.converged
    assert annealed.epsilon == 0.005
    np.testing.assert_allclose(annealed.plan, direct.plan, atol=1e-8)
    assert epsilon_schedule(0.005, 0.5, 0.5)[-1] == 0.005


def test_convergence_warning_when_max_iter_is_tiny():
    a, b, cost = _problem()
    with pytest.warns(ConvergenceWarning, match="Increase max_iter"):
        res = sinkhorn(a, b, cost, 0.001, max_iter=2)
    assert not res.converged and res.marginal_error > 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn(a, b, cost, 0.001, max_iter=2, warn=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reg_m", [None, 0.5, (np.inf, 1.0)])
def test_backend_parity(xp, dtype, reg_m):
    a, b, cost = _problem(n=12, m=10, seed=4)
    tol = 1e-10 if dtype == "float64" else 1e-5
    ref = sinkhorn(a, b, cost, 0.05, reg_m=reg_m, tol=1e-10, max_iter=10_000)
    if xp.name == "torch":
        import torch

        to = lambda v: xp.asarray(v, dtype=getattr(torch, dtype))  # noqa: E731
    else:
        to = lambda v: xp.asarray(v, dtype=np.dtype(dtype))  # noqa: E731
    res = sinkhorn(to(a), to(b), to(cost), 0.05, reg_m=reg_m, tol=tol, max_iter=10_000)
    assert res.converged
    assert type(res.plan) is type(to(cost)) and str(res.plan.dtype).endswith(dtype)
    atol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(xp.to_numpy(res.plan), ref.plan, atol=atol)
    if reg_m is None:
        _assert_potentials_up_to_shift(
            xp.to_numpy(res.f), xp.to_numpy(res.g), ref.f, ref.g, atol=100 * atol
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 7),
    m=st.integers(1, 7),
    seed=st.integers(0, 2**31),
    log_eps=st.floats(-4, 0),
    reg_m=st.sampled_from([None, 0.1, 10.0, (np.inf, 1.0)]),
)
def test_properties(n, m, seed, log_eps, reg_m):
    rng = np.random.default_rng(seed)
    cost = rng.uniform(size=(n, m))
    cost = (cost - cost.min()) / max(np.ptp(cost), 1e-12)
    a = rng.uniform(0.1, 1.0, n)
    b = rng.uniform(0.1, 1.0, m)
    a, b = a / a.sum(), b / b.sum()
    tol = 1e-7
    res = sinkhorn(
        a, b, cost, 10.0**log_eps, reg_m=reg_m, tol=tol, max_iter=3000, warn=False
    )
    assert np.all(np.isfinite(res.plan)) and np.all(res.plan >= 0)
    assert not np.any(np.isnan(res.f)) and not np.any(np.isnan(res.g))
    assert np.isfinite(res.mass) and res.mass > 0
    if reg_m is None and res.converged:
        slack = tol + 1e-12
        assert np.abs(res.plan.sum(1) - a).sum() <= slack
        assert np.abs(res.plan.sum(0) - b).sum() <= slack
    if reg_m is not None:
        assert np.isfinite(res.transport_cost)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(a=np.full(3, 1 / 3)), "a must be a 1-D array of length 4"),
        (dict(b=np.full(2, 0.5)), "b must be a 1-D array of length 5"),
        (dict(a=np.array([0.5, 0.6, -0.1, 0.0])), "a must be non-negative"),
        (dict(b=np.array([0.2, 0.2, np.nan, 0.2, 0.2])), "b must contain only finite"),
        (dict(a=np.array([0.5, np.inf, 0.0, 0.0])), "a must contain only finite"),
        (dict(a=np.zeros(4)), "a must have a positive total"),
        (dict(epsilon=0.0), "epsilon must be > 0"),
        (dict(epsilon=-0.1), "epsilon must be > 0"),
        (dict(epsilon=np.inf), "epsilon must be finite"),
        (dict(cost=np.zeros((0, 5))), "cost must be non-empty"),
        (dict(cost=np.ones(5)), "cost must be a 2-D array"),
        (dict(cost=np.full((4, 5), np.nan)), "cost must contain only finite"),
        (dict(reg_m=-1.0), "reg_m"),
        (dict(reg_m=0.0), "reg_m"),
        (dict(reg_m=(1.0, 2.0, 3.0)), "reg_m"),
        (dict(reg_m="big"), "reg_m"),
        (dict(max_iter=0), "max_iter"),
        (dict(tol=-1.0), "tol"),
        (dict(init=(np.zeros(4),)), "init"),
        (dict(init=(np.zeros(4), np.zeros(4))), "init"),
        (dict(epsilon_init=1.0, epsilon_decay=1.5), "decay"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(a=None, b=None, cost=np.ones((4, 5)), epsilon=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sinkhorn(
            args.pop("a"), args.pop("b"), args.pop("cost"), args.pop("epsilon"), **args
        )
