"""Canonical-correlation math shared by the CCA estimators and by deep CCA (DCCA, DCCAE).

Pure functions, no estimator state. The numpy functions solve regularised CCA from covariance
matrices in closed form (whitening by a clamped eigendecomposition, then an SVD); the torch path of
:func:`canonical_correlations` does the same with autograd so it can serve as a training objective.
Everything is computed in float64.

The ridge of a view is scaled to its covariance: ``ridge = reg * trace(C) / dim``, so ``reg`` has
the same meaning whatever the scale of the features, and rescaling a view leaves the result unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg

if TYPE_CHECKING:
    import torch

__all__ = [
    "canonical_correlations",
    "inverse_sqrt_factor",
    "scaled_ridge",
    "solve_cca",
    "torch_covariance_correlations",
]


def scaled_ridge(cov: np.ndarray, reg: float, dim: int | None = None) -> float:
    """The ridge ``reg * trace(cov) / dim`` (``dim`` defaults to the size of ``cov``).

    Example
    -------
    >>> scaled_ridge(np.diag([1.0, 3.0]), 0.5)
    1.0
    """
    dim = cov.shape[0] if dim is None else dim
    return float(reg) * float(np.trace(cov)) / max(dim, 1)


def inverse_sqrt_factor(cov: np.ndarray, ridge: float = 0.0, rtol: float | None = None) -> np.ndarray:
    """A whitening factor ``W`` with ``W.T @ (cov + ridge * I) @ W = I`` on the range of ``cov``.

    Directions whose eigenvalue is below ``rtol * max eigenvalue`` (default ``d * machine epsilon``)
    are dropped (a pseudo-inverse):
    they carry no variance, hence no cross-covariance, so dropping them is exact rather than a
    numerical compromise. ``W`` has shape ``(d, rank)``.

    Example
    -------
    >>> W = inverse_sqrt_factor(np.diag([4.0, 1.0, 0.0]))
    >>> W.shape
    (3, 2)
    """
    eigvals, eigvecs = linalg.eigh(cov, driver="evd")
    if rtol is None:
        # numpy.linalg.matrix_rank's tolerance: eigenvalues below it are rounding noise of the largest.
        rtol = max(cov.shape) * np.finfo(np.float64).eps
    top = max(float(eigvals[-1]), 0.0)
    keep = eigvals > rtol * top if top > 0 else np.zeros(len(eigvals), dtype=bool)
    return eigvecs[:, keep] / np.sqrt(eigvals[keep] + ridge)


def solve_cca(
    cov_xx: np.ndarray,
    cov_yy: np.ndarray,
    cov_xy: np.ndarray,
    ridge_x: float = 0.0,
    ridge_y: float = 0.0,
    n_components: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regularised CCA from covariance matrices, in closed form.

    Maximises ``w' Cxy v`` subject to ``w' (Cxx + ridge_x I) w = v' (Cyy + ridge_y I) v = 1``.

    Returns
    -------
    x_weights : ``(p, r)``, y_weights : ``(q, r)``, correlations : ``(r,)`` (descending), where ``r``
        is the smaller rank of the two covariances, or ``n_components`` when that is smaller. With
        zero ridges the correlations are the canonical correlations; with ridges the regularised ones.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.standard_normal((200, 3))
    >>> C = np.cov(Z, rowvar=False)
    >>> wx, wy, rho = solve_cca(C[:2, :2], C[2:, 2:], C[:2, 2:])
    >>> wx.shape, wy.shape, rho.shape
    ((2, 1), (1, 1), (1,))
    """
    white_x = inverse_sqrt_factor(cov_xx, ridge_x)
    white_y = inverse_sqrt_factor(cov_yy, ridge_y)
    u, s, v = _top_singular_triplets(white_x.T @ cov_xy @ white_y, n_components)
    return white_x @ u, white_y @ v, s


