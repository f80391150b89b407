"""Canonical-correlation math shared by the CCA estimators and by deep CCA (DCCA, DCCAE).

Pure functions, no estimator state. The numpy functions solve regularised CCA from covariance
matrices in closed form (whitening by a pivoted Cholesky factor, then one partial symmetric
eigendecomposition or an SVD); the torch path of :func:`canonical_correlations` does the same with
autograd so it can serve as a training objective. The pivoted Cholesky factors, which decide the
numerical rank, are always computed in float64; the rest of a ``p x p`` problem runs in float64, or in
float32 when the caller asks (:func:`solve_cca`'s ``precision``: float32 views).

The ridge of a view is scaled to its covariance: ``ridge = reg * trace(C) / dim``, so ``reg`` has
the same meaning whatever the scale of the features, and rescaling a view leaves the result unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from polymodal.multiview._blas import gram, matmul, symmetric_operator

if TYPE_CHECKING:
    import torch

__all__ = [
    "Whitening",
    "canonical_correlations",
    "scaled_ridge",
    "solve_cca",
    "top_eigenpairs",
    "torch_covariance_correlations",
    "whitening",
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


@dataclass(frozen=True)
class Whitening:
    """A pivoted Cholesky factor of ``cov + ridge I`` on its numerical range.

    ``(cov + ridge I)[kept][:, kept] = L L'`` with ``L`` lower triangular ``(rank, rank)``, stored in the
    lower triangle of ``chol`` (its strict upper triangle is not part of the factor and is never read). The
    whitening matrix is ``W = E_kept L^{-T}`` (``E_kept``: the columns ``kept`` of the identity), so
    ``W' (cov + ridge I) W = I``; it is applied by triangular solves, never formed.

    Without a ridge, the coordinates left out have no variance that the kept ones do not explain, so
    any variate ``X w`` equals one with ``w`` on the kept coordinates: restricting to them is exact
    (a pseudo-inverse), not a numerical compromise.
    """

    kept: np.ndarray
    chol: np.ndarray
    dim: int

    @property
    def rank(self) -> int:
        return len(self.kept)

    def astype(self, dtype: type[np.floating]) -> Whitening:
        """The same whitening with the factor in ``dtype`` (the triangular solves then run in it), contiguous:
        the factor of a rank-deficient covariance is a corner of a larger array, which every LAPACK call
        would otherwise copy."""
        return Whitening(self.kept, np.asarray(self.chol, dtype=dtype, order="F"), self.dim)

    def solve(self, rhs: np.ndarray, transposed: bool = False) -> np.ndarray:
        """``L^{-1} rhs`` (``L^{-T} rhs`` when ``transposed``), Fortran-ordered, in the common dtype of the
        factor and ``rhs``: one BLAS ``trsm`` in place on a Fortran-ordered copy of ``rhs``."""
        dtype = np.result_type(self.chol, rhs)
        out = np.array(rhs, dtype=dtype, order="F")
        if out.size == 0:
            return out
        chol = self.chol.astype(dtype, copy=False)
        trsm = blas.get_blas_funcs("trsm", (chol, out))
        return np.asarray(trsm(1.0, chol, out, side=0, lower=1, trans_a=int(transposed), overwrite_b=1))

    def whiten_rows(self, M: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """``L^{-1} M[kept]``: the rows of ``M`` (indexed like ``cov``) in whitened coordinates, of the
        columns ``columns`` only when given; Fortran-ordered. The rows are gathered first, a copy of whole
        rows when ``M`` is C-ordered."""
        return self.solve(M[self.kept] if columns is None else M[self.kept][:, columns])

    def weights(self, U: np.ndarray) -> np.ndarray:
        """``W @ U``: weights (float64) on the original coordinates of whitened directions ``U`` ``(rank, k)``."""
        return self.on_original(self.solve(U, transposed=True))

    def on_original(self, A: np.ndarray) -> np.ndarray:
        """``E_kept A``: rows indexed like the kept coordinates placed on the original ones (float64, zeros
        elsewhere); ``weights(U)`` is ``on_original(solve(U, transposed=True))``."""
        out = np.zeros((self.dim, A.shape[1]))
        out[self.kept] = A
        return out


def whitening(cov: np.ndarray, ridge: float = 0.0, rtol: float | None = None) -> Whitening:
    """The pivoted Cholesky :class:`Whitening` of ``cov + ridge I`` (LAPACK ``pstrf``).

    The factorisation stops when the largest remaining pivot falls below ``rtol`` times the largest
    diagonal entry (default ``d * machine epsilon``, numpy.linalg.matrix_rank's tolerance): what is
    left is rounding noise.

    Example
    -------
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    >>> white = whitening(A @ A.T)  # rank 2: the third coordinate repeats the first
    >>> white.rank
    2
    >>> W = white.weights(np.eye(2))
    >>> bool(np.allclose(W.T @ (A @ A.T) @ W, np.eye(2)))
    True
    """
    dim = cov.shape[0]
    rtol = dim * np.finfo(np.float64).eps if rtol is None else rtol
    # a symmetric matrix is its own transpose: copy whichever of the two is already in Fortran order
    matrix = np.array(cov if np.isfortran(cov) else cov.T, dtype=np.float64, order="F")
    matrix[np.diag_indices(dim)] += ridge
    top = float(np.max(np.diag(matrix))) if dim else 0.0
    if not top > 0:
        return Whitening(np.zeros(0, dtype=np.intp), np.zeros((0, 0)), dim)
    factor, piv, rank, info = lapack.dpstrf(matrix, tol=rtol * top, lower=1, overwrite_a=1)
    if info < 0:
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
    # the strict upper triangle still holds the input; every use of the factor reads the lower one only
    return Whitening(piv[:rank].astype(np.intp) - 1, factor[:rank, :rank], dim)


def solve_cca(
    cov_xx: np.ndarray,
    cov_yy: np.ndarray,
    cov_xy: np.ndarray,
    ridge_x: float = 0.0,
    ridge_y: float = 0.0,
    n_components: int | None = None,
    precision: type[np.floating] = np.float64,
    lanczos: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regularised CCA from covariance matrices, in closed form.

    Maximises ``w' Cxy v`` subject to ``w' (Cxx + ridge_x I) w = v' (Cyy + ridge_y I) v = 1``. Each
    view is whitened by a pivoted Cholesky factor (:func:`whitening`); with ``n_components`` given,
    the top canonical pairs come from one partial symmetric eigendecomposition (:func:`top_eigenpairs`:
    ARPACK's Lanczos for a few of several hundred eigenpairs, else LAPACK) of the smaller view's
    ``L^{-1} Cxy Cyy^+ Cyx L^{-T}``, reduced by ``sygst``; without it, from a full SVD of the whitened
    cross-covariance. The rank tolerance is float64's also for covariances accumulated in float32: a
    float32 product errs relative to its own terms, so a feature seen in a handful of rows keeps its
    small variance accurately (on MNIST, a float64 tolerance gives the float64 correlations to 3e-6,
    ``dim * eps32`` drops 56 such pixels and moves them by 1e-2).

    With ``precision=np.float32`` (for covariances of float32 views, which are no more accurate than
    that) the factors are still float64, and the triangular solves, products and the eigensolver of the
    partial path run in float32, at half the cost; the weights come back in float64. The correlations
    returned are those of the float32 eigenproblem: recompute them from the weights (as the estimators'
    ``finish_components`` does) for float64 accuracy of the correlations of the weights found.

    ``lanczos=False`` skips ARPACK for a problem whose top correlations are known to be clustered (exact
    KernelCCA's are all near 1), where Lanczos would spend its budget and fall back to LAPACK anyway.

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
    white_x = whitening(cov_xx, ridge_x)
    white_y = whitening(cov_yy, ridge_y)
    cross = np.asarray(cov_xy, dtype=np.float64)
    rank = min(white_x.rank, white_y.rank)
    k = rank if n_components is None else min(n_components, rank)
    if n_components is not None and k > 0:
        low_x, low_y = white_x.astype(precision), white_y.astype(precision)
        low_cross = cross.astype(precision, copy=False)
        # The eigenproblem on the side with fewer coordinates; the other side follows from it.
        if white_x.rank <= white_y.rank:
            pair = _top_pairs_from_gram(low_x, low_y, low_cross, k, lanczos)
        else:
            flipped = _top_pairs_from_gram(low_y, low_x, low_cross.T, k, lanczos)
            pair = None if flipped is None else (flipped[1], flipped[0], flipped[2])
        if pair is not None:
            return pair
    whitened = white_y.whiten_rows(white_x.whiten_rows(cross).T).T  # Lx^{-1} Cxy Ly^{-T}
    u, s, vt = linalg.svd(whitened, full_matrices=False)
    return white_x.weights(u[:, :k]), white_y.weights(vt[:k].T), s[:k]


def _top_pairs_from_gram(
    small: Whitening, large: Whitening, cross: np.ndarray, k: int, lanczos: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Top ``k`` canonical pairs from ``T T'`` with ``T = Ls^{-1} cross Ll^{-T}``; None when ill-posed.

    ``cross`` is the full cross-covariance (rows and columns indexed like the two covariances).

    ``T T' = Ls^{-1} (M' M) Ls^{-T}`` with ``M = Ll^{-1} cross'``: one triangular solve, one
    symmetric product and ``sygst`` form it; the partner directions are ``T' u / rho``. Squaring
    loses accuracy only for correlations near ``sqrt(eps)`` times the largest: then the caller
    takes the SVD.
    """
    m = large.whiten_rows(cross.T, small.kept)
    (sygst,) = lapack.get_lapack_funcs(("sygst",), (m, small.chol))
    reduced, info = sygst(np.asfortranarray(gram(m)), small.chol, itype=1, lower=1, overwrite_a=1)
    if info != 0:
        return None
    vals, u = top_eigenpairs(reduced, k, lanczos)
    rho = np.sqrt(np.clip(vals, 0.0, None))
    # the solver may return fewer eigenpairs than asked for clustered eigenvalues: then use the SVD.
    if len(rho) < k or not rho[-1] > np.sqrt(np.finfo(reduced.dtype).eps) * max(rho[0], 1e-30):
        return None
    a = small.solve(u, transposed=True)
    partner = matmul(m, a) / rho
    return small.on_original(a), large.weights(partner), rho


# ARPACK (implicitly restarted Lanczos) for at most this share of the eigenpairs: on CCA's whitened Gram
# of noisy MNIST (714 x 714, float32, the top 10 of a clustered spectrum) it took 5.6 ms against 15.3 ms
# for LAPACK syevr, the eigenvalues within 6e-7 (float32 rounding) of syevr's (measured, one thread).
LANCZOS_SHARE = 0.1


def top_eigenpairs(lower: np.ndarray, k: int, lanczos: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues (descending) and eigenvectors of the symmetric matrix whose lower
    triangle is ``lower`` (which may be overwritten).

    For a few of many eigenpairs (``k <= LANCZOS_SHARE * r``) ARPACK's Lanczos (``eigsh``) from a fixed
    start vector, to the precision's own accuracy, within a budget of about ``r / 3`` matrix products; it
    falls back to LAPACK (``syevr`` for some, ``syevd`` for all), which is also the path for more
    eigenpairs, when it does not converge within that budget (a clustered top spectrum), and the only
    path with ``lanczos=False``.

    >>> A = np.diag(np.arange(40.0))
    >>> vals, vecs = top_eigenpairs(A.copy(), 3)
    >>> np.round(vals, 6).tolist(), vecs.shape
    ([39.0, 38.0, 37.0], (40, 3))
    """
    r = lower.shape[0]
    if lanczos and 0 < k <= LANCZOS_SHARE * r:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        start = np.asarray(np.random.default_rng(0).standard_normal(r), dtype=lower.dtype)
        ncv = min(r, max(2 * k + 1, 20))
        # a budget of about r / 3 products with the matrix (2 r^2 flops each, so ~ r^3 / 1.5 in all, below
        # LAPACK's tridiagonal reduction): a clustered top spectrum (KernelCCA's correlations all near 1)
        # would otherwise take thousands of restarts before it converged
        restarts = max(4, r // (3 * max(ncv - k, 1)))
        try:
            vals, vecs = eigsh(symmetric_operator(lower), k=k, which="LA", v0=start, ncv=ncv, tol=0, maxiter=restarts)
        except ArpackNoConvergence:
            pass
        else:
            order = np.argsort(vals)[::-1]
            return vals[order], vecs[:, order]
    subset = [r - k, r - 1] if k < r else None
    vals, vecs = linalg.eigh(lower, lower=True, subset_by_index=subset, driver="evr" if k < r else "evd",
                             overwrite_a=True, check_finite=False)
    return vals[::-1][:k], vecs[:, ::-1][:, :k]


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
