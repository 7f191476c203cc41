"""The one-table data convention shared by the three estimators.

scikit-learn splits, pipelines and searches act on the rows of one table, so
skalign keeps both domains in one table ``X`` (as skada does) and tells them
apart with ``sample_domain``: positive ids are source rows, negative ids are
target rows. When ``sample_domain`` is not given it is inferred:

- from ``y`` for domain adaptation: rows labelled ``-1`` are target rows;
- from the NaN layout when the two domains have different feature spaces:
  each domain fills its own column block and leaves the other block NaN
  (see :func:`stack_domains` and :func:`split_domains`).
"""

import numbers

import numpy as np

__all__ = [
    "DEFAULT_SOURCE_DOMAIN",
    "DEFAULT_TARGET_DOMAIN",
    "check_sample_domain",
    "infer_domains_from_layout",
    "infer_domains_from_y",
    "split_domains",
    "stack_domains",
]

# skada's defaults: source domain 1, target domain -2.
DEFAULT_SOURCE_DOMAIN = 1
DEFAULT_TARGET_DOMAIN = -2
UNLABELLED = -1


def check_sample_domain(sample_domain, n_samples, *, require_both=True):
    """Validate ``sample_domain`` and return it as an int array.

    Parameters
    ----------
    sample_domain : array-like of shape (n_samples,)
        Domain id of every row: positive for source rows, negative for target
        rows; 0 is not allowed.
    n_samples : int
        Number of rows of ``X``.
    require_both : bool, default=True
        Whether at least one source and one target row are required.

    Returns
    -------
    ndarray of shape (n_samples,) and dtype int64

    Examples
    --------
    >>> check_sample_domain([1, 1, -2], 3)
    array([ 1,  1, -2])
    """
    domains = np.asarray(sample_domain)
    if domains.ndim != 1 or domains.shape[0] != n_samples:
        raise ValueError(
            f"sample_domain must be a 1-D array with one entry per row of X "
            f"({n_samples}), got shape {domains.shape}."
        )
    if domains.size and not np.issubdtype(domains.dtype, np.number):
        raise ValueError(
            f"sample_domain must hold integers, got dtype {domains.dtype}."
        )
    if domains.size and not np.all(np.isfinite(domains)):
        raise ValueError("sample_domain must hold finite integers.")
    if domains.size and not np.all(domains == np.round(domains)):
        raise ValueError("sample_domain must hold integers.")
    domains = domains.astype(np.int64)
    if np.any(domains == 0):
        raise ValueError(
            "sample_domain must be positive for source rows and negative for "
            "target rows; 0 is not a valid domain id."
        )
    if require_both:
        if not np.any(domains > 0):
            raise ValueError(
                "No source rows: sample_domain needs at least one positive entry."
            )
        if not np.any(domains < 0):
            raise ValueError(
                "No target rows: sample_domain needs at least one negative entry."
            )
    return domains


