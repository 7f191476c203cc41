"""Online (tiled) log-domain Sinkhorn between two point clouds.

The ``n x m`` cost and plan are never held: every sweep walks over blocks of
rows, computes the cost block on the fly with one matrix product, updates the
row potentials of the block by an exact log-sum-exp and, from the same
exponentiated block, accumulates the column sums that give the next column
potentials. One sweep is therefore one cost evaluation and one ``exp`` per
entry, and the memory held is one block (about 64 MB by default) plus
``O((n + m) d)``.

Column sums are accumulated as ``E.T @ w`` with ``E`` the row-stabilised
kernel block, which is exact unless a column only receives mass from entries
that underflowed; such columns are detected (their sum is tiny) and their
log-sum-exp is recomputed exactly, so the result is the same as a dense
log-domain Sinkhorn on the same cost.
"""

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from array_api_compat import device
from sklearn.exceptions import ConvergenceWarning

from ._backend import (
    as_float,
    check_epsilon,
    check_init,
    check_positive_int,
    check_weights,
    get_namespace,
    is_torch_namespace,
    to_numpy,
)
from ._costs import _check_points
from ._sinkhorn import _parse_reg_m, _Side, epsilon_schedule

__all__ = ["TiledOTResult", "sinkhorn_tiled"]

_BLOCK_BYTES = 64 * 2**20
_COSTS = ("sqeuclidean", "cosine")
_MEDIAN_PAIRS = 10_000


class _Tiler:
    """Cost blocks ``C[I, cols] / (scale * epsilon)`` computed on the fly.

    The cost is one matrix product of augmented features: for the squared
    Euclidean cost ``[x, |x|^2, 1] @ [-2 y, 1, |y|^2].T``, for the cosine cost
    ``[x / |x|, 1] @ [-y / |y|, 1].T``; negative rounding noise is clipped.
    """

    def __init__(self, xp, x, y, cost, cost_scale, block_size):
        self.xp = xp
        self.torch = is_torch_namespace(xp)
        if cost == "sqeuclidean":
            # Centring leaves the cost unchanged and limits float32 cancellation.
            centre = xp.mean(x, axis=0)
            x, y = x - centre, y - centre
            ones_x = xp.ones((x.shape[0], 1), dtype=x.dtype, device=device(x))
            ones_y = xp.ones((y.shape[0], 1), dtype=y.dtype, device=device(y))
            sq_x = xp.sum(x * x, axis=1)[:, None]
            sq_y = xp.sum(y * y, axis=1)[:, None]
            self.left = xp.concat([x, sq_x, ones_x], axis=1)
            self.right = xp.concat([-2.0 * y, ones_y, sq_y], axis=1)
        else:
            ones_x = xp.ones((x.shape[0], 1), dtype=x.dtype, device=device(x))
            ones_y = xp.ones((y.shape[0], 1), dtype=y.dtype, device=device(y))
            x = x / xp.linalg.vector_norm(x, axis=1)[:, None]
            y = y / xp.linalg.vector_norm(y, axis=1)[:, None]
            self.left = xp.concat([x, ones_x], axis=1)
            self.right = xp.concat([-y, ones_y], axis=1)
        self.n, self.m = x.shape[0], y.shape[0]
        self.cost_scale = 1.0 if cost_scale is None else cost_scale
        self.block_size = block_size
        self.set_epsilon(1.0)

    def set_epsilon(self, epsilon):
        """Scale the right factor so that blocks hold ``C / (scale * epsilon)``."""
        factor = 1.0 / (self.cost_scale * epsilon)
        self.right_t = _contiguous(self.xp, (self.right * factor).T)

    def blocks(self, cols=None):
        """Yield ``(row_slice, block)``; the block buffer is reused between yields."""
        xp = self.xp
        right_t = self.right_t if cols is None else self.right_t[:, cols]
        right_t = _contiguous(xp, right_t)
        width = right_t.shape[1]
        rows = min(self.block_size, self.n)
        buffer = xp.empty((rows, width), dtype=right_t.dtype, device=device(right_t))
        zero = xp.zeros((), dtype=right_t.dtype, device=device(right_t))
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            block = buffer[: stop - start]
            if self.torch:
                import torch

                torch.matmul(self.left[start:stop], right_t, out=block)
                block.clamp_(min=0)
            else:
                np.matmul(self.left[start:stop], right_t, out=block)
                np.maximum(block, zero, out=block)
            yield slice(start, stop), block


