"""Pure optimal-transport solvers: arrays in, frozen result objects out.

NumPy inputs give NumPy outputs and Torch tensors give Torch tensors. Nothing
in this sub-package imports scikit-learn estimators.
"""

from ._adaptive import adaptive_ot
from ._result import OTResult
from ._sinkhorn import epsilon_schedule, sinkhorn

__all__ = ["OTResult", "adaptive_ot", "epsilon_schedule", "sinkhorn"]
