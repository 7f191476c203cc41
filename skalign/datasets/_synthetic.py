"""Synthetic paired datasets with known correspondences, for GW alignment.

Every generator returns a :class:`~sklearn.utils.Bunch` in the one-table
convention: ``X`` stacks the source rows (first column block) and the target
rows (last column block, NaN elsewhere), ``sample_domain`` tells them apart,
and the target rows are shuffled by a known permutation so that an aligner
cannot read the answer from the row order (see ``../shared/PITFALLS.md``).
``true_match[i]`` is the position, among the target rows, of the partner of
source row ``i``.
"""

import numbers

import numpy as np
from scipy.stats import ortho_group
from sklearn.utils import Bunch, check_random_state

from ..utils import stack_domains

__all__ = ["make_isometric_pair", "make_non_isometric_pair", "make_swiss_roll_pair"]


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Integral) and value >= minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_nonnegative(value, name):
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real) and np.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def _paired_bunch(
    X_source, X_target, labels_source, labels_target, rng, shuffle, description, **extra
):
    """Shuffle the target view with a known permutation and stack both views.

    Row ``i`` of ``X_source`` and ``X_target`` are partners on input.
    """
    n_target = X_target.shape[0]
    order = rng.permutation(n_target) if shuffle else np.arange(n_target)
    # Target row t of the output is input row order[t]; invert to find partners.
    true_match = np.empty(n_target, dtype=np.int64)
    true_match[order] = np.arange(n_target)
    X_target = X_target[order]
    labels_target = None if labels_target is None else labels_target[order]
    X, sample_domain = stack_domains(X_source, X_target)
    return Bunch(
        X=X,
        sample_domain=sample_domain,
        X_source=np.asarray(X_source, dtype=np.float64),
        X_target=np.asarray(X_target, dtype=np.float64),
        labels_source=labels_source,
        labels_target=labels_target,
        true_match=true_match[: X_source.shape[0]],
        target_permutation=order,
        description=description,
        **extra,
    )


def _clustered_points(n_samples, n_features, n_clusters, cluster_std, rng):
    centers = rng.normal(size=(n_clusters, n_features))
    labels = rng.randint(n_clusters, size=n_samples)
    points = centers[labels] + cluster_std * rng.normal(size=(n_samples, n_features))
    return points, labels


def make_isometric_pair(
    n_samples=500,
    *,
    n_features=64,
    n_clusters=10,
    cluster_std=0.5,
    noise=0.01,
    shuffle=True,
    random_state=None,
):
    """Clustered points in R^d and an orthogonal rotation of them plus noise.

    The target view is ``X_source @ Q + noise * N(0, 1)`` with ``Q`` a random
    orthogonal matrix, so both views are isometric up to the noise and the
    Gromov-Wasserstein optimum is the true pairing.

    Parameters
    ----------
    n_samples : int, default=500
        Rows per view.
    n_features : int, default=64
        Dimension of both views.
    n_clusters : int, default=10
        Gaussian clusters (their index is stored as the labels).
    cluster_std : float, default=0.5
        Standard deviation within a cluster (centres are standard normal).
    noise : float, default=0.01
        Standard deviation of the noise added to the rotated view.
    shuffle : bool, default=True
        Shuffle the target rows with a known permutation.
    random_state : int, RandomState instance or None

    Returns
    -------
    Bunch
        ``X`` (stacked, NaN-padded), ``sample_domain``, ``X_source``,
        ``X_target``, ``labels_source``, ``labels_target``, ``true_match``
        (partner of source row ``i`` among the target rows), ``rotation``,
        ``description``.

    Examples
    --------
    >>> from skalign.datasets import make_isometric_pair
    >>> data = make_isometric_pair(100, n_features=8, random_state=0)
    >>> data.X.shape, data.X_target.shape
    ((200, 16), (100, 8))
    >>> bool(((data.X_source @ data.rotation
    ...        - data.X_target[data.true_match]) ** 2).max() < 0.01)
    True
    """
    rng = check_random_state(random_state)
    n_samples = _check_int(n_samples, "n_samples", 2)
    n_features = _check_int(n_features, "n_features", 2)
    n_clusters = _check_int(n_clusters, "n_clusters", 1)
    cluster_std = _check_nonnegative(cluster_std, "cluster_std")
    noise = _check_nonnegative(noise, "noise")
    source, labels = _clustered_points(
        n_samples, n_features, n_clusters, cluster_std, rng
    )
    rotation = ortho_group.rvs(n_features, random_state=rng)
    target = source @ rotation + noise * rng.normal(size=source.shape)
    return _paired_bunch(
        source,
        target,
        labels,
        labels.copy(),
        rng,
        shuffle,
        f"Isometric pair: {n_samples} clustered points in R^{n_features} and their "
        f"orthogonal rotation plus N(0, {noise}^2) noise; target rows shuffled.",
        rotation=rotation,
    )