def _contiguous(xp, arr):
    if is_torch_namespace(xp):
        return arr.contiguous()
    return np.ascontiguousarray(arr)


def _mod(xp):
    """The raw module (``numpy`` or ``torch``) for in-place ``out=`` operations."""
    if is_torch_namespace(xp):
        import torch

        return torch
    return np


def _safe(xp, values):
    """Replace non-finite entries (``-inf`` maxima) by 0 before shifting."""
    return xp.where(xp.isfinite(values), values, xp.zeros_like(values))


def _row_lse_inplace(xp, block, shift_cols):
    """``LSE_j(shift_cols_j - block_ij)`` per row; leaves ``exp(.. - rowmax)`` in block.

    Returns ``(lse, rowmax)`` where ``rowmax`` is the (finite) stabiliser used.
    """
    mod = _mod(xp)
    mod.subtract(shift_cols, block, out=block)
    rowmax = _safe(xp, xp.max(block, axis=1))
    block -= rowmax[:, None]
    mod.exp(block, out=block)
    return xp.log(xp.sum(block, axis=1)) + rowmax, rowmax


def _column_lse_exact(tiler, f_scaled, cols=None):
    """``LSE_i(f_i - C_ij)`` (in epsilon units) by a running max over row blocks."""
    xp, mod = tiler.xp, _mod(tiler.xp)
    width = tiler.m if cols is None else cols.shape[0]
    like = tiler.left
    run_max = xp.full((width,), -math.inf, dtype=like.dtype, device=device(like))
    run_sum = xp.zeros((width,), dtype=like.dtype, device=device(like))
    for rows, block in tiler.blocks(cols):
        mod.subtract(f_scaled[rows][:, None], block, out=block)
        new_max = xp.maximum(run_max, xp.max(block, axis=0))
        shift = _safe(xp, new_max)
        block -= shift[None, :]
        mod.exp(block, out=block)
        run_sum = run_sum * xp.exp(run_max - shift) + xp.sum(block, axis=0)
        run_max = new_max
    return xp.log(run_sum) + _safe(xp, run_max)


def _potential(xp, side, lse, rows=slice(None)):
    """Exact potential update of ``side`` restricted to ``rows`` (see ``_Side``)."""
    pot = side.epsilon * (side.log_weights[rows] - lse)
    if side.kind == "kl":
        pot = side.lam * pot
    # Rows with zero weight or no reachable column carry no mass.
    return xp.where(xp.isfinite(pot), pot, xp.full_like(pot, -math.inf))


