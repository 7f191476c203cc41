"""Tiled Sinkhorn against the dense solver and POT on small problems.

Tiny block sizes force several blocks per sweep, with a ragged last block.
"""

import warnings

import numpy as np
import ot
import pytest
from sklearn.exceptions import ConvergenceWarning

from skalign.ot import _tiled, sinkhorn, sinkhorn_tiled


def _clouds(n=37, m=29, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5


def _dense_cost(x, y, cost="sqeuclidean"):
    if cost == "sqeuclidean":
        return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    return np.clip(1.0 - xn @ yn.T, 0.0, None)


def _plan(res, cost):
    return np.exp((res.f[:, None] + res.g[None, :] - cost) / res.epsilon)


TIGHT = dict(tol=1e-12, max_iter=50_000, check_every=1)


@pytest.mark.parametrize("reg_m", [None, 0.7, (np.inf, 1.5)])
@pytest.mark.parametrize("cost", ["sqeuclidean", "cosine"])
def test_matches_dense_sinkhorn(reg_m, cost):
    x, y = _clouds()
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 1.5, 37), rng.uniform(0.5, 1.5, 29)
    a, b = a / a.sum(), b / b.sum()
    eps = 0.1 if cost == "sqeuclidean" else 0.02
    C = _dense_cost(x, y, cost)
    dense = sinkhorn(a, b, C, eps, reg_m=reg_m, **TIGHT)
    tiled = sinkhorn_tiled(
        x, y, a, b, epsilon=eps, cost=cost, reg_m=reg_m, block_size=8, **TIGHT
    )
    assert tiled.converged
    np.testing.assert_allclose(_plan(tiled, C), dense.plan, atol=1e-6, rtol=0)
    shift = np.mean(tiled.f - dense.f)
    if reg_m is None:
        # Balanced potentials are unique up to a constant (f + c, g - c).
        np.testing.assert_allclose(tiled.f - shift, dense.f, atol=1e-6)
        np.testing.assert_allclose(tiled.g + shift, dense.g, atol=1e-6)
    else:
        assert abs(shift) < 1e-6
        np.testing.assert_allclose(tiled.f, dense.f, atol=1e-6)
        np.testing.assert_allclose(tiled.g, dense.g, atol=1e-6)


def test_matches_pot_balanced():
    x, y = _clouds(n=23, m=31)
    C = _dense_cost(x, y)
    a, b = np.full(23, 1 / 23), np.full(31, 1 / 31)
    ref = ot.sinkhorn(
        a, b, C, 0.2, method="sinkhorn_log", stopThr=1e-13, numItermax=50_000
    )
    tiled = sinkhorn_tiled(x, y, epsilon=0.2, block_size=5, **TIGHT)
    np.testing.assert_allclose(_plan(tiled, C), ref, atol=1e-6, rtol=0)


def test_matches_pot_unbalanced():
    x, y = _clouds(n=23, m=31)
    C = _dense_cost(x, y)
    a, b = np.full(23, 1 / 23), np.full(31, 2 / 31)
    with warnings.catch_warnings():
        # POT notes that reg_type="entropy" uses the counting reference measure.
        warnings.simplefilter("ignore", UserWarning)
        ref = ot.unbalanced.sinkhorn_unbalanced(
            a,
            b,
            C,
            0.2,
            0.8,
            method="sinkhorn_stabilized",
            reg_type="entropy",
            numItermax=50_000,
            stopThr=1e-13,
        )
    tiled = sinkhorn_tiled(x, y, a, b, epsilon=0.2, reg_m=0.8, block_size=5, **TIGHT)
    np.testing.assert_allclose(_plan(tiled, C), ref, atol=1e-6, rtol=0)


