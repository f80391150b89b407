"""Low-rank embeddings of a (co-occurrence, PPMI) matrix by truncated SVD."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import linalg, sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import Tags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import randomized_svd, svd_flip
from sklearn.utils.validation import check_is_fitted, validate_data


def truncated_svd(
    M: Any, rank: int, algorithm: str = "randomized", random_state: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``rank`` singular triplets ``U, s, Vt`` of a dense or sparse matrix, with fixed signs.

    Example
    -------
    >>> U, s, Vt = truncated_svd(np.diag([3.0, 2.0, 1.0]), 2, algorithm="exact")
    >>> s.tolist()
    [3.0, 2.0]
    """
    if algorithm == "exact":
        dense = M.toarray() if sparse.issparse(M) else np.asarray(M, dtype=np.float64)
        U, s, Vt = linalg.svd(dense, full_matrices=False)
        U, Vt = svd_flip(U[:, :rank], Vt[:rank])
        return U, s[:rank], Vt
    U, s, Vt = randomized_svd(M, rank, n_iter=7, random_state=check_random_state(random_state))
    U, Vt = svd_flip(U, Vt)
    return U, s, Vt


class SVDEmbedding(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Row (and column) embeddings from a truncated SVD ``M ~ U diag(s) V'``.

    The row embeddings are ``U diag(s**eig_weight)``; ``eig_weight=0.5`` (the default) splits the
    singular values evenly between rows and columns, which Levy, Goldberg & Dagan (2015) found better
    than the plain ``U diag(s)`` for word similarity. New rows are folded in:
    ``transform(M_new) = M_new V diag(s**(eig_weight - 1))``, which gives back the training embeddings
    for the training rows.

    Parameters
    ----------
    n_components : int, default=100
        Embedding dimension.
    eig_weight : float, default=0.5
        Exponent of the singular values in the embeddings.
    normalize : bool, default=False
        Scale each embedding to unit Euclidean length (cosine geometry).
    algorithm : {"randomized", "exact"}, default="randomized"
    random_state : int or None, default=None

    Attributes
    ----------
    embedding_ : ndarray (n_rows, n_components)
        Row embeddings of the training matrix.
    column_embedding_ : ndarray (n_features, n_components)
        Column (context) embeddings ``V diag(s**eig_weight)``.
    singular_values_ : ndarray (n_components,)
    components_ : ndarray (n_components, n_features)
        ``V'``.

    Example
    -------
    >>> M = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0], [2.0, 2.0, 2.0]])
    >>> svd = SVDEmbedding(n_components=2, algorithm="exact").fit(M)
    >>> np.allclose(svd.transform(M), svd.embedding_)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "eig_weight": [Interval(Real, 0, 1, closed="both")],
        "normalize": ["boolean"],
        "algorithm": [StrOptions({"randomized", "exact"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components: int = 100,
        *,
        eig_weight: float = 0.5,
        normalize: bool = False,
        algorithm: str = "randomized",
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.eig_weight = eig_weight
        self.normalize = normalize
        self.algorithm = algorithm
        self.random_state = random_state

    def fit(self, X: Any, y: object = None) -> SVDEmbedding:
        """Take the truncated SVD of ``X`` (dense or sparse, ``(n_rows, n_features)``); return ``self``."""
        self._validate_params()
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32))
        if self.n_components > min(X.shape):
            raise ValueError(
                f"n_components={self.n_components} must be at most min(n_rows, n_features) = {min(X.shape)}"
            )
        U, s, Vt = truncated_svd(X, self.n_components, self.algorithm, self.random_state)
        self.singular_values_, self.components_ = s, Vt
        self.embedding_ = self._finish(U * s**self.eig_weight)
        self.column_embedding_ = Vt.T * s**self.eig_weight
        self._n_features_out = self.n_components
        return self

    def _finish(self, E: np.ndarray) -> np.ndarray:
        if not self.normalize:
            return E
        norms = np.linalg.norm(E, axis=1, keepdims=True)
        return E / np.where(norms > 0, norms, 1.0)

    def transform(self, X: Any) -> np.ndarray:
        """Fold new rows ``(n, n_features)`` into the embedding space."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32), reset=False)
        s = self.singular_values_
        scale = np.divide(s**self.eig_weight, s, out=np.zeros_like(s), where=s > 0)
        return self._finish(np.asarray(X @ self.components_.T) * scale)

    def fit_transform(self, X: Any, y: object = None) -> np.ndarray:
        """Fit and return :attr:`embedding_`."""
        return self.fit(X).embedding_

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
