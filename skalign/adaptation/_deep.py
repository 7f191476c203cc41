r"""Adaptive OT domain adaptation with learned features (Torch, trained by skorch).

A feature extractor :math:`\phi` and a linear classifier head are trained on
minibatches holding ``batch_size`` source and ``batch_size`` target rows with
the loss of the Adaptive OT paper (arXiv:2503.05087)

.. math::
    \mathrm{CE}(h(\phi(x^s)), y^s) + \lambda \sum_{ij} T^\star_{ij} C_{ij},
    \quad C_{ij} = \alpha \frac{\|\phi(x^s_i) - \phi(x^t_j)\|^2}{s}
    - \beta\, p_i^\top \mathrm{softmax}(h(\phi(x^t_j))),

where :math:`T^\star` is the entropic Adaptive OT plan of the batch cost and
``s`` the batch mean of the squared distances. ``s`` is differentiated with
the rest of the cost, so the distance term does not depend on the scale of
the features (held constant, it let them collapse to a point).

Gradients through the plan use Danskin's theorem: the entropic AOT value
:math:`W(C) = \min_T \langle C, T\rangle + \varepsilon H(T)` has gradient
:math:`\partial W / \partial C = T^\star(C)`, so back-propagating through
:math:`\langle T^\star, C\rangle` with :math:`T^\star` detached gives the exact
gradient of the OT value with respect to the network parameters (the plan's own
dependence on ``C`` contributes nothing at the optimum). No Sinkhorn iteration
is unrolled.
"""

import numbers
import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_sample_domain
from ._adaptive_ot import _shrunk_prior
from ._base import _DomainMetadataMixin

__all__ = ["DeepAdaptiveOTDomainAdapter"]


def _torch():
    import torch

    return torch


def _modules():
    # Torch is imported only when the learned regime is used.
    from . import _torch_modules

    return _torch_modules


