"""Apply a fitted estimator chunk by chunk, in memory or over a dask array."""

import numbers

import numpy as np

__all__ = ["apply_by_chunks"]


def _is_dask_array(X):
    return type(X).__module__.startswith("dask.array")


def apply_by_chunks(estimator, X, method="transform", *, chunk_size=10_000, **params):
    """Call ``estimator.<method>`` on row chunks of ``X``.

    Inductive estimators map each row with what ``fit`` learned, so their
    output on a chunk does not depend on the other rows and the table never
    needs to be in memory at once.

    Parameters
    ----------
    estimator : fitted estimator
        Anything with the method ``method`` that maps rows independently.
    X : ndarray or dask array of shape (n_samples, n_features)
        Rows to map. A dask array gives a lazy dask array back (one task per
        chunk of rows, run wherever dask's scheduler runs them: threads,
        processes or a ``dask.distributed`` cluster); an in-memory array is
        mapped chunk by chunk and concatenated.
    method : str, default="transform"
        Name of the row-wise method, e.g. ``"transform"``, ``"predict"``,
        ``"predict_proba"``, ``"decision_function"``.
    chunk_size : int, default=10_000
        Rows per chunk (dask arrays are re-chunked to it along rows and to a
        single chunk along columns).
    **params
        Extra keyword arguments for the method. A 1-D array with one entry
        per row (for example ``sample_domain``) is split with the rows.

    Returns
    -------
    ndarray or dask array
        The method's output for every row, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> X = np.random.default_rng(0).normal(size=(1000, 5))
    >>> pca = PCA(n_components=2).fit(X)
    >>> out = apply_by_chunks(pca, X, chunk_size=256)
    >>> np.allclose(out, pca.transform(X))
    True
    """
    if not hasattr(estimator, method):
        raise ValueError(
            f"method must name a method of {type(estimator).__name__}, got {method!r}."
        )
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, numbers.Integral)
        or chunk_size <= 0
    ):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    if getattr(X, "ndim", None) != 2:
        raise ValueError(
            f"X must be a 2-D array, got {getattr(X, 'ndim', type(X).__name__)}."
        )
    n_samples = X.shape[0]
    row_params, fixed_params = {}, {}
    for name, value in params.items():
        if getattr(value, "ndim", 0) == 1 and value.shape[0] == n_samples:
            row_params[name] = value
        else:
            fixed_params[name] = value
    func = getattr(estimator, method)
    if _is_dask_array(X):
        return _apply_dask(func, X, chunk_size, row_params, fixed_params)
    outputs = []
    for start in range(0, n_samples, chunk_size):
        rows = slice(start, start + chunk_size)
        chunk_params = {name: np.asarray(v)[rows] for name, v in row_params.items()}
        outputs.append(np.asarray(func(X[rows], **chunk_params, **fixed_params)))
    return np.concatenate(outputs, axis=0)


def _apply_dask(func, X, chunk_size, row_params, fixed_params):
    import dask.array as da

    X = X.rechunk({0: chunk_size, 1: -1})
    names = list(row_params)
    # Row parameters travel as (n, 1) columns so that their blocks line up
    # with the row blocks of X (X has a single column chunk).
    row_arrays = [
        da.asarray(row_params[name])[:, None].rechunk({0: X.chunks[0], 1: -1})
        for name in names
    ]

    def apply_block(block, *row_blocks):
        values = {name: np.ravel(b) for name, b in zip(names, row_blocks, strict=True)}
        return np.asarray(func(block, **values, **fixed_params))

    # One row tells the output's width and dtype without touching the rest.
    probe_rows = [np.asarray(a[:1]) for a in row_arrays]
    probe = apply_block(np.asarray(X[:1]), *probe_rows)
    if probe.ndim == 1:
        return da.map_blocks(
            apply_block,
            X,
            *row_arrays,
            drop_axis=1,
            chunks=(X.chunks[0],),
            dtype=probe.dtype,
            meta=np.empty((0,), dtype=probe.dtype),
        )
    return da.map_blocks(
        apply_block,
        X,
        *row_arrays,
        chunks=(X.chunks[0], (probe.shape[1],)),
        dtype=probe.dtype,
        meta=np.empty((0, 0), dtype=probe.dtype),
    )
