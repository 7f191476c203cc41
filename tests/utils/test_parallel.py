import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from skalign.utils import apply_by_chunks


class _DomainEcho:
    """Row-wise method that needs a per-row parameter, like sample_domain."""

    def transform(self, X, sample_domain=None):
        return np.c_[X[:, :1], sample_domain]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    y = (X[:, 0] > 0).astype(int)
    return X, y


def test_numpy_chunks_match_full_call(data):
    X, y = data
    clf = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(
        apply_by_chunks(clf, X, "predict", chunk_size=77), clf.predict(X)
    )
    np.testing.assert_allclose(
        apply_by_chunks(clf, X, "predict_proba", chunk_size=77), clf.predict_proba(X)
    )


def test_row_parameters_are_split_with_rows(data):
    X, _ = data
    domains = np.where(np.arange(len(X)) % 3 == 0, 1, -2)
    out = apply_by_chunks(_DomainEcho(), X, chunk_size=64, sample_domain=domains)
    np.testing.assert_array_equal(out[:, 1], domains)


def test_dask_array_stays_lazy_and_matches(data):
    da = pytest.importorskip("dask.array")
    X, y = data
    pca = PCA(n_components=2).fit(X)
    lazy = apply_by_chunks(pca, da.from_array(X, chunks=(100, 2)), chunk_size=250)
    assert isinstance(lazy, da.Array)
    assert lazy.numblocks == (4, 1)
    np.testing.assert_allclose(lazy.compute(), pca.transform(X))
    clf = LogisticRegression().fit(X, y)
    labels = apply_by_chunks(clf, da.from_array(X, chunks=300), "predict")
    np.testing.assert_array_equal(labels.compute(), clf.predict(X))
    domains = np.where(np.arange(len(X)) % 2 == 0, 1, -2)
    echoed = apply_by_chunks(
        _DomainEcho(), da.from_array(X), chunk_size=128, sample_domain=domains
    )
    np.testing.assert_array_equal(echoed.compute()[:, 1], domains)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "fly"}, "method must name"),
        ({"method": "predict", "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_arguments(data, kwargs, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        apply_by_chunks(LogisticRegression().fit(X, y), X, **kwargs)


def test_one_dimensional_input_is_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="2-D"):
        apply_by_chunks(LogisticRegression().fit(X, y), X[:, 0], "predict")
