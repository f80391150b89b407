"""Memory-light linear algebra over the rows of a data matrix.

The views can be large (50,000 x 784 and more) and arrive as float32; these helpers work through
them in row blocks converted to float64 one at a time, so centring never copies a whole view and the
arithmetic stays in float64.
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


def covariances(
    X: np.ndarray, Y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample covariances ``Cxx, Cyy, Cxy`` (divided by ``n - 1``), centred block by block."""
    p, q = X.shape[1], Y.shape[1]
    cxx, cyy, cxy = np.zeros((p, p)), np.zeros((q, q)), np.zeros((p, q))
    for rows in row_blocks(X.shape[0]):
        bx = X[rows] - mean_x
        by = Y[rows] - mean_y
        cxx += bx.T @ bx  # numpy calls syrk for a.T @ a: half the work of a general product
        cyy += by.T @ by
        cxy += bx.T @ by
    scale = 1.0 / (X.shape[0] - 1)
    return cxx * scale, cyy * scale, cxy * scale


def centred_matmul(X: np.ndarray, mean: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(X - mean) @ B`` in float64 without centring all of ``X`` at once."""
    out = np.empty((X.shape[0], B.shape[1]))
    for rows in row_blocks(X.shape[0]):
        out[rows] = (X[rows] - mean) @ B
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
    """The covariance of the concatenated centred views, accumulated over row blocks."""
    width = sum(v.shape[1] for v in views)
    cov = np.zeros((width, width))
    for rows in row_blocks(views[0].shape[0]):
        block = np.hstack([v[rows] - m for v, m in zip(views, means)])
        cov += block.T @ block
    return cov / (views[0].shape[0] - 1)
