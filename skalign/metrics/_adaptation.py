"""Diagnostics of a domain-adaptation plan: where the transported mass went."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

__all__ = [
    "low_mass_share",
    "mass_per_class",
    "mixval_score",
    "prediction_entropy",
    "rejected_mass_share",
    "reverse_validation_score",
    "soft_neighborhood_density",
]


def _row_mass(plan_or_mass, axis):
    if plan_or_mass is None:
        raise ValueError(
            "plan_or_mass must be a plan (2-D) or a mass vector (1-D), got None."
        )
    if sp.issparse(plan_or_mass):
        return np.asarray(plan_or_mass.sum(axis)).ravel()
    values = np.asarray(plan_or_mass, dtype=np.float64)
    if values.ndim == 2:
        return values.sum(axis)
    if values.ndim == 1:
        return values
    raise ValueError(
        f"plan_or_mass must be a plan (2-D) or a mass vector (1-D), got {values.ndim}-D."
    )


def _check_lengths(mass, labels, name):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != mass.shape[0]:
        raise ValueError(
            f"{name} must be 1-D with one entry per row ({mass.shape[0]}), got shape "
            f"{labels.shape}."
        )
    if np.any(mass < 0) or not np.all(np.isfinite(mass)):
        raise ValueError("transported mass must be finite and non-negative.")
    return labels


def mass_per_class(plan_or_mass, labels, *, side="source", normalize=False):
    """Transported mass of each class, on the source (rows) or target (columns) side.

    Parameters
    ----------
    plan_or_mass : array of shape (n, m), scipy.sparse matrix, or array of shape (k,)
        A transport plan, or the mass per row already summed (e.g. an
        estimator's ``source_mass_``).
    labels : array-like of shape (n,) or (m,)
        Class of every row of the chosen side.
    side : {"source", "target"}, default="source"
        Sum the plan over rows (``"source"``) or columns (``"target"``); ignored
        for a mass vector.
    normalize : bool, default=False
        Divide each class's mass by its number of rows (mean mass per row).

    Returns
    -------
    classes : ndarray
    mass : ndarray of float, one entry per class.

    Examples
    --------
    >>> import numpy as np
    >>> plan = np.array([[0.5, 0.0], [0.0, 0.0]])
    >>> mass_per_class(plan, [0, 1])
    (array([0, 1]), array([0.5, 0. ]))
    """
    if side not in ("source", "target"):
        raise ValueError(f"side must be 'source' or 'target', got {side!r}.")
    mass = _row_mass(plan_or_mass, 1 if side == "source" else 0)
    labels = _check_lengths(mass, labels, "labels")
    classes, inverse, counts = np.unique(
        labels, return_inverse=True, return_counts=True
    )
    totals = np.bincount(inverse, weights=mass, minlength=classes.size)
    if normalize:
        totals = totals / counts
    return classes, totals


def rejected_mass_share(plan_or_mass, mask, *, side="source", capacity=None):
    """Share of the *rejected* (untransported) mass that falls on the rows in ``mask``.

    With partial domain adaptation, ``mask`` marks the source rows of classes
    absent from the target: a value near 1 means the adapter left exactly
    those rows untransported.

    Parameters
    ----------
    plan_or_mass : plan or mass vector (see :func:`mass_per_class`)
    mask : array-like of bool, one entry per row of the chosen side
    side : {"source", "target"}, default="source"
    capacity : array-like or None
        Mass each row could have carried (its marginal bound); uniform
        ``1 / n`` when ``None``.

    Returns
    -------
    float in [0, 1] (NaN when nothing was rejected).

    Examples
    --------
    >>> import numpy as np
    >>> rejected_mass_share(np.array([0.5, 0.0]), [False, True])
    1.0
    """
    if side not in ("source", "target"):
        raise ValueError(f"side must be 'source' or 'target', got {side!r}.")
    mass = _row_mass(plan_or_mass, 1 if side == "source" else 0)
    mask = _check_lengths(mass, mask, "mask").astype(bool)
    if capacity is None:
        capacity = np.full(mass.shape[0], 1.0 / mass.shape[0])
    capacity = np.asarray(capacity, dtype=np.float64)
    if capacity.shape != mass.shape:
        raise ValueError(
            f"capacity must have one entry per row ({mass.shape[0]}), got {capacity.shape}."
        )
    rejected = np.clip(capacity - mass, 0.0, None)
    total = rejected.sum()
    if total <= 0:
        return float("nan")
    return float(rejected[mask].sum() / total)


def low_mass_share(plan_or_mass, mask, *, side="target", threshold=0.01):
    """Share of the rows in ``mask`` that receive less than ``threshold`` x the mean mass.

    With injected outliers (``mask``), the fraction of them an adapter rejects.

    Examples
    --------
    >>> import numpy as np
    >>> low_mass_share(np.array([0.3, 0.3, 0.0, 0.001]), [False, False, True, True])
    1.0
    """
    if side not in ("source", "target"):
        raise ValueError(f"side must be 'source' or 'target', got {side!r}.")
    if not 0 <= threshold:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}.")
    mass = _row_mass(plan_or_mass, 1 if side == "source" else 0)
    mask = _check_lengths(mass, mask, "mask").astype(bool)
    if not mask.any():
        raise ValueError("mask selects no row.")
    return float(np.mean(mass[mask] < threshold * mass.mean()))


# ------------------------------------------------- label-free selection rules
# Scores computed from what any domain-adaptation method outputs on the target
# rows, so that one rule can choose the hyper-parameters of every method.
def _check_proba(proba):
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] == 0:
        raise ValueError(
            "proba must be a 2-D array (n_target, n_classes) of class probabilities, "
            f"got shape {proba.shape}."
        )
    if not np.all(np.isfinite(proba)) or np.any(proba < 0):
        raise ValueError("proba must hold finite, non-negative probabilities.")
    return proba


def prediction_entropy(proba):
    """Mean entropy of the predicted class probabilities (lower: more confident).

    The criterion of skada's ``PredictionEntropyScorer`` (which averages over
    rows *and* classes, i.e. this value divided by ``n_classes``).

    Parameters
    ----------
    proba : array-like of shape (n_target, n_classes)
        Predicted probabilities on the target rows.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(prediction_entropy(np.array([[0.5, 0.5], [1.0, 0.0]])), 4)
    0.3466
    """
    proba = _check_proba(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(proba > 0, -proba * np.log(proba), 0.0)
    return float(terms.sum(1).mean())


def soft_neighborhood_density(proba, *, temperature=0.05):
    """Soft neighbourhood density of the target predictions (higher is better).

    Saito et al., *Tune it the Right Way: Unsupervised Validation of Domain
    Adaptation via Soft Neighborhood Density*, ICCV 2021: the mean entropy of
    the softmax similarity (``temperature``) between the L2-normalised
    probability vectors of the target rows, computed as skada's
    ``SoftNeighborhoodDensity``. Dense clusters of consistent predictions
    score high. Uses an ``n_target x n_target`` matrix: subsample large
    targets.

    Parameters
    ----------
    proba : array-like of shape (n_target, n_classes)
    temperature : float > 0, default=0.05

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    >>> round(soft_neighborhood_density(proba), 3)
    0.085
    """
    proba = _check_proba(proba)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}.")
    norms = np.linalg.norm(proba, axis=1, keepdims=True)
    unit = proba / np.where(norms > 0, norms, 1.0)
    sim = unit @ unit.T / temperature
    # skada flips the sign of the diagonal so a row is not its own neighbour.
    np.fill_diagonal(sim, -np.diag(sim))
    sim = np.exp(sim - sim.max(1, keepdims=True))
    sim /= sim.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(sim > 0, -sim * np.log(sim), 0.0)
    return float(terms.sum(1).mean())


def mixval_score(predict, X_target, *, alpha=0.55, random_state=0):
    """Interpolation consistency of a classifier on the target rows (MixVal).

    Each target row ``z_a`` is mixed with a random other one,
    ``alpha * z_a + (1 - alpha) * z_b``; the score is the accuracy of the
    predictions on the mixed rows against the label predicted for ``z_a``,
    averaged over pairs of the same and of different predicted classes (the
    ``ice_type="both"`` score of skada's ``MixValScorer``, same permutation
    for the same ``random_state``). Higher is better.

    Parameters
    ----------
    predict : callable
        Maps rows to predicted labels (e.g. a fitted model's ``predict``).
    X_target : array-like of shape (n_target, n_features)
    alpha : float in (0.5, 1), default=0.55
        Weight of the row whose label the mix should keep.
    random_state : int, RandomState or None, default=0

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.2], [4.0], [4.2]])
    >>> mixval_score(lambda Z: (Z[:, 0] > 2.1).astype(int), X)
    1.0
    """
    if not callable(predict):
        raise ValueError(
            f"predict must be a callable returning labels, got {predict!r}."
        )
    if not 0.5 < alpha < 1:
        raise ValueError(f"alpha must be in (0.5, 1), got {alpha!r}.")
    X_target = np.asarray(X_target, dtype=np.float64)
    if X_target.ndim != 2 or X_target.shape[0] < 2:
        raise ValueError(
            f"X_target must be 2-D with at least 2 rows, got shape {X_target.shape}."
        )
    labels = np.asarray(predict(X_target))
    perm = check_random_state(random_state).permutation(X_target.shape[0])
    mixed = alpha * X_target + (1 - alpha) * X_target[perm]
    agree = np.asarray(predict(mixed)) == labels
    same = labels == labels[perm]
    return float(np.mean([agree[mask].mean() for mask in (same, ~same) if mask.any()]))


def reverse_validation_score(
    X_source, y_source, X_target, y_target_pred, *, estimator=None
):
    """Reverse validation: learn the target's predicted labels, test on the source.

    A classifier (``estimator``, default logistic regression) is fitted on the
    target rows with the labels a domain-adaptation method predicted for them,
    and scored by its accuracy on the labelled source rows: predictions that
    are consistent with the source classes transfer back. A cheap form of
    circular validation (Zhong et al., ECML 2010; skada's
    ``CircularValidation`` refits the adaptation method itself backwards).
    Higher is better.

    Parameters
    ----------
    X_source : array-like of shape (n_source, n_features)
    y_source : array-like of shape (n_source,)
    X_target : array-like of shape (n_target, n_features)
    y_target_pred : array-like of shape (n_target,)
        Labels predicted for the target rows.
    estimator : classifier or None
        Reverse model; cloned before fitting.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> Xs = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> Xt = Xs + 0.05
    >>> reverse_validation_score(Xs, [0, 0, 1, 1], Xt, [0, 0, 1, 1])
    1.0
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    X_source = np.asarray(X_source, dtype=np.float64)
    X_target = np.asarray(X_target, dtype=np.float64)
    y_source, y_target_pred = np.asarray(y_source), np.asarray(y_target_pred)
    if (
        X_source.ndim != 2
        or X_target.ndim != 2
        or X_source.shape[1] != X_target.shape[1]
    ):
        raise ValueError(
            "X_source and X_target must be 2-D with the same number of features, got "
            f"shapes {X_source.shape} and {X_target.shape}."
        )
    if y_source.shape != (X_source.shape[0],):
        raise ValueError(
            f"y_source must have one label per source row ({X_source.shape[0]}), got "
            f"shape {y_source.shape}."
        )
    if y_target_pred.shape != (X_target.shape[0],):
        raise ValueError(
            f"y_target_pred must have one label per target row ({X_target.shape[0]}), "
            f"got shape {y_target_pred.shape}."
        )
    classes = np.unique(y_target_pred)
    if classes.size < 2:
        # Nothing to learn: every source row gets the single predicted class.
        return float(np.mean(y_source == classes[0]))
    model = (
        clone(estimator) if estimator is not None else LogisticRegression(max_iter=1000)
    )
    model.fit(X_target, y_target_pred)
    return float(np.mean(model.predict(X_source) == y_source))
