"""Hyper-parameter search for transductive aligners by held-out anchors.

:class:`~sklearn.model_selection.GridSearchCV` splits the *rows* of ``X``; an
active aligner is transductive (it aligns the rows it was fitted on, and a
graph node cannot be removed from its graph), so a row split cannot score it.
What can be held out is the *supervision*: hide the partners of some known
pairs, fit on the whole table, and score how well the hidden partners are
recovered. :class:`AnchorHoldoutSearchCV` does that for every point of a
parameter grid, in parallel through joblib (so it runs on a dask cluster with
``joblib.parallel_config(backend="dask")``).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

__all__ = ["AnchorHoldoutSearchCV", "anchor_holdout_splits"]


def anchor_holdout_splits(y, n_splits=3, holdout_fraction=0.25, random_state=None):
    """Split the known partners of ``y`` into fitted and held-out ones.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Partner position of each source row (``>= 0``), ``-1`` when unknown,
        and any negative value on target rows.
    n_splits : int, default=3
        Number of independent hold-outs.
    holdout_fraction : float in (0, 1), default=0.25
        Share of the known partners hidden in each split.
    random_state : int, RandomState instance or None
        Seed of the hold-outs.

    Returns
    -------
    list of (y_fit, y_check)
        ``y_fit`` is ``y`` with the held-out partners replaced by ``-1``;
        ``y_check`` holds only the held-out partners (``-1`` elsewhere).

    Examples
    --------
    >>> y = [3, 0, -1, 1, 2, -2, -2, -2, -2]
    >>> (y_fit, y_check), = anchor_holdout_splits(y, 1, 0.5, random_state=0)
    >>> int((y_check >= 0).sum()), int((y_fit >= 0).sum())
    (2, 2)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array, got shape {y.shape}.")
    if not (isinstance(n_splits, numbers.Integral) and n_splits >= 1):
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}.")
    if not (isinstance(holdout_fraction, numbers.Real) and 0 < holdout_fraction < 1):
        raise ValueError(
            f"holdout_fraction must be a number in (0, 1), got {holdout_fraction!r}."
        )
    known = np.flatnonzero(y >= 0)
    n_held = round(holdout_fraction * known.size)
    if n_held < 1 or n_held >= known.size:
        raise ValueError(
            f"y has {known.size} known partners: too few to hold out "
            f"{holdout_fraction:.0%} of them and keep the rest; label more pairs or "
            "change holdout_fraction."
        )
    rng = check_random_state(random_state)
    splits = []
    for _ in range(n_splits):
        held = rng.choice(known, size=n_held, replace=False)
        y_fit = y.copy()
        y_fit[held] = -1
        y_check = np.full_like(y, -1)
        y_check[held] = y[held]
        splits.append((y_fit, y_check))
    return splits


def _fit_and_score(estimator, params, X, y_fit, y_check, fit_params):
    model = clone(estimator).set_params(**params)
    model.fit(X, y_fit, **fit_params)
    return model.score(X, y_check)


class AnchorHoldoutSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Grid search for transductive aligners: hide known pairs, score their recovery.

    For every parameter setting and every hold-out, the estimator is cloned,
    fitted on the whole table with some known partners hidden, and scored by
    its ``score(X, y_check)`` (for :class:`~skalign.ActiveOTQuerier`, the mean
    reciprocal rank of the hidden partners). The best setting is refitted with
    all known partners.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Transductive aligner whose ``score(X, y)`` rates the partners in
        ``y`` (rows with ``y < 0`` ignored); a :class:`~sklearn.pipeline.Pipeline`
        ending with one works too.
    param_grid : dict or list of dicts
        As for :class:`~sklearn.model_selection.GridSearchCV`.
    n_splits : int, default=3
        Independent hold-outs per setting.
    holdout_fraction : float in (0, 1), default=0.25
        Share of the known partners hidden in each hold-out.
    n_jobs : int or None, default=None
        Parallel fits through joblib.
    refit : bool, default=True
        Refit the best setting on all known partners as ``best_estimator_``.
    random_state : int, RandomState instance or None
        Seed of the hold-outs (the same hold-outs serve every setting).

    Attributes
    ----------
    cv_results_ : dict
        ``params``, ``mean_test_score``, ``std_test_score``,
        ``split<k>_test_score`` and ``rank_test_score``.
    best_params_, best_score_, best_index_ : best setting and its mean score.
    best_estimator_ : estimator
        Refitted with all known partners (when ``refit``).

    Examples
    --------
    >>> from skalign import ActiveOTQuerier
    >>> from skalign.active import AnchorHoldoutSearchCV
    >>> from skalign.datasets import make_noisy_graph_pair
    >>> data = make_noisy_graph_pair(40, anchor_fraction=0.4, random_state=0)
    >>> search = AnchorHoldoutSearchCV(
    ...     ActiveOTQuerier(random_state=0), {"epsilon": [0.01, 0.05]},
    ...     random_state=0,
    ... ).fit(data.X, data.y, adjacency=data.adjacency)
    >>> sorted(search.best_params_)
    ['epsilon']
    """

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        n_splits=3,
        holdout_fraction=0.25,
        n_jobs=None,
        refit=True,
        random_state=None,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.n_splits = n_splits
        self.holdout_fraction = holdout_fraction
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state

    def fit(self, X, y, **fit_params):
        """Score every setting on the hold-outs, then refit the best one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The whole table (both domains), as the estimator takes it.
        y : array-like of shape (n_samples,)
            Known partners (``>= 0``), ``-1`` unknown, negative on target rows.
        **fit_params
            Passed to every ``fit`` (e.g. ``adjacency``, ``sample_domain``;
            for a Pipeline, ``<step>__adjacency``).

        Returns
        -------
        self
        """
        candidates = list(ParameterGrid(self.param_grid))
        if not candidates:
            raise ValueError("param_grid must describe at least one setting.")
        splits = anchor_holdout_splits(
            y, self.n_splits, self.holdout_fraction, self.random_state
        )
        scores = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_and_score)(
                self.estimator, params, X, y_fit, y_check, fit_params
            )
            for params in candidates
            for y_fit, y_check in splits
        )
        scores = np.asarray(scores, dtype=float).reshape(len(candidates), len(splits))
        if not np.all(np.isfinite(scores)):
            raise ValueError(
                "A fitted setting returned a non-finite score; check the estimator's "
                "score on the held-out partners."
            )
        means = scores.mean(axis=1)
        order = np.argsort(-means, kind="stable")
        ranks = np.empty(len(candidates), dtype=int)
        ranks[order] = np.arange(1, len(candidates) + 1)
        self.cv_results_ = {
            "params": candidates,
            "mean_test_score": means,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": ranks,
            **{f"split{k}_test_score": scores[:, k] for k in range(len(splits))},
        }
        self.best_index_ = int(order[0])
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(means[self.best_index_])
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
        return self

    def score(self, X, y):
        """Score of the refitted best estimator (``best_estimator_.score``)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score(X, y)
