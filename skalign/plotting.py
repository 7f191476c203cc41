"""Plots of transport plans, transported mass, joint embeddings and learning curves.

matplotlib is optional: it is imported only when a function here is called,
and a missing installation raises an :class:`ImportError` that says how to
install it. Every function draws on the ``ax`` it is given (or on a new
figure) and returns what it drew on, so plots compose with the rest of a
matplotlib figure.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .ot._backend import to_numpy

__all__ = [
    "plot_joint_embedding",
    "plot_mass_per_class",
    "plot_metric_vs_budget",
    "plot_plan",
]


def _pyplot():
    """Import ``matplotlib.pyplot`` lazily so that skalign does not depend on it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skalign.plotting requires matplotlib, which is not installed; "
            "install it with `pip install matplotlib`."
        ) from exc
    return plt


def _axes(ax):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _as_1d(values, name, size=None):
    values = to_numpy(values)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}.")
    if size is not None and values.shape[0] != size:
        raise ValueError(
            f"{name} must have {size} entries (one per row), got {values.shape[0]}."
        )
    return values


def _label_order(labels, size, name):
    """Stable order that groups equal labels, and the positions where groups change."""
    if labels is None:
        return np.arange(size), np.empty(0)
    labels = _as_1d(labels, name, size)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    # A boundary sits between the last row of a class and the first of the next.
    boundaries = np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 0.5
    return order, boundaries


def plot_plan(
    plan,
    ax=None,
    *,
    row_labels=None,
    col_labels=None,
    cmap="viridis",
    markersize=None,
    title=None,
):
    """Draw a transport plan, optionally grouped by class.

    A dense plan is drawn as an image. A :mod:`scipy.sparse` plan (for example
    the output of ``TiledOTResult.topk`` of :mod:`skalign.ot`) is drawn as a scatter
    of its stored entries, coloured by value, so that a large plan is never
    densified.

    Parameters
    ----------
    plan : array-like or scipy.sparse matrix of shape (n_source, n_target)
        The transport plan. NumPy arrays, Torch tensors and sparse matrices are
        accepted.
    ax : matplotlib Axes, default=None
        Where to draw. A new figure is created when ``None``.
    row_labels : array-like of shape (n_source,), default=None
        Class of each source row. Rows are then sorted by class (stable sort)
        and thin lines separate the classes, so that a class-consistent plan
        appears block-diagonal.
    col_labels : array-like of shape (n_target,), default=None
        Class of each target column, used the same way for the columns.
    cmap : str or Colormap, default="viridis"
        Colour map of the plan values.
    markersize : float, default=None
        Marker size of the scatter used for sparse plans; chosen from the
        plan size when ``None``.
    title : str, default=None
        Title of the axes.

    Returns
    -------
    ax : matplotlib Axes
        The axes holding the plot. For a dense plan ``ax.images[0]`` holds the
        (re-ordered) plan; for a sparse plan ``ax.collections[0]`` holds the
        stored entries.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skalign.plotting import plot_plan
    >>> plan = np.eye(4) / 4
    >>> ax = plot_plan(plan, row_labels=[0, 1, 0, 1], col_labels=[0, 1, 0, 1])
    >>> ax.images[0].get_array().shape
    (4, 4)
    """
    ax = _axes(ax)
    if sp.issparse(plan):
        plan = sp.coo_matrix(plan)
        n_rows, n_cols = plan.shape
    else:
        plan = np.asarray(to_numpy(plan), dtype=float)
        if plan.ndim != 2:
            raise ValueError(f"plan must be 2-D, got shape {plan.shape}.")
        n_rows, n_cols = plan.shape
    row_order, row_bounds = _label_order(row_labels, n_rows, "row_labels")
    col_order, col_bounds = _label_order(col_labels, n_cols, "col_labels")

    if sp.issparse(plan):
        # Position of every original row/column after sorting.
        row_pos = np.empty(n_rows, dtype=int)
        row_pos[row_order] = np.arange(n_rows)
        col_pos = np.empty(n_cols, dtype=int)
        col_pos[col_order] = np.arange(n_cols)
        size = markersize or max(1.0, 2000.0 / max(n_rows, n_cols))
        mappable = ax.scatter(
            col_pos[plan.col],
            row_pos[plan.row],
            c=plan.data,
            s=size,
            cmap=cmap,
            marker="s",
            linewidths=0,
        )
        ax.set_xlim(-0.5, n_cols - 0.5)
        ax.set_ylim(n_rows - 0.5, -0.5)
    else:
        mappable = ax.imshow(
            plan[np.ix_(row_order, col_order)],
            cmap=cmap,
            aspect="auto",
            interpolation="nearest",
        )
    for pos in row_bounds:
        ax.axhline(pos, color="white", linewidth=0.5)
    for pos in col_bounds:
        ax.axvline(pos, color="white", linewidth=0.5)
    ax.figure.colorbar(mappable, ax=ax, label="mass")
    ax.set_xlabel("target" + (" (sorted by class)" if col_labels is not None else ""))
    ax.set_ylabel("source" + (" (sorted by class)" if row_labels is not None else ""))
    if title is not None:
        ax.set_title(title)
    return ax


