"""GWEmbeddingAligner: inductive Gromov-Wasserstein alignment by learned embeddings."""

import copy
import numbers
import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..metrics import gw_distortion
from ..ot import entropic_gromov_wasserstein, sinkhorn_tiled
from ..utils import check_sample_domain, infer_domains_from_layout
from ._modules import (
    GWEmbeddingModule,
    GWEmbeddingNet,
    GWLoss,
    _EpsilonAnnealing,
    _LossPlateau,
    intra_distances,
)

__all__ = ["GWEmbeddingAligner"]


def _mutual_pairs(forward, backward):
    """Index pairs (i, j) with ``forward[i] == j`` and ``backward[j] == i``."""
    rows = np.flatnonzero(backward[forward] == np.arange(len(forward)))
    return rows, forward[rows]


def _mutual_nearest(a, b):
    """Index pairs (i, j) with b[j] the nearest of a[i] and a[i] the nearest of b[j]."""
    forward = NearestNeighbors(n_neighbors=1).fit(b).kneighbors(a)[1][:, 0]
    backward = NearestNeighbors(n_neighbors=1).fit(a).kneighbors(b)[1][:, 0]
    return _mutual_pairs(forward, backward)


# Routed keyword prefixes (skorch style) accepted by __init__ and set_params.
_ROUTED_PREFIXES = ("module__", "optimizer__", "iterator_train__", "callbacks__")
# Above this many source x target pairs, match(method="auto") uses nearest
# neighbours in the shared space instead of entropic OT sweeps.
_AUTO_OT_PAIRS = 25_000_000
_CHUNK_ROWS = 8192
_REFERENCE_ROWS = 1000
# Warm start (init="gw"): rows per domain of the entropic GW solve, its
# epsilon annealing (units of the mean-normalised squared distances: from a
# near-convex problem down to a sharp plan; the stage whose hard matching
# distorts least is kept) and the full-batch steps that fit the networks to
# the warm-start embedding.
_GW_INIT_ROWS = 500
_GW_INIT_EPSILONS = (0.1, 0.03, 0.01, 0.005, 0.002, 0.001, 0.0005)
_PRETRAIN_STEPS = 300
_PRETRAIN_LR = 1e-2
# Refinement: rows per domain among which the pairs are found (refine_pairs),
# and the ridge (relative to the mean squared feature) of the least squares.
_REFINE_ROWS = 5000
_REFINE_RIDGE = 1e-6


