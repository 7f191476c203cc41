"""Domain-adaptation benchmarks: Office-Caltech10 (SURF) and MNIST-USPS.

Neither data set is bundled (their sources state no license); they are read
from the data directory (see :func:`skalign.datasets.get_data_home`).
Each loader returns one (source, target) pair in the one-table convention:
``X`` stacks source then target rows, ``y`` holds source labels and ``-1`` on
target rows, ``sample_domain`` is ``1`` / ``-2``, and ``y_target`` keeps the
true target labels for evaluation only.
"""

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._base import load_npz

__all__ = ["load_mnist_usps", "load_office_caltech10"]

OFFICE_DOMAINS = ("amazon", "caltech", "dslr", "webcam")
DIGIT_DOMAINS = ("mnist", "usps")
OFFICE_CLASSES = (
    "backpack",
    "bike",
    "calculator",
    "headphones",
    "keyboard",
    "laptop",
    "monitor",
    "mouse",
    "mug",
    "projector",
)


def load_office_caltech10(
    source="amazon",
    target="caltech",
    *,
    target_classes=None,
    outlier_fraction=0.0,
    data_home=None,
    random_state=None,
):
    """Load one ordered pair of Office-Caltech10 domains (800-bin SURF histograms).

    Features are returned raw (integer counts as float64); normalise them per
    row (L1 or L2) and scale jointly or per domain before use.

    Parameters
    ----------
    source, target : {"amazon", "caltech", "dslr", "webcam"}
        Source and target domains (must differ).
    target_classes : int, sequence of int or None, default=None
        Keep only target rows of these classes (all source rows are kept): an
        int ``k`` keeps classes ``< k`` (``5`` gives the usual partial-DA
        setting), a sequence keeps the listed classes.
    outlier_fraction : float in [0, 1), default=0.0
        Append this fraction (of the kept target rows) of off-distribution
        target rows, off the data's support: each spreads a typical row total
        (random Dirichlet weights) over a quarter of the tenth of the features
        the target uses least, so it looks like no image of either domain.
    data_home : str or path or None
        Directory holding ``office_caltech10_surf/office_caltech10_surf.npz``.
    random_state : int, RandomState or None
        Seeds the outliers.

    Returns
    -------
    Bunch
        ``X`` (n_source + n_target, 800), ``y`` (source labels, ``-1`` on
        target rows), ``sample_domain`` (``1`` / ``-2``), ``y_target`` (true
        labels of the target rows, ``-1`` for outliers), ``is_outlier``
        (target rows), ``target_names``, ``source``, ``target``,
        ``description``.

    Examples
    --------
    >>> from skalign.datasets import load_office_caltech10
    >>> data = load_office_caltech10("webcam", "dslr", target_classes=5)  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (367, 800)
    """
    _check_pair(source, target, OFFICE_DOMAINS)
    arrays = load_npz("office_caltech10_surf", data_home=data_home)
    description = (
        f"Office-Caltech10 SURF, {source} -> {target}: 800-bin bag-of-SURF "
        "histograms (Gong et al., CVPR 2012), 10 classes."
    )
    return _make_pair(
        arrays,
        source,
        target,
        target_classes,
        outlier_fraction,
        random_state,
        description,
        OFFICE_CLASSES,
    )


