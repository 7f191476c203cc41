import numpy as np
import pytest

from skalign.datasets import get_data_home, load_npz


def test_bundled_snareseq_is_paired_and_licensed():
    data = load_npz("snareseq")
    assert data["X"].shape == (1047, 19)
    assert data["Y"].shape == (1047, 10)
    np.testing.assert_array_equal(data["labels_X"], data["labels_Y"])


def test_data_home_argument_is_used(tmp_path):
    (tmp_path / "toy").mkdir()
    np.savez(tmp_path / "toy" / "toy.npz", values=np.arange(3))
    assert get_data_home(tmp_path) == tmp_path
    np.testing.assert_array_equal(
        load_npz("toy", data_home=tmp_path)["values"], [0, 1, 2]
    )


def test_missing_dataset_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        load_npz("absent", data_home=tmp_path)
