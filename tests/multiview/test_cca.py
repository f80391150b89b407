"""CCA against an independent scipy solution of the generalised eigenproblem."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg
from sklearn.utils.estimator_checks import check_estimator

from polymodal.multiview import CCA


def two_views(n: int = 400, p: int = 6, q: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-conditioned views sharing 3 latent signals, with different mixing and noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3))
    X = np.c_[z, rng.standard_normal((n, p - 3))] @ rng.standard_normal((p, p)) + 3.0
    Y = np.c_[z * [1.0, 0.6, 0.3], rng.standard_normal((n, q - 3))] @ rng.standard_normal((q, q))
    return X, Y + 0.5 * rng.standard_normal((n, q))


def scipy_reference(X: np.ndarray, Y: np.ndarray, ridge_fraction: float = 0.0) -> np.ndarray:
    """Canonical correlations from ``A v = rho B v`` with the block matrices of the joint covariance."""
    p = X.shape[1]
    C = np.cov(np.c_[X, Y], rowvar=False)
    A = np.zeros_like(C)
    A[:p, p:], A[p:, :p] = C[:p, p:], C[p:, :p]
    B = np.zeros_like(C)
    B[:p, :p] = C[:p, :p] + ridge_fraction * np.trace(C[:p, :p]) / p * np.eye(p)
    B[p:, p:] = C[p:, p:] + ridge_fraction * np.trace(C[p:, p:]) / (C.shape[0] - p) * np.eye(C.shape[0] - p)
    return linalg.eigh(A, B, eigvals_only=True)[::-1]


@pytest.mark.parametrize("solver", ["covariance", "svd", "randomized"])
def test_correlations_match_scipy_generalised_eigenproblem(solver: str) -> None:
    X, Y = two_views()
    cca = CCA(n_components=5, solver=solver, random_state=0).fit(X, Y)
    np.testing.assert_allclose(cca.canonical_correlations_, scipy_reference(X, Y)[:5], atol=1e-8)


def test_variates_are_uncorrelated_with_unit_variance() -> None:
    X, Y = two_views()
    xs, ys = CCA(n_components=5).fit_transform(X, Y)
    np.testing.assert_allclose(np.cov(xs, rowvar=False), np.eye(5), atol=1e-10)
    np.testing.assert_allclose(np.cov(ys, rowvar=False), np.eye(5), atol=1e-10)
    cross = np.cov(xs.T, ys.T)[:5, 5:]
    np.testing.assert_allclose(cross, np.diag(np.diag(cross)), atol=1e-10)


def test_regularised_solution_solves_regularised_eigenproblem() -> None:
    X, Y = two_views(n=60)
    cca = CCA(n_components=3, reg=0.3).fit(X, Y)
    # Directions from the regularised eigenproblem; the estimator reports their actual correlations.
    p = X.shape[1]
    C = np.cov(np.c_[X, Y], rowvar=False)
    A = np.zeros_like(C)
    A[:p, p:], A[p:, :p] = C[:p, p:], C[p:, :p]
    B = linalg.block_diag(
        C[:p, :p] + 0.3 * np.trace(C[:p, :p]) / p * np.eye(p),
        C[p:, p:] + 0.3 * np.trace(C[p:, p:]) / (C.shape[0] - p) * np.eye(C.shape[0] - p),
    )
    _, vecs = linalg.eigh(A, B)
    wx = vecs[:p, ::-1][:, :3]
    xs = cca.transform(X)
    for k in range(3):
        ref = (X - X.mean(0)) @ wx[:, k]
        assert abs(np.corrcoef(ref, xs[:, k])[0, 1]) == pytest.approx(1.0, abs=1e-8)
    assert np.all(np.diff(cca.canonical_correlations_) <= 0)


def test_rescaling_a_view_changes_nothing() -> None:
    X, Y = two_views()
    for reg in (0.0, 0.2):
        base = CCA(n_components=4, reg=reg).fit(X, Y)
        scaled = CCA(n_components=4, reg=reg).fit(1000.0 * X, Y)
        np.testing.assert_allclose(scaled.canonical_correlations_, base.canonical_correlations_, atol=1e-10)
        np.testing.assert_allclose(scaled.transform(1000.0 * X), base.transform(X), atol=1e-8)


def test_more_features_than_samples() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 80)), rng.standard_normal((30, 60))
    # Without a ridge, 29 centred samples in 80 and 60 dimensions: every canonical correlation is 1.
    np.testing.assert_allclose(CCA(n_components=5).fit(X, Y).canonical_correlations_, 1.0, atol=1e-8)
    svd = CCA(n_components=4, reg=0.5, solver="svd").fit(X, Y)
    cov = CCA(n_components=4, reg=0.5, solver="covariance").fit(X, Y)
    np.testing.assert_allclose(svd.canonical_correlations_, cov.canonical_correlations_, atol=1e-10)
    assert svd.canonical_correlations_[0] < 1.0


def test_rank_deficient_views_use_a_pseudo_inverse() -> None:
    X, Y = two_views()
    X_dup = np.c_[X, X[:, :2], np.zeros(len(X))]  # duplicated and constant columns
    np.testing.assert_allclose(
        CCA(4).fit(X_dup, Y).canonical_correlations_, CCA(4).fit(X, Y).canonical_correlations_, atol=1e-8
    )


def test_score_is_the_mean_correlation_of_the_variates() -> None:
    X, Y = two_views()
    cca = CCA(n_components=3).fit(X, Y)
    assert cca.score(X, Y) == pytest.approx(cca.canonical_correlations_.mean(), abs=1e-10)


def test_float32_input_is_float32_end_to_end_at_float32_accuracy() -> None:
    # float32 views are multiplied in float32 (twice the BLAS speed): the correlations agree with the
    # float64 reference to float32 precision (sqrt(n) * eps32 ~ 1e-6 here), and the weights and
    # variates stay float32.
    X, Y = two_views()
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    ref = scipy_reference(X32.astype(np.float64), Y32.astype(np.float64))[:3]
    cca = CCA(3).fit(X32, Y32)
    np.testing.assert_allclose(cca.canonical_correlations_, ref, atol=1e-5)
    assert cca.x_weights_.dtype == cca.y_weights_.dtype == np.float32
    xs, ys = cca.transform(X32, Y32)
    assert xs.dtype == ys.dtype == np.float32
    full = CCA(3).fit(X32.astype(np.float64), Y32.astype(np.float64))
    np.testing.assert_allclose(xs, full.transform(X32.astype(np.float64)), atol=1e-3)


def test_errors_name_the_problem() -> None:
    X, Y = two_views()
    with pytest.raises(ValueError, match="n_components=7 is too large"):
        CCA(n_components=7).fit(X, Y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        CCA().fit(X, None)
    with pytest.raises(ValueError, match="y has 2 features"):
        CCA().fit(X, Y).transform(X, Y[:, :2])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CCA().fit(X, Y[:10])
    with pytest.raises(ValueError, match="reg"):
        CCA(reg=-1.0).fit(X, Y)


def test_passes_sklearn_check_estimator() -> None:
    check_estimator(CCA(n_components=1))


def test_few_components_of_many_features_match_scipy() -> None:
    # n_components much smaller than the rank takes the partial eigensolver path
    X, Y = two_views(n=500, p=30, q=28)
    cca = CCA(n_components=3).fit(X, Y)
    np.testing.assert_allclose(cca.canonical_correlations_, scipy_reference(X, Y)[:3], atol=1e-8)


def hand_reconstruction(scores: np.ndarray, train_scores: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Least squares by hand: regress the centred training view on its variates, apply to ``scores``."""
    loadings = np.linalg.lstsq(train_scores, train - train.mean(axis=0), rcond=None)[0]
    return scores @ loadings + train.mean(axis=0)


