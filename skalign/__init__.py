"""skalign: scikit-learn compatible optimal-transport alignment.

The estimators are imported on first use, so ``import skalign`` (and the
NumPy-only solvers in :mod:`skalign.ot`) do not pay for importing torch and
skorch.
"""

import importlib

__version__ = "0.1.0.dev0"

_ESTIMATOR_MODULES = {
    "ActiveOTQuerier": "skalign.active",
    "AdaptiveOTDomainAdapter": "skalign.adaptation",
    "DeepAdaptiveOTDomainAdapter": "skalign.adaptation",
    "GWEmbeddingAligner": "skalign.alignment",
}

__all__ = [
    "ActiveOTQuerier",
    "AdaptiveOTDomainAdapter",
    "DeepAdaptiveOTDomainAdapter",
    "GWEmbeddingAligner",
    "__version__",
]


def __getattr__(name):
    if name in _ESTIMATOR_MODULES:
        value = getattr(importlib.import_module(_ESTIMATOR_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skalign' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
