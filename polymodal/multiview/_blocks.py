"""Memory-light linear algebra over the rows of a data matrix.

The views can be large (50,000 x 784 and more) and often arrive as float32; these helpers work
through them in row blocks centred one at a time into a reused buffer, so centring never copies a
whole view. The products run in the views' own precision (float32 in, float32 BLAS: twice the speed
of float64 for the ``n x p`` work); results that feed the small ``p x p`` solves come back in float64.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import linalg

BLOCK_ROWS = 4096


def row_blocks(n_rows: int, size: int = BLOCK_ROWS) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def column_mean(X: np.ndarray) -> np.ndarray:
    """The float64 mean of each column."""
    total = np.zeros(X.shape[1])
    for rows in row_blocks(X.shape[0]):
        total += X[rows].sum(axis=0, dtype=np.float64)
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


def covariances(
    X: np.ndarray, Y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample covariances ``Cxx, Cyy, Cxy`` (divided by ``n - 1``, float64), centred block by block.

    The products run in :func:`product_dtype` of the views.
    """
    dtype = product_dtype(X, Y)
    p, q = X.shape[1], Y.shape[1]
    cxx, cyy, cxy = np.zeros((p, p), dtype), np.zeros((q, q), dtype), np.zeros((p, q), dtype)
    centred_x, centred_y = _CentredBlocks(X, mean_x, dtype), _CentredBlocks(Y, mean_y, dtype)
    for rows in row_blocks(X.shape[0]):
        bx, by = centred_x(rows), centred_y(rows)
        cxx += bx.T @ bx  # numpy calls syrk for a.T @ a: half the work of a general product
        cyy += by.T @ by
        cxy += bx.T @ by
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
        np.matmul(centred(rows), B, out=out[rows])
    return out


def centred_rmatmul(X: np.ndarray, mean: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``(X - mean).T @ A`` in float64 without centring all of ``X`` at once."""
    out = np.zeros((X.shape[1], A.shape[1]))
    for rows in row_blocks(X.shape[0]):
        out += (X[rows] - mean).T @ A[rows]
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
    """The covariance (float64) of the concatenated centred views, accumulated over row blocks.

    One symmetric product of the centred blocks side by side gives every within- and between-view
    block at once; it runs in :func:`product_dtype` of the views.
    """
    dtype = product_dtype(*views)
    edges = np.cumsum([0, *(v.shape[1] for v in views)])
    n = views[0].shape[0]
    cov = np.zeros((edges[-1], edges[-1]), dtype)
    buffer = np.empty((min(BLOCK_ROWS, n), edges[-1]), dtype)
    means = [m.astype(dtype) for m in means]
    for rows in row_blocks(n):
        block = buffer[: rows.stop - rows.start]
        for v, m, a, b in zip(views, means, edges[:-1], edges[1:]):
            np.subtract(v[rows], m, out=block[:, a:b], casting="unsafe")
        cov += block.T @ block
    return _scaled64(cov, 1.0 / (n - 1))