def test_cost_scale_divides_cost():
    x, y = _clouds()
    tiled = sinkhorn_tiled(
        x, y, epsilon=0.05, cost_scale="median", block_size=7, **TIGHT
    )
    C = _dense_cost(x, y)
    # The median of 10,000 sampled pairs is close to the exact median.
    assert abs(tiled.cost_scale / np.median(C) - 1) < 0.1
    dense = sinkhorn(None, None, C / tiled.cost_scale, 0.05, **TIGHT)
    np.testing.assert_allclose(
        _plan(tiled, C / tiled.cost_scale), dense.plan, atol=1e-6
    )
    fixed = sinkhorn_tiled(x, y, epsilon=0.05, cost_scale=2.5, block_size=7, **TIGHT)
    dense = sinkhorn(None, None, C / 2.5, 0.05, **TIGHT)
    np.testing.assert_allclose(_plan(fixed, C / 2.5), dense.plan, atol=1e-6)


def test_underflowing_columns_are_recomputed_exactly(monkeypatch):
    # A far outlier target: its whole column underflows against the row maxima
    # at the first sweeps, so the exact column log-sum-exp must take over.
    x, y = _clouds(n=20, m=15, d=2)
    y[3] = [40.0, 40.0]
    calls = []
    original = _tiled._column_lse_exact

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_tiled, "_column_lse_exact", spy)
    C = _dense_cost(x, y)
    tiled = sinkhorn_tiled(x, y, epsilon=1.0, block_size=6, **TIGHT)
    dense = sinkhorn(None, None, C, 1.0, **TIGHT)
    assert calls
    np.testing.assert_allclose(_plan(tiled, C), dense.plan, atol=1e-6, rtol=0)
    np.testing.assert_allclose(_plan(tiled, C).sum(0), np.full(15, 1 / 15), atol=1e-9)


def test_zero_weights_carry_no_mass():
    x, y = _clouds()
    a = np.full(37, 1.0)
    a[[0, 36]] = 0.0
    a /= a.sum()
    C = _dense_cost(x, y)
    tiled = sinkhorn_tiled(x, y, a, epsilon=0.1, block_size=8, **TIGHT)
    dense = sinkhorn(a, None, C, 0.1, **TIGHT)
    assert np.isneginf(tiled.f[[0, 36]]).all()
    np.testing.assert_allclose(_plan(tiled, C), dense.plan, atol=1e-6, rtol=0)
    assert tiled.topk(k=3)[[0, 36]].nnz == 0


@pytest.fixture(scope="module")
def solved():
    x, y = _clouds(n=41, m=33, d=4, seed=3)
    res = sinkhorn_tiled(x, y, epsilon=0.5, block_size=9, **TIGHT)
    return res, _plan(res, _dense_cost(x, y)), y


def test_marginals_argmax_and_apply(solved):
    res, plan, y = solved
    np.testing.assert_allclose(res.row_marginal(), plan.sum(1), rtol=1e-10)
    np.testing.assert_allclose(res.col_marginal(), plan.sum(0), rtol=1e-10)
    np.testing.assert_allclose(res.row_marginal(), np.full(41, 1 / 41), atol=1e-11)
    np.testing.assert_array_equal(res.argmax_rows(), plan.argmax(1))
    np.testing.assert_array_equal(res.argmax_cols(), plan.argmax(0))
    np.testing.assert_allclose(res.apply(y), plan @ y, rtol=1e-10)
    np.testing.assert_allclose(res.apply(y[:, 0]), plan @ y[:, 0], rtol=1e-10)


@pytest.mark.parametrize("k", [1, 5, 33, 50])
def test_topk_matches_dense_topk(solved, k):
    res, plan, _ = solved
    top = res.topk(k=k).toarray()
    expected = np.zeros_like(plan)
    cols = np.argsort(-plan, axis=1)[:, : min(k, 33)]
    np.put_along_axis(expected, cols, np.take_along_axis(plan, cols, axis=1), axis=1)
    np.testing.assert_allclose(top, expected, rtol=1e-12, atol=0)
    assert res.topk(k=k).nnz == 41 * min(k, 33)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.999, 1.0])
