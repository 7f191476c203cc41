"""Bad input across solvers and estimators: a clear error, and fitted state unchanged.

Each row of the tables names the mistake a user makes, the call, and a pattern
the error message must contain so that it points at the problem.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import hash as joblib_hash
from sklearn.exceptions import NotFittedError

from skalign import ActiveOTQuerier, AdaptiveOTDomainAdapter
from skalign.alignment import GWEmbeddingAligner
from skalign.ot import (
    adaptive_ot,
    gw_loss,
    implicit_cost_gradient,
    sinkhorn,
    sinkhorn_tiled,
)
from skalign.utils import stack_domains

RNG = np.random.default_rng(0)
COST = RNG.random((4, 5))
POINTS = RNG.normal(size=(6, 3))

SOLVER_CASES = [
    (
        "NaN in the cost",
        lambda: sinkhorn(None, None, np.where(COST > 0.5, np.nan, COST), 0.1),
        "cost",
    ),
    (
        "infinite cost",
        lambda: sinkhorn(None, None, np.full((2, 2), np.inf), 0.1),
        "cost",
    ),
    (
        "negative weights",
        lambda: sinkhorn(-np.ones(4), None, COST, 0.1),
        "a must be non-negative",
    ),
    (
        "weights of the wrong length",
        lambda: sinkhorn(None, np.ones(4) / 4, COST, 0.1),
        "b must be a 1-D array of length 5",
    ),
    ("epsilon zero", lambda: sinkhorn(None, None, COST, 0.0), "epsilon must be > 0"),
    ("epsilon negative", lambda: adaptive_ot(None, None, COST, -1.0), "epsilon"),
    ("empty cost", lambda: sinkhorn(None, None, np.zeros((0, 3)), 0.1), "non-empty"),
    ("1-D cost", lambda: sinkhorn(None, None, np.ones(3), 0.1), "2-D"),
    (
        "non-integer max_iter",
        lambda: sinkhorn(None, None, COST, 0.1, max_iter=2.5),
        "max_iter",
    ),
    (
        "point clouds of different dimension",
        lambda: sinkhorn_tiled(POINTS, POINTS[:, :2], epsilon=0.1),
        "dimension|features|columns",
    ),
    (
        "gradient of the wrong shape",
        lambda: implicit_cost_gradient(np.full((4, 5), 0.05), np.ones((5, 4)), 0.1),
        "grad_plan",
    ),
    (
        "GW plan of the wrong shape",
        lambda: gw_loss(np.eye(3), np.eye(4), np.ones((4, 3))),
        "plan",
    ),
]


@pytest.mark.parametrize(
    "call, match", [case[1:] for case in SOLVER_CASES], ids=[c[0] for c in SOLVER_CASES]
)
def test_solver_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- estimators ---------------------------------------------------------------


def _gw_data():
    rng = np.random.default_rng(1)
    return stack_domains(rng.normal(size=(24, 4)), rng.normal(size=(24, 3)))[0]


def _da_data():
    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 0.5]
    y = np.r_[np.arange(30) % 3, -np.ones(30, dtype=int)]
    return X, y


def _active_data():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(15, 2))
    partner = rng.permutation(15)  # source row i is target row partner[i]
    source = target[partner] + 0.01 * rng.normal(size=(15, 2))
    known = np.where(np.arange(15) < 4, partner, -1)
    return np.r_[source, target], np.r_[known, np.full(15, -2)]


def _fitted(name):
    if name == "gw":
        return GWEmbeddingAligner(max_epochs=2, batch_size=24, random_state=0).fit(
            _gw_data()
        )
    if name == "da":
        return AdaptiveOTDomainAdapter(max_iter=2, random_state=0).fit(*_da_data())
    X, y = _active_data()
    return ActiveOTQuerier(random_state=0, epsilon=0.05).fit(X, y)


def _fitted_state(estimator):
    """Hash of every fitted attribute; torch networks by their weights."""
    state = {}
    for key, value in vars(estimator).items():
        if not key.endswith("_"):
            continue
        module = getattr(value, "module_", value)
        if hasattr(module, "state_dict"):
            value = {
                k: t.detach().cpu().numpy() for k, t in module.state_dict().items()
            }
        state[key] = joblib_hash(value)
    return state


def _with_inf(X):
    X = X.copy()
    X[0, 0] = np.inf
    return X


def _both_blocks_filled(X):
    X = X.copy()
    X[0, -1] = 1.0
    return X


ESTIMATOR_CASES = [
    (
        "gw: infinity in X",
        "gw",
        lambda est: est.fit(_with_inf(_gw_data())),
        ValueError,
        "infinity|inf",
    ),
    (
        "gw: only one domain",
        "gw",
        lambda est: est.fit(_gw_data()[:24]),
        ValueError,
        "target|domain|block",
    ),
    (
        "gw: a row fills both column blocks",
        "gw",
        lambda est: est.fit(_both_blocks_filled(_gw_data())),
        ValueError,
        "block|sample_domain",
    ),
    (
        "gw: epsilon zero",
        "gw",
        lambda est: est.set_params(epsilon=0.0).fit(_gw_data()),
        ValueError,
        "epsilon",
    ),
    (
        "gw: transform with other columns",
        "gw",
        lambda est: est.transform(_gw_data()[:, :5]),
        ValueError,
        "features",
    ),
    (
        "gw: 1-D input",
        "gw",
        lambda est: est.fit(_gw_data()[:, 0]),
        ValueError,
        "2D|2-D",
    ),
    (
        "da: all labels -1",
        "da",
        lambda est: est.fit(_da_data()[0], -np.ones(60, dtype=int)),
        ValueError,
        "source|label",
    ),
    (
        "da: NaN in X",
        "da",
        lambda est: est.fit(
            np.where(_da_data()[0] > 2.0, np.nan, _da_data()[0]), _da_data()[1]
        ),
        ValueError,
        "NaN",
    ),
    (
        "da: explicit sample_domain without target",
        "da",
        lambda est: est.fit(*_da_data(), sample_domain=np.ones(60, dtype=int)),
        ValueError,
        "target",
    ),
    (
        "da: negative epsilon",
        "da",
        lambda est: est.set_params(epsilon=-0.1).fit(*_da_data()),
        ValueError,
        "epsilon",
    ),
    (
        "da: predict with other columns",
        "da",
        lambda est: est.predict(_da_data()[0][:, :2]),
        ValueError,
        "features",
    ),
    (
        "da: string features",
        "da",
        lambda est: est.fit(np.full((60, 3), "a"), _da_data()[1]),
        ValueError,
        "string|float|convert",
    ),
    (
        "da: continuous labels",
        "da",
        lambda est: est.fit(_da_data()[0], np.r_[np.linspace(0, 1, 30), -np.ones(30)]),
        ValueError,
        "label|continuous|class",
    ),
    (
        "active: partner outside the target rows",
        "active",
        lambda est: est.fit(_active_data()[0], np.r_[[40], _active_data()[1][1:]]),
        ValueError,
        "partner|target",
    ),
    (
        "active: budget larger than the pool",
        "active",
        lambda est: est.query(n_instances=100, candidates=[5, 6, 7]),
        ValueError,
        "n_instances|pool|candidates",
    ),
    (
        "active: oracle answers out of range",
        "active",
        lambda est: est.run_active_loop(
            lambda rows: np.full(len(rows), 99), budget=2, n_batches=1
        ),
        ValueError,
        "oracle|partner",
    ),
    (
        "active: adjacency of the wrong shape",
        "active",
        lambda est: est.fit(*_active_data(), adjacency=(sp.eye(15), sp.eye(14))),
        ValueError,
        "adjacency",
    ),
    (
        "active: candidates that are target rows",
        "active",
        lambda est: est.query(n_instances=1, candidates=[20]),
        ValueError,
        "candidates|source",
    ),
    (
        "active: NaN in X",
        "active",
        lambda est: est.fit(
            np.where(_active_data()[0] > 1.5, np.nan, _active_data()[0]),
            _active_data()[1],
        ),
        ValueError,
        "NaN",
    ),
]


@pytest.mark.parametrize(
    "name, call, error, match",
    [case[1:] for case in ESTIMATOR_CASES],
    ids=[c[0] for c in ESTIMATOR_CASES],
)
def test_estimator_bad_input_keeps_fitted_state(name, call, error, match):
    estimator = _fitted(name)
    params = estimator.get_params(deep=False)
    before = _fitted_state(estimator)
    with pytest.raises(error, match=match):
        call(estimator)
    estimator.set_params(**params)
    assert _fitted_state(estimator) == before


@pytest.mark.parametrize(
    "estimator, call",
    [
        (GWEmbeddingAligner(), lambda est: est.transform(_gw_data())),
        (AdaptiveOTDomainAdapter(), lambda est: est.predict(_da_data()[0])),
        (ActiveOTQuerier(), lambda est: est.query(n_instances=1)),
    ],
    ids=["gw-transform", "da-predict", "active-query"],
)
def test_use_before_fit_raises_not_fitted(estimator, call):
    with pytest.raises(NotFittedError):
        call(estimator)
