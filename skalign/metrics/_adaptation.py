"""Diagnostics of a domain-adaptation plan: where the transported mass went."""

import numpy as np
import scipy.sparse as sp

__all__ = ["low_mass_share", "mass_per_class", "rejected_mass_share"]


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
