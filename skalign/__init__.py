"""skalign: scikit-learn compatible optimal-transport alignment."""

from .active import ActiveOTQuerier
from .adaptation import AdaptiveOTDomainAdapter, DeepAdaptiveOTDomainAdapter
from .alignment import GWEmbeddingAligner

__version__ = "0.1.0.dev0"

__all__ = [
    "ActiveOTQuerier",
    "AdaptiveOTDomainAdapter",
    "DeepAdaptiveOTDomainAdapter",
    "GWEmbeddingAligner",
    "__version__",
]
