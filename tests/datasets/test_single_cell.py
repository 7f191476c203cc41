"""Single-cell loaders: shuffled target view with the permutation stored."""

import numpy as np
import pytest

from skalign.datasets import load_multiomics_simulation, load_npz, load_snareseq


def test_snareseq_is_shuffled_with_known_partners():
    data = load_snareseq(random_state=3)
    raw = load_npz("snareseq")
    np.testing.assert_allclose(data.X_target[data.true_match], raw["Y"], rtol=1e-6)
    np.testing.assert_allclose(data.X_source, raw["X"], rtol=1e-6)
    assert not np.array_equal(data.true_match, np.arange(1047))
    assert data.X.shape == (2094, 29)
    assert set(np.unique(data.sample_domain)) == {1, -2}
    unshuffled = load_snareseq(shuffle=False)
    np.testing.assert_array_equal(unshuffled.true_match, np.arange(1047))


@pytest.mark.parametrize("name", ["sim1_branch", "sim2_swissroll", "sim3_frustum"])
def test_simulations_load(name, shared_data_dir):
    data = load_multiomics_simulation(name, data_home=shared_data_dir, random_state=0)
    assert data.X_source.shape == (300, 1000)
    assert data.X_target.shape == (300, 2000)
    np.testing.assert_array_equal(
        data.labels_target[data.true_match], data.labels_source
    )
    raw = load_npz(name, data_home=shared_data_dir)
    np.testing.assert_allclose(data.X_target[data.true_match], raw["Y"], rtol=1e-6)


def test_simulation_name_is_checked():
    with pytest.raises(ValueError, match="name must be one of"):
        load_multiomics_simulation("sim9")
