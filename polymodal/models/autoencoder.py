"""A multimodal autoencoder: per-modality encoders, one fused latent, a decoder per modality."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.output import LossOutput
from polymodal.models.decoders import DecoderSet
from polymodal.models.representation import RepresentationModel, masked_batch_mean, modality_mean, random_subsets
from polymodal.models.translation import check_translation, source_only


class MultimodalAutoencoder(RepresentationModel):
    """Each modality's features are projected to ``latent_dim``; the latent is their mean over the
    present modalities; every present modality is reconstructed from it.

    In training the latent is fused from a random non-empty subset of each sample's modalities
    (uniform over subsets), so that any subset can be encoded; the loss still reconstructs all of
    them. The regulariser ``align_weight * mean_m ||z_m - z||^2`` pulls each modality's latent
    towards the fused one, so that embeddings from different subsets agree.

    ``total = sum_m recon_m + align_weight * alignment``; reconstruction losses are per sample (see
    :mod:`polymodal.models.decoders`), averaged over the samples where the modality is present.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]], latent_dim: int = 32,
        hidden_dim: int = 128, align_weight: float = 1.0,
    ) -> None:
        super().__init__(encoders)
        if latent_dim <= 0 or align_weight < 0:
            raise ValueError(f"latent_dim must be positive and align_weight >= 0; got {latent_dim}, {align_weight}")
        self.embedding_dim = latent_dim
        self.align_weight = align_weight
        self.projections = nn.ModuleDict({n: nn.Linear(e.output_dim, latent_dim) for n, e in encoders.items()})
        self.decoders = DecoderSet(latent_dim, input_info, self.modalities, hidden_dim)

    def latents(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's latent ``[B, latent_dim]``."""
        return {n: self.projections[n](f) for n, f in self.encode(inputs, masks).items()}

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return modality_mean(self.latents(inputs, masks), masks)

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        """Every modality's reconstruction, in the layout of its preprocessed input."""
        return self.decoders.reconstruct(z)

    stochastic = False

    @torch.no_grad()
    def translate(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], source: str, target: str,
                  generator: torch.Generator | None = None) -> Tensor:
        """``target`` decoded from the latent of ``source`` alone (deterministic: ``generator`` is not
        used); see :mod:`polymodal.models.translation`."""
        check_translation(self.modalities, source, target)
        z = self.embed(inputs, source_only(masks, source))
        return self.decoders[target].reconstruct(self.decoders[target](z))

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        latents = self.latents(inputs, masks)
        fuse_masks = random_subsets(masks) if self.training else masks
        z = modality_mean(latents, fuse_masks)
        recon = self.decoders.losses(self.decoders(z), inputs, masks)
        components = {f"recon_{n}": masked_batch_mean(recon[n], masks[n]) for n in self.modalities}
        total = sum(components.values(), z.new_zeros(()))
        target = modality_mean(latents, masks).detach()
        align = modality_mean({n: (latents[n] - target).pow(2).sum(dim=1, keepdim=True) for n in latents}, masks)
        any_present = torch.stack([masks[n] for n in self.modalities], dim=1).any(dim=1)
        components["alignment"] = masked_batch_mean(align.squeeze(1), any_present)
        total = total + self.align_weight * components["alignment"]
        return LossOutput(total, {k: v.detach() for k, v in components.items()})
