"""Memory-light linear algebra over the rows of a data matrix.

The views can be large (50,000 x 784 and more) and often arrive as float32; these helpers never copy
a whole view. Covariances are the raw Gram products ``X'X`` (one BLAS call over all rows, the cost of
the products alone) corrected by the rank-one ``n m m'``, unless that correction would cancel digits
the precision cannot spare; then, and for products with other matrices, the views are centred in row
blocks written one at a time into a reused buffer. The products run in the views' own precision
(float32 in, float32 BLAS: twice the speed of float64 for the ``n x p`` work); covariances come back
in float64.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import linalg
from scipy.linalg import blas

from polymodal.multiview._blas import gram, matmul, matvec

BLOCK_ROWS = 4096


def row_blocks(n_rows: int, size: int = BLOCK_ROWS) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


MEAN_BLOCK_ROWS = 1024


def column_mean(X: np.ndarray) -> np.ndarray:
    """The float64 mean of each column: BLAS products with a vector of ones, in the view's precision
    over blocks of :data:`MEAN_BLOCK_ROWS` rows (float32: the error of one float32 sum of a thousand
    terms, 1e-7 relative on noisy MNIST), the blocks summed in float64."""
    ones = np.ones(min(MEAN_BLOCK_ROWS, X.shape[0]), dtype=X.dtype)
    total = np.zeros(X.shape[1])
    for rows in row_blocks(X.shape[0], MEAN_BLOCK_ROWS):
        total += matvec(X[rows].T, ones[: rows.stop - rows.start])
    return total / X.shape[0]


def product_dtype(*arrays: np.ndarray) -> type[np.floating]:
    """float32 when every array is float32, else float64: the precision the products run in."""
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


class _CentredBlocks:
    """Row blocks of ``X - mean`` in ``dtype``, written into one reused buffer."""

    def __init__(self, X: np.ndarray, mean: np.ndarray, dtype: type[np.floating]) -> None:
        self.X, self.mean = X, mean.astype(dtype)
        self.buffer = np.empty((min(BLOCK_ROWS, X.shape[0]), X.shape[1]), dtype=dtype)

    def __call__(self, rows: slice) -> np.ndarray:
        out = self.buffer[: rows.stop - rows.start]
        return np.subtract(self.X[rows], self.mean, out=out, casting="unsafe")


# The corrected Gram ``X'X - n m m'`` of a column errs by the accumulation error of the raw product
# times ``E[x^2] / var(x)``, the cancellation against the centred product. Up to these ratios that error
# stays within the precision's own (float32: a ratio of 10, a mean of 3 standard deviations, which covers
# noisy MNIST's pixels at 9 and keeps its correlations within 1.4e-6 of float64's, 3.2e-6 when centred;
# float64: four of its sixteen digits). Beyond them, or for a constant non-zero column, the views are centred.
CANCELLATION_LIMIT = {np.dtype(np.float32): 10.0, np.dtype(np.float64): 1e4}


def covariances(
    X: np.ndarray, Y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample covariances ``Cxx, Cyy, Cxy`` (divided by ``n - 1``, float64).

    The products run in :func:`product_dtype` of the views: raw Gram products with the rank-one mean
    correction when :func:`_cancellation_is_small` allows it, else over centred row blocks.

    Example
    -------
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    >>> cxx, _, cxy = covariances(X, X[:, :1], X.mean(axis=0), X[:, :1].mean(axis=0))
    >>> bool(np.allclose(cxx, np.cov(X, rowvar=False)) and np.allclose(cxy[:, 0], cxx[:, 0]))
    True
    """
    grams = _corrected_grams([X, Y], [mean_x, mean_y], [(0, 0), (1, 1), (0, 1)])
    if grams is not None:
        return grams[0], grams[1], grams[2]
    return _centred_covariances(X, Y, mean_x, mean_y)


