"""The supervised fusion model: encoders per modality, a fusion, and a head per target."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.augment import Augmenter
from polymodal.data.schema import TaskKind
from polymodal.encoders.base import Encoder
from polymodal.fusion.base import Fusion
from polymodal.losses.supervised import task_loss
from polymodal.models.freezing import Freezable


def mlp_head(in_dim: int, out_dim: int, hidden_dim: int = 128, dropout: float = 0.1) -> nn.Module:
    """Linear -> GELU -> Dropout -> Linear; a single Linear when ``hidden_dim`` is 0."""
    if hidden_dim <= 0:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


def drop_modalities(
    masks: Mapping[str, Tensor], p: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Modality dropout: hide each present modality of each sample with probability ``p``, never all
    of a sample's present modalities."""
    names = sorted(masks)
    stacked = torch.stack([masks[n].bool() for n in names], dim=1)
    drop = torch.rand(stacked.shape, generator=generator, device=stacked.device) < p
    kept = stacked & ~drop
    emptied = kept.sum(dim=1) == 0
    kept[emptied] = stacked[emptied]  # keep a sample's modalities rather than leave it with none
    return {n: kept[:, i] for i, n in enumerate(names)}


class FusionModel(Freezable):
    """Encoders -> fusion -> one head per target (hard parameter sharing).

    With a late fusion (``fusion.produces_predictions``) there is one fusion per target and no head.
    ``forward`` returns ``{target: logits}``. :meth:`freeze` fixes submodules (e.g. transferred encoders).
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        fusions: Mapping[str, Fusion],
        heads: Mapping[str, nn.Module],
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
        self.encoders = nn.ModuleDict(dict(sorted(encoders.items())))
        self.fusions = nn.ModuleDict(dict(fusions))
        self.heads = nn.ModuleDict(dict(heads))
        self.modality_dropout = modality_dropout
        self.augment = Augmenter({})  # training-time augmentations of the inputs (see polymodal.augment)

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def encode(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every modality's features ``[B, D_m]`` (from augmented inputs in training)."""
        inputs = self.augment(inputs)
        return {name: encoder(inputs[name]) for name, encoder in self.encoders.items()}

    def _masks(self, masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.training and self.modality_dropout > 0:
            return drop_modalities(masks, self.modality_dropout)
        return {k: v.bool() for k, v in masks.items()}

    def fuse(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every target's logits from the modality features (masks already final)."""
        if "shared" in self.fusions:
            fused = self.fusions["shared"](features, masks)
            return {name: head(fused) for name, head in self.heads.items()}
        return {name: self.heads[name](fusion(features, masks)) for name, fusion in self.fusions.items()}

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.fuse(self.encode(inputs), self._masks(masks))

    def training_outputs(
        self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], targets: Mapping[str, Tensor],
        tasks: Mapping[str, TaskKind],
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The logits and the model's own extra loss terms (named), from one pass over the encoders."""
        features, masks = self.training_features(inputs, masks)
        return self.fuse(features, masks), self.extra_losses(features, masks, targets, tasks)

    def training_features(self, inputs: Mapping[str, Tensor],
                          masks: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Every modality's features and the masks the fusion sees (after modality dropout in training)."""
        return self.encode(inputs), self._masks(masks)

    def extra_losses(
        self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor], targets: Mapping[str, Tensor],
        tasks: Mapping[str, TaskKind],
    ) -> dict[str, Tensor]:
        """Late fusions that stack per-modality heads train those heads on their own loss
        (``auxiliary_logits``): the task loss of each modality's head on the samples where it is present."""
        losses: dict[str, Tensor] = {}
        for name, fusion in self.fusions.items():
            aux = getattr(fusion, "auxiliary_logits", None)
            if aux is None or name not in tasks:
                continue
            logits = aux(features)  # [B, M, outputs], modalities in the fusion's (sorted) order
            terms = [task_loss(logits[masks[m], i], targets[name][masks[m]], tasks[name])
                     for i, m in enumerate(getattr(fusion, "modalities", [])) if masks[m].any()]
            if terms:
                losses[f"stacking_{name}"] = torch.stack(terms).sum()
        return losses

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The joint representation (the fusion's output); for late fusion, the first target's logits."""
        features = self.encode(inputs)
        fusion = self.fusions["shared"] if "shared" in self.fusions else next(iter(self.fusions.values()))
        return fusion(features, {k: v.bool() for k, v in masks.items()})
