"""Multiset CCA for two or more views (generalised CCA in the SUMCOR form)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from polymodal.multiview._base import FLOATS, check_scores, least_squares_loadings, quadratic_forms
from polymodal.multiview._blocks import centred_matmul, column_mean, joint_covariance, product_dtype
from polymodal.multiview.cca_math import scaled_ridge, top_eigenpairs, whitening

_LIST_OF_VIEWS = "MCCA takes a list of views (one 2-D array per view), not a single array"


class MCCA(TransformerMixin, BaseEstimator):
    """Multiset canonical correlation analysis (Kettenring 1971; Nielsen 2002), solved exactly.

    Finds one weight vector per view so that the sum of all covariances between the views' variates
    is maximal, subject to the sum of their (ridge-regularised) variances being fixed: the
    generalised eigenproblem ``C w = lambda D w`` with ``C`` the covariance of the concatenated views
    and ``D`` its block diagonal. Each view is whitened by a pivoted Cholesky factor (ridge
    ``reg * trace(C_jj) / p_j``; without a ridge the pivoting drops, exactly, coordinates that add
    no variance), then the top eigenpairs of the whitened block matrix come from one partial
    symmetric eigendecomposition. With two views it is CCA: ``eigenvalues_ = 1 + canonical
    correlation``. float32 views are multiplied in float32, their whitened eigenproblem is solved in
    float32 (the pivoted Cholesky factors stay float64), and they give float32 weights and variates.

    ``fit`` takes a list of views, so scikit-learn's single-matrix estimator checks do not apply;
    ``_NOT_APPLICABLE_CHECKS`` lists them with the reason.

    Parameters
    ----------
    n_components : int, default=2
        Number of components; at most the smallest view width and ``n_samples - 1``.
    reg : float, default=0.0
        Ridge as a fraction of each view's mean feature variance.

    Attributes
    ----------
    weights_ : list of ndarray (n_features_j, n_components)
        Per-view weights on the centred view; the training variates have unit variance.
    loadings_ : list of ndarray (n_features_j, n_components)
        Per-view least-squares loadings used by ``inverse_transform``.
    means_ : list of ndarray
        Per-view column means.
    eigenvalues_ : ndarray (n_components,)
        Generalised eigenvalues, descending (between 0 and the number of views).
    canonical_correlations_ : ndarray (n_components,)
        Mean correlation over all pairs of views of the training variates, per component.
    n_views_ : int

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((300, 1))
    >>> views = [np.c_[z, rng.standard_normal((300, 2))] + 0.1 * rng.standard_normal((300, 3))
    ...          for _ in range(3)]
    >>> mcca = MCCA(n_components=1).fit(views)
    >>> [s.shape for s in mcca.transform(views)]
    [(300, 1), (300, 1), (300, 1)]
    >>> bool(mcca.canonical_correlations_[0] > 0.95)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "reg": [Interval(Real, 0, None, closed="left")],
    }

    weights_: list[np.ndarray]

    _NOT_APPLICABLE_CHECKS: ClassVar[dict[str, str]] = {
        name: "MCCA.fit takes a list of views; sklearn's checks pass one 2-D array"
        for name in (
            "check_complex_data",
            "check_dict_unchanged",
            "check_dont_overwrite_parameters",
            "check_dtype_object",
            "check_estimator_sparse_array",
            "check_estimator_sparse_matrix",
            "check_estimator_sparse_tag",
            "check_estimators_dtypes",
            "check_estimators_empty_data_messages",
            "check_estimators_fit_returns_self",
            "check_estimators_nan_inf",
            "check_estimators_overwrite_params",
            "check_estimators_pickle",
            "check_f_contiguous_array_estimator",
            "check_fit1d",
            "check_fit2d_1feature",
            "check_fit2d_1sample",
            "check_fit2d_predict1d",
            "check_fit_check_is_fitted",
            "check_fit_idempotent",
            "check_fit_score_takes_y",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_n_features_in",
            "check_n_features_in_after_fitting",
            "check_pipeline_consistency",
            "check_positive_only_tag_during_fit",
            "check_readonly_memmap_input",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
            "check_transformer_preserve_dtypes",
        )
    }

    def __init__(self, n_components: int = 2, *, reg: float = 0.0) -> None:
        self.n_components = n_components
        self.reg = reg

    def fit(self, Xs: Sequence[object], y: object = None) -> MCCA:
        """Fit on a list of views ``[X_1, ..., X_m]`` (each ``(n_samples, p_j)``); ``y`` is ignored."""
        self._validate_params()
        views = _check_views(Xs)
        self.n_views_ = len(views)
        self.n_features_ = [v.shape[1] for v in views]
        bound = min(views[0].shape[0] - 1, *self.n_features_)
        if self.n_components > bound:
            raise ValueError(
                f"n_components={self.n_components} is too large: at most min(n_samples - 1, smallest view "
                f"width) = {bound}"
            )
        self.means_ = [column_mean(v) for v in views]
        cov = joint_covariance(views, self.means_)
        blocks = [slice(a, b) for a, b in itertools.pairwise(np.cumsum([0, *self.n_features_]))]
        self._solve(cov, blocks, product_dtype(*views))
        self.weights_ = [w.astype(product_dtype(v)) for w, v in zip(self.weights_, views)]
        # One sign per component for all views (the first view's largest-magnitude variate positive).
        first = centred_matmul(views[0], self.means_[0], self.weights_[0])
        signs = np.sign(first[np.argmax(np.abs(first), axis=0), np.arange(first.shape[1])])
        signs[signs == 0] = 1.0
        self.weights_ = [w * signs.astype(w.dtype) for w in self.weights_]
        self.loadings_ = [least_squares_loadings(cov[b, b], w).astype(w.dtype) for w, b in zip(self.weights_, blocks)]
        self.canonical_correlations_ = _mean_pairwise_correlation(self.weights_, cov, blocks)
        return self

    def _solve(self, cov: np.ndarray, blocks: list[slice], precision: type[np.floating] = np.float64) -> None:
        """Whiten each view (pivoted Cholesky), then the top eigenpairs of the whitened block matrix.

        The whitened matrix has identity diagonal blocks (the constraint is on ``D``, ridge included)
        and off-diagonal blocks ``L_j^{-1} C_ji L_i^{-T}``: two triangular solves per pair of views,
        written into the lower triangle only, which is all :func:`top_eigenpairs` reads.
        """
        whites = [whitening(cov[b, b], scaled_ridge(cov[b, b], self.reg)).astype(precision) for b in blocks]
        w_edges = np.cumsum([0, *(w.rank for w in whites)])
        spans = [slice(a, b) for a, b in itertools.pairwise(w_edges)]
        matrix = np.eye(w_edges[-1], dtype=precision, order="F")
        for i, j in itertools.combinations(range(len(blocks)), 2):
            half = whites[i].whiten_rows(cov[blocks[i], blocks[j]].astype(precision, copy=False))  # L_i^{-1} C_ij
            matrix[spans[j], spans[i]] = whites[j].whiten_rows(half.T)
        k = min(self.n_components, int(w_edges[-1]))
        # descending; Lanczos for a few of many, else LAPACK
        self.eigenvalues_, eigvecs = top_eigenpairs(matrix, k)
        self.weights_ = [
            self._unit_variance(white.weights(eigvecs[span]), cov[b, b])
            for white, span, b in zip(whites, spans, blocks)
        ]

    @staticmethod
    def _unit_variance(w: np.ndarray, cov: np.ndarray) -> np.ndarray:
        variance = np.einsum("ik,ij,jk->k", w, cov, w)
        return w / np.sqrt(np.where(variance > 0, variance, 1.0))

    def transform(self, Xs: Sequence[object]) -> list[np.ndarray]:
        """The canonical variates of every view: a list of ``(n_samples, n_components)`` arrays."""
        check_is_fitted(self)
        views = _check_views(Xs)
        if [v.shape[1] for v in views] != self.n_features_:
            raise ValueError(
                f"the views have {[v.shape[1] for v in views]} features, but MCCA was fitted with {self.n_features_}"
            )
        return [centred_matmul(v, m, w) for v, m, w in zip(views, self.means_, self.weights_)]

    def inverse_transform(self, scores: Sequence[object]) -> list[np.ndarray]:
        """Map each view's variates back to that view: the least-squares reconstruction.

        ``scores[j] @ loadings_[j].T + means_[j]``, with the loadings of the least-squares regression
        of the centred training view on its own variates (as scikit-learn's PLS
        ``inverse_transform``); exact when ``n_components`` equals the view's number of features.

        Example
        -------
        >>> rng = np.random.default_rng(0)
        >>> views = [rng.standard_normal((50, 2)) for _ in range(3)]
        >>> mcca = MCCA(n_components=2).fit(views)
        >>> bool(all(np.allclose(r, v) for r, v in zip(mcca.inverse_transform(mcca.transform(views)), views)))
        True
        """
        check_is_fitted(self)
        if isinstance(scores, np.ndarray) or not isinstance(scores, Sequence) or len(scores) != self.n_views_:
            raise ValueError(
                f"inverse_transform takes a list of {self.n_views_} score arrays (one per view, as transform "
                f"returns them); got {type(scores).__name__}"
                + (f" of length {len(scores)}" if isinstance(scores, Sequence) else "")
            )
        checked = [check_scores("MCCA", s, self.n_components, f"scores[{i}]") for i, s in enumerate(scores)]
        return [s @ p.T + m.astype(p.dtype) for s, p, m in zip(checked, self.loadings_, self.means_)]

    def fit_transform(self, Xs: Sequence[object], y: object = None) -> list[np.ndarray]:
        """Fit, then return the training variates of every view."""
        return self.fit(Xs).transform(Xs)