def load_mnist_usps(
    source="mnist",
    target="usps",
    *,
    target_classes=None,
    outlier_fraction=0.0,
    data_home=None,
    random_state=None,
):
    """Load MNIST -> USPS or USPS -> MNIST (16x16 grey-level digits, JDA subset).

    Parameters
    ----------
    source, target : {"mnist", "usps"}
        Source and target domains (must differ).
    target_classes, outlier_fraction, data_home, random_state
        As in :func:`load_office_caltech10`.

    Returns
    -------
    Bunch
        As in :func:`load_office_caltech10`, with 256 pixel features in [0, 1].

    Examples
    --------
    >>> from skalign.datasets import load_mnist_usps
    >>> data = load_mnist_usps("usps", "mnist")  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (3800, 256)
    """
    _check_pair(source, target, DIGIT_DOMAINS)
    arrays = load_npz("mnist_usps", data_home=data_home)
    description = (
        f"MNIST-USPS, {source} -> {target}: 16x16 digits (2000 MNIST, 1800 USPS "
        "images; Long et al., ICCV 2013), 10 classes."
    )
    return _make_pair(
        arrays,
        source,
        target,
        target_classes,
        outlier_fraction,
        random_state,
        description,
        tuple(str(k) for k in range(10)),
    )


def _check_pair(source, target, domains):
    for name, value in (("source", source), ("target", target)):
        if value not in domains:
            raise ValueError(f"{name} must be one of {domains}, got {value!r}.")
    if source == target:
        raise ValueError(f"source and target must differ, got {source!r} twice.")


def _keep_classes(y_target, target_classes):
    if target_classes is None:
        return np.ones(y_target.shape[0], dtype=bool)
    if isinstance(target_classes, numbers.Integral):
        if target_classes < 1:
            raise ValueError(f"target_classes must be >= 1, got {target_classes}.")
        return y_target < target_classes
    return np.isin(y_target, np.asarray(target_classes))


def _make_pair(
    arrays,
    source,
    target,
    target_classes,
    outlier_fraction,
    random_state,
    description,
    target_names,
):
    if not (isinstance(outlier_fraction, numbers.Real) and 0 <= outlier_fraction < 1):
        raise ValueError(
            f"outlier_fraction must be a float in [0, 1), got {outlier_fraction!r}."
        )
    rng = check_random_state(random_state)
    Xs = arrays[f"X_{source}"].astype(np.float64)
    ys = arrays[f"y_{source}"].astype(np.int64)
    Xt = arrays[f"X_{target}"].astype(np.float64)
    yt = arrays[f"y_{target}"].astype(np.int64)
    keep = _keep_classes(yt, target_classes)
    if not keep.any():
        raise ValueError(f"target_classes={target_classes!r} keeps no target row.")
    Xt, yt = Xt[keep], yt[keep]
    n_out = round(outlier_fraction * Xt.shape[0])
    if n_out:
        # Off the data's support: each outlier spreads a typical row total over
        # a few of the features the target almost never uses (rarest tenth),
        # so it looks like no image of either domain whatever the scaling.
        rare = np.argsort(Xt.mean(0), kind="stable")[: max(Xt.shape[1] // 10, 2)]
        totals = Xt.sum(1)[rng.randint(Xt.shape[0], size=n_out)]
        outliers = np.zeros((n_out, Xt.shape[1]))
        for row, total in zip(outliers, totals, strict=True):
            bins = rng.choice(rare, size=max(rare.size // 4, 1), replace=False)
            row[bins] = total * rng.dirichlet(np.ones(bins.size))
        Xt = np.vstack([Xt, outliers])
        yt = np.r_[yt, -np.ones(n_out, dtype=np.int64)]
    is_outlier = np.r_[np.zeros(keep.sum(), dtype=bool), np.ones(n_out, dtype=bool)]
    ns, nt = Xs.shape[0], Xt.shape[0]
    if target_classes is not None:
        description += (
            f" Target restricted to classes {np.unique(yt[yt >= 0]).tolist()}."
        )
    if n_out:
        description += f" {n_out} off-support outliers appended to the target."
    return Bunch(
        X=np.vstack([Xs, Xt]),
        y=np.r_[ys, -np.ones(nt, dtype=np.int64)],
        sample_domain=np.r_[
            np.ones(ns, dtype=np.int64), np.full(nt, -2, dtype=np.int64)
        ],
        y_target=yt,
        is_outlier=is_outlier,
        target_names=np.asarray(target_names),
        source=source,
        target=target,
        description=description,
    )
