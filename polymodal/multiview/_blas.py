"""Matrix products through scipy's BLAS, the library whose LAPACK the CCA family factorises with.

numpy and scipy each ship their own OpenBLAS, each with its own pool of worker threads, and a pool's
workers keep spinning on their cores for a while after a call returns (OpenBLAS's thread timeout, about
a tenth of a second). A fit that alternates between the two (numpy's ``@`` for the products, scipy's
LAPACK for the factorisations) therefore runs each threaded call against the other pool's spinning
workers: measured at 10,000 x 784 in float64 with two threads on two cores, a CCA fit took 0.57 s
where the Gram products alone take 0.33 s, and 0.40 s with every product here instead (the
factorisations and products then share one warm pool). So the estimators' heavy products go through
these helpers; with one thread the two libraries are equally fast (within a few per cent: measured
with a pause before each call, so that no pool was still spinning).

Each helper passes the operands to BLAS in the memory order they already have (a C-ordered matrix is a
transposed Fortran one), so nothing is copied; anything BLAS cannot take as it is (other dtypes, mixed
dtypes, strided views, empty matrices) goes to numpy, which gives the same result.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas
from scipy.sparse.linalg import LinearOperator

__all__ = ["gram", "matmul", "matvec", "symmetric_operator"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _blas_operand(a: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``a`` as a Fortran-ordered matrix and whether BLAS should transpose it, or None when it would be copied."""
    if a.flags.f_contiguous:
        return a, 0
    if a.flags.c_contiguous:
        return a.T, 1
    return None


def _takes(*arrays: np.ndarray) -> bool:
    dtype = arrays[0].dtype
    return dtype in _FLOATS and all(a.ndim == 2 and a.dtype == dtype and a.size > 0 for a in arrays)


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` of two matrices, by scipy's ``gemm`` (Fortran-ordered result).

    >>> A = np.arange(6.0).reshape(2, 3)
    >>> bool(np.array_equal(matmul(A, A.T), A @ A.T))
    True
    """
    if not _takes(A, B):
        return np.asarray(A @ B)
    a, b = _blas_operand(A), _blas_operand(B)
    if a is None or b is None:
        return np.asarray(A @ B)
    gemm = blas.get_blas_funcs("gemm", (A,))
    return gemm(1.0, a[0], b[0], trans_a=a[1], trans_b=b[1])


def matvec(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A @ v`` of a matrix and a vector, by scipy's ``gemv``.

    >>> matvec(np.arange(6.0).reshape(2, 3), np.ones(3)).tolist()
    [3.0, 12.0]
    """
    operand = _blas_operand(A) if _takes(A) and v.ndim == 1 and v.dtype == A.dtype else None
    if operand is None:
        return np.asarray(A @ v)
    gemv = blas.get_blas_funcs("gemv", (A,))
    return np.asarray(gemv(1.0, operand[0], v, trans=operand[1]))


def gram(A: np.ndarray) -> np.ndarray:
    """``A' A`` by scipy's symmetric rank-k update (``syrk``: half the work of a general product), both
    triangles filled.

    >>> A = np.arange(6.0).reshape(3, 2)
    >>> bool(np.array_equal(gram(A), A.T @ A))
    True
    """
    if not _takes(A):
        return np.asarray(A.T @ A)
    operand = _blas_operand(A)
    if operand is None:
        return np.asarray(A.T @ A)
    a, transposed = operand
    syrk = blas.get_blas_funcs("syrk", (A,))
    # op(a) op(a)' with op(a) = A': a is A' already (trans 0) or A itself (trans 1)
    out = syrk(1.0, a, trans=1 - transposed, lower=1)
    upper = np.triu(np.ones(out.shape, dtype=bool), 1)
    np.copyto(out, out.T, where=upper)
    return np.asarray(out)


def symmetric_operator(lower: np.ndarray) -> LinearOperator:
    """The product with the symmetric matrix whose lower triangle is ``lower`` (``symv``; the strict upper
    triangle is never read), as the operator ARPACK's ``eigsh`` iterates with.

    >>> S = np.array([[2.0, 99.0], [1.0, 3.0]])  # lower triangle of [[2, 1], [1, 3]]
    >>> symmetric_operator(S).matvec(np.array([1.0, 1.0])).tolist()
    [3.0, 4.0]
    """
    if lower.dtype not in _FLOATS or not (lower.flags.f_contiguous or lower.flags.c_contiguous):
        lower = np.asfortranarray(lower, dtype=np.float64)
    symv = blas.get_blas_funcs("symv", (lower,))
    # a C-ordered matrix is the Fortran-ordered transpose, whose upper triangle is this lower one
    matrix, flag = (lower, 1) if lower.flags.f_contiguous else (lower.T, 0)

    def product(v: np.ndarray) -> np.ndarray:
        return np.asarray(symv(1.0, matrix, np.ravel(v), lower=flag))

    size = lower.shape[0]
    return LinearOperator((size, size), matvec=product, dtype=lower.dtype)
