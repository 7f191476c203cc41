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

    def __init__(self, device="cpu"):
        self.device = device

    def asarray(self, x, dtype=None):
        import torch

        return torch.as_tensor(
            np.asarray(x), dtype=dtype or torch.float64, device=self.device
        )

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy()


@pytest.fixture(
    params=["numpy", "torch", pytest.param("torch-cuda", marks=pytest.mark.cuda)]
)
def xp(request):
    """Backend under test: ``xp.asarray`` builds inputs, ``xp.to_numpy`` reads outputs.

    ``torch-cuda`` runs the same test on a CUDA tensor; it is skipped on
    machines without a CUDA device (CI), and run by ``pytest -m cuda`` on one.
    """
    if request.param == "numpy":
        return _NumpyBackend()
    torch = pytest.importorskip("torch")
    if request.param == "torch":
        return _TorchBackend()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return _TorchBackend("cuda")


@pytest.fixture
def shared_data_dir():
    """Path of ``../shared/data`` beside the checkout; skip when it is absent."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip("../shared/data is not available")
    return path