class DeepAdaptiveOTDomainAdapter(_DomainMetadataMixin, ClassifierMixin, BaseEstimator):
    r"""Domain adaptation with Adaptive OT on learned features (skorch MLP).

    The learned-features regime of Adaptive OT domain adaptation: an MLP
    feature extractor and a linear head are trained end to end on minibatches
    of ``batch_size`` source rows and as many random target rows with
    cross-entropy on the source plus ``lambda_ot * <T, C>``, where ``T`` is the
    entropic Adaptive OT plan of the batch's mixed-sign cost
    ``C = alpha * ||phi(x_s) - phi(x_t)||^2 / s - beta * p_s^T q_t``, ``s`` the
    batch mean of the squared distances. A source row of class ``k`` may send
    at most its class's estimated share of the target (``label_shift``), so
    that in partial DA classes the target lacks are pulled onto it less.
    The gradient through the plan is Danskin's: the plan is detached, which
    is the exact gradient of the OT value at its optimum. Works on raw or
    pre-extracted features (any fixed-length vectors).

    Same data convention as :class:`AdaptiveOTDomainAdapter`: one table ``X``,
    ``y = -1`` on target rows, ``sample_domain`` inferred from ``y`` when
    absent. Without target rows the network is trained on the source
    cross-entropy alone, with a ``UserWarning``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Widths of the hidden layers of the feature extractor.
    n_components : int, default=64
        Dimension of the learned features (``transform`` output).
    alpha, beta : float, default=1.0
        Weights of the feature distance and of the label term of the cost.
    epsilon : float > 0, default=0.05
        Entropic regularisation of the minibatch Adaptive OT problems.
    lambda_ot : float >= 0, default=1.0
        Weight of the transport term (0 trains a source-only network).
    label_shift : {"predictions"} or None, default="predictions"
        Class proportions of the minibatch source bounds, as in
        :class:`AdaptiveOTDomainAdapter`. ``"predictions"``: the target
        proportions are estimated once, before training, as the geometric
        mean of the source proportions and the mean predicted probabilities
        on the target of a source-only logistic regression on the input
        features (``target_prior_``); in a batch of ``n`` source rows, a row
        of class ``k`` may send at most ``target_prior_[k] / (n *
        source_share_k)``, so classes the target seems to lack (partial DA)
        are pulled toward the target less. ``None``: uniform bounds ``1 / n``.
    max_epochs : int, default=30
        Passes over the source rows.
    batch_size : int, default=128
        Source rows (and as many target rows) per minibatch.
    lr : float, default=1e-3
        Adam learning rate.
    dropout : float in [0, 1), default=0.0
        Dropout after each hidden layer.
    device : str, default="cpu"
        Torch device.
    random_state : int or None, default=None
        Seeds Torch and the target pairing.
    verbose : int, default=0
        skorch's per-epoch table when positive.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
        Trained network; ``net_.history`` holds losses and the per-batch
        transported mass (``"ot_mass"``).
    classes_ : ndarray of shape (n_classes,)
    target_prior_ : ndarray of shape (n_classes,) or None
        Class proportions behind the source bounds (the source's when
        ``label_shift=None``); ``None`` when fitted without target rows.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.adaptation import DeepAdaptiveOTDomainAdapter
    >>> rng = np.random.RandomState(0)
    >>> Xs = np.r_[rng.randn(40, 2), rng.randn(40, 2) + [4, 0]]
    >>> X = np.r_[Xs, Xs + [0.5, 1.5]]
    >>> y = np.r_[np.repeat([0, 1], 40), -np.ones(80, dtype=int)]
    >>> model = DeepAdaptiveOTDomainAdapter(max_epochs=20, random_state=0).fit(X, y)
    >>> model.transform(X[:3]).shape
    (3, 64)
    """

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": [tuple, list],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "lambda_ot": [Interval(numbers.Real, 0, None, closed="left")],
        "label_shift": [StrOptions({"predictions"}), None],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "device": [StrOptions({"cpu", "cuda", "mps"}), str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256,),
        n_components=64,
        *,
        alpha=1.0,
        beta=1.0,
        epsilon=0.05,
        lambda_ot=1.0,
        label_shift="predictions",
        max_epochs=30,
        batch_size=128,
        lr=1e-3,
        dropout=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_components = n_components
        self.alpha = alpha
        self.beta = beta
        self.epsilon = epsilon
        self.lambda_ot = lambda_ot
        self.label_shift = label_shift
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dropout = dropout
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_domain=None):
        """Train the network on source labels and the Adaptive OT term.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Source labels, ``-1`` on target rows.
        sample_domain : array-like of shape (n_samples,) or None

        Returns
        -------
        self
        """
        torch = _torch()
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        source, target = self._split(y, sample_domain)
        self.classes_, ys = np.unique(y[source], return_inverse=True)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        torch.manual_seed(seed)
        ys = ys.astype(np.int64)
        Xs, Xt = X[source], X[target]
        class_ratio = self._class_ratio(Xs, ys, Xt)
        net = _modules().AOTNeuralNet(
            _modules().AOTNet(
                X.shape[1],
                tuple(self.hidden_layer_sizes),
                self.n_components,
                self.classes_.size,
                self.dropout,
            ),
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            device=self.device,
            verbose=self.verbose,
            alpha=self.alpha,
            beta=self.beta,
            epsilon=self.epsilon,
            lambda_ot=self.lambda_ot if target.size else 0.0,
            class_ratio=class_ratio,
        )
        if target.size == 0:
            warnings.warn(
                "DeepAdaptiveOTDomainAdapter got no target rows (no y == -1 and no "
                "sample_domain): training on the source cross-entropy only.",
                UserWarning,
                stacklevel=2,
            )
            Xt = Xs
        net.fit(_modules().PairedDomains(Xs, ys, Xt, seed), y=None)
        # Predict in float64 so that a row's output does not depend on the
        # batch it is computed in (float32 BLAS rounding varies with shape).
        net.module_.double()
        self.net_ = net
        self.n_iter_ = len(net.history)
        return self

    def _class_ratio(self, Xs, ys, Xt):
        """Set ``target_prior_``; return it over the source proportions (or None).

        None means uniform batch bounds (``label_shift=None``, no target rows,
        or a single source class).
        """
        counts = np.bincount(ys, minlength=self.classes_.size).astype(float)
        source_prior = counts / counts.sum()
        self.target_prior_ = None if Xt.shape[0] == 0 else source_prior
        if self.label_shift is None or Xt.shape[0] == 0 or self.classes_.size < 2:
            return None
        # The same estimate as AdaptiveOTDomainAdapter's default, from a
        # source-only logistic regression on the input features.
        source_only = LogisticRegression(max_iter=1000).fit(Xs.astype(np.float64), ys)
        proba = source_only.predict_proba(Xt.astype(np.float64))
        self.target_prior_ = _shrunk_prior(proba, source_prior)
        return self.target_prior_ / source_prior

    def _split(self, y, sample_domain):
        if sample_domain is not None:
            domains = check_sample_domain(sample_domain, y.shape[0], require_both=True)
            return np.flatnonzero(domains > 0), np.flatnonzero(domains < 0)
        is_target = (
            (y == -1) if np.issubdtype(y.dtype, np.number) else np.zeros(y.size, bool)
        )
        if is_target.all():
            raise ValueError(
                "y has no labelled source row: every label is -1. Domain adaptation "
                "needs source labels (y >= 0 on source rows, -1 on target rows)."
            )
        return np.flatnonzero(~is_target), np.flatnonzero(is_target)

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        torch = _torch()
        module = self.net_.module_
        module.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 4096):
                batch = torch.as_tensor(X[start : start + 4096], device=self.device)
                logits, feats = module(batch)
                outputs.append((logits.cpu().numpy(), feats.cpu().numpy()))
        if not outputs:
            return np.zeros((0, self.classes_.size)), np.zeros((0, self.n_components))
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))

    def predict_proba(self, X, sample_domain=None, allow_source=False):
        """Class probabilities (softmax of the head), columns as ``classes_``."""
        logits = self._forward(X)[0].astype(np.float64)
        logits -= logits.max(1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(1, keepdims=True)

    def predict(self, X, sample_domain=None, allow_source=False):
        """Predicted classes of new rows."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(1)]

    def transform(self, X, sample_domain=None, allow_source=False):
        """Learned features ``phi(X)`` of new rows (both domains share them)."""
        return self._forward(X)[1].astype(np.float64)

    def fit_transform(self, X, y, sample_domain=None):
        """Fit, then return the learned features of the training rows."""
        return self.fit(X, y, sample_domain=sample_domain).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform gives learned features (n_components columns), float64.
        tags.transformer_tags = TransformerTags(preserves_dtype=["float64"])
        return tags

    def score(self, X, y, sample_weight=None, sample_domain=None, allow_source=False):
        """Accuracy on labelled rows."""
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)
