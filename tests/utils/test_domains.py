import numpy as np
import pytest

from skalign.utils import (
    check_sample_domain,
    infer_domains_from_layout,
    infer_domains_from_y,
    split_domains,
    stack_domains,
)


def test_stack_then_split_round_trips():
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(4, 3)), rng.normal(size=(5, 2))
    X, domains = stack_domains(source, target)
    assert X.shape == (9, 5)
    np.testing.assert_array_equal(domains, [1] * 4 + [-2] * 5)
    Xs, Xt, s_idx, t_idx = split_domains(X)
    np.testing.assert_array_equal(Xs, source)
    np.testing.assert_array_equal(Xt, target)
    np.testing.assert_array_equal(s_idx, np.arange(4))
    np.testing.assert_array_equal(t_idx, np.arange(4, 9))


def test_layout_inference_survives_shuffled_rows():
    rng = np.random.default_rng(1)
    X, domains = stack_domains(rng.normal(size=(6, 2)), rng.normal(size=(3, 4)))
    order = rng.permutation(len(X))
    inferred, width = infer_domains_from_layout(X[order])
    assert width == 2
    np.testing.assert_array_equal(inferred, domains[order])


def test_explicit_domains_must_match_layout():
    X, domains = stack_domains(np.ones((2, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match="do not match their sample_domain"):
        infer_domains_from_layout(X, -domains)


def test_row_filling_both_blocks_is_rejected():
    X, _ = stack_domains(np.ones((2, 2)), np.ones((2, 1)))
    X[0, 2] = 1.0
    with pytest.raises(ValueError, match="sample_domain"):
        infer_domains_from_layout(X, n_features_source=2)


def test_table_without_blocks_cannot_be_split():
    with pytest.raises(ValueError, match="Cannot infer the column blocks"):
        split_domains(np.ones((4, 3)))


def test_infer_from_y_follows_skada():
    np.testing.assert_array_equal(infer_domains_from_y([2, 0, -1]), [1, 1, -2])
    with pytest.raises(ValueError, match="No target rows"):
        infer_domains_from_y([0, 1, 1])
    with pytest.raises(ValueError, match="No source rows"):
        infer_domains_from_y([-1, -1])


@pytest.mark.parametrize(
    "sample_domain, match",
    [
        ([1, 0, -2], "0 is not a valid"),
        ([1, -2], "one entry per row"),
        ([1.5, -2, 1], "integers"),
        (["a", "b", "c"], "integers"),
        ([1, 1, 1], "No target rows"),
    ],
)
def test_check_sample_domain_errors(sample_domain, match):
    with pytest.raises(ValueError, match=match):
        check_sample_domain(sample_domain, 3)
