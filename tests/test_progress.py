"""``verbose`` reports progress of long fits: per round, per epoch, per query batch.

Each estimator must print one progress line per unit of work when
``verbose > 0`` and nothing when ``verbose=0``.
"""

import re
import warnings

import numpy as np
import pytest

from skalign import (
    ActiveOTQuerier,
    AdaptiveOTDomainAdapter,
    DeepAdaptiveOTDomainAdapter,
    GWEmbeddingAligner,
)
from skalign.datasets import make_isometric_pair, make_noisy_graph_pair

# A row of skorch's per-epoch table starts with the epoch number.
EPOCH_ROW = re.compile(r"^\s*(\d+)\s+\S", re.MULTILINE)


@pytest.fixture(autouse=True)
def _one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _domain_adaptation_table():
    rng = np.random.RandomState(0)
    Xs = np.r_[rng.randn(20, 2), rng.randn(20, 2) + np.array([4.0, 0.0])]
    X = np.r_[Xs, Xs + 1.0]
    y = np.r_[np.repeat([0, 1], 20), -np.ones(40, dtype=int)]
    return X, y


def _fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        # Few rounds/epochs on purpose: a ConvergenceWarning is expected.
        warnings.simplefilter("ignore")
        return estimator.fit(*args, **kwargs)


@pytest.mark.parametrize("verbose", [0, 1])
def test_adaptive_ot_adapter_prints_one_line_per_round(capsys, verbose):
    X, y = _domain_adaptation_table()
    model = _fit_quietly(
        AdaptiveOTDomainAdapter(max_iter=3, tol=0.0, verbose=verbose), X, y
    )
    lines = re.findall(
        r"^\[AdaptiveOTDomainAdapter\] round (\d+): mass ([0-9.]+)",
        capsys.readouterr().out,
        re.MULTILINE,
    )
    if not verbose:
        assert lines == []
        return
    assert [int(r) for r, _ in lines] == list(range(1, model.n_iter_ + 1))
    # The printed mass of the last round is the fitted one.
    assert float(lines[-1][1]) == pytest.approx(model.transported_mass_, abs=1e-3)


@pytest.mark.parametrize("verbose", [0, 1])
def test_gw_aligner_prints_one_row_per_epoch(capsys, verbose):
    data = make_isometric_pair(40, n_features=4, n_clusters=2, random_state=0)
    aligner = GWEmbeddingAligner(
        max_epochs=3, batch_size=20, random_state=0, verbose=verbose
    )
    aligner = _fit_quietly(aligner, data.X)
    out = capsys.readouterr().out
    if not verbose:
        assert out == ""
        return
    assert "epsilon" in out and "train_loss" in out
    epochs = [int(e) for e in EPOCH_ROW.findall(out)]
    # One table per training run (several with restarts), each counting 1, 2, ...
    starts = [i for i, e in enumerate(epochs) if e == 1]
    tables = [
        epochs[i:j] for i, j in zip(starts, [*starts[1:], len(epochs)], strict=True)
    ]
    assert tables and starts[0] == 0
    for table in tables:
        assert table == list(range(1, len(table) + 1))
    assert aligner.n_iter_ in [len(table) for table in tables]


@pytest.mark.parametrize("verbose", [0, 1])
def test_deep_adapter_prints_one_row_per_epoch(capsys, verbose):
    X, y = _domain_adaptation_table()
    model = _fit_quietly(
        DeepAdaptiveOTDomainAdapter(
            max_epochs=2, batch_size=20, random_state=0, verbose=verbose
        ),
        X,
        y,
    )
    out = capsys.readouterr().out
    if not verbose:
        assert out == ""
        return
    assert [int(e) for e in EPOCH_ROW.findall(out)] == list(range(1, model.n_iter_ + 1))


@pytest.mark.parametrize("verbose", [0, 1])
def test_active_querier_prints_solves_and_query_batches(capsys, verbose):
    data = make_noisy_graph_pair(30, random_state=0)
    querier = ActiveOTQuerier(epsilon=1e-2, random_state=0, verbose=verbose)
    querier.fit(data.X, data.y, adjacency=data.adjacency)
    querier.run_active_loop(lambda rows: data.partner[rows], budget=4, n_batches=2)
    out = capsys.readouterr().out
    if not verbose:
        assert out == ""
        return
    solves = re.findall(r"^\[ActiveOTQuerier\] solved with (\d+) anchors", out, re.M)
    batches = re.findall(r"^\[ActiveOTQuerier\] batch (\d+)/(\d+)", out, re.M)
    assert batches == [("1", "2"), ("2", "2")]
    # One solve in fit and one per taught batch, each with 2 more anchors.
    anchors = [int(a) for a in solves]
    assert len(anchors) == 3
    assert np.diff(anchors).tolist() == [2, 2]
