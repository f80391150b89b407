"""Positive pointwise mutual information weighting of a co-occurrence matrix."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data


def ppmi(counts: Any, *, alpha: float = 0.75, shift: float = 1.0) -> Any:
    """``max(log(P(r, c) / (P(r) P_alpha(c))) - log(shift), 0)`` for every non-zero count.

    ``P_alpha(c)`` is the column distribution with its counts raised to ``alpha`` (context
    smoothing, Levy, Goldberg & Dagan 2015; ``alpha=1`` is plain PPMI) and ``shift`` is the
    shifted-PMI ``k`` (negative samples in word2vec). Zero counts stay zero. Sparse in, sparse out.

    Example
    -------
    >>> out = ppmi(np.array([[2.0, 0.0], [0.0, 2.0]]), alpha=1.0)
    >>> np.round(out, 3).tolist()
    [[0.693, 0.0], [0.0, 0.693]]
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    matrix = _checked_counts(counts)
    out = _weigh_rows(matrix, context_distribution(matrix, alpha), shift)
    return out if sparse.issparse(counts) else out.toarray()


def context_distribution(counts: Any, alpha: float = 0.75) -> np.ndarray:
    """The column (context) distribution with its counts raised to ``alpha``, normalised to sum 1."""
    col_counts = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel() ** alpha
    total = col_counts.sum()
    return col_counts / total if total > 0 else col_counts


def _checked_counts(counts: Any) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
    if matrix.nnz and matrix.data.min() < 0:
        raise ValueError("co-occurrence counts must be non-negative")
    matrix.eliminate_zeros()
    return matrix


def _weigh_rows(matrix: sparse.csr_matrix, context_p: np.ndarray, shift: float) -> sparse.csr_matrix:
    # P(r, c) / (P(r) P(c)) = (n_rc / n_r) / P(c): row by row, so new rows are weighed like the training ones.
    coo = matrix.tocoo()
    row_totals = np.asarray(matrix.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        pmi = np.log(coo.data / row_totals[coo.row]) - np.log(context_p[coo.col]) - np.log(shift)
    pmi[~np.isfinite(pmi)] = 0.0  # a context never seen in training carries no information
    out = sparse.csr_matrix((np.maximum(pmi, 0.0), (coo.row, coo.col)), shape=matrix.shape)
    out.eliminate_zeros()
    return out


class PPMI(TransformerMixin, BaseEstimator):
    """Scikit-learn transformer for :func:`ppmi`.

    ``fit`` learns the context (column) distribution of the training counts; ``transform`` weighs
    each row by it, so ``fit_transform(C)`` equals ``ppmi(C)`` and new rows (say, the counts of new
    documents) are weighed consistently with the training ones.

    Parameters
    ----------
    alpha : float, default=0.75
        Exponent smoothing the column (context) distribution.
    shift : float, default=1.0
        Subtract ``log(shift)`` before clipping at zero.

    Attributes
    ----------
    context_probabilities_ : ndarray (n_features,)
        The smoothed column distribution.

    Example
    -------
    >>> PPMI(alpha=1.0).fit_transform(np.array([[2.0, 0.0], [0.0, 2.0]])).round(3).tolist()
    [[0.693, 0.0], [0.0, 0.693]]
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "shift": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, alpha: float = 0.75, shift: float = 1.0) -> None:
        self.alpha = alpha
        self.shift = shift

    def fit(self, X: Any, y: object = None) -> PPMI:
        """Learn the context distribution of ``X`` (non-negative counts, dense or sparse); return ``self``."""
        self._validate_params()
        X = validate_data(
            self, X, accept_sparse=("csr", "csc", "coo"), dtype=np.float64, reset=True, ensure_non_negative=True
        )
        self.context_probabilities_ = context_distribution(X, self.alpha)
        return self

    def transform(self, X: Any) -> Any:
        """The PPMI weights of ``X`` (same shape; sparse in, sparse out)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc", "coo"), dtype=np.float64, reset=False, ensure_non_negative=True
        )
        out = _weigh_rows(_checked_counts(X), self.context_probabilities_, self.shift)
        return out if sparse.issparse(X) else out.toarray()

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        return tags
