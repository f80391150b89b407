"""The products on scipy's BLAS equal numpy's for every memory order, and fall back to numpy where BLAS cannot
take an operand as it is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.linalg import eigsh

from polymodal.multiview._blas import gram, matmul, matvec, symmetric_operator

RNG = np.random.default_rng(0)


def layouts(a: np.ndarray) -> list[np.ndarray]:
    """``a`` C-ordered, Fortran-ordered and as a strided view (every other row of a taller matrix)."""
    taller = np.repeat(a, 2, axis=0)
    return [np.ascontiguousarray(a), np.asfortranarray(a), taller[::2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_equals_numpy_for_every_memory_order(dtype: type[np.floating]) -> None:
    A = RNG.standard_normal((7, 5)).astype(dtype)
    B = RNG.standard_normal((5, 3)).astype(dtype)
    expected = A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a in layouts(A):
        for b in layouts(B):
            out = matmul(a, b)
            assert out.dtype == dtype and out.shape == (7, 3)
            np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    # transposed views are Fortran-ordered: no copy, same product
    np.testing.assert_allclose(matmul(B.T, A.T), expected.T, rtol=tol, atol=tol)


def test_matmul_falls_back_to_numpy_for_what_blas_does_not_take() -> None:
    A = RNG.standard_normal((4, 3))
    np.testing.assert_array_equal(matmul(A, A.T.astype(np.float32)), A @ A.T.astype(np.float32))  # mixed dtypes
    np.testing.assert_array_equal(matmul(A.astype(int), A.T.astype(int)), A.astype(int) @ A.T.astype(int))
    assert matmul(np.zeros((0, 3)), A.T).shape == (0, 4)
    assert matmul(A, np.zeros((3, 0))).shape == (4, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_is_the_full_symmetric_product(dtype: type[np.floating]) -> None:
    A = RNG.standard_normal((9, 4)).astype(dtype)
    expected = A.T.astype(np.float64) @ A.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a in layouts(A):
        out = gram(a)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, out.T)
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    assert gram(np.zeros((0, 3))).shape == (3, 3)


def test_matvec_equals_numpy() -> None:
    A = RNG.standard_normal((6, 4))
    v = RNG.standard_normal(4)
    for a in layouts(A):
        np.testing.assert_allclose(matvec(a, v), A @ v, rtol=1e-12)
    np.testing.assert_allclose(matvec(A, v.astype(np.float32)), A @ v.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
def test_symmetric_operator_reads_the_lower_triangle_only(order: str) -> None:
    M = RNG.standard_normal((30, 30))
    S = M + M.T
    lower = np.array(np.tril(S) + np.triu(np.full_like(S, 1e6), 1), order=order)  # garbage above the diagonal
    v = RNG.standard_normal(30)
    np.testing.assert_allclose(symmetric_operator(lower).matvec(v), S @ v, rtol=1e-12, atol=1e-12)
    vals = eigsh(symmetric_operator(lower), k=3, which="LA", v0=np.ones(30))[0]
    np.testing.assert_allclose(np.sort(vals), np.linalg.eigvalsh(S)[-3:], rtol=1e-10)
