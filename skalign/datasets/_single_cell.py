"""Paired single-cell multi-omics data: SNARE-seq (bundled) and simulations.

Each loader returns a one-table :class:`~sklearn.utils.Bunch` whose target
rows are shuffled by a known permutation: the files store row ``i`` of both
views as the same cell, and an aligner must never see that order
(``../shared/PITFALLS.md``). ``true_match[i]`` gives the partner of source row
``i`` among the target rows, for FOSCTTM and matching accuracy.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._base import load_npz
from ._synthetic import _paired_bunch

__all__ = ["load_multiomics_simulation", "load_snareseq"]

_SIMULATIONS = {
    "sim1_branch": "bifurcating tree (2-D latent)",
    "sim2_swissroll": "Swiss roll (3-D latent)",
    "sim3_frustum": "circular frustum (3-D latent)",
}


def load_snareseq(*, shuffle=True, random_state=0, data_home=None):
    """Load SNARE-seq (1,047 cells): ATAC topics (source) and RNA PCs (target).

    Chen, Lake & Zhang (Nat. Biotechnol. 2019), as distributed by SCOT (MIT);
    bundled with skalign. The ATAC view holds raw topic counts (up to 4.6e5):
    normalise each cell (e.g. ``GWEmbeddingAligner(preprocessing="l2")``).

    Parameters
    ----------
    shuffle : bool, default=True
        Shuffle the RNA rows with a known permutation (stored).
    random_state : int, RandomState instance or None, default=0
        Seed of the permutation.
    data_home : str or None
        Read ``<data_home>/snareseq/snareseq.npz`` instead of the bundled copy.

    Returns
    -------
    Bunch
        ``X`` (1047 + 1047 rows, 19 + 10 NaN-padded columns),
        ``sample_domain`` (1 = ATAC, -2 = RNA), ``X_source``, ``X_target``,
        ``labels_source``, ``labels_target`` (cell line codes 1..4),
        ``label_names``, ``true_match``, ``target_permutation``,
        ``description``.

    Examples
    --------
    >>> from skalign.datasets import load_snareseq
    >>> data = load_snareseq()
    >>> data.X_source.shape, data.X_target.shape
    ((1047, 19), (1047, 10))
    >>> bool((data.labels_target[data.true_match] == data.labels_source).all())
    True
    """
    arrays = load_npz("snareseq", data_home=data_home)
    return _paired_bunch(
        arrays["X"].astype(np.float64),
        arrays["Y"].astype(np.float64),
        arrays["labels_X"],
        arrays["labels_Y"],
        check_random_state(random_state),
        shuffle,
        "SNARE-seq cell-line mixture (Chen et al. 2019; via SCOT, MIT): 1,047 cells, "
        "19 cisTopic ATAC topics (source, raw counts) and 10 RNA principal components "
        "(target); labels are cell lines; target rows shuffled.",
        label_names=arrays["label_names"],
        label_codes=arrays["label_codes"],
    )


def load_multiomics_simulation(
    name="sim1_branch", *, shuffle=True, random_state=0, data_home=None
):
    """Load a paired simulation in the style of MMD-MA (300 cells, 1000 + 2000 features).

    The files are regenerated simulations kept in the shared data directory
    (``data_home``, ``$SKALIGN_DATA`` or ``../shared/data``), not the
    published MMD-MA files; see their README for the recipe.

    Parameters
    ----------
    name : {"sim1_branch", "sim2_swissroll", "sim3_frustum"}
    shuffle : bool, default=True
        Shuffle the target rows with a known permutation (stored).
    random_state : int, RandomState instance or None, default=0
    data_home : str or None

    Returns
    -------
    Bunch
        As :func:`load_snareseq`, plus ``latent`` (noise-free latent
        coordinates of the source rows).

    Examples
    --------
    >>> from skalign.datasets import load_multiomics_simulation
    >>> data = load_multiomics_simulation("sim1_branch")  # doctest: +SKIP
    >>> data.X_source.shape, data.X_target.shape  # doctest: +SKIP
    ((300, 1000), (300, 2000))
    """
    if name not in _SIMULATIONS:
        raise ValueError(f"name must be one of {sorted(_SIMULATIONS)}, got {name!r}.")
    arrays = load_npz(name, data_home=data_home)
    return _paired_bunch(
        arrays["X"].astype(np.float64),
        arrays["Y"].astype(np.float64),
        arrays["labels_X"],
        arrays["labels_Y"],
        check_random_state(random_state),
        shuffle,
        f"Simulation {name}: {_SIMULATIONS[name]} mapped linearly to 1000 and 2000 "
        "features plus noise (regenerated in the style of MMD-MA); target rows shuffled.",
        label_names=arrays["label_names"],
        latent=arrays["latent"].astype(np.float64),
    )