def _cancellation_is_small(gram_diagonal: np.ndarray, mean: np.ndarray, n: int, dtype: np.dtype) -> bool:
    """Whether every column's ``E[x^2] / var(x)`` is within :data:`CANCELLATION_LIMIT` (all-zero columns are)."""
    second = gram_diagonal.astype(np.float64) / n
    variance = second - mean * mean
    used = second > 0
    return bool(np.all(second[used] <= CANCELLATION_LIMIT[dtype] * variance[used]))


def _corrected_grams(
    views: list[np.ndarray], means: list[np.ndarray], pairs: list[tuple[int, int]]
) -> list[np.ndarray] | None:
    """``(V_i'V_j - n m_i m_j') / (n - 1)`` for each pair ``(i, j)`` (pairs ``(i, i)`` first), or None.

    None when the views differ in dtype (a cast would copy one) or a view's correction would cancel
    too many digits: then the caller centres. ``V'V`` of one view is a symmetric product (``syrk``). The
    products run on scipy's BLAS (:mod:`polymodal.multiview._blas`), as the factorisations after them do.
    """
    dtype = views[0].dtype
    if any(v.dtype != dtype for v in views) or dtype not in CANCELLATION_LIMIT:
        return None
    n = views[0].shape[0]
    grams = []
    for i, j in pairs:
        product = gram(views[i]) if i == j else matmul(views[i].T, views[j])
        if i == j and not _cancellation_is_small(np.diag(product), means[i], n, dtype):
            return None
        grams.append(product)
    return [_mean_corrected(product, means[i], means[j], n) for (i, j), product in zip(pairs, grams)]


def _mean_corrected(product: np.ndarray, mean_a: np.ndarray, mean_b: np.ndarray, n: int) -> np.ndarray:
    """``(product - n a b') / (n - 1)`` in float64, Fortran-ordered: one scaled cast and one rank-one
    update (BLAS ``ger``) in place, two passes over the matrix (forming ``a b'`` and subtracting it took
    5.8 ms on a 784 x 784 matrix, this 0.3 ms; measured).

    The update is ``-x y'`` with ``x, y`` the means scaled by ``sqrt(n / (n - 1))`` and ``alpha = -1``: each
    entry subtracts the one product ``x_i y_j``, so the covariance of a view with itself stays exactly
    symmetric (``alpha`` times one factor first, as ``ger`` does, would round ``a_ij`` and ``a_ji`` apart).
    """
    corrected = np.multiply(product, 1.0 / (n - 1), dtype=np.float64, order="F")
    if corrected.size == 0:
        return corrected
    scale = np.sqrt(n / (n - 1))
    x = scale * np.asarray(mean_a, dtype=np.float64)
    y = x if mean_b is mean_a else scale * np.asarray(mean_b, dtype=np.float64)
    return np.asarray(blas.dger(-1.0, x, y, a=corrected, overwrite_a=1))