class GWEmbeddingAligner(TransformerMixin, BaseEstimator):
    r"""Scalable, inductive Gromov-Wasserstein alignment through learned embeddings.

    Two networks ``f`` (source rows) and ``g`` (target rows) embed both
    domains into a shared space so that one entropic OT problem between
    ``f(X)`` and ``g(Y)`` solves the Gromov-Wasserstein problem (Vedula et
    al., 2024). Training draws minibatches of ``batch_size`` rows from each
    domain, solves Sinkhorn on the normalised squared distances of their
    embeddings, differentiates the plan implicitly (adjoint system, no
    unrolled iterations) and minimises the GW distortion
    ``||D_X - P D_Y P^T||^2`` of the plan, so fitting costs
    ``O(batch_size^2)`` memory whatever the number of rows. New rows of
    either domain are embedded by :meth:`transform` and matched by
    :meth:`match` / :meth:`coupling` without retraining.

    Input follows the one-table convention: ``X`` stacks both domains
    (source rows fill the first column block, target rows the last, NaN
    elsewhere; see :func:`skalign.utils.stack_domains`) and
    ``sample_domain`` (positive = source, negative = target) is inferred
    from the NaN layout when absent. A table without NaN blocks and without
    ``sample_domain`` is aligned with itself (both networks see all rows);
    this learns a geometry-preserving embedding of ``X``. When
    ``sample_domain`` is given and ``X`` has no NaN, both domains share all
    columns.

    Parameters
    ----------
    loss : {"metric", "rank"}, default="metric"
        Match distances (``"metric"``) or soft ranks of distances row by row
        (``"rank"``, invariant to rescaling and monotone distortions).
    metric : {"euclidean", "geodesic"}, default="euclidean"
        Intra-domain distances: Euclidean, or shortest paths on the kNN graph
        of each batch (bridged and counted when disconnected). Both are
        divided by their mean.
    n_neighbors : int, default=10
        Neighbours of the kNN graphs (geodesic distances and Laplacians).
    epsilon : float, default=0.05
        Final entropic regularisation, relative to the mean cost (the cost is
        divided by its mean).
    epsilon_init : float or None, default=None
        First epsilon of the annealing (from ``epsilon_init`` down to
        ``epsilon`` over the first half of ``max_epochs``); ``None`` trains at
        ``epsilon`` throughout. The GW warm start (``init="gw"``) already
        anneals, and annealing the networks back from a large epsilon undoes
        it (sim1 FOSCTTM 0.034 without vs 0.094 with ``epsilon_init=1.0``);
        use ``epsilon_init=1.0`` with ``init="random"``.
    epsilon_schedule : {"geometric", "linear"}, default="geometric"
        How epsilon decays during the first half of ``max_epochs``.
    spectral_weight : float, default=0.0
        Weight of the Dirichlet energy ``trace(C^T L_X C + C L_Y C^T)`` of
        the cost on the normalised kNN-graph Laplacians of the batch (off by
        default: it did not help in our measurements, see the benchmark).
    alignment_weight : float, default=0.1
        Weight of the normalised transport cost ``<C, P>``, which draws each
        row's embedding towards its match so that :meth:`transform` gives a
        joint space where partners are close.
    rank_regularization : float, default=0.1
        Temperature of the soft rank (``loss="rank"``), in units of the mean
        distance.
    preprocessing : {"scale", "standard", "l2"} or None, default="scale"
        Per-domain normalisation learned in ``fit``: ``"scale"`` centres and
        divides by the root-mean-square norm (a similarity, so the geometry is
        kept); ``"standard"`` z-scores each feature first; ``"l2"``
        normalises each row first (count data such as ATAC); ``None`` keeps
        the raw values.
    module : torch.nn.Module class or None, default=None
        Network class called as ``module(n_features_source, n_features_target,
        **module__params)`` returning a pair of embeddings from
        ``forward(source, target)``; ``None`` is
        :class:`~skalign.alignment.GWEmbeddingModule` (two MLPs).
    optimizer : torch optimizer class or None, default=None
        ``None`` is :class:`torch.optim.Adam`.
    lr : float, default=1e-3
        Learning rate of the GW training. Adam's first steps move every
        weight by about ``lr``: at 1e-2 one step undid the warm start
        (sim2 FOSCTTM 0.0008 -> 0.06).
    max_epochs : int, default=100
        Passes over the larger domain.
    batch_size : int, default=512
        Rows drawn from each domain per step (memory ``O(batch_size^2)``).
    tol : float, default=1e-3
        Training stops (converged) once the loss at the final epsilon has not
        improved by more than ``tol`` (relative) for ``n_iter_no_change``
        epochs.
    n_iter_no_change : int, default=10
    init : {"gw", "random"}, default="gw"
        How training starts. ``"gw"``: solve entropic Gromov-Wasserstein
        (:func:`skalign.ot.entropic_gromov_wasserstein`, epsilon annealed from
        0.1 to 0.0005 on the mean-normalised distances, each stage warm-started
        from the previous plan, keeping the stage whose hard matching has the
        lowest GW distortion and stopping once a stage distorts more) on at
        most 500 rows per domain, embed those
        source rows by classical MDS of their distances and the target rows
        at the barycentre of their GW partners, and fit both networks to these
        points before the GW training; training then starts in the basin of
        the GW solution instead of a random one (mirror-image minima).
        ``"random"``: the networks' random initialisation.
    n_init : int, default=3
        Independent trainings from different initialisations; the one whose
        matching of (up to 1000) training rows has the lowest GW distortion
        is kept (label-free, as in k-means' ``n_init``). GW has local minima
        (symmetric clusters, mirrored manifolds), so restarts make the result
        much less dependent on ``random_state``. With ``init="gw"`` each
        restart solves its own warm start on its own subsample of 500 rows
        (once only when every row fits in the subsample).
    n_refine : int, default=3
        Refinement rounds after training (as MUSE refines word-embedding
        maps). Each round pairs training rows (at most 5000 per domain, see
        ``refine_pairs``), then refits the last linear layer of ``g`` by
        (ridge) least squares so that ``g(y_j) = f(x_i)`` on those pairs (a
        round with fewer pairs than the layer has inputs is skipped).
        Training decides who matches whom (the GW objective); the refinement
        makes partners coincide in the shared space, so that
        nearest-neighbour :meth:`match` of new rows agrees with the plan.
        Least squares rather than an orthogonal map because ``f`` need not be
        an isometry. ``0`` turns the whole refinement off, the
        ``refine_steps`` fine-tuning included. Needs the target tower
        (``module_.target``) to end with a ``torch.nn.Linear`` layer.
    refine_pairs : {"ot", "nearest"}, default="ot"
        Which rows the refinement pairs. ``"ot"``: rows that are each other's
        largest entry in the entropic plan at ``epsilon`` between the
        embedded rows, the matching :meth:`match` reports; the plan's
        one-to-one marginals keep a target row from being the nearest of
        several source rows, so more rows are paired (sim3, 300 rows: 300
        instead of 273-290 after three rounds). It costs one tiled Sinkhorn
        solve per round. ``"nearest"``: mutual nearest neighbours in the
        shared space (MUSE), the previous default (see ``refine_steps`` for
        the measured change).
    refine_steps : int, default=1000
        Full-batch Adam steps (learning rate ``lr``) that fine-tune the whole
        target tower ``g`` after the linear rounds, so that ``g(y_j) = f(x_i)``
        on the pairs of the last round (``refine_pairs``), keeping the
        parameters of the lowest residual (``refine_residual_``). The linear
        rounds can only move ``g`` by an affine map of its last hidden layer;
        when the two towers bend the shared space differently, partners the
        plan matches stay apart in the embedding. A linear tower is already
        at (or next to) its least-squares optimum, so it usually keeps its
        refit layer (scaling benchmark: residual unchanged). ``0`` refits the
        last layer only; ignored when ``n_refine=0``. Against
        ``refine_pairs="nearest", refine_steps=0`` (``benchmarks/bench_gw.py``,
        label-free epsilon grid, 5 seeds) the FOSCTTM of the embeddings went
        from 0.0302 to 0.0159 on sim1, 0.00036 to 0.00002 on sim2 and 0.00009
        to 0.00000 on sim3 (SNARE-seq: 0.1531 and 0.1551), and the top-1
        matching of the non-isometric pair from 0.979 to 0.999 (the user
        guide has the table); fitting takes about twice as long.
    sinkhorn_max_iter : int, default=1000
        Sinkhorn iterations per training step.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks (e.g. ``skorch.callbacks.LRScheduler``).
    device : str, default="cpu"
        Torch device of the networks (``"cuda"``).
    random_state : int, RandomState instance or None, default=None
        Seeds the network initialisation and the batches.
    verbose : int, default=0
        Print skorch's per-epoch table when > 0.
    **kwargs
        Routed parameters, as in skorch: ``module__embedding_dim``,
        ``module__hidden_dim``, ``module__n_layers``, ``module__activation``,
        ``optimizer__weight_decay``, ``iterator_train__*``, ``callbacks__*``.
        ``GridSearchCV`` can tune all of them.

    Attributes
    ----------
    net_ : GWEmbeddingNet
        The trained skorch net (``net_.module_`` holds ``f`` and ``g``).
    history_ : skorch.History
        Per-epoch ``train_loss`` and ``epsilon``.
    n_iter_ : int
        Epochs run.
    converged_ : bool
    n_features_in_ : int
    n_features_source_ : int
        Width of the source column block (all columns in self-alignment).
    layout_ : {"blocks", "shared", "self"}
        How domains were read from ``X`` in ``fit``.
    init_distortions_ : list of float
        GW distortion of each restart on the reference rows (empty when
        ``n_init=1``); the kept networks have the smallest.
    init_gw_loss_ : float
        GW loss of the warm-start plan of the kept restart (``init="gw"``
        only).
    init_epsilon_ : float
        Epsilon of the warm-start annealing stage that was kept (the one
        whose hard matching distorts the distances least; ``init="gw"``
        only).
    n_refine_pairs_ : list of int
        Pairs (``refine_pairs``) used in each refinement round of the kept
        networks (empty when ``n_refine=0``).
    refine_residual_ : tuple of float or None
        Mean squared distance ``||g(y_j) - f(x_i)||^2`` over the pairs of the
        last round, before and after the ``refine_steps`` fine-tuning of the
        kept networks (``None`` when ``refine_steps=0`` or ``n_refine=0``, or
        when the last round paired fewer rows than the last layer has inputs).
    cost_scale_ : float
        Mean squared distance between the embedded training domains; the cost
        of :meth:`match` is divided by it so that ``epsilon`` means the same.

    Examples
    --------
    >>> from skalign import GWEmbeddingAligner
    >>> from skalign.datasets import make_isometric_pair
    >>> data = make_isometric_pair(200, n_features=8, n_clusters=4, random_state=0)
    >>> aligner = GWEmbeddingAligner(max_epochs=60, batch_size=100, random_state=0)
    >>> aligner = aligner.fit(data.X)
    >>> aligner.transform(data.X).shape
    (400, 16)
    >>> matched = aligner.match(data.X)  # row of X matched to each source row
    >>> matched.shape
    (200,)
    """

    _parameter_constraints: ClassVar[dict] = {
        "loss": [StrOptions({"metric", "rank"})],
        "metric": [StrOptions({"euclidean", "geodesic"})],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "epsilon_init": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "epsilon_schedule": [StrOptions({"geometric", "linear"})],
        "spectral_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "alignment_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "rank_regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "preprocessing": [StrOptions({"scale", "standard", "l2"}), None],
        "module": [type, None],
        "optimizer": [type, None],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions({"gw", "random"})],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_refine": [Interval(numbers.Integral, 0, None, closed="left")],
        "refine_pairs": [StrOptions({"nearest", "ot"})],
        "refine_steps": [Interval(numbers.Integral, 0, None, closed="left")],
        "sinkhorn_max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        loss="metric",
        metric="euclidean",
        n_neighbors=10,
        epsilon=0.05,
        epsilon_init=None,
        epsilon_schedule="geometric",
        spectral_weight=0.0,
        alignment_weight=0.1,
        rank_regularization=0.1,
        preprocessing="scale",
        module=None,
        optimizer=None,
        lr=1e-3,
        max_epochs=100,
        batch_size=512,
        tol=1e-3,
        n_iter_no_change=10,
        init="gw",
        n_init=3,
        n_refine=3,
        refine_pairs="ot",
        refine_steps=1000,
        sinkhorn_max_iter=1000,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.loss = loss
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.epsilon = epsilon
        self.epsilon_init = epsilon_init
        self.epsilon_schedule = epsilon_schedule
        self.spectral_weight = spectral_weight
        self.alignment_weight = alignment_weight
        self.rank_regularization = rank_regularization
        self.preprocessing = preprocessing
        self.module = module
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.n_init = n_init
        self.n_refine = n_refine
        self.refine_pairs = refine_pairs
        self.refine_steps = refine_steps
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        for key, value in kwargs.items():
            setattr(self, key, value)

    # -- skorch-style routed parameters ---------------------------------------
    def _check_routed(self):
        for key in set(vars(self)) - set(super().get_params(deep=False)):
            if key.endswith("_") or key.startswith("_"):
                continue  # fitted state
            if not key.startswith(_ROUTED_PREFIXES):
                raise ValueError(
                    f"GWEmbeddingAligner got an unexpected keyword argument {key!r}; "
                    f"routed parameters must start with one of {_ROUTED_PREFIXES}."
                )

    def _routed(self):
        return {k: v for k, v in vars(self).items() if k.startswith(_ROUTED_PREFIXES)}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._routed())
        return params

    def set_params(self, **params):
        # Routed (and unknown, rejected by fit with a clear error) keys are
        # stored as attributes, like __init__ does with **kwargs.
        valid = super().get_params(deep=False)
        routed = {
            k: v
            for k, v in params.items()
            if k.startswith(_ROUTED_PREFIXES) or k.split("__")[0] not in valid
        }
        for key, value in routed.items():
            setattr(self, key, value)
        others = {k: v for k, v in params.items() if k not in routed}
        if others:
            super().set_params(**others)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = self.device != "cpu"
        return tags

    # -- domains and preprocessing --------------------------------------------
    def _domains(self, X, sample_domain, *, fitting):
        """Return (source_rows, target_rows, source_index, target_index)."""
        layout = self._layout_for(X, sample_domain) if fitting else self.layout_
        if layout == "self":
            if not fitting and sample_domain is not None:
                domains = check_sample_domain(
                    sample_domain, X.shape[0], require_both=False
                )
                if np.any(domains < 0):
                    raise ValueError(
                        "This aligner was fitted on a table without domain information "
                        "(self-alignment): it has no target network; pass rows without "
                        "negative sample_domain."
                    )
            index = np.arange(X.shape[0])
            return X, X, index, index
        if layout == "shared":
            if sample_domain is None:
                raise ValueError(
                    "This aligner was fitted with sample_domain on a table whose domains "
                    "share all columns; pass sample_domain again."
                )
            domains = check_sample_domain(
                sample_domain, X.shape[0], require_both=fitting
            )
            p = X.shape[1]
        else:
            p_known = None if fitting else self.n_features_source_
            domains, p = infer_domains_from_layout(X, sample_domain, p_known)
            if fitting:
                check_sample_domain(domains, X.shape[0], require_both=True)
        source_index = np.flatnonzero(domains > 0)
        target_index = np.flatnonzero(domains < 0)
        q_start = 0 if layout == "shared" else p
        return (
            X[source_index, :p],
            X[target_index, q_start:],
            source_index,
            target_index,
        )

    @staticmethod
    def _layout_for(X, sample_domain):
        if np.isnan(X).any():
            return "blocks"
        return "self" if sample_domain is None else "shared"

    def _fit_scaler(self, rows):
        scaler = {}
        if self.preprocessing == "standard":
            std = rows.std(axis=0)
            scaler["feature_mean"] = rows.mean(axis=0)
            scaler["feature_std"] = np.where(std > 0, std, 1.0)
        if self.preprocessing is not None:
            rows = self._apply_scaler(rows, scaler | {"center": 0.0, "scale": 1.0})
            scaler["center"] = rows.mean(axis=0)
            rms = np.sqrt(np.mean(np.sum((rows - scaler["center"]) ** 2, axis=1)))
            scaler["scale"] = rms if rms > 0 else 1.0
        return scaler

    def _apply_scaler(self, rows, scaler):
        if self.preprocessing is None:
            return rows
        if self.preprocessing == "standard":
            rows = (rows - scaler["feature_mean"]) / scaler["feature_std"]
        elif self.preprocessing == "l2":
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows = rows / np.where(norms > 0, norms, 1.0)
        return (rows - scaler["center"]) / scaler["scale"]

    # -- fitting ---------------------------------------------------------------
    def _make_net(self, n_source, n_target, n_rows, seed):
        module_params = {
            k[len("module__") :]: v
            for k, v in self._routed().items()
            if k.startswith("module__")
        }
        other_routed = {
            k: v for k, v in self._routed().items() if not k.startswith("module__")
        }
        # Near-equal batches (none left over or of a single row): a batch of
        # 1 row has no geometry.
        n_batches = -(-n_rows // min(self.batch_size, n_rows))
        batch_size = -(-n_rows // n_batches)
        anneal_epochs = max(1, self.max_epochs // 2) if self.epsilon_init else 0
        annealing = _EpsilonAnnealing(
            self.epsilon_init, self.epsilon, anneal_epochs, self.epsilon_schedule
        )
        plateau = _LossPlateau(anneal_epochs, self.tol, self.n_iter_no_change)
        generator = torch.Generator().manual_seed(seed)
        net = GWEmbeddingNet(
            module=self.module or GWEmbeddingModule,
            module__n_features_source=n_source,
            module__n_features_target=n_target,
            criterion=GWLoss,
            criterion__loss=self.loss,
            criterion__metric=self.metric,
            criterion__n_neighbors=self.n_neighbors,
            criterion__spectral_weight=self.spectral_weight,
            criterion__alignment_weight=self.alignment_weight,
            criterion__rank_regularization=self.rank_regularization,
            criterion__sinkhorn_max_iter=self.sinkhorn_max_iter,
            optimizer=self.optimizer or torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__generator=generator,
            callbacks=[
                ("epsilon_annealing", annealing),
                ("loss_plateau", plateau),
                *(self.callbacks or []),
            ],
            device=self.device,
            verbose=self.verbose,
            **{f"module__{k}": v for k, v in module_params.items()},
            **other_routed,
        )
        return net

    @staticmethod
    def _epoch_rows(n_source, n_target, rng):
        """Row indices of one epoch: the smaller domain is cycled to the larger size."""
        n_rows = max(n_source, n_target)

        def cycle(n):
            reps = -(-n_rows // n)
            return np.concatenate([rng.permutation(n) for _ in range(reps)])[:n_rows]

        return cycle(n_source), cycle(n_target)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_domain=None):
        """Train the two embedding networks on the rows of both domains.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Stacked table of both domains (NaN outside each row's block).
        y : None
            Ignored; present for API consistency.
        sample_domain : array-like of shape (n_samples,) or None
            Positive for source rows, negative for target rows; inferred from
            the NaN layout when ``None``.

        Returns
        -------
        self : GWEmbeddingAligner
        """
        X = validate_data(
            self,
            X,
            ensure_all_finite="allow-nan",
            ensure_min_samples=2,
            dtype=np.float64,
        )
        self._check_routed()
        self.layout_ = self._layout_for(X, sample_domain)
        source, target, _, _ = self._domains(X, sample_domain, fitting=True)
        for name, rows in (("source", source), ("target", target)):
            if rows.shape[0] < 2:
                raise ValueError(
                    f"X must contain at least 2 {name} rows to align, got {rows.shape[0]}."
                )
        self.n_features_source_ = source.shape[1]
        self.scalers_ = (self._fit_scaler(source), self._fit_scaler(target))
        source = self._apply_scaler(source, self.scalers_[0])
        target = self._apply_scaler(target, self.scalers_[1])

        rng = check_random_state(self.random_state)
        # Stand-ins for a domain absent from the rows given to score; also the
        # rows on which the restarts are compared.
        self.reference_rows_ = tuple(
            rows[np.sort(rng.permutation(len(rows))[:_REFERENCE_ROWS])]
            for rows in (source, target)
        )
        # Each restart solves its own warm start on its own subsample: the
        # subsample decides the GW basin (SNARE-seq: 2 of 4 subsamples of 500
        # cells landed in a mirrored one), so restarts sharing one warm start
        # would share its failure. When the subsample is every row the warm
        # start is deterministic and solved once.
        subsampled = max(len(source), len(target)) > _GW_INIT_ROWS
        warm = None
        best = None
        self.init_distortions_ = []
        for _ in range(self.n_init):
            if self.init == "gw" and (warm is None or subsampled):
                warm = self._gw_warm_start(source, target, rng)
            seed = int(rng.randint(np.iinfo(np.int32).max))
            self.net_ = self._train(source, target, seed, rng, warm)
            self.n_refine_pairs_, self.refine_residual_ = self._refine(
                source, target, rng
            )
            emb_source, emb_target = self._embed(source, 0), self._embed(target, 1)
            self.cost_scale_ = self._mean_sq_distance(emb_source, emb_target)
            self.n_components_ = emb_source.shape[1]
            if self.n_init == 1:
                break
            # GW local minima are common: keep the restart whose matching
            # distorts the geometry least (label-free, like score).
            distortion = self._distortion_of_prepared(*self.reference_rows_)
            self.init_distortions_.append(distortion)
            if best is None or distortion < best[0]:
                best = (
                    distortion,
                    self.net_,
                    self.cost_scale_,
                    (self.n_refine_pairs_, self.refine_residual_),
                    getattr(self, "init_gw_loss_", None),
                    getattr(self, "init_epsilon_", None),
                )
        if best is not None:
            _, self.net_, self.cost_scale_, refinement, *warm_stats = best
            self.n_refine_pairs_, self.refine_residual_ = refinement
            if warm_stats[0] is not None:
                self.init_gw_loss_, self.init_epsilon_ = warm_stats
        self.history_ = self.net_.history
        self.n_iter_ = len(self.net_.history)
        self.converged_ = bool(self.net_.converged)
        self._warn_training(self.net_)
        return self

    def _gw_warm_start(self, source, target, rng):
        """Rows and embedding targets of both towers from an entropic GW plan.

        Returns ``(source_rows, target_rows, source_points, plan)``: the
        subsampled preprocessed rows, the classical MDS coordinates of the
        source rows and the GW plan; target rows go to the barycentre of their
        partners' coordinates (see :meth:`_pretrain`).
        """
        rows = [
            r[np.sort(rng.permutation(len(r))[:_GW_INIT_ROWS])]
            for r in (source, target)
        ]
        d_source, _ = intra_distances(rows[0], self.metric, self.n_neighbors)
        d_target, _ = intra_distances(rows[1], self.metric, self.n_neighbors)
        # How sharp a plan the data support is not known in advance: clean
        # manifolds keep improving down to the smallest epsilon (sim2/sim3:
        # FOSCTTM 0.0004 -> 0.0002 from 0.005 to 0.001; on sim3 the argmax
        # matches 98.3% of the rows at 0.001 and all of them at 0.0005) while
        # noisy counts overfit below 0.005 (SNARE-seq: 0.153 -> 0.157). The
        # stage whose hard matching (the argmax of each row) distorts the
        # distances least is kept, a label-free choice; annealing stops at the
        # first stage that distorts more than the best so far, since the
        # small-epsilon stages are the slow ones (SNARE-seq, 500 rows: 7 s
        # each at 0.002 and 0.001 against 0.4-2.8 s for the others).
        plan, best = None, None
        for epsilon in _GW_INIT_EPSILONS:
            result = entropic_gromov_wasserstein(
                d_source,
                d_target,
                epsilon=epsilon,
                init_plan=plan,
                max_iter=50,
                tol=1e-4,
                inner_tol=1e-5,
                warn=False,
            )
            plan = result.plan
            if not np.all(np.isfinite(plan)):
                raise FloatingPointError(
                    "The Gromov-Wasserstein warm start produced a non-finite plan "
                    f"at epsilon={epsilon}; use init='random'."
                )
            distortion = gw_distortion(d_source, d_target, plan.argmax(1))
            if best is not None and distortion > best[0]:
                break
            if best is None or distortion < best[0]:
                best = (distortion, epsilon, plan, float(result.transport_cost))
        _, self.init_epsilon_, plan, self.init_gw_loss_ = best
        # Classical MDS: coordinates whose distances are those of the source.
        sq = d_source**2
        centred = -0.5 * (sq - sq.mean(0) - sq.mean(1)[:, None] + sq.mean())
        values, vectors = np.linalg.eigh(centred)
        order = np.argsort(values)[::-1]
        points = vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))
        return rows[0], rows[1], points, plan

    def _pretrain(self, module, warm):
        """Fit f to the MDS points and g to the barycentres of GW partners."""
        source_rows, target_rows, points, plan = warm
        xs = torch.as_tensor(source_rows, device=self.device)
        xt = torch.as_tensor(target_rows, device=self.device)
        with torch.no_grad():
            dim = module(xs[:2], xt[:2])[0].shape[1]
        z_source = np.zeros((len(points), dim))
        width = min(dim, points.shape[1])
        z_source[:, :width] = points[:, :width]
        # Row-normalised transpose: each target row's barycentre of partners.
        z_target = (plan.T @ z_source) / plan.sum(0)[:, None]
        z_source = torch.as_tensor(z_source, device=self.device)
        z_target = torch.as_tensor(z_target, device=self.device)
        optimizer = torch.optim.Adam(module.parameters(), lr=_PRETRAIN_LR)
        module.train()
        for _ in range(_PRETRAIN_STEPS):
            optimizer.zero_grad()
            emb_source, emb_target = module(xs, xt)
            loss = ((emb_source - z_source) ** 2).sum(1).mean() + (
                (emb_target - z_target) ** 2
            ).sum(1).mean()
            loss.backward()
            optimizer.step()

    def _train(self, source, target, seed, rng, warm=None):
        """Train one pair of networks from the initialisation given by ``seed``."""
        source_rows, target_rows = self._epoch_rows(len(source), len(target), rng)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._make_net(
                source.shape[1], target.shape[1], len(source_rows), seed
            )
            # Float64 weights: embeddings of a row do not depend on the chunk it
            # is computed in (float32 matmuls differ by batch size).
            net.initialize()
            net.module_.double()
            if warm is not None:
                self._pretrain(net.module_, warm)
            net.partial_fit(
                {"source": source[source_rows], "target": target[target_rows]}
            )
        return net

    def _refine(self, source, target, rng):
        """Refit g's last linear layer on mutual pairs (MUSE-style), then fine-tune g.

        Returns the number of pairs of each round and the residual of the
        fine-tuning (``refine_residual_``).
        """
        if self.n_refine == 0:
            return [], None
        tower = getattr(self.net_.module_, "target", None)
        last = tower[-1] if isinstance(tower, torch.nn.Sequential) else None
        if not isinstance(last, torch.nn.Linear):
            raise ValueError(
                "n_refine > 0 needs a module whose target tower (module_.target) is a "
                "torch.nn.Sequential ending with torch.nn.Linear; set n_refine=0 for "
                f"this module, got {type(tower).__name__}."
            )
        source, target = (
            rows[np.sort(rng.permutation(len(rows))[:_REFINE_ROWS])]
            for rows in (source, target)
        )
        emb_source = self._embed(source, 0)
        with torch.no_grad():
            hidden = tower[:-1](torch.as_tensor(target, device=self.device))
            hidden = hidden.double().cpu().numpy()
        design = np.hstack([hidden, np.ones((len(hidden), 1))])
        # g(target) = design @ coef: each round re-embeds through the last layer
        # only, instead of running the whole tower again.
        coef = np.vstack(
            [
                last.weight.detach().double().cpu().numpy().T,
                last.bias.detach().double().cpu().numpy()[None, :],
            ]
        )
        n_pairs = []
        for _ in range(self.n_refine):
            pairs_source, pairs_target = self._refinement_pairs(
                emb_source, design @ coef
            )
            n_pairs.append(len(pairs_source))
            if len(pairs_source) < design.shape[1]:
                break  # fewer equations than unknowns: keep the trained layer
            a = design[pairs_target]
            gram = a.T @ a
            ridge = _REFINE_RIDGE * np.trace(gram) / gram.shape[0]
            coef = np.linalg.solve(
                gram + ridge * np.eye(gram.shape[0]), a.T @ emb_source[pairs_source]
            )
            with torch.no_grad():
                last.weight.copy_(torch.as_tensor(coef[:-1].T))
                last.bias.copy_(torch.as_tensor(coef[-1]))
        if self.refine_steps == 0:
            return n_pairs, None
        pairs_source, pairs_target = self._refinement_pairs(emb_source, design @ coef)
        if len(pairs_source) < design.shape[1]:
            return n_pairs, None  # too few pairs to fit more than the last layer
        return n_pairs, self._fine_tune_target(
            tower, target[pairs_target], emb_source[pairs_source]
        )

    def _fine_tune_target(self, tower, rows, goal):
        """Full-batch Adam on ``mean ||g(rows) - goal||^2``; residual before and after.

        Keeps the parameters of the lowest residual seen: Adam's first steps
        have the size of the learning rate whatever the gradient, so from a
        least-squares optimum (a linear tower) they would only move away.
        """
        rows = torch.as_tensor(rows, dtype=torch.float64, device=self.device)
        goal = torch.as_tensor(goal, dtype=torch.float64, device=self.device)
        optimizer = torch.optim.Adam(tower.parameters(), lr=self.lr)

        def residual():
            return ((tower(rows) - goal) ** 2).sum(1).mean()

        tower.train()
        values, best_state = [], None
        for step in range(self.refine_steps + 1):
            optimizer.zero_grad()
            value = residual()
            values.append(float(value.detach()))
            if values[-1] <= min(values):
                best_state = copy.deepcopy(tower.state_dict())
            if step < self.refine_steps:
                value.backward()
                optimizer.step()
        tower.load_state_dict(best_state)
        tower.eval()
        return values[0], min(values)

    def _refinement_pairs(self, emb_source, emb_target):
        """Row pairs of one refinement round (see ``refine_pairs``)."""
        if self.refine_pairs == "nearest":
            return _mutual_nearest(emb_source, emb_target)
        scale = self._mean_sq_distance(emb_source, emb_target)
        result = self._solve_matching(emb_source, emb_target, self.epsilon, scale)
        return _mutual_pairs(
            np.asarray(result.argmax_rows()), np.asarray(result.argmax_cols())
        )

    def _warn_training(self, net):
        criterion = net.criterion_
        if criterion.n_bridged:
            warnings.warn(
                f"The {self.n_neighbors}-NN graph of {criterion.n_bridged} batches was "
                "disconnected and was bridged; increase n_neighbors or batch_size.",
                UserWarning,
                stacklevel=3,
            )
        if not self.converged_:
            warnings.warn(
                f"GWEmbeddingAligner did not converge in {self.max_epochs} epochs (the "
                f"loss still improved by more than tol={self.tol} within "
                f"{self.n_iter_no_change} epochs). Increase max_epochs or lr, or raise tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

    @staticmethod
    def _mean_sq_distance(a, b):
        """Mean of |a_i - b_j|^2 over all pairs, in O((n + m) d)."""
        value = (
            np.mean(np.sum(a**2, axis=1))
            + np.mean(np.sum(b**2, axis=1))
            - 2.0 * a.mean(axis=0) @ b.mean(axis=0)
        )
        return float(value) if value > 0 else 1.0

    # -- inference ---------------------------------------------------------------
    def _embed(self, rows, side):
        """Embed preprocessed rows with f (side 0) or g (side 1), chunk by chunk."""
        tower = self.net_.module_.source if side == 0 else self.net_.module_.target
        out = []
        tower.eval()
        with torch.no_grad():
            for start in range(0, rows.shape[0], _CHUNK_ROWS):
                chunk = torch.as_tensor(
                    rows[start : start + _CHUNK_ROWS],
                    dtype=torch.float64,
                    device=self.device,
                )
                out.append(tower(chunk).cpu().numpy())
        if not out:
            return np.empty((0, self.n_components_))
        return np.concatenate(out)

    def _embed_domains(self, X, sample_domain):
        source, target, s_idx, t_idx = self._domains(X, sample_domain, fitting=False)
        emb_source = self._embed(self._apply_scaler(source, self.scalers_[0]), 0)
        emb_target = self._embed(self._apply_scaler(target, self.scalers_[1]), 1)
        return emb_source, emb_target, s_idx, t_idx

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, ensure_all_finite="allow-nan", reset=False, dtype=np.float64
        )

    def transform(self, X, sample_domain=None):
        """Embed every row of ``X`` (either domain) into the shared space.

        Row by row: source rows go through ``f``, target rows through ``g``,
        in chunks, so any number of rows can be transformed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of shape (n_samples,) or None

        Returns
        -------
        ndarray of shape (n_samples, embedding_dim)
        """
        X = self._check_X(X)
        emb_source, emb_target, s_idx, t_idx = self._embed_domains(X, sample_domain)
        out = np.empty((X.shape[0], emb_source.shape[1]))
        out[t_idx] = emb_target
        out[s_idx] = emb_source
        return out

    def _solve_matching(self, emb_source, emb_target, epsilon, cost_scale=None):
        return sinkhorn_tiled(
            emb_source,
            emb_target,
            epsilon=epsilon,
            cost_scale=self.cost_scale_ if cost_scale is None else cost_scale,
            epsilon_init=max(1.0, epsilon),
            tol=1e-4,
            check_every=5,
            warn=True,
        )

    def match(self, X, sample_domain=None, *, method="auto", epsilon=None):
        """Match every source row of ``X`` to a target row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows of both domains (any rows: new ones are embedded with the
            trained networks).
        sample_domain : array-like of shape (n_samples,) or None
        method : {"auto", "ot", "nearest"}, default="auto"
            ``"ot"``: the largest entry of each row of the entropic plan
            between the embedded source and target rows, solved by the tiled
            Sinkhorn of :func:`skalign.ot.sinkhorn_tiled` (memory
            ``O((n + m) d)``, time ``O(n m d)`` per sweep); ``"nearest"``:
            the nearest target row in the shared space (a tree search, for
            hundreds of thousands of rows); ``"auto"`` uses ``"ot"`` up to
            25 million source-target pairs.
        epsilon : float or None
            Regularisation of the matching plan (relative to the training
            cost scale); ``None`` uses ``self.epsilon``.

        Returns
        -------
        ndarray of int, shape (n_source_rows,)
            Row position in ``X`` of the target row matched to each source row
            (source rows in their order in ``X``).
        """
        X = self._check_X(X)
        if method not in {"auto", "ot", "nearest"}:
            raise ValueError(
                f"method must be 'auto', 'ot' or 'nearest', got {method!r}."
            )
        emb_source, emb_target, _, t_idx = self._embed_domains(X, sample_domain)
        if len(emb_source) == 0 or len(emb_target) == 0:
            raise ValueError("match needs at least one source and one target row in X.")
        if method == "auto":
            small = len(emb_source) * len(emb_target) <= _AUTO_OT_PAIRS
            method = "ot" if small else "nearest"
        if method == "nearest":
            finder = NearestNeighbors(n_neighbors=1).fit(emb_target)
            columns = finder.kneighbors(emb_source, return_distance=False)[:, 0]
        else:
            result = self._solve_matching(
                emb_source, emb_target, epsilon or self.epsilon
            )
            columns = np.asarray(result.argmax_rows())
        return t_idx[columns]

    def coupling(
        self, X, sample_domain=None, *, k=None, mass_fraction=0.9, epsilon=None
    ):
        """Sparse soft coupling between the source and target rows of ``X``.

        The entropic plan between the embedded rows is solved by the tiled
        Sinkhorn and only its largest entries are kept, never an n x m
        dense matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_domain : array-like of shape (n_samples,) or None
        k : int or None
            Entries kept per source row; ``None`` keeps, per row, the fewest
            entries holding ``mass_fraction`` of the row's mass.
        mass_fraction : float, default=0.9
        epsilon : float or None
            As in :meth:`match`.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_source_rows, n_target_rows)
            Rows follow the source rows of ``X`` in order, columns the target
            rows; entries are plan values (total mass at most 1).
        """
        X = self._check_X(X)
        emb_source, emb_target, _, _ = self._embed_domains(X, sample_domain)
        result = self._solve_matching(emb_source, emb_target, epsilon or self.epsilon)
        if k is not None:
            return result.topk(k=k)
        return result.topk(mass_fraction=mass_fraction)

    def gw_distortion(self, X, sample_domain=None, *, max_samples=1000):
        """GW distortion of the matching of the rows of ``X`` (lower is better).

        The source rows of ``X`` are matched to its target rows (the argmax
        of the entropic plan between their embeddings); the distortion
        compares the intra-domain distances (the fitted ``metric`` on
        preprocessed rows, divided by their mean) under that matching
        (:func:`skalign.metrics.gw_distortion`). No known pairs are needed.
        At most ``max_samples`` rows per domain are used (a fixed random
        subset), since the distances are ``O(n^2)``. When ``X`` holds fewer
        than 2 rows of a domain (e.g. a cross-validation fold of a stacked
        table), a sample of that domain's training rows kept by ``fit``
        stands in for it.

        Returns
        -------
        float
        """
        X = self._check_X(X)
        source, target, _, _ = self._domains(X, sample_domain, fitting=False)
        rng = np.random.RandomState(0)
        prepared = []
        for side, rows in enumerate((source, target)):
            if rows.shape[0] < 2:
                prepared.append(self.reference_rows_[side])
                continue
            keep = np.sort(rng.permutation(rows.shape[0])[:max_samples])
            prepared.append(self._apply_scaler(rows[keep], self.scalers_[side]))
        if self.layout_ == "self":
            prepared[1] = prepared[0]
        return self._distortion_of_prepared(*prepared)

    def _distortion_of_prepared(self, source, target):
        """GW distortion of the matching between two sets of preprocessed rows."""
        emb_source, emb_target = self._embed(source, 0), self._embed(target, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = self._solve_matching(emb_source, emb_target, self.epsilon)
        matched = np.asarray(result.argmax_rows())
        d_source, _ = intra_distances(source, self.metric, self.n_neighbors)
        d_target, _ = intra_distances(target, self.metric, self.n_neighbors)
        return gw_distortion(d_source, d_target, matched)

    def score(self, X, y=None, sample_domain=None, sample_weight=None):
        """Negative GW distortion of the matching of the rows given (greater is better).

        Lets a plain ``GridSearchCV(aligner, param_grid, cv=3)`` choose
        ``epsilon``, ``spectral_weight`` or network sizes without known
        pairs. ``y`` is ignored. ``sample_weight`` is accepted so that a
        Pipeline with metadata routing enabled (skada enables it on import)
        can pass it, and must be ``None``: the distortion is a property of
        the whole matching, not a sum over rows.
        """
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported by GWEmbeddingAligner.score: the GW "
                "distortion is a property of the whole matching; pass None."
            )
        return -self.gw_distortion(X, sample_domain=sample_domain)