def make_non_isometric_pair(
    n_samples=500,
    *,
    n_features=64,
    n_clusters=10,
    cluster_std=0.5,
    noise=0.01,
    scale=10.0,
    power=2.0,
    shuffle=True,
    random_state=None,
):
    """Isometric pair whose target view is rescaled and radially distorted.

    The rotated view ``Z = X_source @ Q`` is centred and mapped to
    ``scale * Z * |Z|^(power - 1) / mean|Z|^power``: distances from the
    centre change monotonically (their order is kept) but pairwise distances
    are no longer proportional, so matching distances (``loss="metric"``)
    is biased while matching their ranks (``loss="rank"``) is not.

    Parameters
    ----------
    n_samples, n_features, n_clusters, cluster_std, noise, shuffle, random_state
        As in :func:`make_isometric_pair`.
    scale : float, default=10.0
        Global rescaling of the target view.
    power : float, default=2.0
        Exponent of the radial distortion (1 means a pure rescaling).

    Returns
    -------
    Bunch
        As :func:`make_isometric_pair`.

    Examples
    --------
    >>> from skalign.datasets import make_non_isometric_pair
    >>> data = make_non_isometric_pair(50, n_features=4, random_state=0)
    >>> data.X_source.shape, data.X_target.shape
    ((50, 4), (50, 4))
    """
    scale = _check_nonnegative(scale, "scale")
    power = _check_nonnegative(power, "power")
    if scale == 0 or power == 0:
        raise ValueError("scale and power must be > 0.")
    data = make_isometric_pair(
        n_samples,
        n_features=n_features,
        n_clusters=n_clusters,
        cluster_std=cluster_std,
        noise=noise,
        shuffle=shuffle,
        random_state=random_state,
    )
    target = data.X_target - data.X_target.mean(axis=0)
    radius = np.linalg.norm(target, axis=1, keepdims=True)
    target = target * radius ** (power - 1.0)
    target *= scale / np.mean(radius**power)
    data.X_target = target
    data.X, data.sample_domain = stack_domains(data.X_source, target)
    data.description = (
        f"Non-isometric pair: rotated view rescaled by {scale} with a radial power "
        f"distortion (exponent {power}); target rows shuffled."
    )
    return data


def make_swiss_roll_pair(
    n_samples=300, *, n_features_target=5, noise=0.05, shuffle=True, random_state=None
):
    """A Swiss roll in R^3 paired with its unrolled sheet in R^q.

    Both views share the latent coordinates ``(t, h)``: the source is the
    rolled-up surface ``(t cos t, h, t sin t)``, the target the flat sheet
    ``(arc length(t), h)`` embedded isometrically in ``R^q`` by a random
    orthogonal map. Geodesic distances on the roll match Euclidean distances
    on the sheet, Euclidean distances on the roll do not: a test for
    ``metric="geodesic"``.

    Parameters
    ----------
    n_samples : int, default=300
    n_features_target : int, default=5
        Ambient dimension of the flat view (>= 2).
    noise : float, default=0.05
        Standard deviation of Gaussian noise added to both views.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None

    Returns
    -------
    Bunch
        As :func:`make_isometric_pair`, with ``latent`` (the ``(t, h)``
        coordinates of the source rows) and labels = thirds of ``t``.

    Examples
    --------
    >>> from skalign.datasets import make_swiss_roll_pair
    >>> data = make_swiss_roll_pair(60, random_state=0)
    >>> data.X.shape
    (120, 8)
    """
    rng = check_random_state(random_state)
    n_samples = _check_int(n_samples, "n_samples", 2)
    q = _check_int(n_features_target, "n_features_target", 2)
    noise = _check_nonnegative(noise, "noise")
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n_samples))
    h = 10.0 * rng.uniform(size=n_samples)
    source = np.c_[t * np.cos(t), h, t * np.sin(t)]
    # Arc length of the spiral r = t from its start, so the sheet is isometric.
    arc = 0.5 * (t * np.sqrt(1 + t**2) + np.arcsinh(t))
    sheet = np.c_[arc - arc.mean(), h - h.mean()]
    embed = ortho_group.rvs(q, random_state=rng)[:2]
    target = sheet @ embed
    source = source + noise * rng.normal(size=source.shape)
    target = target + noise * rng.normal(size=target.shape)
    labels = np.digitize(t, np.quantile(t, [1 / 3, 2 / 3]))
    return _paired_bunch(
        source,
        target,
        labels,
        labels.copy(),
        rng,
        shuffle,
        f"Paired Swiss roll: {n_samples} points on a Swiss roll in R^3 and the same "
        f"points on the unrolled sheet in R^{q}; target rows shuffled.",
        latent=np.c_[t, h],
    )