def test_topk_mass_fraction_is_fewest_entries(solved, fraction):
    res, plan, _ = solved
    top = res.topk(mass_fraction=fraction)
    assert top.shape == plan.shape
    values = -np.sort(-plan, axis=1)
    cumulative = np.cumsum(values, axis=1)
    target = fraction * plan.sum(1)
    needed = (cumulative < target[:, None] * (1 - 1e-10)).sum(1) + 1
    if fraction == 1.0:
        needed = (plan > 0).sum(1)
    counts = np.diff(top.indptr)
    np.testing.assert_array_equal(counts, needed)
    dense = top.toarray()
    # The kept entries are each row's largest ones and they hold the fraction.
    for i in range(plan.shape[0]):
        kept = np.sort(dense[i][dense[i] > 0])[::-1]
        np.testing.assert_allclose(kept, values[i, : needed[i]], rtol=1e-12)
    assert np.all(dense.sum(1) >= target * (1 - 1e-10))


def test_topk_mass_fraction_capped_by_k(solved):
    res = solved[0]
    both = res.topk(k=3, mass_fraction=0.9)
    counts = np.diff(both.indptr)
    alone = np.diff(res.topk(mass_fraction=0.9).indptr)
    np.testing.assert_array_equal(counts, np.minimum(alone, 3))


def test_topk_mass_fraction_needs_more_than_fixed_k():
    # At moderate epsilon a row spreads its mass: 32 entries hold far less than 90%.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    res = sinkhorn_tiled(x, x, epsilon=0.5, cost_scale="median", block_size=64)
    rows = res.row_marginal()
    fixed = np.asarray(res.topk(k=32).sum(1)).ravel() / rows
    by_mass = np.asarray(res.topk(mass_fraction=0.9).sum(1)).ravel() / rows
    assert fixed.min() < 0.9
    assert by_mass.min() >= 0.9 - 1e-9


@pytest.mark.parametrize(
    ("cost", "cost_scale"), [("sqeuclidean", None), ("cosine", "median")]
)
def test_backend_parity(xp, cost, cost_scale):
    x, y = _clouds()
    opts = dict(
        epsilon=0.1,
        cost=cost,
        cost_scale=cost_scale,
        block_size=8,
        reg_m=(np.inf, 2.0),
        tol=1e-10,
    )
    ref = sinkhorn_tiled(x, y, **opts)
    res = sinkhorn_tiled(xp.asarray(x), xp.asarray(y), **opts)
    assert res.cost_scale == ref.cost_scale
    np.testing.assert_allclose(xp.to_numpy(res.f), ref.f, atol=1e-10)
    np.testing.assert_allclose(xp.to_numpy(res.g), ref.g, atol=1e-10)
    np.testing.assert_allclose(
        xp.to_numpy(res.row_marginal()), ref.row_marginal(), atol=1e-12
    )
    np.testing.assert_allclose(
        xp.to_numpy(res.col_marginal()), ref.col_marginal(), atol=1e-12
    )
    np.testing.assert_array_equal(xp.to_numpy(res.argmax_rows()), ref.argmax_rows())
    np.testing.assert_array_equal(xp.to_numpy(res.argmax_cols()), ref.argmax_cols())
    np.testing.assert_allclose(
        xp.to_numpy(res.apply(xp.asarray(y))), ref.apply(y), atol=1e-12
    )
    np.testing.assert_allclose(
        res.topk(k=4).toarray(), ref.topk(k=4).toarray(), atol=1e-12
    )
    assert type(res.f) is type(xp.asarray(x))


def test_torch_float32_stays_float32():
    torch = pytest.importorskip("torch")
    x, y = _clouds()
    x32, y32 = (
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y, dtype=torch.float32),
    )
    res = sinkhorn_tiled(x32, y32, epsilon=0.1, block_size=8, tol=1e-5)
    ref = sinkhorn_tiled(x, y, epsilon=0.1, block_size=8, tol=1e-5)
    assert res.f.dtype == torch.float32 and res.converged
    np.testing.assert_allclose(res.f.numpy(), ref.f, atol=1e-4)


def test_float32_numpy_marginal_error():
    x, y = _clouds(n=300, m=250, d=8)
    res = sinkhorn_tiled(
        x.astype(np.float32),
        y.astype(np.float32),
        epsilon=0.05,
        cost_scale="median",
        tol=1e-5,
    )
    assert res.f.dtype == np.float32 and res.converged
    assert np.abs(res.col_marginal() - 1 / 250).sum() < 1e-5
    assert np.abs(res.row_marginal() - 1 / 300).sum() < 2e-5