def plot_mass_per_class(mass, labels, ax=None, *, reference=None, title=None):
    """Bar chart of the transported mass of each class.

    Adaptive and unbalanced OT decide how much mass each row sends; summing it
    per class shows which classes the solver treated as shared between the
    domains and which as outliers (for example classes absent from the target
    domain in partial domain adaptation).

    Parameters
    ----------
    mass : array-like of shape (n_samples,)
        Mass sent (or received) by each row, e.g. ``result.plan.sum(axis=1)``.
    labels : array-like of shape (n_samples,)
        Class of each row.
    ax : matplotlib Axes, default=None
        Where to draw. A new figure is created when ``None``.
    reference : array-like of shape (n_samples,), default=None
        Mass each row could send (its marginal weight). When given, each bar
        shows the transported fraction of the class's available mass, in
        ``[0, 1]`` for an inequality marginal, instead of the total.
    title : str, default=None
        Title of the axes.

    Returns
    -------
    ax : matplotlib Axes
        The axes holding the bars; ``ax.patches`` are the bars, one per class
        in sorted class order.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skalign.plotting import plot_mass_per_class
    >>> ax = plot_mass_per_class([0.2, 0.3, 0.0, 0.1], ["a", "a", "b", "b"])
    >>> [round(float(bar.get_height()), 2) for bar in ax.patches]
    [0.5, 0.1]
    """
    mass = np.asarray(_as_1d(mass, "mass"), dtype=float)
    labels = _as_1d(labels, "labels", mass.shape[0])
    if not np.all(np.isfinite(mass)):
        raise ValueError("mass must be finite.")
    classes, inverse = np.unique(labels, return_inverse=True)
    totals = np.bincount(inverse, weights=mass, minlength=classes.size)
    ylabel = "transported mass"
    if reference is not None:
        reference = np.asarray(
            _as_1d(reference, "reference", mass.shape[0]), dtype=float
        )
        available = np.bincount(inverse, weights=reference, minlength=classes.size)
        if np.any(available <= 0):
            raise ValueError("reference must give every class a positive total mass.")
        totals = totals / available
        ylabel = "transported fraction of the class mass"
    ax = _axes(ax)
    ax.bar(np.arange(classes.size), totals, tick_label=[str(c) for c in classes])
    ax.set_xlabel("class")
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    return ax


def _to_2d(embedding):
    """Project an embedding onto two coordinates (PCA when it has more)."""
    embedding = np.asarray(to_numpy(embedding), dtype=float)
    if embedding.ndim != 2 or embedding.shape[1] < 1:
        raise ValueError(
            "embedding must be 2-D of shape (n_samples, n_components), got shape "
            f"{embedding.shape}."
        )
    if not np.all(np.isfinite(embedding)):
        raise ValueError("embedding must be finite (no NaN or inf).")
    if embedding.shape[1] == 1:
        return np.column_stack([embedding[:, 0], np.zeros(embedding.shape[0])])
    if embedding.shape[1] == 2:
        return embedding
    from sklearn.decomposition import PCA

    return PCA(n_components=2).fit_transform(embedding)


def _scatter_groups(ax, points, groups, names, order=None):
    for value in np.unique(groups) if order is None else order:
        rows = groups == value
        ax.scatter(points[rows, 0], points[rows, 1], s=8, label=names(value))
    ax.legend(loc="best", fontsize="small", markerscale=2)


