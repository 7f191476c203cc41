"""Pure optimal-transport solvers: arrays in, frozen result objects out.

NumPy inputs give NumPy outputs and Torch tensors give Torch tensors. Nothing
in this sub-package imports scikit-learn estimators.
"""

from ._result import OTResult
from ._sinkhorn import epsilon_schedule, sinkhorn

__all__ = ["OTResult", "epsilon_schedule", "sinkhorn"]
