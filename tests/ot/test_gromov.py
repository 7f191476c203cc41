"""Tests of the GW loss and the entropic Gromov-Wasserstein reference solver."""

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist
from sklearn.exceptions import ConvergenceWarning

from skalign.ot import entropic_gromov_wasserstein, gw_loss


def _spaces(seed, n=8, m=7, uniform_a=False):
    """Two unrelated normalised distance matrices and non-uniform weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = rng.standard_normal((m, 3))
    D_x = cdist(x, x)
    D_y = cdist(y, y)
    a = np.full(n, 1 / n) if uniform_a else rng.uniform(0.5, 1.5, n)
    return D_x / D_x.max(), D_y / D_y.max(), a / a.sum(), np.full(m, 1 / m)


def _brute_force_gw(D_x, D_y, plan):
    diff = (D_x[:, None, :, None] - D_y[None, :, None, :]) ** 2  # (i, j, k, l)
    return np.einsum("ijkl,ij,kl->", diff, plan, plan)


# --- gw_loss -------------------------------------------------------------------


def test_gw_loss_matches_brute_force(xp):
    rng = np.random.default_rng(0)
    D_x = rng.uniform(0, 1, (4, 4))  # not symmetric, and T misses any marginals:
    D_y = rng.uniform(0, 2, (3, 3))  # the expansion must hold regardless.
    plan = rng.uniform(0, 1, (4, 3))
    value = gw_loss(xp.asarray(D_x), xp.asarray(D_y), xp.asarray(plan))
    assert float(value) == pytest.approx(_brute_force_gw(D_x, D_y, plan), rel=1e-12)


def test_gw_loss_matches_pot():
    D_x, D_y, a, b = _spaces(1)
    plan = ot.sinkhorn(a, b, cdist(np.arange(8)[:, None], np.arange(7)[:, None]), 1.0)
    p, q = plan.sum(1), plan.sum(0)
    constC, hC1, hC2 = ot.gromov.init_matrix(D_x, D_y, p, q, "square_loss")
    expected = ot.gromov.gwloss(constC, hC1, hC2, plan)
    assert float(gw_loss(D_x, D_y, plan)) == pytest.approx(expected, rel=1e-12)
    assert float(gw_loss(D_x, D_y, plan)) == pytest.approx(
        _brute_force_gw(D_x, D_y, plan), rel=1e-12
    )


def test_gw_loss_zero_on_isometry():
    D_x, _, _, _ = _spaces(2)
    perm = np.random.default_rng(0).permutation(8)
    plan = np.eye(8)[:, perm] / 8  # row i goes to the column holding point i
    D_y = D_x[np.ix_(perm, perm)]
    assert abs(float(gw_loss(D_x, D_y, plan))) < 1e-15
    assert float(gw_loss(D_x, D_y, np.eye(8) / 8)) > 1e-2


def test_gw_loss_gradient_matches_finite_differences():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    args = (
        rng.uniform(0, 1, (4, 4)),
        rng.uniform(0, 1, (3, 3)),
        rng.uniform(0, 1, (4, 3)),
    )
    tensors = tuple(
        torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in args
    )
    assert torch.autograd.gradcheck(gw_loss, tensors)
    # The plan gradient of the symmetric loss is POT's gwggrad at a feasible plan.
    D_x, D_y, a, b = _spaces(4)
    plan = np.outer(a, b)
    t_plan = torch.tensor(plan, requires_grad=True)
    gw_loss(torch.tensor(D_x), torch.tensor(D_y), t_plan).backward()
    constC, hC1, hC2 = ot.gromov.init_matrix(D_x, D_y, a, b, "square_loss")
    np.testing.assert_allclose(
        t_plan.grad.numpy(), ot.gromov.gwggrad(constC, hC1, hC2, plan), atol=1e-12
    )


@pytest.mark.parametrize(
    ("D_x", "D_y", "plan", "match"),
    [
        (
            np.ones((3, 2)),
            np.ones((2, 2)),
            np.ones((3, 2)),
            "D_x must be a non-empty square",
        ),
        (
            np.ones((3, 3)),
            np.full((2, 2), np.nan),
            np.ones((3, 2)),
            "D_y must contain only",
        ),
        (
            np.ones((3, 3)),
            np.ones((2, 2)),
            np.ones((2, 3)),
            r"plan must have shape \(3, 2\)",
        ),
        (
            np.ones((3, 3)),
            np.ones((2, 2)),
            -np.ones((3, 2)),
            "plan must contain finite, non",
        ),
    ],
)
def test_gw_loss_validation(D_x, D_y, plan, match):
    with pytest.raises(ValueError, match=match):
        gw_loss(D_x, D_y, plan)


# --- entropic_gromov_wasserstein -------------------------------------------------

_TIGHT = {"tol": 1e-11, "inner_max_iter": 20_000, "inner_tol": 1e-12, "max_iter": 1000}
_POT_TIGHT = {"tol": 1e-11, "numItermax": 20_000, "stopThr": 1e-12, "max_iter": 1000}


@pytest.mark.parametrize(("seed", "epsilon"), [(0, 0.1), (1, 0.02), (2, 0.05)])
def test_solver_matches_pot(seed, epsilon):
    D_x, D_y, a, b = _spaces(seed)
    result = entropic_gromov_wasserstein(D_x, D_y, a, b, epsilon=epsilon, **_TIGHT)
    expected = ot.gromov.entropic_gromov_wasserstein(
        D_x,
        D_y,
        a,
        b,
        loss_fun="square_loss",
        epsilon=epsilon,
        solver="PGD",
        **_POT_TIGHT,
    )
    assert result.converged
    np.testing.assert_allclose(result.plan, expected, atol=1e-6)
    assert result.transport_cost == pytest.approx(
        float(gw_loss(D_x, D_y, expected)), abs=1e-8
    )


def test_solver_matches_pot_non_symmetric():
    # Mirror descent need not converge here (it cycles); compare the 20th iterate,
    # which both solvers reach along the same path from the same start.
    rng = np.random.default_rng(5)
    D_x = rng.uniform(0, 1, (6, 6))
    D_y = rng.uniform(0, 1, (5, 5))
    steps = {**_TIGHT, "max_iter": 20}
    result = entropic_gromov_wasserstein(D_x, D_y, epsilon=0.05, warn=False, **steps)
    expected = ot.gromov.entropic_gromov_wasserstein(
        D_x, D_y, loss_fun="square_loss", epsilon=0.05, solver="PGD",
        **{**_POT_TIGHT, "max_iter": 20},
    )  # fmt: skip
    assert result.n_iter == 20
    np.testing.assert_allclose(result.plan, expected, atol=1e-6)


def test_result_fields():
    D_x, D_y, a, b = _spaces(6)
    res = entropic_gromov_wasserstein(D_x, D_y, a, b, epsilon=0.1, max_iter=500)
    assert res.converged and 1 <= res.n_iter <= 500
    assert res.transport_cost == pytest.approx(float(gw_loss(D_x, D_y, res.plan)))
    assert res.mass == pytest.approx(1.0)
    assert res.epsilon == 0.1 and res.marginals == ("balanced", "balanced")
    np.testing.assert_allclose(res.plan.sum(1), a, atol=1e-8)
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-8)
    assert res.f.shape == (8,) and res.g.shape == (7,)
    # Restarting from the solution stops at once.
    again = entropic_gromov_wasserstein(
        D_x, D_y, a, b, epsilon=0.1, init_plan=res.plan, tol=1e-6
    )
    assert again.n_iter <= 2


def test_isometric_copies_recover_permutation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 2))
    D_x = cdist(x, x) / cdist(x, x).max()
    perm = rng.permutation(8)
    D_y = D_x[np.ix_(perm, perm)]
    truth = np.argsort(perm)  # column of D_y that holds point i
    independent = float(gw_loss(D_x, D_y, np.full((8, 8), 1 / 64)))
    values = []
    for epsilon in [0.01, 0.005]:
        res = entropic_gromov_wasserstein(D_x, D_y, epsilon=epsilon, max_iter=50)
        assert res.converged
        np.testing.assert_array_equal(res.plan.argmax(axis=1), truth)
        values.append(res.transport_cost)
    # The entropic plan is blurred, so its GW is small but not 0; it shrinks with eps
    # and the rounded plan is an exact isometry.
    assert values[1] < values[0] < 0.05 * independent
    rounded = np.eye(8)[res.plan.argmax(axis=1)] / 8
    assert abs(float(gw_loss(D_x, D_y, rounded))) < 1e-15


def test_torch_matches_numpy_and_is_detached():
    torch = pytest.importorskip("torch")
    D_x, D_y, a, b = _spaces(7, n=6, m=5)
    ref = entropic_gromov_wasserstein(D_x, D_y, a, b, epsilon=0.1)
    t_x = torch.tensor(D_x, requires_grad=True)
    out = entropic_gromov_wasserstein(
        t_x, torch.tensor(D_y), torch.tensor(a), torch.tensor(b), epsilon=0.1
    )
    assert isinstance(out.plan, torch.Tensor) and not out.plan.requires_grad
    np.testing.assert_allclose(out.plan.numpy(), ref.plan, atol=1e-10)
    assert out.transport_cost == pytest.approx(ref.transport_cost)
    # Differentiate the loss at the solution instead (envelope theorem).
    gw_loss(t_x, torch.tensor(D_y), out.plan).backward()
    assert t_x.grad is not None and torch.all(torch.isfinite(t_x.grad))


def test_non_convergence_warns():
    D_x, D_y, a, b = _spaces(8)
    with pytest.warns(ConvergenceWarning, match="still moved"):
        res = entropic_gromov_wasserstein(D_x, D_y, a, b, epsilon=0.05, max_iter=1)
    assert not res.converged and res.n_iter == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"D_x": np.ones((3, 2))}, "D_x must be a non-empty square"),
        ({"D_y": np.full((2, 2), np.inf)}, "D_y must contain only finite"),
        ({"a": np.ones(2)}, "a must be a 1-D array of length 3"),
        ({"b": -np.ones(2)}, "b must be non-negative"),
        ({"epsilon": 0.0}, "epsilon must be > 0"),
        ({"tol": 0}, "tol must be a positive number"),
        ({"inner_tol": -1.0}, "inner_tol must be a positive number"),
        ({"max_iter": 0}, "max_iter must be a positive integer"),
        ({"inner_max_iter": 1.5}, "inner_max_iter must be a positive integer"),
        ({"init_plan": np.ones((2, 3))}, r"init_plan must have shape \(3, 2\)"),
        (
            {"init_plan": -np.ones((3, 2))},
            "init_plan must contain finite, non-negative",
        ),
    ],
)
def test_solver_validation(kwargs, match):
    args = {"D_x": np.ones((3, 3)), "D_y": np.ones((2, 2)), "epsilon": 0.1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        entropic_gromov_wasserstein(**args)
