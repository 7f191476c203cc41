"""Tests of the transported-mass diagnostics."""

import numpy as np
import pytest
import scipy.sparse as sp

from skalign.metrics import low_mass_share, mass_per_class, rejected_mass_share


def test_mass_per_class_matches_manual_sums():
    rng = np.random.RandomState(0)
    plan = rng.rand(6, 4) / 40
    labels = np.array([2, 0, 2, 1, 0, 2])
    classes, mass = mass_per_class(plan, labels)
    np.testing.assert_array_equal(classes, [0, 1, 2])
    expected = [plan[labels == k].sum() for k in classes]
    np.testing.assert_allclose(mass, expected)
    # Sparse plan and pre-summed vector give the same answer.
    np.testing.assert_allclose(mass_per_class(sp.csr_matrix(plan), labels)[1], expected)
    np.testing.assert_allclose(mass_per_class(plan.sum(1), labels)[1], expected)
    _, mean_mass = mass_per_class(plan, labels, normalize=True)
    np.testing.assert_allclose(
        mean_mass, [plan[labels == k].sum(1).mean() for k in classes]
    )
    target_labels = np.array([0, 1, 1, 0])
    _, per_target = mass_per_class(plan, target_labels, side="target")
    np.testing.assert_allclose(
        per_target, [plan[:, [0, 3]].sum(), plan[:, [1, 2]].sum()]
    )


def test_rejected_mass_share():
    # Four source rows of capacity 1/4; rows 2 and 3 (absent class) send nothing.
    mass = np.array([0.25, 0.2, 0.0, 0.0])
    absent = np.array([False, False, True, True])
    assert rejected_mass_share(mass, absent) == pytest.approx(0.5 / 0.55)
    assert np.isnan(rejected_mass_share(np.full(4, 0.25), absent))
    assert rejected_mass_share(mass, absent, capacity=[0.25, 0.2, 0.1, 0.1]) == 1.0


def test_low_mass_share_uses_mean_mass():
    mass = np.array([0.2, 0.2, 0.2, 0.0015, 0.5])  # mean 0.2203
    mask = np.array([False, False, False, True, True])
    assert low_mass_share(mass, mask, threshold=0.01) == 0.5
    assert low_mass_share(mass, mask, threshold=0.0) == 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mass_per_class(np.ones((2, 2)), [0, 1, 2]), "labels"),
        (lambda: mass_per_class(np.ones((2, 2)), [0, 1], side="left"), "side"),
        (lambda: mass_per_class(np.ones((2, 2, 2)), [0, 1]), "2-D"),
        (lambda: mass_per_class(np.array([-1.0, 1.0]), [0, 1]), "non-negative"),
        (
            lambda: rejected_mass_share(
                np.ones(3), [True, False, True], capacity=[1, 1]
            ),
            "capacity",
        ),
        (lambda: low_mass_share(np.ones(3), [False, False, False]), "no row"),
        (
            lambda: low_mass_share(np.ones(3), [True, False, False], threshold=-1),
            "threshold",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
