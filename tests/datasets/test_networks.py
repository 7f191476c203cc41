import numpy as np
import pytest

from skalign.datasets import load_phone_email, make_noisy_graph_pair


def test_noisy_graph_pair_is_a_permuted_copy():
    data = make_noisy_graph_pair(60, edge_noise=0.0, feature_noise=0.0, random_state=0)
    A1, A2 = data.adjacency
    perm = data.partner
    # Without noise the target graph is exactly the permuted source graph.
    np.testing.assert_array_equal(A1.toarray(), A2.toarray()[np.ix_(perm, perm)])
    np.testing.assert_allclose(data.X[60:][perm], data.X[:60])
    known = np.flatnonzero(data.y[:60] >= 0)
    np.testing.assert_array_equal(data.y[known], perm[known])
    assert np.all(data.y[60:] == -2)
    assert np.all(data.sample_domain == np.r_[np.ones(60), -2 * np.ones(60)])


def test_noisy_graph_pair_is_seeded_and_validates():
    first = make_noisy_graph_pair(30, random_state=3)
    second = make_noisy_graph_pair(30, random_state=3)
    np.testing.assert_array_equal(first.X, second.X)
    assert make_noisy_graph_pair(30, n_features=0, random_state=0).X.shape == (60, 1)
    with pytest.raises(ValueError, match="edge_noise"):
        make_noisy_graph_pair(30, edge_noise=2.0)


def test_phone_email(shared_data_dir):
    data = load_phone_email(shared_data_dir)
    A1, A2 = data.adjacency
    assert A1.shape == (1000, 1000) and A2.shape == (1003, 1003)
    assert (A1 != A1.T).nnz == 0 and (A2 != A2.T).nnz == 0
    assert data.X.shape == (2003, 1)
    assert int(np.sum(data.y >= 0)) == 200 and int(np.sum(data.y == -2)) == 1003
    np.testing.assert_array_equal(
        data.y[data.anchors_train[:, 0]], data.anchors_train[:, 1]
    )
    assert len(data.anchors_test) == 800
