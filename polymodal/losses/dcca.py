"""The deep CCA objective (Andrew et al. 2013): the negative sum of canonical correlations.

Under data-parallel training (``torch.distributed`` initialised with more than one process) the means
and covariances are those of the global batch: each process sums its rows and its centred cross
products, and the sums are all-reduced with gradients (:func:`polymodal.losses.distributed.all_reduce_sum`),
so the loss and the DDP-averaged gradients equal those of one process on the whole batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.errors import PolymodalError
from polymodal.losses.distributed import all_reduce_sum, gathering, global_count
from polymodal.losses.output import LossOutput
from polymodal.multiview.cca_math import canonical_correlations, torch_covariance_correlations


class BatchTooSmallError(PolymodalError, ValueError):
    """A batch has too few samples to estimate the covariances of a latent of its size."""


def dcca_loss(hx: Tensor, hy: Tensor, reg: float = 1e-3, n_components: int | None = None) -> Tensor:
    """``-sum`` of the top ``n_components`` canonical correlations of ``hx`` and ``hy``.

    That is minus the trace norm of ``T = Sxx^-1/2 Sxy Syy^-1/2`` (all components) or of its top
    singular values. Computed in float64 by :func:`polymodal.multiview.cca_math.canonical_correlations`
    (whitening with a ridge ``reg * trace(S) / dim``), so its gradient is finite.

    Raises :class:`BatchTooSmallError` when the batch is not larger than the latent size: the
    covariances would be singular and the correlations trivially 1. Under DDP the batch is the global
    one (see the module docstring): a process may hold fewer rows than the latent size.

    Example
    -------
    >>> import torch
    >>> h = torch.randn(50, 3)
    >>> round(float(dcca_loss(h, h, reg=0.0)), 3)
    -3.0
    """
    if hx.dim() != 2 or hy.dim() != 2 or hx.shape[0] != hy.shape[0]:
        raise ValueError(f"dcca_loss needs [N, Dx] and [N, Dy] with the same N; got {list(hx.shape)} "
                         f"and {list(hy.shape)}")
    if reg < 0:
        raise ValueError(f"reg must be >= 0, got {reg}")
    n, dim = global_count(hx.shape[0]), max(hx.shape[1], hy.shape[1])
    if n <= dim:  # the global count: every process raises together
        raise BatchTooSmallError(f"batch of {n} is too small for a latent of size {dim}: use a batch of at least "
                                 f"{dim + 1} paired samples (several times more estimates the correlations better)"
                                 + (" over all processes" if gathering() else ""))
    if not gathering():
        return -canonical_correlations(hx, hy, reg, n_components).sum()
    cov_xx, cov_yy, cov_xy = global_covariances(hx, hy, n)
    return -torch_covariance_correlations(cov_xx, cov_yy, cov_xy, reg, n_components).sum().to(hx.dtype)


def global_covariances(hx: Tensor, hy: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """``Sxx, Syy, Sxy`` (float64, divided by ``n - 1``) of the rows of every process, ``n`` in all: the
    global mean from the all-reduced sums, then the all-reduced cross products of the centred rows."""
    h = torch.cat([hx, hy], dim=1).to(torch.float64)
    centred = h - all_reduce_sum(h.sum(dim=0)) / n
    cov = all_reduce_sum(centred.T @ centred) / (n - 1)
    p = hx.shape[1]
    return cov[:p, :p], cov[p:, p:], cov[:p, p:]


class DCCALoss(nn.Module):
    """:func:`dcca_loss` as a module; the component ``correlation`` is the (positive) sum of correlations."""

    def __init__(self, reg: float = 1e-3, n_components: int | None = None) -> None:
        super().__init__()
        if reg < 0:
            raise ValueError(f"reg must be >= 0, got {reg}")
        self.reg, self.n_components = float(reg), n_components

    def forward(self, hx: Tensor, hy: Tensor) -> LossOutput:
        loss = dcca_loss(hx, hy, self.reg, self.n_components)
        return LossOutput(loss, {"correlation": -loss.detach()})
