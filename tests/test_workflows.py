"""What a scikit-learn user does with every estimator: pipelines, searches in
parallel and on dask, metadata routing of ``sample_domain``, persistence,
reproducibility, progress output and devices."""

import pickle

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skalign import ActiveOTQuerier, AdaptiveOTDomainAdapter, GWEmbeddingAligner
from skalign.datasets import (
    make_isometric_pair,
    make_noisy_graph_pair,
)
from skalign.utils import apply_by_chunks

# --- small problems, one per estimator -----------------------------------------


def _gw_case():
    data = make_isometric_pair(60, n_features=6, n_clusters=3, random_state=0)
    estimator = GWEmbeddingAligner(max_epochs=3, batch_size=64, random_state=0)
    return estimator, data.X, None, {}


def _da_case():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    labels = np.repeat([0, 1, 2], 20)
    source = centres[labels] + rng.normal(scale=0.5, size=(60, 2))
    target = centres[labels] + [1.5, 1.0] + rng.normal(scale=0.5, size=(60, 2))
    X = np.r_[source, target]
    y = np.r_[labels, -np.ones(60, dtype=int)]
    return AdaptiveOTDomainAdapter(max_iter=3, random_state=0), X, y, {}


def _active_case():
    data = make_noisy_graph_pair(40, random_state=0)
    estimator = ActiveOTQuerier(epsilon=0.05, random_state=0)
    return estimator, data.X, data.y, {"adjacency": data.adjacency}


CASES = {"gw": _gw_case, "da": _da_case, "active": _active_case}
OUTPUT_METHOD = {
    "gw": "transform",
    "da": "predict_proba",
    "active": "decision_function",
}


def _fit(name):
    estimator, X, y, params = CASES[name]()
    estimator.fit(X, y, **params) if y is not None else estimator.fit(X, **params)
    return estimator, X


@pytest.mark.parametrize("name", CASES)
def test_pickle_and_joblib_round_trips_give_identical_outputs(name, tmp_path):
    estimator, X = _fit(name)
    expected = getattr(estimator, OUTPUT_METHOD[name])(X)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(getattr(restored, OUTPUT_METHOD[name])(X), expected)
    joblib.dump(estimator, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(getattr(loaded, OUTPUT_METHOD[name])(X), expected)


@pytest.mark.parametrize("name", CASES)
def test_same_random_state_gives_same_result(name):
    first, X = _fit(name)
    second, _ = _fit(name)
    method = OUTPUT_METHOD[name]
    np.testing.assert_allclose(
        getattr(first, method)(X), getattr(second, method)(X), rtol=0, atol=1e-12
    )


# --- search inside a pipeline, in parallel ------------------------------------


def test_gw_grid_search_in_pipeline_parallel():
    _, X, _, _ = _gw_case()
    pipeline = make_pipeline(
        StandardScaler(),
        GWEmbeddingAligner(max_epochs=3, batch_size=64, random_state=0),
    )
    search = GridSearchCV(
        pipeline,
        {
            "gwembeddingaligner__epsilon": [0.05, 0.2],
            "gwembeddingaligner__spectral_weight": [0.0, 0.1],
        },
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=2,
    )
    search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)
    assert search.best_estimator_.transform(X).shape[0] == X.shape[0]


def test_da_grid_search_in_pipeline_parallel_with_label_free_scorer():
    skada_metrics = pytest.importorskip("skada.metrics")
    _, X, y, _ = _da_case()
    pipeline = make_pipeline(
        StandardScaler(), AdaptiveOTDomainAdapter(max_iter=3, random_state=0)
    )
    search = GridSearchCV(
        pipeline,
        {
            "adaptiveotdomainadapter__epsilon": [0.02, 0.1],
            "adaptiveotdomainadapter__beta": [0.5, 1.0],
        },
        cv=KFold(3, shuffle=True, random_state=0),
        scoring=skada_metrics.PredictionEntropyScorer(),
        n_jobs=2,
    )
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.predict(X[60:]).shape == (60,)


def test_sample_domain_is_routed_through_pipeline_and_search():
    skada_metrics = pytest.importorskip("skada.metrics")
    _, X, y, _ = _da_case()
    sample_domain = np.r_[np.ones(60, dtype=int), -2 * np.ones(60, dtype=int)]
    # Target labels are present but hidden by sample_domain: only routing tells.
    y_full = np.r_[y[:60], y[:60]]
    with sklearn.config_context(enable_metadata_routing=True):
        adapter = AdaptiveOTDomainAdapter(max_iter=2, random_state=0)
        adapter.set_fit_request(sample_domain=True)
        adapter.set_score_request(sample_domain=True)
        pipeline = make_pipeline(StandardScaler(), adapter)
        scorer = skada_metrics.PredictionEntropyScorer()
        scorer.set_score_request(sample_domain=True)
        search = GridSearchCV(
            pipeline,
            {"adaptiveotdomainadapter__epsilon": [0.05, 0.1]},
            cv=KFold(2, shuffle=True, random_state=0),
            scoring=scorer,
        )
        search.fit(X, y_full, sample_domain=sample_domain)
        fitted = search.best_estimator_[-1]
        assert fitted.source_mass_ is not None
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


