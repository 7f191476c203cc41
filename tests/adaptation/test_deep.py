"""Tests of DeepAdaptiveOTDomainAdapter (learned-features regime, skorch)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")

import torch
from test_adaptive_ot import make_shift

from skalign.adaptation import DeepAdaptiveOTDomainAdapter
from skalign.adaptation._torch_modules import AOTNet, AOTNeuralNet
from skalign.ot import adaptive_ot

SMALL = dict(
    hidden_layer_sizes=(32,), n_components=8, max_epochs=40, batch_size=64, lr=1e-2
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_transport_term_improves_over_source_only_network():
    X, y, domain, yt, _ = make_shift()
    accuracies = {}
    for lam in (0.0, 1.0):
        model = DeepAdaptiveOTDomainAdapter(lambda_ot=lam, random_state=0, **SMALL).fit(
            X, y
        )
        accuracies[lam] = np.mean(model.predict(X[domain < 0]) == yt)
        assert model.n_iter_ == SMALL["max_epochs"]
        masses = [
            b["ot_mass"] for b in model.net_.history[-1, "batches"] if "ot_mass" in b
        ]
        if lam:
            assert 0 < np.mean(masses) <= 1
        else:
            assert not masses
    assert accuracies[0.0] < 0.9
    assert accuracies[1.0] >= accuracies[0.0] + 0.05


@pytest.mark.slow
def test_features_do_not_collapse_on_digits(shared_data_dir):
    """The transport term must not shrink the features to a point.

    With the scale of the distances held constant, its gradient grew as the
    features shrank: on this slice the network ended at chance on its own
    source rows (0.114). The differentiated scale makes the term
    scale-invariant.
    """
    from sklearn.preprocessing import normalize

    from skalign.datasets import load_mnist_usps

    data = load_mnist_usps("mnist", "usps", data_home=shared_data_dir, random_state=0)
    rng = np.random.default_rng(0)
    rows = np.r_[
        rng.choice(np.flatnonzero(data.sample_domain > 0), 500, replace=False),
        rng.choice(np.flatnonzero(data.sample_domain < 0), 500, replace=False),
    ]
    X, y = normalize(data.X[rows]), data.y[rows]
    model = DeepAdaptiveOTDomainAdapter(max_epochs=40, random_state=0).fit(X, y)
    assert np.mean(model.predict(X[:500]) == y[:500]) >= 0.5


def test_danskin_gradient_matches_finite_differences_of_ot_value():
    """d/dtheta of min_T <C(theta), T> + eps H(T) equals <T*, dC/dtheta> (T* detached)."""
    torch.manual_seed(0)
    module = AOTNet(3, (5,), 4, 2).double()
    net = AOTNeuralNet(module, alpha=1.0, beta=1.0, epsilon=0.1, lambda_ot=1.0)
    xs, xt = (
        torch.randn(6, 3, dtype=torch.float64),
        torch.randn(5, 3, dtype=torch.float64),
    )
    ys = torch.tensor([0, 1, 0, 1, 1, 0])
    weight = module.features[0].weight

    def ot_value():
        _, fs, logits_t, ft = module(xs, xt)
        # The scale moves with theta in the loss and in this oracle.
        cost = net.aot_cost(fs, ft, ys, logits_t)
        res = adaptive_ot(None, None, cost.detach(), 0.1, tol=1e-12, max_iter=20000)
        plan = res.plan
        # Entropic objective <C, T> + eps * sum T (log T - 1) at the optimum.
        value = (plan * cost).sum() + 0.1 * (plan * (torch.log(plan) - 1)).sum()
        return value, (plan * cost).sum()

    _, surrogate = ot_value()
    (grad,) = torch.autograd.grad(surrogate, weight)
    direction = torch.randn_like(weight)
    h = 1e-5
    with torch.no_grad():
        weight += h * direction
        up = ot_value()[0].item()
        weight -= 2 * h * direction
        down = ot_value()[0].item()
        weight += h * direction
    numeric = (up - down) / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(numeric, rel=1e-3, abs=1e-7)


def test_reproducible_and_transform_shape():
    X, y, _, _, _ = make_shift(n_per_class=20)
    params = dict(SMALL, max_epochs=3)
    one = DeepAdaptiveOTDomainAdapter(random_state=1, **params).fit(X, y)
    two = DeepAdaptiveOTDomainAdapter(random_state=1, **params).fit(X, y)
    np.testing.assert_allclose(one.predict_proba(X), two.predict_proba(X), atol=1e-6)
    assert one.transform(X).shape == (X.shape[0], 8)
    np.testing.assert_allclose(one.predict_proba(X).sum(1), 1.0)


def test_bad_inputs():
    X, y, _, _, _ = make_shift(n_per_class=10)
    with pytest.raises(ValueError, match="no labelled source"):
        DeepAdaptiveOTDomainAdapter(max_epochs=1).fit(X, -np.ones_like(y))
    with pytest.raises(ValueError, match="epsilon"):
        DeepAdaptiveOTDomainAdapter(epsilon=0.0).fit(X, y)
    with pytest.raises(ValueError, match="No target rows"):
        DeepAdaptiveOTDomainAdapter(max_epochs=1).fit(
            X, y, sample_domain=np.ones_like(y)
        )
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DeepAdaptiveOTDomainAdapter(max_epochs=1).fit(bad, y)


def test_label_shift_bounds_keep_absent_class_out_of_partial_target():
    """Class bounds from the label-shift estimate, as in the fixed-feature adapter.

    The target lacks class 2. With uniform batch bounds (``None``) the
    transport term pulls target rows toward class 2's source rows (15% of
    the target predicted as class 2 on this seed); with the estimated
    proportions, class 2 may send almost no mass.
    """
    X, y, domain, yt, _ = make_shift(target_classes=[0, 1], seed=0)
    absent, accuracy, prior = {}, {}, {}
    for label_shift in ("predictions", None):
        model = DeepAdaptiveOTDomainAdapter(
            label_shift=label_shift, random_state=0, **SMALL
        ).fit(X, y)
        predicted = model.predict(X[domain < 0])
        absent[label_shift] = np.mean(predicted == 2)
        accuracy[label_shift] = np.mean(predicted == yt)
        prior[label_shift] = model.target_prior_
        np.testing.assert_allclose(model.target_prior_.sum(), 1.0)
    assert prior["predictions"][2] < 0.1
    assert absent["predictions"] <= 0.02 < absent[None]
    assert accuracy["predictions"] > accuracy[None]
    source_share = np.bincount(y[domain > 0]) / np.sum(domain > 0)
    np.testing.assert_allclose(prior[None], source_share)


def test_source_bounds_of_a_batch():
    """Row bound ``class_ratio[y] / n``; the batch plan respects it."""
    net = AOTNeuralNet(AOTNet(2, (4,), 3, 2), class_ratio=np.array([1.5, 0.5]))
    y = torch.tensor([0, 1, 1, 0])
    bounds = net.source_bounds(y)
    np.testing.assert_allclose(bounds.numpy(), [0.375, 0.125, 0.125, 0.375])
    cost = -torch.ones(4, 4, dtype=torch.float64)
    plan = adaptive_ot(bounds, None, cost, 0.05, tol=1e-10, max_iter=5000).plan
    # Every pair attracts mass and the bounds sum to 1 on both sides, so each
    # row is saturated at its class's bound.
    np.testing.assert_allclose(plan.sum(1).numpy(), bounds.numpy(), atol=1e-6)
    assert AOTNeuralNet(AOTNet(2, (4,), 3, 2)).source_bounds(y) is None
