"""Kernel canonical correlation analysis: exact for small n, Nyström or random Fourier features for large n."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.preprocessing import KernelCenterer
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from polymodal.multiview._base import (
    FLOATS,
    check_n_components,
    check_y_features,
    column_correlations,
    finish_components,
    orient,
    validate_two_views,
)
from polymodal.multiview._blocks import centred_matmul, column_mean, covariances
from polymodal.multiview.cca_math import scaled_ridge, solve_cca


class _ExactMap:
    """The kernel-PCA coordinates of one view: ``k~(x, X_fit) @ U / sqrt(lambda)`` for the centred kernel."""

    def __init__(self, X: np.ndarray, params: dict[str, Any]) -> None:
        self.X_fit, self.params = X, params
        K = pairwise_kernels(X, metric=params["kernel"], filter_params=True, **params["kwargs"])
        self.centerer = KernelCenterer().fit(K)
        # syevd: the fastest LAPACK driver for all eigenpairs of a dense symmetric matrix where measured.
        eigvals, eigvecs = linalg.eigh(self.centerer.transform(K), driver="evd", overwrite_a=True, check_finite=False)
        keep = eigvals > max(K.shape) * np.finfo(np.float64).eps * 10 * max(float(eigvals[-1]), 0.0)
        self.eigvals, self.eigvecs = eigvals[keep], eigvecs[:, keep]

    def train_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """The training coordinates (already centred) and their column mean (zero)."""
        return self.eigvecs * np.sqrt(self.eigvals), np.zeros(len(self.eigvals))

    def covariance(self) -> np.ndarray:
        """The covariance of the training coordinates: ``diag(eigvals) / (n - 1)``, known without a product."""
        return np.diag(self.eigvals / (self.eigvecs.shape[0] - 1))

    def coordinates(self, X: np.ndarray) -> np.ndarray:
        K = pairwise_kernels(X, self.X_fit, metric=self.params["kernel"], filter_params=True, **self.params["kwargs"])
        return self.centerer.transform(K) @ (self.eigvecs / np.sqrt(self.eigvals))


class _ApproximateMap:
    """Explicit approximate features (Nyström or random Fourier), centred on the training mean."""

    def __init__(self, X: np.ndarray, params: dict[str, Any], method: str, rank: int, seed: int) -> None:
        kwargs = params["kwargs"]
        if method == "rff":
            self.sampler: Any = RBFSampler(gamma=kwargs["gamma"], n_components=rank, random_state=seed)
        else:
            rank = min(rank, X.shape[0])  # Nyström cannot use more landmarks than samples
            self.sampler = Nystroem(kernel=params["kernel"], n_components=rank, random_state=seed, **kwargs)
        # Kept uncentred (and float32 for float32 input): centring happens block by block downstream.
        self.features = self.sampler.fit_transform(X)
        self.mean = column_mean(self.features)

    def train_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """The training features and their column mean."""
        return self.features, self.mean

    def coordinates(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.sampler.transform(X), dtype=np.float64) - self.mean  # (n, rank): small


class KernelCCA(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Regularised kernel CCA (Bach & Jordan 2002; Hardoon et al. 2004).

    CCA in the feature space of a kernel. ``method="exact"`` diagonalises the two centred ``n x n``
    kernel matrices (memory and time grow as ``n**2`` and ``n**3``: a few thousand samples);
    ``"nystroem"`` and ``"rff"`` (random Fourier features, RBF kernel only) replace each kernel by
    ``rank`` explicit features and solve linear CCA on them, which scales linearly in ``n``. Nyström
    with ``rank >= n_samples`` reproduces the exact solution.

    The ridge of each view is ``reg * trace(C) / n_samples`` where ``C`` is the covariance of the view's
    feature map (the mean variance over the ``n_samples`` directions the data span). With
    ``kernel="linear"`` this is :class:`~polymodal.multiview.CCA` whose ridge, view by view, uses
    ``reg * n_features / n_samples`` (a single CCA ``reg`` when both views have the same width).

    Parameters
    ----------
    n_components : int, default=2
        Number of canonical pairs.
    kernel : {"rbf", "linear", "poly"}, default="rbf"
        The same kernel family for both views.
    gamma : float or None, default=None
        Kernel width of the RBF and polynomial kernels; None picks ``1 / (n_features * X.var())`` per
        view (scikit-learn's ``"scale"``), which makes the result independent of the scale of a view.
    degree : int, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1.0
        Constant term of the polynomial kernel.
    reg : float, default=1e-3
        Ridge as a fraction of the mean variance of each view's feature map; without one, kernel CCA
        on an expressive kernel finds correlations of 1 that mean nothing.
    method : {"exact", "nystroem", "rff"}, default="exact"
    rank : int, default=500
        Landmarks (Nyström) or random features (RFF) per view.
    random_state : int or None, default=None
        Seeds the approximations.

    Attributes
    ----------
    canonical_correlations_ : ndarray (n_components,)
        Correlations of the training variates, descending.
    x_weights_, y_weights_ : ndarray (n_coordinates, n_components)
        Weights on each view's (kernel-PCA or approximate) feature coordinates.
    gamma_x_, gamma_y_ : float or None
        The kernel widths used.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(-2, 2, size=(300, 1))
    >>> X, Y = t + 0.05 * rng.standard_normal((300, 1)), t**2 + 0.05 * rng.standard_normal((300, 1))
    >>> linear = KernelCCA(n_components=1, kernel="linear").fit(X, Y).canonical_correlations_[0]
    >>> rbf = KernelCCA(n_components=1, kernel="rbf", reg=1e-2).fit(X, Y).canonical_correlations_[0]
    >>> bool(linear < 0.3 and rbf > 0.9)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions({"rbf", "linear", "poly"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Integral, 1, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "reg": [Interval(Real, 0, None, closed="left")],
        "method": [StrOptions({"exact", "nystroem", "rff"})],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components: int = 2,
        *,
        kernel: str = "rbf",
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
        reg: float = 1e-3,
        method: str = "exact",
        rank: int = 500,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.reg = reg
        self.method = method
        self.rank = rank
        self.random_state = random_state

    def fit(self, X: object, y: object) -> KernelCCA:
        """Fit on the two views ``X`` (n_samples, p) and ``y`` (n_samples, q); returns ``self``."""
        self._validate_params()
        if self.method == "rff" and self.kernel != "rbf":
            raise ValueError(f"method='rff' approximates the RBF kernel only, got kernel={self.kernel!r}")
        X, Y = validate_two_views(self, X, y, reset=True)
        check_n_components(self.n_components, X.shape[0], X.shape[0], X.shape[0])
        self.gamma_x_, self.gamma_y_ = self._gamma(X), self._gamma(Y)
        self._map_x = self._make_map(X, self.gamma_x_, 0)
        self._map_y = self._make_map(Y, self.gamma_y_, 1)
        self._n_features_y = Y.shape[1]
        (fx, mean_x), (fy, mean_y) = self._map_x.train_coordinates(), self._map_y.train_coordinates()
        n = X.shape[0]
        if isinstance(self._map_x, _ExactMap) and isinstance(self._map_y, _ExactMap):
            # Kernel-PCA coordinates are uncorrelated: only the cross product needs the data.
            cov_xx, cov_yy, cov_xy = self._map_x.covariance(), self._map_y.covariance(), fx.T @ fy / (n - 1)
            exact = True  # they fit the training rows almost perfectly: the top correlations cluster near 1
        else:
            cov_xx, cov_yy, cov_xy = covariances(fx, fy, mean_x, mean_y)
            exact = False
        ridge_x, ridge_y = scaled_ridge(cov_xx, self.reg, n), scaled_ridge(cov_yy, self.reg, n)
        wx, wy, _ = solve_cca(cov_xx, cov_yy, cov_xy, ridge_x, ridge_y, self.n_components, lanczos=not exact)
        self.x_weights_, self.y_weights_, self.canonical_correlations_ = finish_components(
            wx, wy, cov_xx, cov_yy, cov_xy, self.n_components
        )
        x_scores = centred_matmul(fx, mean_x, self.x_weights_)
        self.x_weights_, self.y_weights_ = orient(self.x_weights_, self.y_weights_, x_scores)
        self._n_features_out = self.n_components
        return self

    def _gamma(self, X: np.ndarray) -> float | None:
        if self.kernel == "linear":
            return None
        if self.gamma is not None:
            return float(self.gamma)
        variance = float(X.var())
        return 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0

    def _make_map(self, X: np.ndarray, gamma: float | None, view: int) -> _ExactMap | _ApproximateMap:
        kwargs: dict[str, Any] = {}
        if self.kernel != "linear":
            kwargs["gamma"] = gamma
        if self.kernel == "poly":
            kwargs.update(degree=self.degree, coef0=self.coef0)
        params = {"kernel": self.kernel, "kwargs": kwargs}
        if self.method == "exact":
            return _ExactMap(X, params)
        seed = np.random.RandomState(self.random_state).randint(2**31 - 1) + view
        return _ApproximateMap(X, params, self.method, self.rank, int(seed))

    def transform(self, X: object, y: object = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Canonical variates of ``X``, or ``(x_scores, y_scores)`` when ``y`` is given."""
        check_is_fitted(self)
        X_checked = validate_data(self, X, dtype=FLOATS, reset=False)
        x_scores = self._map_x.coordinates(X_checked) @ self.x_weights_
        if y is None:
            return x_scores
        _, Y = validate_two_views(self, X_checked, y, reset=False)
        check_y_features(self, Y, self._n_features_y)
        return x_scores, self._map_y.coordinates(Y) @ self.y_weights_

    def fit_transform(self, X: object, y: object = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Fit, then return ``(x_scores, y_scores)`` of the training views."""
        return self.fit(X, y).transform(X, y)

    def score(self, X: object, y: object) -> float:
        """Mean correlation of the canonical variates of ``(X, y)``."""
        if y is None:
            raise ValueError("score needs the second view: call score(X, y)")
        x_scores, y_scores = self.transform(X, y)
        return float(np.mean(column_correlations(x_scores, y_scores)))

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags
