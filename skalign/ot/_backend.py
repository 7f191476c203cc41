"""Array-API helpers shared by the solvers: one code path for NumPy and Torch.

Solvers call :func:`get_namespace` on their inputs and then only use ``xp.*``
functions, so NumPy arrays in give NumPy out and Torch tensors in give Torch out
on whatever device they live. The few operations that the array API lacks
(log-sum-exp, conversion from Python scalars on the right device) live here.
"""

import math
import numbers

import numpy as np
from array_api_compat import array_namespace, device, is_torch_namespace

__all__ = [
    "as_float",
    "check_epsilon",
    "check_init",
    "check_positive_int",
    "check_weights",
    "get_namespace",
    "is_torch_namespace",
    "logsumexp",
    "to_numpy",
]


def get_namespace(*arrays):
    """Return the array namespace shared by ``arrays`` (``None`` entries skipped)."""
    present = [a for a in arrays if a is not None]
    if not present:
        return array_namespace(np.empty(0))
    return array_namespace(*present)


def as_float(xp, x, *, like=None, dtype=None, name="array"):
    """Convert ``x`` to a floating array of namespace ``xp``.

    Integer and boolean inputs become float64; float32 is kept so that Torch
    users can work in single precision. ``like`` fixes the device and dtype.
    Floating arrays of ``xp`` that need no cast are returned as they are, so
    Torch tensors keep their autograd history.
    """
    if like is not None:
        dtype = like.dtype if dtype is None else dtype
        if _is_array_of(xp, x) and device(x) == device(like):
            # Keep autograd history: asarray would copy-construct a tensor.
            return x if x.dtype == dtype else xp.astype(x, dtype)
        x = xp.asarray(x, dtype=dtype, device=device(like))
    else:
        if not _is_array_of(xp, x):
            x = xp.asarray(x)
        if dtype is not None:
            x = xp.astype(x, dtype)
        elif not xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, xp.float64)
    return x


def _is_array_of(xp, x):
    try:
        return array_namespace(x) is xp
    except TypeError:
        return False


def to_numpy(x):
    """Return ``x`` as a NumPy array (detached and on the CPU for Torch)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def logsumexp(xp, values, axis):
    """Stable ``log(sum(exp(values), axis))``; rows of ``-inf`` give ``-inf``."""
    vmax = xp.max(values, axis=axis, keepdims=True)
    vmax = xp.where(xp.isfinite(vmax), vmax, xp.zeros_like(vmax))
    total = xp.sum(xp.exp(values - vmax), axis=axis)
    return xp.log(total) + xp.squeeze(vmax, axis=axis)


def check_epsilon(epsilon, *, name="epsilon", allow_zero=False):
    """Validate an entropic regularisation strength and return it as float."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {epsilon!r}.")
    epsilon = float(epsilon)
    if not math.isfinite(epsilon):
        raise ValueError(f"{name} must be finite, got {epsilon!r}.")
    if epsilon < 0 or (epsilon == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {epsilon!r}.")
    return epsilon


def check_positive_int(value, *, name):
    """Validate a strictly positive integer parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_weights(xp, weights, size, *, name, like):
    """Validate a marginal weight vector of length ``size``.

    ``None`` gives uniform weights ``1 / size``. Weights must be finite and
    non-negative with a positive total.
    """
    if size == 0:
        raise ValueError(f"{name} must describe a non-empty measure, got size 0.")
    if weights is None:
        return xp.full((size,), 1.0 / size, dtype=like.dtype, device=device(like))
    weights = as_float(xp, weights, like=like, name=name)
    if weights.ndim != 1 or weights.shape[0] != size:
        raise ValueError(
            f"{name} must be a 1-D array of length {size} to match the cost, "
            f"got shape {tuple(weights.shape)}."
        )
    if not bool(xp.all(xp.isfinite(weights))):
        raise ValueError(f"{name} must contain only finite values.")
    if bool(xp.any(weights < 0)):
        raise ValueError(f"{name} must be non-negative.")
    if not bool(xp.sum(weights) > 0):
        raise ValueError(f"{name} must have a positive total mass.")
    return weights


def check_cost(xp, cost, *, name="cost"):
    """Validate a 2-D, finite, non-empty cost matrix and return it as float."""
    cost = as_float(xp, cost, name=name)
    if cost.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {cost.ndim} dimension(s).")
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(cost.shape)}.")
    if not bool(xp.all(xp.isfinite(cost))):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf).")
    return cost


def check_init(xp, init, n, m, like):
    """Validate warm-start potentials ``init=(f, g)``; ``None`` gives zeros."""
    if init is None:
        zeros = xp.zeros((n + m,), dtype=like.dtype, device=device(like))
        return zeros[:n], zeros[n:]
    if not isinstance(init, tuple | list) or len(init) != 2:
        raise ValueError("init must be a pair (f, g) of potentials.")
    f = as_float(xp, init[0], like=like, name="init[0]")
    g = as_float(xp, init[1], like=like, name="init[1]")
    if f.shape != (n,) or g.shape != (m,):
        raise ValueError(
            f"init must hold potentials of shapes ({n},) and ({m},), "
            f"got {tuple(f.shape)} and {tuple(g.shape)}."
        )
    if bool(xp.any(xp.isnan(f))) or bool(xp.any(xp.isnan(g))):
        raise ValueError("init potentials must not contain NaN.")
    return f, g