class _Sweeper:
    """One Sinkhorn iteration per pass over the row blocks."""

    def __init__(self, tiler, side_a, side_b):
        self.tiler = tiler
        self.xp = tiler.xp
        self.side_a = side_a
        self.side_b = side_b
        finfo = self.xp.finfo(tiler.left.dtype)
        # Below this a column sum may have lost entries to underflow (those are
        # < tiny each), so it is recomputed exactly; above it they are negligible.
        self.underflow = float(finfo.smallest_normal) ** 0.6

    def sweep(self, f, g, epsilon, check):
        """Return ``(f_new, g_new, error)``; error is the row residual of ``(f, g)``."""
        xp = self.xp
        f_scaled, g_scaled = f / epsilon, g / epsilon
        new_f = []
        error = 0.0
        acc, acc_shift = None, -math.inf
        for rows, block in self.tiler.blocks():
            lse, rowmax = _row_lse_inplace(xp, block, g_scaled)
            f_block = _potential(xp, self.side_a, lse, rows)
            new_f.append(f_block)
            if check:
                error += self._row_residual(f_scaled[rows], f_block / epsilon, lse)
            # The block now holds E = exp(g/eps - C/eps - rowmax); the plan
            # entries with the new f are E * exp(f/eps + rowmax) * exp(g/eps)
            # so the column sums are one matrix-vector product.
            log_w = f_block / epsilon + rowmax
            if not bool(xp.any(xp.isfinite(log_w))):
                continue
            shift = float(xp.max(log_w[xp.isfinite(log_w)]))
            contrib = block.T @ xp.exp(log_w - shift)
            if acc is None:
                acc, acc_shift = contrib, shift
            elif shift > acc_shift:
                acc = acc * math.exp(acc_shift - shift) + contrib
                acc_shift = shift
            else:
                acc = acc + contrib * math.exp(shift - acc_shift)
        f_new = xp.concat(new_f)
        col_lse = self._column_lse(f_new / epsilon, g_scaled, acc, acc_shift)
        g_new = _potential(xp, self.side_b, col_lse)
        return f_new, g_new, error

    def _column_lse(self, f_scaled, g_scaled, acc, acc_shift):
        xp = self.xp
        if acc is None:
            return xp.full_like(g_scaled, -math.inf)
        col_lse = xp.log(acc) + acc_shift - g_scaled
        suspect = (acc < self.underflow) & self.side_b.positive
        if bool(xp.any(suspect)):
            cols = xp.nonzero(suspect)[0]
            col_lse[cols] = _column_lse_exact(self.tiler, f_scaled, cols)
        return col_lse

    def _row_residual(self, f_old, f_new, lse):
        xp = self.xp
        old = xp.exp(f_old + lse)
        new = xp.exp(f_new + lse)
        diff = xp.where(xp.isfinite(f_new + lse), xp.abs(old - new), old)
        diff = xp.where(xp.isnan(diff), xp.zeros_like(diff), diff)
        return float(xp.sum(diff))