# --- beyond one machine -------------------------------------------------------


@pytest.mark.dask
def test_search_runs_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    _, X, y, _ = _da_case()
    search = GridSearchCV(
        AdaptiveOTDomainAdapter(max_iter=2, random_state=0),
        {"epsilon": [0.02, 0.1], "beta": [0.5, 1.0]},
        cv=KFold(2, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        search.fit(X, y)
    reference = GridSearchCV(
        AdaptiveOTDomainAdapter(max_iter=2, random_state=0),
        {"epsilon": [0.02, 0.1], "beta": [0.5, 1.0]},
        cv=KFold(2, shuffle=True, random_state=0),
    ).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )


@pytest.mark.parametrize("name", ["gw", "da"])
def test_inductive_outputs_run_chunk_by_chunk_over_dask(name):
    da = pytest.importorskip("dask.array")
    estimator, X = _fit(name)
    method = OUTPUT_METHOD[name]
    # Many copies of the fitted rows: the lazy result must equal the eager one.
    big = da.concatenate([da.from_array(X, chunks=(37, X.shape[1]))] * 50)
    lazy = apply_by_chunks(estimator, big, method, chunk_size=500)
    assert isinstance(lazy, da.Array)
    expected = np.concatenate([getattr(estimator, method)(X)] * 50)
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-6, atol=1e-6)


def _deep_da_case():
    from skalign.adaptation import DeepAdaptiveOTDomainAdapter

    _, X, y, params = _da_case()
    return DeepAdaptiveOTDomainAdapter(max_epochs=5, random_state=0), X, y, params


# The estimators that train Torch networks, and the output compared across devices.
DEVICE_CASES = {"gw": (_gw_case, "transform"), "deep_da": (_deep_da_case, "predict")}


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(DEVICE_CASES))
def test_cuda_fit_agrees_with_cpu(name):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    make_case, method = DEVICE_CASES[name]
    results = {}
    for device in ("cpu", "cuda"):
        estimator, X, y, params = make_case()
        estimator.set_params(device=device)
        estimator.fit(X, y, **params) if y is not None else estimator.fit(X, **params)
        results[device] = getattr(estimator, method)(X)
    if method == "transform":
        # Same seed, float64 on both devices: only the reduction order differs.
        assert np.all(np.isfinite(results["cuda"]))
        np.testing.assert_allclose(results["cuda"], results["cpu"], atol=1e-4)
    else:
        # float32 training: a few borderline rows may flip.
        assert np.mean(results["cuda"] == results["cpu"]) >= 0.95


@pytest.mark.parametrize("routing", [False, True])
def test_active_search_in_pipeline_by_held_out_anchors_parallel(routing):
    from skalign.active import AnchorHoldoutSearchCV

    data = make_noisy_graph_pair(40, anchor_fraction=0.4, random_state=0)
    querier = ActiveOTQuerier(epsilon=0.05, random_state=0)
    grid = {
        "activeotquerier__epsilon": [0.01, 0.1],
        "activeotquerier__beta": [0.5, 0.9],
    }
    with sklearn.config_context(enable_metadata_routing=routing):
        if routing:
            querier.set_fit_request(adjacency=True)
            fit_params = {"adjacency": data.adjacency}
        else:
            fit_params = {"activeotquerier__adjacency": data.adjacency}
        pipeline = make_pipeline(StandardScaler(), querier)
        search = AnchorHoldoutSearchCV(
            pipeline, grid, n_splits=2, n_jobs=2, random_state=0
        ).fit(data.X, data.y, **fit_params)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.all((scores > 0) & (scores <= 1))
    assert search.best_params_ == search.cv_results_["params"][np.argmax(scores)]
    # The refitted pipeline saw every known partner: they rank first.
    assert search.score(data.X, data.y) == pytest.approx(1.0)


def test_scores_work_in_a_pipeline_with_metadata_routing_enabled():
    # skada turns metadata routing on when it is imported; Pipeline.score then
    # forwards sample_weight, which every estimator's score must accept.
    with sklearn.config_context(enable_metadata_routing=True):
        for name in CASES:
            estimator, X, y, params = CASES[name]()
            pipeline = make_pipeline(StandardScaler(), estimator)
            if params:
                estimator.set_fit_request(**dict.fromkeys(params, True))
            pipeline.fit(X, y, **params) if y is not None else pipeline.fit(X)
            score = pipeline.score(X, y) if y is not None else pipeline.score(X)
            assert np.isfinite(score), name
