"""Contrastive multimodal model: encoders, projection heads and a symmetric InfoNCE (CLIP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.contrastive import InfoNCELoss
from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel, modality_mean


class ContrastiveModel(RepresentationModel):
    """Each modality is encoded and projected (Linear-ReLU-Linear) to ``projection_dim``; the loss is
    the InfoNCE summed over pairs of modalities (see :func:`polymodal.losses.multimodal_info_nce`)
    with a learnable temperature.

    ``embed`` is the mean of the present modalities' L2-normalised projections. ``input_info`` is
    accepted for the common factory signature of :data:`polymodal.models.objectives.OBJECTIVES`.

    Encoders that are towers of one joint model (CLIP, SigLIP, CLAP: they carry ``aligned_space``
    and ``logit_scale``) are already in a shared space: they get no head (their features are the
    projections), ``projection_dim`` becomes the joint space's size, and the temperature starts at the
    model's own ``1 / logit_scale``.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]] | None = None,
        projection_dim: int = 32, hidden_dim: int = 128, temperature: float = 0.07, learn_temperature: bool = True,
    ) -> None:
        super().__init__(encoders)
        if len(self.modalities) < 2:
            raise ValueError(f"contrastive learning needs at least two modalities; the table has {self.modalities}")
        aligned = {n: e for n, e in encoders.items() if getattr(e, "aligned_space", None) is not None}
        max_scale = 100.0
        if aligned:
            spaces = {str(e.aligned_space) for e in aligned.values()}
            if len(spaces) > 1:
                raise ValueError(f"modalities {sorted(aligned)} are towers of different joint models; one joint "
                                 "model aligns its own towers only")
            projection_dim = next(iter(aligned.values())).output_dim
            scale = float(getattr(next(iter(aligned.values())), "logit_scale"))  # noqa: B009 - set by mark_aligned
            temperature, max_scale = 1.0 / scale, max(max_scale, scale * (1 + 1e-6))
        self.embedding_dim = projection_dim
        self.heads = nn.ModuleDict({
            n: nn.Identity() if n in aligned else
            nn.Sequential(nn.Linear(e.output_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, projection_dim))
            for n, e in encoders.items()
        })
        self.loss = InfoNCELoss(temperature, max_scale=max_scale, learnable=learn_temperature)

    def projections(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's projection ``[B, projection_dim]`` (not normalised)."""
        return {n: self.heads[n](f) for n, f in self.encode(inputs, masks).items()}

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        return self.loss(self.projections(inputs, masks), masks)

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        z = {n: F.normalize(p, dim=1) for n, p in self.projections(inputs, masks).items()}
        return modality_mean(z, masks)