@dataclass(frozen=True, eq=False)
class TiledOTResult:
    """Entropic OT solution between point clouds, stored as potentials only.

    The plan ``exp((f[:, None] + g[None, :] - cost) / epsilon)`` (counting
    reference measure, as in :func:`skalign.ot.sinkhorn`) is never built; the
    methods walk over row blocks of the cost computed on the fly.

    Attributes
    ----------
    f, g : arrays of shape (n,) and (m,)
        Dual potentials, in the units of the (scaled) cost.
    x, y : arrays of shape (n, d) and (m, d)
        The point clouds.
    a, b : arrays of shape (n,) and (m,)
        Marginal weights.
    epsilon : float
        Entropic regularisation of the final stage.
    n_iter : int
        Sweeps performed (all epsilon stages together).
    converged : bool
        Whether the marginal error fell below the tolerance.
    marginal_error : float
        L1 row residual at the last check (``||plan.sum(1) - a||_1`` when the
        rows are balanced), measured on the potentials before the last sweep;
        after a sweep the balanced columns are exact.
    cost : str
        ``"sqeuclidean"`` or ``"cosine"``.
    cost_scale : float
        The cost is divided by this number (1.0 when unscaled).
    block_size : int
        Rows per block.
    marginals : tuple of str
        ``"balanced"`` or ``"kl"`` per side.
    """

    f: Any
    g: Any
    x: Any
    y: Any
    a: Any
    b: Any
    epsilon: float
    n_iter: int
    converged: bool
    marginal_error: float
    cost: str = "sqeuclidean"
    cost_scale: float = 1.0
    block_size: int = 1024
    marginals: tuple = ("balanced", "balanced")

    def _tiler(self, block_size=None):
        xp = get_namespace(self.x)
        tiler = _Tiler(
            xp,
            self.x,
            self.y,
            self.cost,
            self.cost_scale,
            block_size or self.block_size,
        )
        tiler.set_epsilon(self.epsilon)
        return tiler

    def _plan_blocks(self):
        """Yield ``(row_slice, plan_block)``; the buffer is reused between yields."""
        tiler = self._tiler()
        mod = _mod(tiler.xp)
        f_scaled, g_scaled = self.f / self.epsilon, self.g / self.epsilon
        with np.errstate(all="ignore"):
            for rows, block in tiler.blocks():
                mod.subtract(g_scaled, block, out=block)
                block += f_scaled[rows][:, None]
                mod.exp(block, out=block)
                yield rows, block

    def row_marginal(self):
        """Return ``plan.sum(1)`` computed block-wise.

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> res = sinkhorn_tiled(x, x, epsilon=0.5, tol=1e-9)
        >>> np.round(res.row_marginal(), 6)
        array([0.333333, 0.333333, 0.333333])
        """
        xp = get_namespace(self.f)
        tiler = self._tiler()
        out = []
        with np.errstate(all="ignore"):
            for rows, block in tiler.blocks():
                lse, _ = _row_lse_inplace(xp, block, self.g / self.epsilon)
                out.append(xp.exp(self.f[rows] / self.epsilon + lse))
        return xp.concat(out)

    def col_marginal(self):
        """Return ``plan.sum(0)`` computed block-wise.

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> res = sinkhorn_tiled(x, x[:2], epsilon=0.5, tol=1e-9)
        >>> np.round(res.col_marginal(), 6)
        array([0.5, 0.5])
        """
        xp = get_namespace(self.f)
        with np.errstate(all="ignore"):
            lse = _column_lse_exact(self._tiler(), self.f / self.epsilon)
            return xp.exp(self.g / self.epsilon + lse)

    def argmax_rows(self):
        """Return, for each row, the column holding its largest plan entry.

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> sinkhorn_tiled(x, x[::-1], epsilon=0.01).argmax_rows()
        array([2, 1, 0])
        """
        xp = get_namespace(self.f)
        tiler = self._tiler()
        mod = _mod(xp)
        out = []
        for _, block in tiler.blocks():
            mod.subtract(self.g / self.epsilon, block, out=block)
            out.append(xp.argmax(block, axis=1))
        return xp.concat(out)

    def argmax_cols(self):
        """Return, for each column, the row holding its largest plan entry.

        Computed block by block (a running maximum over the row blocks), so
        memory stays ``O(block_size * m)``; ties go to the first row.

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> sinkhorn_tiled(x, x[::-1], epsilon=0.01).argmax_cols()
        array([2, 1, 0])
        """
        xp = get_namespace(self.f)
        mod = _mod(xp)
        f_scaled = self.f / self.epsilon
        best_value, best_row = None, None
        for rows, block in self._tiler().blocks():
            # log plan up to the column's own constant: f_i / eps - C_ij / eps
            mod.subtract(f_scaled[rows][:, None], block, out=block)
            local_row = xp.argmax(block, axis=0)
            local_value = xp.max(block, axis=0)
            if best_value is None:
                best_value, best_row = local_value, local_row + rows.start
                continue
            better = local_value > best_value
            best_value = xp.where(better, local_value, best_value)
            best_row = xp.where(better, local_row + rows.start, best_row)
        return best_row

    def apply(self, z):
        """Return ``plan @ z`` without building the plan.

        Parameters
        ----------
        z : array of shape (m,) or (m, p)
            Values on the target points (same namespace as ``y``).

        Returns
        -------
        array of shape (n,) or (n, p)
            For instance ``apply(y) / row_marginal()[:, None]`` is the
            barycentric projection of the source points.

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> res = sinkhorn_tiled(x, x, epsilon=1e-3)
        >>> np.round(res.apply(np.ones(3)), 6)
        array([0.333333, 0.333333, 0.333333])
        """
        xp = get_namespace(self.f)
        z = as_float(xp, z, like=self.f, name="z")
        if z.ndim not in (1, 2) or z.shape[0] != self.g.shape[0]:
            raise ValueError(
                f"z must have shape ({self.g.shape[0]},) or ({self.g.shape[0]}, p), "
                f"got {tuple(z.shape)}."
            )
        return xp.concat([block @ z for _, block in self._plan_blocks()])

    def topk(self, k=None, mass_fraction=None):
        """Return the largest plan entries of each row as a sparse matrix.

        Parameters
        ----------
        k : int or None
            Keep at most ``k`` entries per row.
        mass_fraction : float in (0, 1] or None
            Keep, per row, the fewest largest entries whose sum reaches this
            fraction of the row's mass (capped at ``k`` when both are given). A
            fixed ``k`` can miss most of a row's mass at moderate epsilon.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n, m)
            Selected plan entries (exact zeros are dropped).

        Examples
        --------
        >>> import numpy as np
        >>> from skalign.ot import sinkhorn_tiled
        >>> x = np.array([[0.0], [1.0], [2.0]])
        >>> res = sinkhorn_tiled(x, x, epsilon=0.5)
        >>> res.topk(k=1).nnz
        3
        >>> res.topk(mass_fraction=0.99).nnz > 3
        True
        """
        if k is None and mass_fraction is None:
            raise ValueError("topk needs k or mass_fraction (or both), got neither.")
        if k is not None:
            k = check_positive_int(k, name="k")
        if mass_fraction is not None and not (
            isinstance(mass_fraction, numbers.Real)
            and not isinstance(mass_fraction, bool)
            and 0 < mass_fraction <= 1
        ):
            raise ValueError(
                f"mass_fraction must be a number in (0, 1], got {mass_fraction!r}."
            )
        m = self.g.shape[0]
        data, indices, counts = [], [], []
        for _, block in self._plan_blocks():
            plan = to_numpy(block)
            if mass_fraction is None:
                vals, cols = _top_entries(plan, min(k, m))
                keep = vals > 0
            else:
                vals, cols, keep = _mass_entries(plan, mass_fraction, k)
            counts.append(keep.sum(axis=1))
            data.append(vals[keep])
            indices.append(cols[keep])
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
        matrix = sp.csr_matrix(
            (np.concatenate(data), np.concatenate(indices), indptr),
            shape=(self.f.shape[0], m),
        )
        matrix.sort_indices()
        return matrix