def infer_domains_from_y(y, sample_domain=None, *, require_both=True):
    """Return ``sample_domain`` for domain adaptation, inferred from ``y``.

    Rows whose label is ``-1`` are target rows (domain ``-2``), the others
    source rows (domain ``1``), following skada. An explicit
    ``sample_domain`` wins and is only validated.

    Examples
    --------
    >>> infer_domains_from_y([0, 1, -1, -1])
    array([ 1,  1, -2, -2])
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array, got shape {y.shape}.")
    if sample_domain is not None:
        return check_sample_domain(sample_domain, y.shape[0], require_both=require_both)
    is_target = y == UNLABELLED
    domains = np.where(is_target, DEFAULT_TARGET_DOMAIN, DEFAULT_SOURCE_DOMAIN)
    return check_sample_domain(domains, y.shape[0], require_both=require_both)


def stack_domains(X_source, X_target):
    """Stack two domains with different feature spaces into one NaN-padded table.

    Source rows fill the first ``X_source.shape[1]`` columns, target rows the
    last ``X_target.shape[1]`` columns; the other block of each row is NaN.

    Parameters
    ----------
    X_source : array-like of shape (n_source, p)
    X_target : array-like of shape (n_target, q)

    Returns
    -------
    X : ndarray of shape (n_source + n_target, p + q)
    sample_domain : ndarray of shape (n_source + n_target,)
        ``1`` for source rows, ``-2`` for target rows.

    Examples
    --------
    >>> X, sample_domain = stack_domains([[1.0, 2.0]], [[3.0]])
    >>> X
    array([[ 1.,  2., nan],
           [nan, nan,  3.]])
    >>> sample_domain
    array([ 1, -2])
    """
    blocks = []
    for name, block in (("X_source", X_source), ("X_target", X_target)):
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] == 0 or block.shape[1] == 0:
            raise ValueError(
                f"{name} must be a non-empty 2-D array, got shape {block.shape}."
            )
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} must contain only finite values.")
        blocks.append(block)
    source, target = blocks
    (n_source, p), (n_target, q) = source.shape, target.shape
    X = np.full((n_source + n_target, p + q), np.nan)
    X[:n_source, :p] = source
    X[n_source:, p:] = target
    domains = np.r_[
        np.full(n_source, DEFAULT_SOURCE_DOMAIN),
        np.full(n_target, DEFAULT_TARGET_DOMAIN),
    ]
    return X, domains.astype(np.int64)


def infer_domains_from_layout(X, sample_domain=None, n_features_source=None):
    """Find the domain of each row and the column split of a stacked table.

    Parameters
    ----------
    X : ndarray of shape (n_samples, p + q)
        Table built like :func:`stack_domains` (NaN outside each row's block).
    sample_domain : array-like of shape (n_samples,) or None
        Explicit domains; inferred from the NaN layout when ``None``.
    n_features_source : int or None
        Width ``p`` of the source block; inferred when ``None``.

    Returns
    -------
    sample_domain : ndarray of shape (n_samples,)
    n_features_source : int
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array, got {X.ndim} dimension(s).")
    finite = ~np.isnan(X)
    if np.any(np.isinf(X)):
        raise ValueError("X must not contain infinity (NaN marks the other domain).")
    if n_features_source is None:
        n_features_source = _infer_block_width(finite)
    elif not (
        isinstance(n_features_source, numbers.Integral)
        and 0 < n_features_source < X.shape[1]
    ):
        raise ValueError(
            f"n_features_source must be an integer in [1, {X.shape[1] - 1}], "
            f"got {n_features_source!r}."
        )
    p = int(n_features_source)
    source_like = finite[:, :p].all(axis=1) & ~finite[:, p:].any(axis=1)
    target_like = finite[:, p:].all(axis=1) & ~finite[:, :p].any(axis=1)
    if sample_domain is None:
        bad = ~(source_like | target_like)
        if np.any(bad):
            raise ValueError(
                f"Rows {np.flatnonzero(bad)[:5].tolist()} of X do not fill exactly one "
                f"column block (source: columns [0, {p}), target: columns "
                f"[{p}, {X.shape[1]})); pass sample_domain or fix the NaN layout."
            )
        sample_domain = np.where(
            source_like, DEFAULT_SOURCE_DOMAIN, DEFAULT_TARGET_DOMAIN
        )
    domains = check_sample_domain(sample_domain, X.shape[0], require_both=False)
    wrong_source = (domains > 0) & ~source_like
    wrong_target = (domains < 0) & ~target_like
    if np.any(wrong_source) or np.any(wrong_target):
        rows = np.flatnonzero(wrong_source | wrong_target)[:5].tolist()
        raise ValueError(
            f"Rows {rows} of X do not match their sample_domain: source rows must be "
            f"finite on columns [0, {p}) and NaN elsewhere, target rows finite on "
            f"columns [{p}, {X.shape[1]}) and NaN elsewhere."
        )
    return domains, p


def _infer_block_width(finite):
    """Width of the leading (source) column block of a NaN-padded table."""
    if finite.shape[1] < 2:
        raise ValueError(
            "X must have at least two columns (one block per domain) to hold two "
            "feature spaces."
        )
    # A source row is finite on a prefix of the columns, a target row on a suffix.
    prefix_width = np.argmin(np.c_[finite, np.zeros(len(finite), bool)], axis=1)
    n_columns = finite.shape[1]
    is_prefix = (prefix_width > 0) & (prefix_width < n_columns) & finite[:, 0]
    candidates = np.unique(prefix_width[is_prefix])
    if candidates.size != 1:
        raise ValueError(
            "Cannot infer the column blocks from the NaN layout of X: source rows "
            "must fill the first columns and target rows the last ones, with NaN "
            "elsewhere. Pass n_features_source and sample_domain explicitly."
        )
    return int(candidates[0])


def split_domains(X, sample_domain=None, n_features_source=None):
    """Split a stacked table back into its source and target blocks.

    Returns
    -------
    X_source : ndarray of shape (n_source, p)
    X_target : ndarray of shape (n_target, q)
    source_index, target_index : ndarrays of row positions in ``X``.

    Examples
    --------
    >>> X, sd = stack_domains([[1.0, 2.0], [3.0, 4.0]], [[5.0]])
    >>> Xs, Xt, s_idx, t_idx = split_domains(X)
    >>> Xs.shape, Xt.shape, t_idx
    ((2, 2), (1, 1), array([2]))
    """
    X = np.asarray(X, dtype=np.float64)
    domains, p = infer_domains_from_layout(X, sample_domain, n_features_source)
    source_index = np.flatnonzero(domains > 0)
    target_index = np.flatnonzero(domains < 0)
    return X[source_index, :p], X[target_index, p:], source_index, target_index
