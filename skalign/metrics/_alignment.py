"""Alignment quality: FOSCTTM, label transfer and GW distortion.

FOSCTTM and label transfer need the true pairs or labels (evaluation only);
the GW distortion needs neither, so it can select hyper-parameters in a
``GridSearchCV`` without known correspondences.
"""

import numbers

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

__all__ = [
    "foscttm",
    "gw_distortion",
    "gw_distortion_scorer",
    "label_transfer_accuracy",
]

# Elements of one distance block: bounds the memory of a chunk (32 MiB in float64).
_BLOCK_ELEMENTS = 1 << 22


def _check_embeddings(first, second, names):
    arrays = []
    for name, array in zip(names, (first, second), strict=True):
        array = np.asarray(array, dtype=np.float64)
        if array.ndim != 2 or array.shape[0] < 2:
            raise ValueError(
                f"{name} must be a 2-D array with at least 2 rows, got shape {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must contain only finite values.")
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (row i of one is "
            f"the true partner of row i of the other), got {arrays[0].shape} and "
            f"{arrays[1].shape}."
        )
    return arrays


def _fraction_closer(queries, references, chunk_size):
    """Per query row i: fraction of reference rows closer to it than reference i.

    Ties with the true partner count as half, so a collapsed embedding scores
    0.5 (random) rather than 0. Memory is ``O(chunk_size * n)``.
    """
    n = queries.shape[0]
    ref_sq = np.einsum("ij,ij->i", references, references)
    fractions = np.empty(n)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        block = queries[start:stop]
        # Squared distances up to the per-row constant |q|^2, which cancels in
        # the comparison with the true partner's distance.
        dist = ref_sq[None, :] - 2.0 * block @ references.T
        rows = np.arange(stop - start)
        true = dist[rows, np.arange(start, stop)][:, None]
        # Rounding in the expansion can split exact ties: compare with a
        # relative tolerance scaled to the magnitudes involved.
        scale = np.abs(ref_sq).max() + np.einsum("ij,ij->i", block, block)[:, None]
        tol = 1e-12 * scale
        closer = np.sum(dist < true - tol, axis=1)
        tied = np.sum(np.abs(dist - true) <= tol, axis=1) - 1  # minus the partner
        fractions[start:stop] = (closer + 0.5 * tied) / (n - 1)
    return fractions