def _top_entries(plan, k):
    """Per row, the ``k`` largest values and their columns, in decreasing order."""
    if k >= plan.shape[1]:
        cols = np.argsort(-plan, axis=1, kind="stable")
    else:
        cols = np.argpartition(-plan, k - 1, axis=1)[:, :k]
        order = np.argsort(
            -np.take_along_axis(plan, cols, axis=1), axis=1, kind="stable"
        )
        cols = np.take_along_axis(cols, order, axis=1)
    return np.take_along_axis(plan, cols, axis=1), cols


def _mass_entries(plan, fraction, cap):
    """Fewest largest entries per row reaching ``fraction`` of the row mass."""
    m = plan.shape[1]
    totals = plan.sum(axis=1, dtype=np.float64)
    # float64 sums of the same entries in another order differ by rounding only.
    target = fraction * totals * (1.0 - 1e-10)
    width = m if cap is None else min(cap, m)
    # Every positive entry is needed for the full mass: skip the search.
    try_k = width if fraction >= 1 else min(width, 32)
    while True:
        vals, cols = _top_entries(plan, try_k)
        cumulative = np.cumsum(vals, axis=1, dtype=np.float64)
        reached = cumulative[:, -1] >= target
        if reached.all() or try_k == width:
            break
        try_k = min(width, try_k * 4)
    # Entries needed: first position where the cumulative mass reaches the target.
    needed = np.minimum((cumulative < target[:, None]).sum(axis=1) + 1, try_k)
    if fraction >= 1:
        needed = (vals > 0).sum(axis=1)
    keep = (np.arange(try_k)[None, :] < needed[:, None]) & (vals > 0)
    return vals, cols, keep


