"""Shared pieces of the two-view estimators: input checks and the finishing of a CCA solution."""

from __future__ import annotations

import numpy as np
from sklearn.utils import assert_all_finite, check_array, check_consistent_length
from sklearn.utils.validation import validate_data

from polymodal.multiview._blas import matmul

FLOATS = (np.float64, np.float32)


def validate_two_views(
    estimator: object, X: object, y: object, *, reset: bool, finite: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check ``X`` (through sklearn's ``validate_data``) and the second view ``y``; 1-D ``y`` is one column.

    ``finite=False`` leaves out the check for NaN and infinity (a pass over each view): the caller then
    calls :func:`check_finite_from_means` once it has the column means.
    """
    name = type(estimator).__name__
    if y is None:
        raise ValueError(
            f"{name} requires y to be passed, but the target y is None: y is the second view, "
            "an array of shape (n_samples, n_features_y)"
        )
    X_checked = validate_data(estimator, X, dtype=FLOATS, reset=reset, ensure_min_samples=2, ensure_all_finite=finite)
    Y = check_array(y, input_name="y", dtype=FLOATS, ensure_2d=False, ensure_min_samples=2, ensure_all_finite=finite)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    check_consistent_length(X_checked, Y)
    return X_checked, Y


def check_finite_from_means(view: np.ndarray, mean: np.ndarray, name: str) -> None:
    """scikit-learn's error for NaN or infinity in ``view``, read from its float64 column means.

    A column holding NaN or infinity has a mean that is not finite, so the full check (a pass over the
    view) runs only then; a finite view whose column sum overflows float64 gets its own error.
    """
    if np.isfinite(mean).all():
        return
    assert_all_finite(view, input_name=name)
    raise ValueError(f"{name} holds values too large to average: a column sum overflows float64; rescale it")


def check_y_features(estimator: object, Y: np.ndarray, expected: int) -> None:
    """Raise when the second view has a different number of features than at fit time."""
    if Y.shape[1] != expected:
        raise ValueError(
            f"y has {Y.shape[1]} features, but {type(estimator).__name__} was fitted with "
            f"{expected} features in the second view"
        )


def check_n_components(n_components: int, n_samples: int, p: int, q: int) -> None:
    """``n_components`` may not exceed ``min(n_samples - 1, p, q)``."""
    bound = min(n_samples - 1, p, q)
    if n_components > bound:
        raise ValueError(
            f"n_components={n_components} is too large: at most min(n_samples - 1, n_features_x, "
            f"n_features_y) = min({n_samples - 1}, {p}, {q}) = {bound} canonical pairs exist"
        )


def finish_components(
    wx: np.ndarray,
    wy: np.ndarray,
    cov_xx: np.ndarray,
    cov_yy: np.ndarray,
    cov_xy: np.ndarray,
    n_components: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale weights to unit-variance variates, sort by their correlation, fix the signs.

    With a ridge, the regularised solution's weights do not give unit variance and the regularised
    correlations are not the variates' correlations; this returns the weights rescaled so the
    training variates have unit variance, their actual correlations, and components in descending
    order of that correlation. The sign makes the largest-magnitude x weight positive.
    """
    if wx.shape[1] < n_components or wy.shape[1] < n_components:
        raise ValueError(
            f"n_components={n_components} exceeds the rank of the views "
            f"({min(wx.shape[1], wy.shape[1])}): reduce n_components or remove duplicate features"
        )
    wx, wy = wx[:, :n_components], wy[:, :n_components]
    wx = wx / np.sqrt(quadratic_forms(wx, cov_xx, wx))
    wy = wy / np.sqrt(quadratic_forms(wy, cov_yy, wy))
    corr = quadratic_forms(wx, cov_xy, wy)
    order = np.argsort(-corr, kind="stable")
    return wx[:, order], wy[:, order], corr[order]


def least_squares_loadings(cov: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The loadings ``P`` (p, k) minimising ``||Xc - T P'||`` over the training rows, ``T = Xc W``.

    The normal equations ``P' = (T'T)^+ T'Xc`` need only the view's covariance: ``T'T / (n - 1) =
    W' C W`` and ``T'Xc / (n - 1) = W' C``, so ``P = C W (W' C W)^+``. This is the reconstruction of
    scikit-learn's PLS ``inverse_transform``, exact when ``W`` is square and invertible.
    """
    w = np.asarray(weights, dtype=np.float64)
    cw = matmul(cov, w)
    return np.asarray(cw @ np.linalg.pinv(w.T @ cw, hermitian=True))


def check_scores(name: str, scores: object, n_components: int, view: str) -> np.ndarray:
    """``scores`` as a 2-D float array with ``n_components`` columns (for ``inverse_transform``)."""
    array = check_array(scores, dtype=FLOATS, input_name=view)
    if array.shape[1] != n_components:
        raise ValueError(
            f"{view} has {array.shape[1]} columns, but {name} was fitted with {n_components} components: "
            "pass the scores that transform returned"
        )
    return array


def quadratic_forms(A: np.ndarray, M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A[:, k]' M B[:, k]`` for every column ``k``."""
    return np.sum(A * matmul(M, B), axis=0)


def orient(wx: np.ndarray, wy: np.ndarray, x_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each pair so that its training x-variate's largest-magnitude value is positive.

    The rule depends on the variates only, not on the basis the weights are written in, so CCA and
    kernel CCA with a linear kernel (or two solvers) give the same signs.
    """
    signs = orientation_signs(x_scores).astype(wx.dtype)
    return wx * signs, wy * signs


def orientation_signs(scores: np.ndarray) -> np.ndarray:
    """``+1`` or ``-1`` per column: the sign of that column's largest-magnitude value (``+1`` for zeros)."""
    signs = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(scores.shape[1])])
    signs[signs == 0] = 1.0
    return signs


def column_correlations(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``A[:, k]`` with ``B[:, k]`` for every column ``k`` (0 for a constant column)."""
    A = A - A.mean(axis=0)
    B = B - B.mean(axis=0)
    denom = np.sqrt((A * A).sum(axis=0) * (B * B).sum(axis=0))
    num = (A * B).sum(axis=0)
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
