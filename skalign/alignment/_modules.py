"""Torch pieces of :class:`~skalign.GWEmbeddingAligner`: towers, GW loss, skorch net.

The bilevel problem of Vedula et al. (2024): two networks ``f`` and ``g``
embed the rows of each domain; the entropic OT plan between the embeddings
is differentiated implicitly (adjoint system of :mod:`skalign.ot`, no
unrolled Sinkhorn) and the Gromov-Wasserstein distortion of that plan is
minimised over the network weights.
"""

import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch import nn

from ..ot import knn_geodesic_distances, knn_graph_laplacian, sinkhorn, soft_rank

__all__ = ["GWEmbeddingModule", "GWLoss"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}


def _tower(n_in, hidden_dim, n_layers, embedding_dim, activation):
    layers = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden_dim), _ACTIVATIONS[activation]()]
        width = hidden_dim
    layers.append(nn.Linear(width, embedding_dim))
    return nn.Sequential(*layers)


class GWEmbeddingModule(nn.Module):
    """Two MLP towers: ``f`` for source rows and ``g`` for target rows.

    Parameters
    ----------
    n_features_source, n_features_target : int
        Input widths (set by the aligner from the data).
    embedding_dim : int, default=16
        Dimension of the shared space.
    hidden_dim : int, default=64
        Width of the hidden layers.
    n_layers : int, default=2
        Hidden layers per tower (0 gives a linear map).
    activation : {"relu", "tanh", "gelu", "elu"}, default="relu"
    """

    def __init__(
        self,
        n_features_source,
        n_features_target,
        embedding_dim=16,
        hidden_dim=64,
        n_layers=2,
        activation="relu",
    ):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"module__activation must be one of {sorted(_ACTIVATIONS)}, "
                f"got {activation!r}."
            )
        for name, value in (
            ("module__embedding_dim", embedding_dim),
            ("module__hidden_dim", hidden_dim),
        ):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(n_layers, int | np.integer) or n_layers < 0:
            raise ValueError(
                f"module__n_layers must be an integer >= 0, got {n_layers!r}."
            )
        self.source = _tower(
            n_features_source, hidden_dim, n_layers, embedding_dim, activation
        )
        self.target = _tower(
            n_features_target, hidden_dim, n_layers, embedding_dim, activation
        )

    def forward(self, source, target):
        return self.source(source), self.target(target)


def _pairwise_sq(a, b):
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return sq.clamp_min(0.0)


def intra_distances(points, metric, n_neighbors):
    """Distances within one batch (NumPy), divided by their mean.

    Returns the matrix and whether the kNN graph had to be bridged.
    """
    if metric == "geodesic":
        k = min(n_neighbors, points.shape[0] - 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dist = knn_geodesic_distances(points, n_neighbors=k, normalize=None)
        bridged = any("connected" in str(w.message) for w in caught)
    else:
        sq = np.einsum("ij,ij->i", points, points)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * points @ points.T, 0))
        np.fill_diagonal(dist, 0.0)
        bridged = False
    mean = dist.mean()
    return (dist / mean if mean > 0 else dist), bridged


