"""Synthetic paired generators: known pairs, hidden row order, geometry."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from skalign.datasets import (
    make_isometric_pair,
    make_non_isometric_pair,
    make_swiss_roll_pair,
)
from skalign.utils import split_domains


def test_isometric_pair_pairs_and_isometry():
    data = make_isometric_pair(80, n_features=6, noise=0.0, random_state=0)
    partners = data.X_target[data.true_match]
    np.testing.assert_allclose(data.X_source @ data.rotation, partners, atol=1e-10)
    np.testing.assert_allclose(pdist(data.X_source), pdist(partners), atol=1e-10)
    # The row order hides the pairing.
    assert not np.array_equal(data.true_match, np.arange(80))
    np.testing.assert_array_equal(
        data.labels_target[data.true_match], data.labels_source
    )
    source, target, _, _ = split_domains(data.X, data.sample_domain)
    np.testing.assert_array_equal(source, data.X_source)
    np.testing.assert_array_equal(target, data.X_target)


def test_isometric_pair_is_reproducible_and_validates():
    first = make_isometric_pair(30, n_features=4, random_state=5)
    second = make_isometric_pair(30, n_features=4, random_state=5)
    np.testing.assert_array_equal(first.X_target, second.X_target)
    with pytest.raises(ValueError, match="n_samples"):
        make_isometric_pair(1)
    with pytest.raises(ValueError, match="noise"):
        make_isometric_pair(10, noise=-1.0)


def test_non_isometric_pair_keeps_radial_order_not_distances():
    data = make_non_isometric_pair(60, n_features=5, noise=0.0, random_state=1)
    partners = data.X_target[data.true_match]
    rotated = data.X_source @ data.rotation
    radius_before = np.linalg.norm(rotated - rotated.mean(0), axis=1)
    radius_after = np.linalg.norm(partners, axis=1)
    np.testing.assert_array_equal(np.argsort(radius_before), np.argsort(radius_after))
    ratio = pdist(partners) / pdist(data.X_source)
    assert ratio.std() / ratio.mean() > 0.1  # not a similarity
    with pytest.raises(ValueError, match="scale"):
        make_non_isometric_pair(10, scale=0.0)


def test_swiss_roll_pair_sheet_is_isometric_to_latent():
    data = make_swiss_roll_pair(50, noise=0.0, random_state=2)
    t, h = data.latent.T
    arc = 0.5 * (t * np.sqrt(1 + t**2) + np.arcsinh(t))
    sheet = data.X_target[data.true_match]
    np.testing.assert_allclose(pdist(np.c_[arc, h]), pdist(sheet), atol=1e-9)
    assert data.X.shape == (100, 3 + 5)