def test_warm_start_and_annealing():
    x, y = _clouds()
    C = _dense_cost(x, y)
    cold = sinkhorn_tiled(x, y, epsilon=0.1, block_size=8, tol=1e-9, max_iter=20_000)
    warm = sinkhorn_tiled(
        x, y, epsilon=0.1, block_size=8, tol=1e-9, init=(cold.f, cold.g)
    )
    assert cold.converged and warm.converged
    assert warm.n_iter < cold.n_iter
    assert warm.n_iter <= 10
    annealed = sinkhorn_tiled(
        x, y, epsilon=0.1, block_size=8, tol=1e-11, epsilon_init=2.0, max_iter=20_000
    )
    direct = sinkhorn(None, None, C, 0.1, tol=1e-11, max_iter=50_000)
    np.testing.assert_allclose(_plan(annealed, C), direct.plan, atol=1e-6)


def test_convergence_warning():
    x, y = _clouds()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        res = sinkhorn_tiled(x, y, epsilon=0.01, max_iter=3)
    assert not res.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn_tiled(x, y, epsilon=0.01, max_iter=3, warn=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(x=np.ones(5)), "x must be a 2-D"),
        (dict(y=np.ones((0, 3))), "y must be non-empty"),
        (dict(y=np.ones((4, 2))), "same number of features"),
        (dict(x=np.full((5, 3), np.nan)), "x must contain only finite"),
        (dict(epsilon=0.0), "epsilon"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(a=np.ones(4)), "a must be a 1-D array of length 5"),
        (dict(b=-np.ones(6)), "b must be non-negative"),
        (dict(cost="euclid"), "cost must be one of"),
        (dict(cost_scale="mean"), "cost_scale"),
        (dict(cost_scale=0.0), "cost_scale"),
        (dict(block_size=0), "block_size"),
        (dict(reg_m=-1.0), "reg_m"),
        (dict(max_iter=0), "max_iter"),
        (dict(tol=0.0), "tol"),
        (dict(check_every=1.5), "check_every"),
        (dict(init=(np.zeros(5),)), "init"),
        (dict(init=(np.zeros(4), np.zeros(6))), "init"),
        (dict(x=np.zeros((5, 3)), cost="cosine"), "x has zero-norm rows"),
    ],
)
def test_bad_input(kwargs, match):
    rng = np.random.default_rng(0)
    args = dict(x=rng.normal(size=(5, 3)), y=rng.normal(size=(6, 3)), epsilon=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sinkhorn_tiled(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(), "k or mass_fraction"),
        (dict(k=0), "k must be a positive integer"),
        (dict(mass_fraction=1.5), "mass_fraction"),
        (dict(mass_fraction=0.0), "mass_fraction"),
    ],
)
def test_topk_bad_input(solved, kwargs, match):
    res = solved[0]
    with pytest.raises(ValueError, match=match):
        res.topk(**kwargs)


def test_apply_bad_shape(solved):
    with pytest.raises(ValueError, match="z must have shape"):
        solved[0].apply(np.ones(5))


def test_default_block_size_about_64mb():
    assert _tiled.default_block_size(50_000, 4) * 50_000 * 4 <= 64 * 2**20
    assert _tiled.default_block_size(50_000, 4) * 50_000 * 4 > 60 * 2**20
    assert _tiled.default_block_size(10**9, 8) == 1


def test_torch_inputs_requiring_grad_are_detached():
    torch = pytest.importorskip("torch")
    x, y = _clouds()
    xt = torch.tensor(x, requires_grad=True)
    res = sinkhorn_tiled(xt, torch.tensor(y), epsilon=0.1, block_size=8, tol=1e-9)
    assert not res.f.requires_grad and not res.g.requires_grad
    ref = sinkhorn_tiled(x, y, epsilon=0.1, block_size=8, tol=1e-9)
    np.testing.assert_allclose(res.f.numpy(), ref.f, atol=1e-12)