def _median_cost(x, y, cost):
    """Median cost over a fixed random subsample of pairs (O(n) work)."""
    xp = get_namespace(x)
    rng = np.random.default_rng(0)
    n, m = x.shape[0], y.shape[0]
    count = min(_MEDIAN_PAIRS, n * m)
    # Only the sampled rows leave the device.
    rows = xp.asarray(rng.integers(0, n, size=count), device=device(x))
    cols = xp.asarray(rng.integers(0, m, size=count), device=device(y))
    xs = to_numpy(xp.take(x, rows, axis=0)).astype(np.float64)
    ys = to_numpy(xp.take(y, cols, axis=0)).astype(np.float64)
    if cost == "sqeuclidean":
        values = np.sum((xs - ys) ** 2, axis=1)
    else:
        xs /= np.linalg.norm(xs, axis=1, keepdims=True)
        ys /= np.linalg.norm(ys, axis=1, keepdims=True)
        values = np.clip(1.0 - np.sum(xs * ys, axis=1), 0.0, None)
    median = float(np.median(values))
    if not median > 0:
        raise ValueError(
            "cost_scale='median' found a zero median cost (many identical points); "
            "pass a positive number instead."
        )
    return median


def _check_cost_scale(cost_scale, x, y, cost):
    if cost_scale is None:
        return 1.0
    if isinstance(cost_scale, str):
        if cost_scale != "median":
            raise ValueError(
                f"cost_scale must be None, 'median' or a positive number, got {cost_scale!r}."
            )
        return _median_cost(x, y, cost)
    if (
        isinstance(cost_scale, bool)
        or not isinstance(cost_scale, numbers.Real)
        or not math.isfinite(cost_scale)
        or cost_scale <= 0
    ):
        raise ValueError(
            f"cost_scale must be None, 'median' or a positive number, got {cost_scale!r}."
        )
    return float(cost_scale)


