"""skalign: scikit-learn compatible optimal-transport alignment."""

from .active import ActiveOTQuerier

__version__ = "0.1.0.dev0"

__all__ = [
    "ActiveOTQuerier",
    "__version__",
]