def _top_singular_triplets(T: np.ndarray, k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest singular triplets of ``T``: from the smaller Gram matrix when ``k`` is small."""
    r = min(T.shape)
    if k is not None and 0 < k < r // 4:
        # eigh of T T' for the top k only is several times faster than a full SVD; exact up to
        # rounding for singular values well above sqrt(eps) * the largest, which holds for these.
        flip = T.shape[0] > T.shape[1]
        A = T.T if flip else T
        vals, u = linalg.eigh(A @ A.T, subset_by_index=[A.shape[0] - k, A.shape[0] - 1])
        vals, u = vals[::-1], u[:, ::-1]
        s = np.sqrt(np.clip(vals, 0.0, None))
        # LAPACK may return fewer eigenpairs than asked for clustered eigenvalues: then use the SVD.
        if len(s) == k and s[-1] > np.sqrt(np.finfo(np.float64).eps) * max(s[0], 1e-300):
            v = (A.T @ u) / s
            return (v, s, u) if flip else (u, s, v)
    u, s, vt = linalg.svd(T, full_matrices=False)
    return u[:, :k], s[:k], vt[:k].T


def canonical_correlations(hx: Any, hy: Any, reg: float = 0.0, n_components: int | None = None) -> Any:
    """The (regularised) canonical correlations of two views, largest first.

    Works on numpy arrays and on torch tensors; with tensors it is differentiable, which is what
    deep CCA maximises (``loss = -canonical_correlations(hx, hy, reg, k).sum()``). Inside, the views
    are centred and the math runs in float64; with ``reg > 0`` each view is whitened by a Cholesky
    factor (finite gradients even for rank-deficient features), with ``reg = 0`` by ``eigh`` with
    eigenvalues clamped away from zero.

    Parameters
    ----------
    hx, hy : ``(n_samples, p)`` and ``(n_samples, q)`` arrays or tensors.
    reg : ridge as a fraction of each covariance's mean variance (``reg * trace(C) / dim``).
    n_components : keep the largest ``n_components`` correlations (default: all ``min(p, q)``).

    Returns
    -------
    correlations : 1-D array (numpy input) or tensor of the input's dtype (torch input).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 3))
    >>> y = x @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((500, 2))
    >>> bool(canonical_correlations(x, y)[0] > 0.99)
    True
    """
    if hx.ndim != 2 or hy.ndim != 2 or hx.shape[0] != hy.shape[0]:
        raise ValueError(
            f"hx and hy must be 2-D with the same number of rows; got shapes {tuple(hx.shape)} and {tuple(hy.shape)}"
        )
    if hx.shape[0] < 2:
        raise ValueError(f"at least 2 samples are needed to estimate correlations, got {hx.shape[0]}")
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    if _is_tensor(hx):
        return _torch_canonical_correlations(hx, hy, reg, n_components)
    hx = np.asarray(hx, dtype=np.float64)
    hy = np.asarray(hy, dtype=np.float64)
    cov = np.cov(np.hstack([hx, hy]), rowvar=False)
    p = hx.shape[1]
    cxx, cyy, cxy = cov[:p, :p], cov[p:, p:], cov[:p, p:]
    _, _, rho = solve_cca(cxx, cyy, cxy, scaled_ridge(cxx, reg), scaled_ridge(cyy, reg))
    return rho[:n_components]


def _is_tensor(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("torch")


def _torch_whitening(cov: torch.Tensor, reg: float, eps: float) -> torch.Tensor:
    """A ``W`` with ``W' (cov + ridge I) W = I``, differentiable.

    A Cholesky factor when the regularised covariance is positive definite: its gradient stays
    finite even when eigenvalues repeat (rank-deficient features), where the gradient of ``eigh``
    divides by eigenvalue gaps. Otherwise the inverse square root from ``eigh`` with eigenvalues
    clamped to ``eps`` times the largest.
    """
    import torch

    dim = cov.shape[0]
    eye = torch.eye(dim, dtype=cov.dtype, device=cov.device)
    regularised = cov + reg * torch.trace(cov) / dim * eye
    chol, info = torch.linalg.cholesky_ex(regularised)
    if int(info) == 0 and reg > 0:
        return torch.linalg.solve_triangular(chol, eye, upper=False).T  # L^{-T}
    eigvals, eigvecs = torch.linalg.eigh(regularised)
    floor = eps * eigvals[-1].detach().clamp_min(torch.finfo(cov.dtype).tiny)
    return (eigvecs * eigvals.clamp_min(floor).rsqrt()) @ eigvecs.T


def _torch_canonical_correlations(
    hx: torch.Tensor, hy: torch.Tensor, reg: float, n_components: int | None, eps: float = 1e-9
) -> torch.Tensor:
    import torch

    out_dtype = hx.dtype if hx.dtype.is_floating_point else torch.float64
    hx = hx.to(torch.float64)
    hy = hy.to(torch.float64)
    hx = hx - hx.mean(dim=0, keepdim=True)
    hy = hy - hy.mean(dim=0, keepdim=True)
    n = hx.shape[0]
    cov_xx = hx.T @ hx / (n - 1)
    cov_yy = hy.T @ hy / (n - 1)
    cov_xy = hx.T @ hy / (n - 1)
    return torch_covariance_correlations(cov_xx, cov_yy, cov_xy, reg, n_components, eps).to(out_dtype)


def torch_covariance_correlations(
    cov_xx: torch.Tensor, cov_yy: torch.Tensor, cov_xy: torch.Tensor, reg: float = 0.0,
    n_components: int | None = None, eps: float = 1e-9,
) -> torch.Tensor:
    """The (regularised) canonical correlations from covariance tensors, differentiably (the torch path
    of :func:`canonical_correlations` after it has estimated the covariances; deep CCA under DDP
    passes covariances of the global batch). The result has the covariances' dtype (use float64).

    Example
    -------
    >>> import torch
    >>> eye = torch.eye(2, dtype=torch.float64)
    >>> torch_covariance_correlations(eye, eye, 0.5 * eye).tolist()
    [0.5, 0.5]
    """
    import torch

    whitened = _torch_whitening(cov_xx, reg, eps).T @ cov_xy @ _torch_whitening(cov_yy, reg, eps)
    return torch.linalg.svdvals(whitened)[:n_components]
