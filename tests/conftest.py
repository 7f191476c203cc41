"""Shared fixtures: the ``xp`` fixture runs backend tests on NumPy and Torch."""

import os

import numpy as np
import pytest

# Two cores on CI: keep BLAS and torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


class _NumpyBackend:
    name = "numpy"

    @staticmethod
    def asarray(x, dtype=np.float64):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def to_numpy(x):
        return np.asarray(x)


class _TorchBackend:
    name = "torch"

    @staticmethod
    def asarray(x, dtype=None):
        import torch

        return torch.as_tensor(np.asarray(x), dtype=dtype or torch.float64)

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy()


@pytest.fixture(params=["numpy", "torch"])
def xp(request):
    """Backend under test: ``xp.asarray`` builds inputs, ``xp.to_numpy`` reads outputs."""
    if request.param == "torch":
        pytest.importorskip("torch")
        return _TorchBackend()
    return _NumpyBackend()


@pytest.fixture
def shared_data_dir():
    """Path of ``../shared/data`` beside the checkout; skip when it is absent."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip("../shared/data is not available")
    return path