def plot_joint_embedding(embedding, sample_domain, labels=None, ax=None, *, title=None):
    """Scatter the rows of both domains in their shared embedding.

    One panel colours the rows by domain (a good alignment mixes them); a
    second panel, drawn when ``labels`` is given, colours them by class (a good
    alignment keeps the classes apart). Embeddings with more than two
    components are projected on their first two principal components.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_components)
        Shared embedding of all rows, e.g. ``aligner.transform(X)``.
    sample_domain : array-like of shape (n_samples,)
        Domain of each row: positive for source rows, negative for target rows.
    labels : array-like of shape (n_samples,), default=None
        Class or cell type of each row; adds the second panel.
    ax : matplotlib Axes or sequence of Axes, default=None
        Where to draw: one Axes (no labels) or two (with labels). A new figure
        is created when ``None``.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    fig : matplotlib Figure
        The figure holding the panels; ``fig.axes`` lists them (domain panel
        first).

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skalign.plotting import plot_joint_embedding
    >>> rng = np.random.default_rng(0)
    >>> embedding = rng.normal(size=(20, 5))
    >>> fig = plot_joint_embedding(embedding, [1] * 10 + [-2] * 10, labels=[0, 1] * 10)
    >>> len(fig.axes)
    2
    """
    points = _to_2d(embedding)
    domains = _as_1d(sample_domain, "sample_domain", points.shape[0])
    if np.any(domains == 0):
        raise ValueError(
            "sample_domain must be positive for source rows and negative for "
            "target rows; 0 is not a valid domain id."
        )
    n_panels = 1 if labels is None else 2
    if labels is not None:
        labels = _as_1d(labels, "labels", points.shape[0])
    plt = _pyplot()
    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 4), squeeze=False)
        axes = list(axes[0])
    else:
        axes = [ax] if not np.iterable(ax) else list(np.ravel(ax))
        if len(axes) != n_panels:
            raise ValueError(
                f"ax must hold {n_panels} Axes ({'with' if labels is not None else 'without'} "
                f"labels), got {len(axes)}."
            )
        fig = axes[0].figure

    def domain_name(d):
        return f"source {d}" if d > 0 else f"target {d}"

    # Source domains first (1, 2, ...), then targets (-1, -2, ...).
    present = np.unique(domains)
    order = np.concatenate([present[present > 0], -np.sort(-present[present < 0])])
    _scatter_groups(axes[0], points, domains, domain_name, order)
    axes[0].set_title("by domain")
    if labels is not None:
        _scatter_groups(axes[1], points, labels, str)
        axes[1].set_title("by label")
    xlabel, ylabel = (
        ("PC 1", "PC 2") if np.shape(embedding)[1] > 2 else ("dim 1", "dim 2")
    )
    for panel in axes:
        panel.set_xlabel(xlabel)
        panel.set_ylabel(ylabel)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_metric_vs_budget(results, ax=None, *, metric_name="metric", title=None):
    """Learning curves of active-alignment strategies: a metric against the budget.

    Parameters
    ----------
    results : dict
        Maps a strategy name to ``(budgets, values)`` or ``(budgets, values,
        std)``: the number of queries made, the metric reached (e.g. MRR or
        Hits@1 on a fixed evaluation set) and optionally its standard deviation
        over repetitions, drawn as a shaded band.
    ax : matplotlib Axes, default=None
        Where to draw. A new figure is created when ``None``.
    metric_name : str, default="metric"
        Label of the y axis.
    title : str, default=None
        Title of the axes.

    Returns
    -------
    ax : matplotlib Axes
        The axes holding one line per strategy (``ax.lines``, in the order of
        ``results``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skalign.plotting import plot_metric_vs_budget
    >>> ax = plot_metric_vs_budget(
    ...     {"random": ([0, 5, 10], [0.50, 0.58, 0.65]),
    ...      "l2": ([0, 5, 10], [0.50, 0.68, 0.80], [0.0, 0.02, 0.03])},
    ...     metric_name="MRR")
    >>> [line.get_label() for line in ax.lines]
    ['random', 'l2']
    """
    if not isinstance(results, dict) or not results:
        raise ValueError(
            "results must be a non-empty dict mapping a strategy name to "
            "(budgets, values) or (budgets, values, std)."
        )
    ax = _axes(ax)
    for name, curve in results.items():
        if not isinstance(curve, (tuple, list)) or len(curve) not in (2, 3):
            raise ValueError(
                f"results[{name!r}] must be (budgets, values) or (budgets, values, "
                f"std), got {type(curve).__name__} of length "
                f"{len(curve) if hasattr(curve, '__len__') else 'unknown'}."
            )
        budgets = np.asarray(_as_1d(curve[0], f"results[{name!r}] budgets"), float)
        values = np.asarray(
            _as_1d(curve[1], f"results[{name!r}] values", budgets.shape[0]), float
        )
        (line,) = ax.plot(budgets, values, marker="o", label=str(name))
        if len(curve) == 3:
            std = curve[2]
            if isinstance(std, numbers.Real):
                std = np.full(budgets.shape[0], float(std))
            std = np.asarray(
                _as_1d(std, f"results[{name!r}] std", budgets.shape[0]), float
            )
            ax.fill_between(
                budgets, values - std, values + std, color=line.get_color(), alpha=0.2
            )
    ax.set_xlabel("number of queries")
    ax.set_ylabel(metric_name)
    ax.legend(loc="best")
    if title is not None:
        ax.set_title(title)
    return ax