def _centred_covariances(
    X: np.ndarray, Y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`covariances` over centred row blocks."""
    dtype = product_dtype(X, Y)
    p, q = X.shape[1], Y.shape[1]
    cxx, cyy, cxy = np.zeros((p, p), dtype), np.zeros((q, q), dtype), np.zeros((p, q), dtype)
    centred_x, centred_y = _CentredBlocks(X, mean_x, dtype), _CentredBlocks(Y, mean_y, dtype)
    for rows in row_blocks(X.shape[0]):
        bx, by = centred_x(rows), centred_y(rows)
        cxx += gram(bx)
        cyy += gram(by)
        cxy += matmul(bx.T, by)
    scale = 1.0 / (X.shape[0] - 1)
    return _scaled64(cxx, scale), _scaled64(cyy, scale), _scaled64(cxy, scale)


def _scaled64(M: np.ndarray, scale: float) -> np.ndarray:
    return M.astype(np.float64) * scale


def centred_matmul(X: np.ndarray, mean: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(X - mean) @ B`` without centring all of ``X`` at once, in :func:`product_dtype` of ``X`` and ``B``."""
    dtype = product_dtype(X, B)
    B = B.astype(dtype, copy=False)
    out = np.empty((X.shape[0], B.shape[1]), dtype)
    centred = _CentredBlocks(X, mean, dtype)
    for rows in row_blocks(X.shape[0]):
        out[rows] = matmul(centred(rows), B)
    return out


def centred_rmatmul(X: np.ndarray, mean: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``(X - mean).T @ A`` in float64 without centring all of ``X`` at once."""
    out = np.zeros((X.shape[1], A.shape[1]))
    for rows in row_blocks(X.shape[0]):
        out += matmul((X[rows] - mean).T, A[rows])
    return out


def centred_svd(
    X: np.ndarray, mean: np.ndarray, rank: int | None, rng: np.random.Generator, n_iter: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD ``U, s, Vt`` of ``X - mean``: exact when ``rank`` is None, else randomized.

    The randomized version is Halko, Martinsson & Tropp (2011), Algorithm 4.4 (a range finder with
    ``n_iter`` orthonormalised power iterations and 10 extra columns), applied to the centred matrix
    implicitly.
    """
    if rank is None:
        u, s, vt = linalg.svd(np.asarray(X, dtype=np.float64) - mean, full_matrices=False)
        return u, s, vt
    width = min(rank + 10, *X.shape)
    basis = centred_matmul(X, mean, rng.standard_normal((X.shape[1], width)))
    basis = linalg.qr(basis, mode="economic")[0]
    for _ in range(n_iter):
        back = linalg.qr(centred_rmatmul(X, mean, basis), mode="economic")[0]
        basis = linalg.qr(centred_matmul(X, mean, back), mode="economic")[0]
    small = centred_rmatmul(X, mean, basis).T
    u_small, s, vt = linalg.svd(small, full_matrices=False)
    return (basis @ u_small)[:, :rank], s[:rank], vt[:rank]


def total_variance(X: np.ndarray, mean: np.ndarray) -> float:
    """``trace`` of the sample covariance of ``X`` (sum of the column variances)."""
    total = 0.0
    for rows in row_blocks(X.shape[0]):
        total += float(np.square(X[rows] - mean).sum())
    return total / (X.shape[0] - 1)


def joint_covariance(views: list[np.ndarray], means: list[np.ndarray]) -> np.ndarray:
    """The covariance (float64) of the concatenated centred views.

    Each within- and between-view block is a corrected Gram product (see :func:`covariances`) when the
    cancellation allows; otherwise one symmetric product of the centred blocks side by side, accumulated
    over row blocks, gives every block at once. The products run in :func:`product_dtype` of the views.
    """
    edges = np.cumsum([0, *(v.shape[1] for v in views)])
    pairs = [(i, i) for i in range(len(views))] + [(i, j) for i in range(len(views)) for j in range(i + 1, len(views))]
    grams = _corrected_grams(views, means, pairs)
    if grams is not None:
        cov = np.empty((edges[-1], edges[-1]))
        for (i, j), block_cov in zip(pairs, grams):
            cov[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] = block_cov
            cov[edges[j]:edges[j + 1], edges[i]:edges[i + 1]] = block_cov.T
        return cov
    dtype = product_dtype(*views)
    n = views[0].shape[0]
    cov = np.zeros((edges[-1], edges[-1]), dtype)
    buffer = np.empty((min(BLOCK_ROWS, n), edges[-1]), dtype)
    means = [m.astype(dtype) for m in means]
    for rows in row_blocks(n):
        block = buffer[: rows.stop - rows.start]
        for v, m, a, b in zip(views, means, edges[:-1], edges[1:]):
            np.subtract(v[rows], m, out=block[:, a:b], casting="unsafe")
        cov += gram(block)
    return _scaled64(cov, 1.0 / (n - 1))
