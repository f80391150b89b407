"""Contrastive multimodal model: encoders, projection heads and a symmetric InfoNCE (CLIP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.contrastive import InfoNCELoss
from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel, masked_mean


class ContrastiveModel(RepresentationModel):
    """Each modality is encoded and projected (Linear-ReLU-Linear) to ``projection_dim``; the loss is
    the InfoNCE summed over pairs of modalities (see :func:`polymodal.losses.multimodal_info_nce`)
    with a learnable temperature.

    ``embed`` is the mean of the present modalities' L2-normalised projections. ``input_info`` is
    accepted for the common factory signature of :data:`polymodal.models.objectives.OBJECTIVES`.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]] | None = None,
        projection_dim: int = 32, hidden_dim: int = 128, temperature: float = 0.07, learn_temperature: bool = True,
    ) -> None:
        super().__init__(encoders)
        if len(self.modalities) < 2:
            raise ValueError(f"contrastive learning needs at least two modalities; the table has {self.modalities}")
        self.embedding_dim = projection_dim
        self.heads = nn.ModuleDict({
            n: nn.Sequential(nn.Linear(e.output_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, projection_dim))
            for n, e in encoders.items()
        })
        self.loss = InfoNCELoss(temperature, learnable=learn_temperature)

    def projections(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's projection ``[B, projection_dim]`` (not normalised)."""
        return {n: self.heads[n](f) for n, f in self.encode(inputs, masks).items()}

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        return self.loss(self.projections(inputs, masks), masks)

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        z = {n: F.normalize(p, dim=1) for n, p in self.projections(inputs, masks).items()}
        return masked_mean(z, masks)
