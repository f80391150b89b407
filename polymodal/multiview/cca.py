"""Canonical correlation analysis in closed form."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import Tags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from polymodal.multiview._base import (
    FLOATS,
    check_finite_from_means,
    check_n_components,
    check_scores,
    check_y_features,
    column_correlations,
    finish_components,
    least_squares_loadings,
    orientation_signs,
    validate_two_views,
)
from polymodal.multiview._blas import matmul
from polymodal.multiview._blocks import (
    centred_matmul,
    centred_svd,
    column_mean,
    covariances,
    product_dtype,
    total_variance,
)
from polymodal.multiview.cca_math import scaled_ridge, solve_cca


class CCA(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Regularised canonical correlation analysis, solved exactly.

    Finds weights ``w_k, v_k`` maximising the correlation of ``X w_k`` and ``Y v_k``, each pair
    uncorrelated with the previous ones. Steps: centre both views; form the covariances with a ridge
    ``reg * trace(C) / n_features`` added to each view's own covariance (so ``reg`` does not depend on
    the scale of the features); whiten each view by a pivoted Cholesky factor; take the top
    eigenpairs of the whitened cross-covariance's Gram matrix (one partial symmetric
    eigendecomposition). Rank-deficient views (constant pixels,
    duplicated or more features than samples) are handled exactly: the pivoting drops the
    coordinates that add no variance. The covariances are the raw Gram products with a rank-one mean
    correction (one BLAS call per product, no centred copy), unless a column's mean is too large for
    that to be accurate. float32 views are multiplied in float32 (the ``n x p`` products, twice as fast),
    their ``p x p`` eigenproblem is solved in float32 too (the pivoted Cholesky factors, which decide the
    rank, stay float64), and they give float32 weights and variates; the correlations are those of the
    weights, computed with the float64 covariances. Like :class:`sklearn.cross_decomposition.CCA`, the
    second view is passed as ``y``.

    Parameters
    ----------
    n_components : int, default=2
        Number of canonical pairs; at most ``min(n_samples - 1, n_features_x, n_features_y)``.
    reg : float, default=0.0
        Ridge as a fraction of each view's mean feature variance. 0 is plain CCA.
    solver : {"auto", "covariance", "svd", "randomized"}, default="auto"
        "covariance" forms the ``p x p`` covariances (fast when features are fewer than samples);
        "svd" takes an exact thin SVD of each centred view (for more features than samples);
        "randomized" a randomized SVD of rank ``svd_rank`` (approximate, for many features).
        "auto" picks "covariance" when both views have at most as many features as samples, else "svd".
    svd_rank : int or None, default=None
        Rank kept per view by the "randomized" solver; None means ``min(n_samples, n_features, 200)``.
    random_state : int, RandomState or None, default=None
        Seeds the randomized solver; the other solvers are deterministic.

    Attributes
    ----------
    x_weights_ : ndarray (n_features_x, n_components)
    y_weights_ : ndarray (n_features_y, n_components)
        Weights applied to the centred views; the training variates have unit variance.
    canonical_correlations_ : ndarray (n_components,)
        Correlations of the training variates, in descending order.
    x_loadings_ : ndarray (n_features_x, n_components)
    y_loadings_ : ndarray (n_features_y, n_components)
        Least-squares loadings: ``inverse_transform`` maps scores back as ``scores @ loadings.T + mean``.
    x_mean_, y_mean_ : ndarray
        Column means of the training views.
    solver_ : str
        The solver used.
    n_features_in_, feature_names_in_ : as in scikit-learn (for ``X``).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((300, 2))
    >>> X = np.c_[z, rng.standard_normal((300, 3))]
    >>> Y = np.c_[z @ [[1.0, 0.5], [0.0, 1.0]] + 0.1 * rng.standard_normal((300, 2)), rng.random(300)]
    >>> cca = CCA(n_components=2).fit(X, Y)
    >>> bool(cca.canonical_correlations_[1] > 0.9)
    True
    >>> xs, ys = cca.transform(X, Y)
    >>> xs.shape, ys.shape
    ((300, 2), (300, 2))
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "reg": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "covariance", "svd", "randomized"})],
        "svd_rank": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    x_weights_: np.ndarray
    y_weights_: np.ndarray
    x_loadings_: np.ndarray
    y_loadings_: np.ndarray
    canonical_correlations_: np.ndarray

    def __init__(
        self,
        n_components: int = 2,
        *,
        reg: float = 0.0,
        solver: str = "auto",
        svd_rank: int | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_components = n_components
        self.reg = reg
        self.solver = solver
        self.svd_rank = svd_rank
        self.random_state = random_state

    def fit(self, X: object, y: object) -> CCA:
        """Fit the canonical weights.

        Parameters
        ----------
        X : array-like (n_samples, n_features_x)
            The first view.
        y : array-like (n_samples, n_features_y) or (n_samples,)
            The second view (``Y`` in the CCA literature).

        Returns
        -------
        self
        """
        self._validate_params()
        X, Y = validate_two_views(self, X, y, reset=True, finite=False)
        n, p = X.shape
        check_n_components(self.n_components, n, p, Y.shape[1])
        self.x_mean_ = column_mean(X)
        self.y_mean_ = column_mean(Y)
        check_finite_from_means(X, self.x_mean_, "X")
        check_finite_from_means(Y, self.y_mean_, "y")
        self.solver_ = self._pick_solver(n, p, Y.shape[1])
        if self.solver_ == "covariance":
            self._fit_covariance(X, Y)
        else:
            self._fit_factors(X, Y)
        # float32 views give float32 weights and variates, as scikit-learn's transformers preserve float32.
        self.x_weights_ = self.x_weights_.astype(product_dtype(X))
        self.y_weights_ = self.y_weights_.astype(product_dtype(Y))
        # Only the signs of the largest variates are read here: X @ W - mean @ W (no centred copy) is enough.
        signs = orientation_signs(matmul(X, self.x_weights_) - self.x_mean_ @ self.x_weights_)
        self.x_weights_, self.y_weights_ = (
            self.x_weights_ * signs.astype(self.x_weights_.dtype),
            self.y_weights_ * signs.astype(self.y_weights_.dtype),
        )
        self.x_loadings_ = (self.x_loadings_ * signs).astype(self.x_weights_.dtype)
        self.y_loadings_ = (self.y_loadings_ * signs).astype(self.y_weights_.dtype)
        self._n_features_out = self.n_components
        return self

    def _pick_solver(self, n: int, p: int, q: int) -> str:
        if self.solver != "auto":
            return str(self.solver)
        return "covariance" if max(p, q) <= n else "svd"

    def _fit_covariance(self, X: np.ndarray, Y: np.ndarray) -> None:
        cov_xx, cov_yy, cov_xy = covariances(X, Y, self.x_mean_, self.y_mean_)
        ridge_x, ridge_y = scaled_ridge(cov_xx, self.reg), scaled_ridge(cov_yy, self.reg)
        # float32 views: their covariances are float32-accurate, and so is a float32 eigenproblem; the
        # correlations are then recomputed from the weights with the float64 covariances.
        wx, wy, _ = solve_cca(cov_xx, cov_yy, cov_xy, ridge_x, ridge_y, self.n_components, product_dtype(X, Y))
        self.x_weights_, self.y_weights_, self.canonical_correlations_ = finish_components(
            wx, wy, cov_xx, cov_yy, cov_xy, self.n_components
        )
        self.x_loadings_ = least_squares_loadings(cov_xx, self.x_weights_)
        self.y_loadings_ = least_squares_loadings(cov_yy, self.y_weights_)

    def _fit_factors(self, X: np.ndarray, Y: np.ndarray) -> None:
        # Work in the coordinates of each view's singular vectors: there the covariance is diagonal,
        # and directions outside the row space carry no cross-covariance, so this is exact for "svd".
        n = X.shape[0]
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        ux, sx, vtx = centred_svd(X, self.x_mean_, self._rank(X), rng)
        uy, sy, vty = centred_svd(Y, self.y_mean_, self._rank(Y), rng)
        cov_xx, cov_yy = np.diag(sx**2 / (n - 1)), np.diag(sy**2 / (n - 1))
        cov_xy = (sx[:, None] * (ux.T @ uy) * sy) / (n - 1)
        # The ridge is scaled to the full covariance's trace, also when the randomized SVD keeps part of it.
        ridge_x = self.reg * total_variance(X, self.x_mean_) / X.shape[1]
        ridge_y = self.reg * total_variance(Y, self.y_mean_) / Y.shape[1]
        a, b, _ = solve_cca(cov_xx, cov_yy, cov_xy, ridge_x, ridge_y, self.n_components)
        a, b, self.canonical_correlations_ = finish_components(a, b, cov_xx, cov_yy, cov_xy, self.n_components)
        self.x_weights_, self.y_weights_ = vtx.T @ a, vty.T @ b
        # The covariance is V diag V' (truncated for "randomized"), so C W = V diag a and W'CW = a' diag a.
        self.x_loadings_ = vtx.T @ least_squares_loadings(cov_xx, a)
        self.y_loadings_ = vty.T @ least_squares_loadings(cov_yy, b)

    def _rank(self, X: np.ndarray) -> int | None:
        if self.solver_ != "randomized":
            return None
        rank = min(*X.shape, 200) if self.svd_rank is None else min(self.svd_rank, *X.shape)
        return max(rank, self.n_components)

    def transform(self, X: object, y: object = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Project the views on the canonical weights.

        Parameters
        ----------
        X : array-like (n_samples, n_features_x)
        y : array-like (n_samples, n_features_y), optional

        Returns
        -------
        x_scores, or ``(x_scores, y_scores)`` when ``y`` is given; each (n_samples, n_components).
        """
        check_is_fitted(self)
        X_checked = validate_data(self, X, dtype=FLOATS, reset=False)
        x_scores = centred_matmul(X_checked, self.x_mean_, self.x_weights_)
        if y is None:
            return x_scores
        _, Y = validate_two_views(self, X_checked, y, reset=False)
        check_y_features(self, Y, self.y_weights_.shape[0])
        return x_scores, centred_matmul(Y, self.y_mean_, self.y_weights_)

    def inverse_transform(self, X: object, y: object = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Map canonical variates back to the views: the least-squares reconstruction.

        ``scores @ loadings.T + mean``, with the loadings of the least-squares regression of the
        centred training view on its own variates (as scikit-learn's PLS ``inverse_transform``).
        Exact when ``n_components`` equals the view's number of (independent) features; with fewer,
        the best linear reconstruction of the training view from its variates.

        Parameters
        ----------
        X : array-like (n_samples, n_components)
            x scores, as ``transform`` returns them.
        y : array-like (n_samples, n_components), optional
            y scores.

        Returns
        -------
        X_reconstructed, or ``(X_reconstructed, Y_reconstructed)`` when ``y`` is given.

        Example
        -------
        >>> rng = np.random.default_rng(0)
        >>> X, Y = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
        >>> cca = CCA(n_components=3).fit(X, Y)
        >>> bool(np.allclose(cca.inverse_transform(cca.transform(X)), X))
        True
        """
        check_is_fitted(self)
        x_scores = check_scores("CCA", X, self.n_components, "X")
        x_rec = x_scores @ self.x_loadings_.T + self.x_mean_.astype(self.x_loadings_.dtype)
        if y is None:
            return x_rec
        y_scores = check_scores("CCA", y, self.n_components, "y")
        return x_rec, y_scores @ self.y_loadings_.T + self.y_mean_.astype(self.y_loadings_.dtype)

    def fit_transform(self, X: object, y: object = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Fit, then return ``(x_scores, y_scores)`` of the training views (as scikit-learn's CCA)."""
        return self.fit(X, y).transform(X, y)

    def score(self, X: object, y: object) -> float:
        """Mean correlation of the canonical variates of ``(X, y)``: higher is better, at most 1.

        Example
        -------
        >>> rng = np.random.default_rng(1)
        >>> z = rng.standard_normal((200, 1))
        >>> cca = CCA(n_components=1).fit(z + 0.1 * rng.standard_normal((200, 1)), z)
        >>> round(cca.score(z, z), 3)
        1.0
        """
        if y is None:
            raise ValueError("score needs the second view: call score(X, y)")
        x_scores, y_scores = self.transform(X, y)
        return float(np.mean(column_correlations(x_scores, y_scores)))

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
