"""The deep CCA objective (Andrew et al. 2013): the negative sum of canonical correlations."""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.errors import PolymodalError
from polymodal.losses.output import LossOutput
from polymodal.multiview.cca_math import canonical_correlations


class BatchTooSmallError(PolymodalError, ValueError):
    """A batch has too few samples to estimate the covariances of a latent of its size."""


def dcca_loss(hx: Tensor, hy: Tensor, reg: float = 1e-3, n_components: int | None = None) -> Tensor:
    """``-sum`` of the top ``n_components`` canonical correlations of ``hx`` and ``hy``.

    That is minus the trace norm of ``T = Sxx^-1/2 Sxy Syy^-1/2`` (all components) or of its top
    singular values. Computed in float64 by :func:`polymodal.multiview.cca_math.canonical_correlations`
    (whitening with a ridge ``reg * trace(S) / dim``), so its gradient is finite.

    Raises :class:`BatchTooSmallError` when the batch is not larger than the latent size: the
    covariances would be singular and the correlations trivially 1.

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
    n, dim = hx.shape[0], max(hx.shape[1], hy.shape[1])
    if n <= dim:
        raise BatchTooSmallError(f"batch of {n} is too small for a latent of size {dim}: use a batch of at least "
                                 f"{dim + 1} paired samples (several times more estimates the correlations better)")
    return -canonical_correlations(hx, hy, reg, n_components).sum()


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