def default_block_size(m, itemsize):
    """Rows per block so that one ``block x m`` buffer takes about 64 MB."""
    return max(1, _BLOCK_BYTES // (m * itemsize))


def sinkhorn_tiled(
    x,
    y,
    a=None,
    b=None,
    *,
    epsilon,
    cost="sqeuclidean",
    cost_scale=None,
    block_size=None,
    reg_m=None,
    max_iter=1000,
    tol=1e-6,
    init=None,
    epsilon_init=None,
    epsilon_decay=0.5,
    check_every=10,
    warn=True,
):
    r"""Online log-domain Sinkhorn between point clouds, without the n x m matrices.

    Solves the same problem as :func:`skalign.ot.sinkhorn` with
    ``cost[i, j] = c(x_i, y_j) / cost_scale``, but each iteration walks over
    blocks of ``block_size`` rows, computing the cost block with one matrix
    product, so memory is ``O(block_size * m + (n + m) d)``. Torch inputs
    are not differentiated through (they are detached).

    Parameters
    ----------
    x : array of shape (n, d)
        Source points.
    y : array of shape (m, d)
        Target points.
    a, b : arrays of shape (n,) and (m,) or None
        Marginal weights (uniform when ``None``).
    epsilon : float > 0
        Entropic regularisation, in the units of the scaled cost.
    cost : {"sqeuclidean", "cosine"}, default="sqeuclidean"
        ``|x - y|^2`` or ``1 - cos(x, y)``.
    cost_scale : None, "median" or float > 0, default=None
        Divide the cost by this number; ``"median"`` uses the median cost of
        10,000 random pairs (fixed seed), so ``epsilon`` becomes relative.
    block_size : int or None
        Rows per block; ``None`` keeps one block near 64 MB.
    reg_m : None, float or pair, default=None
        KL marginal relaxation, as in :func:`skalign.ot.sinkhorn`.
    max_iter : int, default=1000
        Maximum sweeps per epsilon stage.
    tol : float, default=1e-6
        Tolerance on the L1 row residual (the columns are exact after a sweep).
    init : pair of arrays or None
        Warm start ``(f, g)``.
    epsilon_init : float or None
        Anneal geometrically from ``epsilon_init`` down to ``epsilon``.
    epsilon_decay : float, default=0.5
        Factor between annealing stages.
    check_every : int, default=10
        Sweeps between convergence checks; a check costs only ``O(n)`` here, so
        ``check_every=1`` is cheap when sweeps are expensive.
    warn : bool, default=True
        Emit a :class:`~sklearn.exceptions.ConvergenceWarning` when the
        tolerance is not reached.

    Returns
    -------
    TiledOTResult
        Potentials and diagnostics, with block-wise ``topk``, ``argmax_rows``,
        ``argmax_cols``, ``row_marginal``, ``col_marginal`` and ``apply``.

    Examples
    --------
    >>> import numpy as np
    >>> from skalign.ot import sinkhorn_tiled
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 5))
    >>> res = sinkhorn_tiled(
    ...     x, x + 0.01, epsilon=0.1, cost_scale="median", block_size=64
    ... )
    >>> res.converged
    True
    >>> res.topk(mass_fraction=0.9).shape
    (300, 300)
    """
    xp = get_namespace(x, y, a, b)
    x, y = (v.detach() if hasattr(v, "detach") else v for v in (x, y))
    x = _check_points(xp, x, "x")
    y = _check_points(xp, y, "y")
    if x.dtype != y.dtype:
        dtype = xp.result_type(x.dtype, y.dtype)
        x, y = xp.astype(x, dtype), xp.astype(y, dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got {x.shape[1]} and "
            f"{y.shape[1]}."
        )
    n, m = x.shape[0], y.shape[0]
    if cost not in _COSTS:
        raise ValueError(f"cost must be one of {_COSTS}, got {cost!r}.")
    if cost == "cosine":
        for name, pts in (("x", x), ("y", y)):
            if bool(xp.any(xp.linalg.vector_norm(pts, axis=1) == 0)):
                raise ValueError(
                    f"{name} has zero-norm rows: the cosine cost is undefined."
                )
    epsilon = check_epsilon(epsilon)
    kinds = _parse_reg_m(reg_m)
    a = check_weights(xp, a, n, name="a", like=x)
    b = check_weights(xp, b, m, name="b", like=x)
    max_iter = check_positive_int(max_iter, name="max_iter")
    check_every = check_positive_int(check_every, name="check_every")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}.")
    if block_size is None:
        block_size = default_block_size(m, x.dtype.itemsize)
    block_size = check_positive_int(block_size, name="block_size")
    scale = _check_cost_scale(cost_scale, x, y, cost)
    f, g = check_init(xp, init, n, m, x)
    stages = epsilon_schedule(epsilon, epsilon_init, epsilon_decay)

    tiler = _Tiler(xp, x, y, cost, scale, block_size)
    side_a = _Side(xp, a, kinds[0][0], kinds[0][1], stages[0])
    side_b = _Side(xp, b, kinds[1][0], kinds[1][1], stages[0])
    sweeper = _Sweeper(tiler, side_a, side_b)
    total_iter, error = 0, math.inf
    with np.errstate(all="ignore"):
        for eps in stages:
            side_a.set_epsilon(eps)
            side_b.set_epsilon(eps)
            tiler.set_epsilon(eps)
            error = math.inf
            for n_iter in range(1, max_iter + 1):
                check = n_iter % check_every == 0 or n_iter == max_iter
                f, g, sweep_error = sweeper.sweep(f, g, eps, check)
                total_iter += 1
                if check:
                    error = sweep_error
                    if error <= tol:
                        break

    if bool(xp.any(xp.isnan(f))) or bool(xp.any(xp.isnan(g))) or math.isnan(error):
        raise FloatingPointError(
            "sinkhorn_tiled produced NaN potentials; this is a bug, please report it "
            "with the inputs."
        )
    converged = bool(error <= tol)
    if warn and not converged:
        warnings.warn(
            f"sinkhorn_tiled did not converge in {max_iter} iterations "
            f"(marginal error {error:.2e} > tol={tol:.1e}) at epsilon={stages[-1]:.3g}. "
            "Increase max_iter, increase epsilon, or anneal with epsilon_init.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return TiledOTResult(
        f=f,
        g=g,
        x=x,
        y=y,
        a=a,
        b=b,
        epsilon=stages[-1],
        n_iter=total_iter,
        converged=converged,
        marginal_error=error,
        cost=cost,
        cost_scale=scale,
        block_size=block_size,
        marginals=(kinds[0][0], kinds[1][0]),
    )
