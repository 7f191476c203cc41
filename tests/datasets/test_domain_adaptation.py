"""Tests of the Office-Caltech10 and MNIST-USPS loaders (shared data dir)."""

import numpy as np
import pytest

from skalign.datasets import load_mnist_usps, load_office_caltech10


def test_office_pair_layout(shared_data_dir):
    raw = np.load(f"{shared_data_dir}/office_caltech10_surf/office_caltech10_surf.npz")
    data = load_office_caltech10("webcam", "dslr", data_home=shared_data_dir)
    ns, nt = raw["X_webcam"].shape[0], raw["X_dslr"].shape[0]
    assert data.X.shape == (ns + nt, 800)
    np.testing.assert_array_equal(data.X[:ns], raw["X_webcam"])
    np.testing.assert_array_equal(data.X[ns:], raw["X_dslr"])
    np.testing.assert_array_equal(data.y[:ns], raw["y_webcam"])
    assert np.all(data.y[ns:] == -1)
    np.testing.assert_array_equal(data.y_target, raw["y_dslr"])
    np.testing.assert_array_equal(
        data.sample_domain, np.r_[np.ones(ns), -2 * np.ones(nt)]
    )
    assert not data.is_outlier.any() and data.target_names[0] == "backpack"


def test_partial_and_outliers(shared_data_dir):
    data = load_office_caltech10(
        "amazon",
        "webcam",
        target_classes=5,
        outlier_fraction=0.1,
        data_home=shared_data_dir,
        random_state=0,
    )
    raw = np.load(f"{shared_data_dir}/office_caltech10_surf/office_caltech10_surf.npz")
    n_kept = int((raw["y_webcam"] < 5).sum())
    n_out = round(0.1 * n_kept)
    target = data.sample_domain < 0
    assert target.sum() == n_kept + n_out
    assert set(data.y_target[~data.is_outlier]) == {0, 1, 2, 3, 4}
    assert np.all(data.y_target[data.is_outlier] == -1)
    # All ten source classes are kept.
    assert set(data.y[~target]) == set(range(10))
    outliers = data.X[target][data.is_outlier]
    assert np.all(outliers >= 0)
    # Outliers live on the features the target rows use least.
    inliers = data.X[target][~data.is_outlier]
    rare = np.argsort(inliers.mean(0), kind="stable")[:80]
    np.testing.assert_allclose(outliers[:, rare].sum(1), outliers.sum(1))
    again = load_office_caltech10(
        "amazon",
        "webcam",
        target_classes=5,
        outlier_fraction=0.1,
        data_home=shared_data_dir,
        random_state=0,
    )
    np.testing.assert_array_equal(again.X, data.X)


def test_digits_pair_and_class_list(shared_data_dir):
    data = load_mnist_usps(
        "usps", "mnist", target_classes=[1, 7], data_home=shared_data_dir
    )
    assert data.X.shape[1] == 256
    assert set(data.y_target) == {1, 7}
    assert (data.sample_domain > 0).sum() == 1800


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(source="amazon", target="amazon"), "differ"),
        (dict(source="imagenet", target="amazon"), "source must be one of"),
        (
            dict(source="amazon", target="dslr", outlier_fraction=1.5),
            "outlier_fraction",
        ),
        (dict(source="amazon", target="dslr", target_classes=0), "target_classes"),
        (dict(source="amazon", target="dslr", target_classes=[42]), "keeps no target"),
    ],
)
def test_bad_arguments(shared_data_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_office_caltech10(data_home=shared_data_dir, **kwargs)