@pytest.mark.parametrize(("reg", "solver"), [(0.0, "covariance"), (0.3, "covariance"), (0.0, "svd")])
def test_inverse_transform_is_the_least_squares_reconstruction(reg: float, solver: str) -> None:
    X, Y = two_views()
    cca = CCA(n_components=3, reg=reg, solver=solver).fit(X, Y)
    xs, ys = cca.transform(X, Y)
    new_x, new_y = cca.transform(X[:7] + 1.0, Y[:7] - 2.0)
    x_rec, y_rec = cca.inverse_transform(new_x, new_y)
    np.testing.assert_allclose(x_rec, hand_reconstruction(new_x, xs, X), atol=1e-9)
    np.testing.assert_allclose(y_rec, hand_reconstruction(new_y, ys, Y), atol=1e-9)
    np.testing.assert_allclose(cca.inverse_transform(new_x), x_rec)


def test_inverse_transform_is_exact_with_all_components() -> None:
    X, Y = two_views(p=5, q=5)
    cca = CCA(n_components=5).fit(X, Y)
    x_rec, y_rec = cca.inverse_transform(*cca.transform(X, Y))
    np.testing.assert_allclose(x_rec, X, atol=1e-9)
    np.testing.assert_allclose(y_rec, Y, atol=1e-9)


def test_inverse_transform_refuses_scores_of_the_wrong_width() -> None:
    X, Y = two_views()
    cca = CCA(n_components=3).fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 columns, but CCA was fitted with 3 components"):
        cca.inverse_transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="y has 4 columns, but CCA was fitted with 3 components"):
        cca.inverse_transform(np.zeros((4, 3)), np.zeros((4, 4)))


def test_rank_deficient_float32_views_match_float64() -> None:
    # Duplicated and constant columns in float32: the pivoted Cholesky drops them exactly as in float64.
    # X's columns have means of 1-2 standard deviations (E[x^2] / var up to 4.9): the float32 Gram
    # products, corrected for the mean, err by that factor more than centred ones (1e-5 here, 1.6e-6 centred).
    X, Y = two_views()
    X_dup = np.c_[X, X[:, :2], np.zeros(len(X))].astype(np.float32)
    ref = CCA(4).fit(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(
        CCA(4).fit(X_dup, Y.astype(np.float32)).canonical_correlations_, ref.canonical_correlations_, atol=2e-5
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_columns_far_from_zero_are_centred_before_their_products(dtype: type, offset: float) -> None:
    # A mean of 1,000 standard deviations would cancel every float32 digit of X'X - n m m' (and 6 of
    # float64's): such views are centred first, so the result does not depend on the offset.
    X, Y = two_views(n=2000)
    X = np.c_[X, np.full(len(X), 7.0)]  # a constant non-zero column adds nothing
    ref = CCA(3).fit(X.astype(dtype).astype(np.float64), Y.astype(dtype).astype(np.float64)).canonical_correlations_
    cca = CCA(3).fit((X + offset).astype(dtype), (Y - offset).astype(dtype))
    np.testing.assert_allclose(cca.canonical_correlations_, ref, atol=2e-5 if dtype == np.float32 else 1e-9)


def test_nan_and_infinity_are_refused_with_scikit_learns_message() -> None:
    X, Y = two_views()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        CCA(2).fit(X, Y)
    X, Y = two_views()
    Y[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        CCA(2).fit(X, Y)
    with pytest.raises(ValueError, match="overflows float64"):
        CCA(2).fit(np.c_[np.full(20, 1e308), np.arange(20.0)], np.arange(40.0).reshape(20, 2))
