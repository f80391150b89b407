"""KernelCCA: linear kernel = CCA, Nyström converges to exact, an independent dual solution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.utils.estimator_checks import check_estimator

from polymodal.multiview import CCA, KernelCCA
from tests.multiview.test_cca import two_views

# sklearn exempts cross-decomposition estimators from these two checks by class name: they expect
# fit_transform(X, y) to return only the X scores, while KernelCCA, like sklearn's CCA, returns both.
TUPLE_OUTPUT = "fit_transform(X, y) returns (x_scores, y_scores), as sklearn.cross_decomposition.CCA"
EXPECTED_FAILED = {"check_transformer_general": TUPLE_OUTPUT, "check_transformer_data_not_an_array": TUPLE_OUTPUT}


@pytest.mark.parametrize("reg", [0.0, 0.2])
def test_linear_kernel_equals_cca(reg: float) -> None:
    X, Y = two_views(n=120, p=5, q=5)
    kcca = KernelCCA(n_components=4, kernel="linear", reg=reg).fit(X, Y)
    cca = CCA(n_components=4, reg=reg * 5 / 120).fit(X, Y)
    np.testing.assert_allclose(kcca.canonical_correlations_, cca.canonical_correlations_, atol=1e-9)
    np.testing.assert_allclose(kcca.transform(X[:7]), cca.transform(X[:7]), atol=1e-7)


def dual_reference(Kx: np.ndarray, Ky: np.ndarray, kappa_x: float, kappa_y: float) -> np.ndarray:
    """Hardoon et al.'s dual problem with ``scipy.linalg.eigh``: ``[0, KxKy; KyKx, 0] v = rho B v``.

    ``B = blockdiag(Kx^2 + kappa_x Kx, Ky^2 + kappa_y Ky)`` on centred kernels; solved in the
    eigenbasis of each kernel's range, where ``B`` is positive definite.
    """

    def range_basis(K: np.ndarray) -> np.ndarray:
        vals, vecs = linalg.eigh(K)
        return vecs[:, vals > 1e-9 * vals[-1]]

    Px, Py = range_basis(Kx), range_basis(Ky)
    A = np.block(
        [[np.zeros((Px.shape[1],) * 2), Px.T @ Kx @ Ky @ Py], [Py.T @ Ky @ Kx @ Px, np.zeros((Py.shape[1],) * 2)]]
    )
    B = linalg.block_diag(Px.T @ (Kx @ Kx + kappa_x * Kx) @ Px, Py.T @ (Ky @ Ky + kappa_y * Ky) @ Py)
    _vals, vecs = linalg.eigh(A, B)
    alpha, beta = Px @ vecs[: Px.shape[1], ::-1], Py @ vecs[Px.shape[1] :, ::-1]
    return alpha, beta


def test_rbf_exact_matches_the_dual_eigenproblem() -> None:
    X, Y = two_views(n=80)
    n, reg = len(X), 0.1
    kcca = KernelCCA(n_components=3, kernel="rbf", gamma=0.05, reg=reg).fit(X, Y)
    H = np.eye(n) - 1.0 / n
    Kx, Ky = H @ rbf_kernel(X, gamma=0.05) @ H, H @ rbf_kernel(Y, gamma=0.05) @ H
    # ridge on the (n - 1)-normalised covariance = reg * trace(K) / (n (n - 1)); on K^2 it is (n - 1) times that
    kx, ky = reg * np.trace(Kx) / n, reg * np.trace(Ky) / n
    alpha, beta = dual_reference(Kx, Ky, kx, ky)
    # KernelCCA keeps the top 3 regularised components and orders them by their actual correlation.
    actual = np.array([abs(np.corrcoef(Kx @ alpha[:, k], Ky @ beta[:, k])[0, 1]) for k in range(3)])
    order = np.argsort(-actual)
    np.testing.assert_allclose(kcca.canonical_correlations_, actual[order], atol=1e-7)
    ours = kcca.transform(X)
    for k, ref in enumerate(order):
        assert abs(np.corrcoef(ours[:, k], Kx @ alpha[:, ref])[0, 1]) == pytest.approx(1.0, abs=1e-7)


def test_nystroem_converges_to_exact_as_rank_grows() -> None:
    X, Y = two_views(n=150)
    exact = KernelCCA(n_components=3, reg=0.1).fit(X, Y).canonical_correlations_
    errors = [
        np.abs(
            KernelCCA(n_components=3, reg=0.1, method="nystroem", rank=m, random_state=0)
            .fit(X, Y)
            .canonical_correlations_
            - exact
        ).max()
        for m in (15, 40, 100, 150)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[-1] < 1e-8  # every sample a landmark: the exact kernel


def test_random_fourier_features_approach_exact() -> None:
    X, Y = two_views(n=150)
    exact = KernelCCA(n_components=2, reg=0.1).fit(X, Y)
    rff = KernelCCA(n_components=2, reg=0.1, method="rff", rank=4000, random_state=0).fit(X, Y)
    np.testing.assert_allclose(rff.canonical_correlations_, exact.canonical_correlations_, atol=0.02)


def test_rbf_finds_a_nonlinear_relation_linear_misses() -> None:
    rng = np.random.default_rng(0)
    t = rng.uniform(-2, 2, size=(200, 1))
    X, Y = t + 0.05 * rng.standard_normal((200, 1)), t**2 + 0.05 * rng.standard_normal((200, 1))
    assert KernelCCA(1, kernel="linear").fit(X, Y).canonical_correlations_[0] < 0.3
    assert KernelCCA(1, kernel="rbf", reg=1e-2).fit(X, Y).canonical_correlations_[0] > 0.9
    assert KernelCCA(1, kernel="poly", degree=2, reg=1e-2).fit(X, Y).canonical_correlations_[0] > 0.9


def test_rescaling_a_view_changes_nothing() -> None:
    X, Y = two_views(n=100)
    base = KernelCCA(3, reg=0.1).fit(X, Y)
    scaled = KernelCCA(3, reg=0.1).fit(X, 50.0 * Y)
    np.testing.assert_allclose(scaled.canonical_correlations_, base.canonical_correlations_, atol=1e-8)


def test_errors_name_the_problem() -> None:
    X, Y = two_views(n=50)
    with pytest.raises(ValueError, match="RBF kernel only"):
        KernelCCA(kernel="linear", method="rff").fit(X, Y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        KernelCCA().fit(X, None)


def test_passes_sklearn_check_estimator() -> None:
    check_estimator(KernelCCA(n_components=1), expected_failed_checks=EXPECTED_FAILED)
    check_estimator(KernelCCA(n_components=1, method="nystroem", rank=20), expected_failed_checks=EXPECTED_FAILED)