class GWLoss(nn.Module):
    """GW distortion of the entropic plan between two embedded batches.

    ``loss = ||D_X - P D_Y P^T||^2 / b^2`` (``loss="metric"``) or the same on
    soft ranks of each row (``loss="rank"``), where ``P = b * plan`` is the
    doubly stochastic entropic plan of the mean-normalised squared distances
    between the embeddings, plus ``spectral_weight`` times the Dirichlet
    energy ``trace(C^T L_X C + C L_Y C^T) / b^2`` of the cost on the kNN
    graphs (normalised Laplacians), plus ``alignment_weight`` times the
    normalised transport cost ``<C, P> / b`` that draws matched embeddings
    together so that the shared space itself is aligned.
    """

    def __init__(
        self,
        loss="metric",
        metric="euclidean",
        n_neighbors=10,
        spectral_weight=0.0,
        alignment_weight=1.0,
        rank_regularization=0.1,
        sinkhorn_max_iter=1000,
        sinkhorn_tol=1e-5,
    ):
        super().__init__()
        self.loss = loss
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.spectral_weight = spectral_weight
        self.alignment_weight = alignment_weight
        self.rank_regularization = rank_regularization
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_tol = sinkhorn_tol
        self.n_bridged = 0
        self.n_unconverged = 0

    def batch_geometry(self, points):
        """Distances (torch, float64) and Laplacian of one batch of raw rows."""
        points = points.detach().cpu().double().numpy()
        dist, bridged = intra_distances(points, self.metric, self.n_neighbors)
        self.n_bridged += int(bridged)
        laplacian = None
        if self.spectral_weight > 0:
            k = min(self.n_neighbors, points.shape[0] - 1)
            laplacian = torch.as_tensor(
                knn_graph_laplacian(points, n_neighbors=k, normalized=True).toarray()
            )
        return torch.as_tensor(dist), laplacian

    def forward(self, embeddings, batch, epsilon):
        emb_source, emb_target = embeddings
        d_source, lap_source = self.batch_geometry(batch["source"])
        d_target, lap_target = self.batch_geometry(batch["target"])
        device = emb_source.device
        d_source, d_target = d_source.to(device), d_target.to(device)
        raw = _pairwise_sq(emb_source.double(), emb_target.double())
        cost = raw / raw.mean().clamp_min(1e-12)
        result = sinkhorn(
            None,
            None,
            cost,
            epsilon,
            max_iter=self.sinkhorn_max_iter,
            tol=self.sinkhorn_tol,
            warn=False,
        )
        self.n_unconverged += int(not result.converged)
        n = cost.shape[0]
        plan = result.plan * n
        transported = plan @ d_target @ plan.T
        if self.loss == "rank":
            tau = self.rank_regularization
            with torch.no_grad():
                target_ranks = soft_rank(d_source, tau) / n
            distortion = ((target_ranks - soft_rank(transported, tau) / n) ** 2).mean()
        else:
            distortion = ((d_source - transported) ** 2).mean()
        total = distortion
        if self.alignment_weight > 0:
            total = total + self.alignment_weight * (cost * plan).sum() / n
        if self.spectral_weight > 0:
            energy = (cost * (lap_source.to(device) @ cost)).sum() + (
                cost * (cost @ lap_target.to(device))
            ).sum()
            total = total + self.spectral_weight * energy / n**2
        return total


class _EpsilonAnnealing(Callback):
    """Set the epsilon of each epoch: from ``start`` to ``end`` over ``n_epochs``."""

    def __init__(self, start, end, n_epochs, schedule):
        self.start = start
        self.end = end
        self.n_epochs = n_epochs
        self.schedule = schedule

    def value(self, epoch):
        if self.start is None or self.n_epochs <= 1 or epoch >= self.n_epochs:
            return self.end
        frac = epoch / (self.n_epochs - 1)
        if self.schedule == "linear":
            return self.start + frac * (self.end - self.start)
        return self.start * (self.end / self.start) ** frac

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        net.epsilon_current = self.value(epoch)
        net.history.record("epsilon", net.epsilon_current)


class _LossPlateau(Callback):
    """Stop once the loss at the final epsilon stops improving (sklearn's MLP rule).

    Converged when the training loss has not improved by more than ``tol``
    (relative) for ``n_iter_no_change`` epochs after annealing ended.
    """

    def __init__(self, first_epoch, tol, n_iter_no_change):
        self.first_epoch = first_epoch
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def on_train_begin(self, net, **kwargs):
        net.converged = False
        self.best = np.inf
        self.stale = 0

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)  # 1-based count of finished epochs
        loss = net.history[-1, "train_loss"]
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"The GW training loss became {loss} at epoch {epoch}; lower lr or "
                "raise epsilon."
            )
        if epoch <= self.first_epoch:
            return
        if loss < self.best - self.tol * abs(self.best):
            self.best = loss
            self.stale = 0
        else:
            self.stale += 1
        if self.stale >= self.n_iter_no_change:
            net.converged = True
            raise KeyboardInterrupt  # skorch's way to end fit_loop early


class GWEmbeddingNet(NeuralNet):
    """skorch net whose loss is the GW distortion of the entropic plan of a batch.

    A batch holds ``batch_size`` rows of each domain (sampled independently,
    the pairing is unknown); ``X`` given to :meth:`fit` is the dict
    ``{"source": ..., "target": ...}`` of equal-length arrays.
    """

    epsilon_current = 1.0
    converged = False

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, X, self.epsilon_current)
