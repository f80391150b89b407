"""Fusion of several matrices over the same rows through their low-rank approximations."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from scipy import linalg, sparse
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from polymodal.multiview.svd_embedding import truncated_svd


class LowRankFusion(BaseEstimator):
    """One embedding of shared rows from several matrices (e.g. co-occurrence matrices of a word with
    its neighbours, with image clusters and with audio clusters).

    Each matrix ``M_i`` (rows shared, columns free) is reduced to its rank-``rank`` SVD
    ``U_i diag(s_i) V_i'``, and the fused row similarity is a weighted sum of the matrices' low-rank
    row Gram matrices:

    * ``method="average"``: weighted average of ``U_i diag(s_i**2) U_i' / sum(s_i**2)``, each
      approximation scaled to unit trace so that no matrix dominates by its scale;
    * ``method="vote"``: each matrix votes for its subspace with the projection ``U_i U_i'``; the
      consensus directions are those most matrices agree on (the extrinsic mean of subspaces), and
      ``agreement_`` is the weighted share of the votes each direction got (1 = every matrix).

    The embedding is the top ``n_components`` eigenvectors of the fused matrix scaled by the square
    roots of its eigenvalues, so inner products of embeddings approximate the fused similarity. The
    fused ``n x n`` matrix is never formed: the eigenvectors come from an SVD of the stacked factors.

    ``fit`` takes a list of matrices, so scikit-learn's single-matrix checks do not apply.

    Parameters
    ----------
    n_components : int, default=10
    method : {"average", "vote"}, default="average"
    rank : int or None, default=None
        Rank kept per matrix; None means ``n_components``.
    weights : sequence of float or None, default=None
        One non-negative weight per matrix (normalised to sum 1); None weighs them equally.
    algorithm : {"randomized", "exact"}, default="randomized"
        How the per-matrix SVDs are computed.
    random_state : int or None, default=None

    Attributes
    ----------
    embedding_ : ndarray (n_rows, n_components)
    eigenvalues_ : ndarray (n_components,)
        Eigenvalues of the fused matrix, descending.
    agreement_ : ndarray (n_components,)
        ``eigenvalues_`` for "vote" (each between 0 and 1); for "average" the share of the fused
        trace each component carries.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((50, 2))
    >>> mats = [shared @ rng.standard_normal((2, d)) + 0.01 * rng.standard_normal((50, d)) for d in (8, 5)]
    >>> fusion = LowRankFusion(n_components=2, method="vote").fit(mats)
    >>> bool(fusion.agreement_.min() > 0.99)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"average", "vote"})],
        "rank": [Interval(Integral, 1, None, closed="left"), None],
        "weights": ["array-like", None],
        "algorithm": [StrOptions({"randomized", "exact"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        method: str = "average",
        rank: int | None = None,
        weights: Sequence[float] | None = None,
        algorithm: str = "randomized",
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.method = method
        self.rank = rank
        self.weights = weights
        self.algorithm = algorithm
        self.random_state = random_state

    def fit(self, matrices: Sequence[Any], y: object = None) -> LowRankFusion:
        """Fuse a list of matrices that share their rows; returns ``self``."""
        self._validate_params()
        mats = _check_matrices(matrices)
        weights = self._check_weights(len(mats))
        rank = self.n_components if self.rank is None else self.rank
        if self.n_components > rank * len(mats):
            raise ValueError(
                f"n_components={self.n_components} exceeds rank * n_matrices = {rank * len(mats)}: "
                "raise rank or lower n_components"
            )
        factors = [np.sqrt(w) * self._factor(M, rank) for M, w in zip(mats, weights)]
        U, s, _ = linalg.svd(np.hstack(factors), full_matrices=False)
        U, s = U[:, : self.n_components], s[: self.n_components]
        U *= np.where(np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])]) < 0, -1.0, 1.0)
        self.eigenvalues_ = s**2
        self.agreement_ = self.eigenvalues_ if self.method == "vote" else self.eigenvalues_ / (np.sum(s**2) or 1.0)
        self.embedding_ = U * s
        return self

    def _factor(self, M: Any, rank: int) -> np.ndarray:
        """``F`` with ``F F'`` equal to this matrix's contribution (before its weight)."""
        if rank > min(M.shape):
            raise ValueError(f"rank={rank} exceeds the smaller side {min(M.shape)} of a {M.shape} matrix")
        U, s, _ = truncated_svd(M, rank, self.algorithm, self.random_state)
        if self.method == "vote":
            return U
        norm = np.sqrt(np.sum(s**2))
        return U * (s / norm if norm > 0 else s)

    def _check_weights(self, n: int) -> np.ndarray:
        if self.weights is None:
            return np.full(n, 1.0 / n)
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n,) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(
                f"weights must be {n} non-negative numbers (one per matrix) that are not all zero; got {self.weights!r}"
            )
        return weights / weights.sum()

    def fit_transform(self, matrices: Sequence[Any], y: object = None) -> np.ndarray:
        """Fit and return :attr:`embedding_`."""
        return self.fit(matrices).embedding_


def _check_matrices(matrices: Any) -> list[Any]:
    if isinstance(matrices, np.ndarray) or sparse.issparse(matrices) or not isinstance(matrices, Sequence):
        raise TypeError(f"LowRankFusion takes a list of matrices, got {type(matrices).__name__}")
    if len(matrices) < 1:
        raise ValueError("LowRankFusion needs at least one matrix")
    mats = [
        check_array(M, accept_sparse=("csr", "csc"), dtype=np.float64, input_name=f"matrix {i}")
        for i, M in enumerate(matrices)
    ]
    rows = [M.shape[0] for M in mats]
    if len(set(rows)) > 1:
        raise ValueError(f"the matrices must share their rows (same number of rows); got {rows}")
    return mats
