"""Pure optimal-transport solvers: arrays in, frozen result objects out.

NumPy inputs give NumPy outputs and Torch tensors give Torch tensors. Nothing
in this sub-package imports scikit-learn estimators.
"""

from ._adaptive import adaptive_ot
from ._costs import (
    cosine_cost,
    knn_geodesic_distances,
    knn_graph_laplacian,
    soft_rank,
    sqeuclidean_cost,
)
from ._gromov import entropic_gromov_wasserstein, gw_loss
from ._implicit import ImplicitGradient, implicit_cost_gradient, implicit_gradients
from ._result import OTResult
from ._sinkhorn import epsilon_schedule, sinkhorn
from ._tiled import TiledOTResult, sinkhorn_tiled

__all__ = [
    "ImplicitGradient",
    "OTResult",
    "TiledOTResult",
    "adaptive_ot",
    "cosine_cost",
    "entropic_gromov_wasserstein",
    "epsilon_schedule",
    "gw_loss",
    "implicit_cost_gradient",
    "implicit_gradients",
    "knn_geodesic_distances",
    "knn_graph_laplacian",
    "sinkhorn",
    "sinkhorn_tiled",
    "soft_rank",
    "sqeuclidean_cost",
]