def _check_views(Xs: object) -> list[np.ndarray]:
    if isinstance(Xs, np.ndarray) or not isinstance(Xs, Sequence) or isinstance(Xs, str):
        raise TypeError(f"{_LIST_OF_VIEWS}; got {type(Xs).__name__}")
    if len(Xs) < 2:
        raise ValueError(f"MCCA needs at least 2 views, got {len(Xs)}")
    views = [check_array(v, dtype=FLOATS, ensure_min_samples=2, input_name=f"view {i}") for i, v in enumerate(Xs)]
    rows = [v.shape[0] for v in views]
    if len(set(rows)) > 1:
        raise ValueError(f"all views must have the same number of samples (rows); got {rows}")
    return views


def _mean_pairwise_correlation(weights: list[np.ndarray], cov: np.ndarray, blocks: list[slice]) -> np.ndarray:
    """Mean over pairs of views of the training variates' correlations, from the joint covariance."""
    w64 = [w.astype(np.float64) for w in weights]
    sd = [np.sqrt(quadratic_forms(w, cov[b, b], w)) for w, b in zip(w64, blocks)]
    pairs = []
    for i, j in itertools.combinations(range(len(weights)), 2):
        num = quadratic_forms(w64[i], cov[blocks[i], blocks[j]], w64[j])
        denom = sd[i] * sd[j]
        pairs.append(np.divide(num, denom, out=np.zeros_like(num), where=denom > 0))
    return np.mean(pairs, axis=0)