def foscttm(embedding_source, embedding_target, *, average=True, chunk_size=None):
    """Fraction Of Samples Closer Than the True Match, in both directions.

    Row ``i`` of ``embedding_source`` and row ``i`` of ``embedding_target``
    are the two views of the same sample. For each source row, the score is
    the fraction of target rows closer to it (Euclidean) than its true
    partner, and symmetrically for each target row; ties with the partner
    count as half, so a collapsed embedding scores 0.5 like a random one.
    Lower is better; 0 is a perfect alignment.

    Parameters
    ----------
    embedding_source : array-like of shape (n_samples, n_components)
        Source rows in the shared space (e.g. ``aligner.transform``).
    embedding_target : array-like of shape (n_samples, n_components)
        Target rows, ordered so that row ``i`` is the partner of source row ``i``.
    average : bool, default=True
        Return the mean of both directions; otherwise the pair
        ``(source_to_target, target_to_source)``.
    chunk_size : int or None
        Rows per distance block; by default about 4 million distances per
        block, so memory is ``O(n)`` per chunk and 100,000 rows work.

    Returns
    -------
    float or tuple of float

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.metrics import foscttm
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> foscttm(X, X)
    0.0
    >>> [round(v, 4) for v in foscttm(X, X[::-1], average=False)]
    [0.6667, 0.6667]
    """
    source, target = _check_embeddings(
        embedding_source, embedding_target, ("embedding_source", "embedding_target")
    )
    n = source.shape[0]
    if chunk_size is None:
        chunk_size = max(1, _BLOCK_ELEMENTS // n)
    elif isinstance(chunk_size, bool) or not (
        isinstance(chunk_size, numbers.Integral) and chunk_size > 0
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    forward = float(np.mean(_fraction_closer(source, target, int(chunk_size))))
    backward = float(np.mean(_fraction_closer(target, source, int(chunk_size))))
    if average:
        return (forward + backward) / 2.0
    return forward, backward


def label_transfer_accuracy(
    embedding_source, labels_source, embedding_target, labels_target, *, n_neighbors=5
):
    """Accuracy of target labels predicted by a kNN classifier fit on the source.

    The classifier is trained on the source rows of the shared space with
    their labels and predicts the labels of the target rows (as in SCOT's
    evaluation); no pairing is needed, only cell types.

    Parameters
    ----------
    embedding_source : array-like of shape (n_source, n_components)
    labels_source : array-like of shape (n_source,)
    embedding_target : array-like of shape (n_target, n_components)
    labels_target : array-like of shape (n_target,)
    n_neighbors : int, default=5

    Returns
    -------
    float
        Fraction of target rows whose predicted label is right.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.metrics import label_transfer_accuracy
    >>> emb = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> label_transfer_accuracy(emb, [0, 0, 1, 1], emb + 0.01, [0, 0, 1, 1], n_neighbors=1)
    1.0
    """
    source = np.asarray(embedding_source, dtype=np.float64)
    target = np.asarray(embedding_target, dtype=np.float64)
    for name, emb, labels in (
        ("source", source, labels_source),
        ("target", target, labels_target),
    ):
        if emb.ndim != 2 or not np.all(np.isfinite(emb)):
            raise ValueError(f"embedding_{name} must be a finite 2-D array.")
        if np.shape(labels) != (emb.shape[0],):
            raise ValueError(
                f"labels_{name} must have one entry per row of embedding_{name} "
                f"({emb.shape[0]}), got shape {np.shape(labels)}."
            )
    if source.shape[1] != target.shape[1]:
        raise ValueError(
            "embedding_source and embedding_target must have the same number of "
            f"columns, got {source.shape[1]} and {target.shape[1]}."
        )
    if isinstance(n_neighbors, bool) or not (
        isinstance(n_neighbors, numbers.Integral) and 0 < n_neighbors <= source.shape[0]
    ):
        raise ValueError(
            f"n_neighbors must be an integer in [1, {source.shape[0]}], got {n_neighbors!r}."
        )
    classifier = KNeighborsClassifier(n_neighbors=int(n_neighbors)).fit(
        source, np.asarray(labels_source)
    )
    return float(np.mean(classifier.predict(target) == np.asarray(labels_target)))


def gw_distortion(distances_source, distances_target, matching):
    r"""Gromov-Wasserstein distortion of a matching between two metric spaces.

    .. math::
        \frac{1}{n^2} \sum_{i,k} \big(D^X_{ik} - D^Y_{\sigma(i)\sigma(k)}\big)^2

    where ``sigma(i)`` is the target row matched to source row ``i``: the GW
    objective of the (hard) coupling ``sigma``. It needs no known pairs, so a
    lower value is evidence of a better alignment without labels. Normalise
    both distance matrices first (e.g. divide by their mean) so that the two
    spaces are comparable.

    Parameters
    ----------
    distances_source : array-like of shape (n_source, n_source)
    distances_target : array-like of shape (n_target, n_target)
    matching : array-like of int, shape (n_source,)
        Matched target row (in ``[0, n_target)``) of every source row.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.metrics import gw_distortion
    >>> D = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    >>> gw_distortion(D, D, [0, 1, 2])
    0.0
    >>> round(gw_distortion(D, D, [1, 0, 2]), 4)
    0.4444
    """
    d_source = np.asarray(distances_source, dtype=np.float64)
    d_target = np.asarray(distances_target, dtype=np.float64)
    for name, d in (("distances_source", d_source), ("distances_target", d_target)):
        if d.ndim != 2 or d.shape[0] != d.shape[1] or not np.all(np.isfinite(d)):
            raise ValueError(
                f"{name} must be a finite square matrix, got shape {d.shape}."
            )
    matching = np.asarray(matching)
    if matching.shape != (d_source.shape[0],) or not np.issubdtype(
        matching.dtype, np.integer
    ):
        raise ValueError(
            f"matching must hold one integer target index per source row "
            f"({d_source.shape[0]}), got shape {matching.shape} and dtype {matching.dtype}."
        )
    if matching.size and (matching.min() < 0 or matching.max() >= d_target.shape[0]):
        raise ValueError(
            f"matching must index target rows in [0, {d_target.shape[0]}), got values "
            f"in [{matching.min()}, {matching.max()}]."
        )
    diff = d_source - d_target[np.ix_(matching, matching)]
    return float(np.mean(diff**2))


def gw_distortion_scorer(estimator, X, y=None, *, sample_domain=None):
    """Unsupervised scorer: the negative GW distortion of the estimator's matching.

    Usable as ``GridSearchCV(..., scoring=gw_distortion_scorer)`` to pick
    ``epsilon`` or ``spectral_weight`` without known pairs: it calls
    ``estimator.score(X, sample_domain=sample_domain)``, which matches the
    source rows of ``X`` to its target rows with what the estimator learned
    and returns minus :func:`gw_distortion` of that matching (greater is
    better, as scikit-learn expects). ``y`` is ignored.

    Examples
    --------
    >>> from skalign.metrics import gw_distortion_scorer
    >>> callable(gw_distortion_scorer)
    True
    """
    if not hasattr(estimator, "gw_distortion"):
        raise ValueError(
            "gw_distortion_scorer needs an estimator with a gw_distortion(X, "
            f"sample_domain=None) method such as GWEmbeddingAligner, got {estimator!r}."
        )
    return -float(estimator.gw_distortion(X, sample_domain=sample_domain))
