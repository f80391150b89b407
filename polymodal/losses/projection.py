"""Regression of one embedding onto another: the loss of a cross-modal projection.

Example
-------
>>> import torch
>>> z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
>>> float(projection_loss(z, 3 * z, "cosine"))  # same directions: no loss
0.0
>>> float(projection_loss(z, z + 1, "mse"))
1.0
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.losses.output import LossOutput

ProjectionMetric = Literal["cosine", "mse"]
METRICS = ("cosine", "mse")


def projection_loss(predicted: Tensor, target: Tensor, metric: str = "cosine", mask: Tensor | None = None) -> Tensor:
    """Mean over the rows where ``mask`` is True (all by default) of ``1 - cos(predicted, target)``
    (``"cosine"``: directions only) or of the mean squared difference per coordinate (``"mse"``)."""
    if predicted.shape != target.shape or predicted.dim() != 2:
        raise ValueError(f"projection_loss needs two [B, D] tensors of the same shape; got {list(predicted.shape)} "
                         f"and {list(target.shape)}")
    if metric == "cosine":
        per_row = 1.0 - F.cosine_similarity(predicted, target, dim=1)
    elif metric == "mse":
        per_row = (predicted - target).pow(2).mean(dim=1)
    else:
        raise ValueError(f"unknown projection metric {metric!r}; choose one of {', '.join(METRICS)}")
    if mask is None:
        return per_row.mean()
    weights = mask.to(per_row.dtype)
    return (per_row * weights).sum() / weights.sum().clamp_min(1.0)


class ProjectionLoss(nn.Module):
    """:func:`projection_loss` with its metric fixed; returns the loss and the mean cosine similarity."""

    def __init__(self, metric: ProjectionMetric = "cosine") -> None:
        super().__init__()
        if metric not in METRICS:
            raise ValueError(f"unknown projection metric {metric!r}; choose one of {', '.join(METRICS)}")
        self.metric = metric

    def forward(self, predicted: Tensor, target: Tensor, mask: Tensor | None = None) -> LossOutput:
        total = projection_loss(predicted, target, self.metric, mask)
        cosine = 1.0 - projection_loss(predicted.detach(), target.detach(), "cosine", mask)
        return LossOutput(total, {"cosine": cosine})
