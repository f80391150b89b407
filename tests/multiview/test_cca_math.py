"""The pure canonical-correlation functions: numpy vs scipy, torch vs numpy, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.multiview.cca_math import canonical_correlations, top_eigenpairs, whitening
from tests.multiview.test_cca import scipy_reference, two_views


@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_numpy_matches_scipy(reg: float) -> None:
    X, Y = two_views()
    rho = canonical_correlations(X, Y, reg=reg)
    np.testing.assert_allclose(rho, scipy_reference(X, Y, reg)[:5], atol=1e-8)


@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_torch_matches_numpy_in_float64(reg: float) -> None:
    X, Y = two_views()
    ours = canonical_correlations(torch.from_numpy(X), torch.from_numpy(Y), reg=reg, n_components=3)
    np.testing.assert_allclose(ours.numpy(), canonical_correlations(X, Y, reg=reg)[:3], atol=1e-8)


def test_torch_float32_input_is_computed_in_float64() -> None:
    X, Y = two_views()
    out = canonical_correlations(torch.from_numpy(X).float(), torch.from_numpy(Y).float(), reg=0.0)
    assert out.dtype == torch.float32
    ref = canonical_correlations(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-6)


def test_torch_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    hx = torch.tensor(rng.standard_normal((20, 3)), dtype=torch.float64, requires_grad=True)
    hy = torch.tensor(rng.standard_normal((20, 2)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: canonical_correlations(a, b, reg=1e-3).sum(), (hx, hy))


def test_torch_gradient_is_finite_on_rank_deficient_features() -> None:
    hx = torch.zeros(16, 4, dtype=torch.float32)
    hx[:, 0] = torch.linspace(-1, 1, 16)
    hx.requires_grad_(True)
    hy = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    canonical_correlations(hx, hy, reg=1e-4).sum().backward()
    assert torch.isfinite(hx.grad).all() and torch.isfinite(hy.grad).all()


def test_whitening_is_exact_on_the_range_and_full_rank_with_a_ridge() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 3))
    C = A @ A.T  # rank 3
    white = whitening(C)
    W = white.weights(np.eye(white.rank))
    assert W.shape == (5, 3)
    np.testing.assert_allclose(W.T @ C @ W, np.eye(3), atol=1e-10)
    # The kept coordinates span every variate: projecting any direction on them loses nothing.
    v = rng.standard_normal(5)
    coef = np.linalg.lstsq(A.T @ W, A.T @ v, rcond=None)[0]
    np.testing.assert_allclose(A.T @ W @ coef, A.T @ v, atol=1e-10)
    ridged = whitening(C, ridge=0.5)
    W = ridged.weights(np.eye(ridged.rank))
    assert W.shape == (5, 5)
    np.testing.assert_allclose(W.T @ (C + 0.5 * np.eye(5)) @ W, np.eye(5), atol=1e-10)
    assert whitening(np.zeros((3, 3))).rank == 0


@pytest.mark.parametrize("precision", [np.float64, np.float32])
def test_whiten_rows_of_some_columns_match_a_triangular_solve(precision: type[np.floating]) -> None:
    from scipy import linalg

    rng = np.random.default_rng(3)
    A = rng.standard_normal((7, 4))
    white = whitening(A @ A.T)  # rank 4: the factor is the corner of a 7 x 7 array
    low = white.astype(precision)
    assert low.chol.flags.f_contiguous and low.chol.dtype == precision
    M = rng.standard_normal((7, 6))
    columns = np.array([5, 0, 2])
    tol = 1e-10 if precision == np.float64 else 1e-4
    for matrix in (M, np.asfortranarray(M), M.astype(np.float32)):
        given = matrix.astype(np.float64)[white.kept][:, columns]
        reference = linalg.solve_triangular(white.chol, given, lower=True)
        out = low.whiten_rows(matrix, columns)
        assert out.shape == (4, 3) and out.flags.f_contiguous
        np.testing.assert_allclose(out, reference, rtol=tol, atol=tol)
    np.testing.assert_allclose(white.whiten_rows(M), linalg.solve_triangular(white.chol, M[white.kept], lower=True))
    assert white.whiten_rows(M[:, :0]).shape == (4, 0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        canonical_correlations(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="reg must be >= 0"):
        canonical_correlations(np.zeros((5, 2)), np.zeros((5, 2)), reg=-1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_eigenpairs_by_lanczos_match_lapack_on_a_clustered_spectrum(dtype: type[np.floating]) -> None:
    from scipy import linalg

    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    spectrum = np.concatenate([[0.9, 0.8, 0.75], 0.5 + 1e-3 * rng.random(297)])  # clustered below the top 3
    a = ((q * spectrum) @ q.T).astype(dtype)
    vals, vecs = top_eigenpairs(np.tril(a).copy(), 10)  # 10 of 300: the Lanczos path
    want = linalg.eigh(a.astype(np.float64), eigvals_only=True)[::-1][:10]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(vals, want, atol=tol)
    assert np.all(np.diff(vals) <= 0) and vecs.dtype == dtype
    residual = a.astype(np.float64) @ vecs - vecs * vals  # eigenvectors, not only eigenvalues
    assert np.abs(residual).max() < 50 * tol
    all_vals, _ = top_eigenpairs(np.tril(a).copy(), 300)  # all of them: LAPACK
    np.testing.assert_allclose(all_vals[:10], want, atol=tol)


def test_top_eigenpairs_fall_back_to_lapack_when_lanczos_does_not_converge(monkeypatch) -> None:
    import scipy.sparse.linalg as sparse_linalg

    def no_convergence(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sparse_linalg.ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(sparse_linalg, "eigsh", no_convergence)
    vals, vecs = top_eigenpairs(np.diag(np.arange(100.0)), 5)
    np.testing.assert_allclose(vals, [99, 98, 97, 96, 95])
    assert vecs.shape == (100, 5)


def test_top_eigenpairs_on_a_top_cluster_stop_lanczos_within_its_budget(monkeypatch) -> None:
    """KernelCCA's top correlations are all near 1: Lanczos must give up within about r / 3 products and
    LAPACK answer, not restart thousands of times."""
    import scipy.sparse.linalg as sparse_linalg
    from scipy import linalg

    products = []
    real_eigsh = sparse_linalg.eigsh

    def counting_eigsh(a, k, **kwargs):  # type: ignore[no-untyped-def]
        def matvec(v):  # type: ignore[no-untyped-def]
            products.append(1)
            return a @ v
        return real_eigsh(sparse_linalg.LinearOperator(a.shape, matvec=matvec, dtype=a.dtype), k, **kwargs)

    monkeypatch.setattr(sparse_linalg, "eigsh", counting_eigsh)
    rng = np.random.default_rng(5)
    r = 600
    q, _ = np.linalg.qr(rng.standard_normal((r, r)))
    spectrum = np.concatenate([1 - 1e-12 * rng.random(40), rng.random(r - 40) * 0.5])
    a = (q * spectrum) @ q.T
    vals, vecs = top_eigenpairs(np.tril(a).copy(), 10)
    np.testing.assert_allclose(vals, linalg.eigh(a, eigvals_only=True)[::-1][:10], atol=1e-12)
    assert np.abs(a @ vecs - vecs * vals).max() < 1e-10
    assert 0 < len(products) <= r / 3 + 2 * 21  # the budget (plus the last restart's products)
