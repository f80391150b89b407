"""The contract of the representation-learning models, and the helpers they share.

A representation model is trained without targets. It holds one encoder per modality and

* ``forward(inputs, masks) -> LossOutput``: the objective on a batch (``total`` to minimise and
  named components to log);
* ``embed(inputs, masks) -> [B, embedding_dim]``: the learned representation of each sample from
  the modalities present in it.

Modalities are named; masks are boolean ``[B]`` (True = present); every model visits modalities in
sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.augment import Augmenter
from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import masked_mean
from polymodal.losses.output import LossOutput
from polymodal.models.freezing import Freezable


class RepresentationModel(Freezable):
    """Base class: holds the encoders (sorted by name) and checks batches; :meth:`freeze` fixes submodules.

    ``select_best_epoch``: whether the validation loss measures quality, so that training keeps the
    best epoch and stops early (False for adversarial models, which keep their last epoch).
    """

    embedding_dim: int
    select_best_epoch: bool = True

    def __init__(self, encoders: Mapping[str, Encoder]) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("a representation model needs at least one modality; no encoders were given")
        self.encoders = nn.ModuleDict(dict(sorted(encoders.items())))
        self.augment = Augmenter({})  # training-time augmentations of the inputs (see polymodal.augment)

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def encode(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each modality's encoder features ``{name: [B, output_dim]}`` (missing rows are encoded too;
        the masks decide what they count for). In training, the inputs are augmented first (objectives
        that reconstruct their inputs reconstruct the clean ones)."""
        self.check_batch(inputs, masks)
        inputs = self.augment(inputs)
        return {name: encoder(inputs[name]) for name, encoder in self.encoders.items()}

    def check_batch(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> None:
        missing = [m for m in self.modalities if m not in inputs or m not in masks]
        if missing:
            raise ValueError(f"the batch lacks inputs or masks for modalities {missing}; the model expects "
                             f"{self.modalities}")

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        raise NotImplementedError  # pragma: no cover

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        raise NotImplementedError  # pragma: no cover


def modality_mean(values: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
    """Per sample, the mean of ``values[name]`` over the present modalities; zeros where none is present."""
    names = sorted(values)
    return masked_mean(torch.stack([values[n] for n in names], dim=1), torch.stack([masks[n] for n in names], dim=1))


def masked_batch_mean(per_sample: Tensor, mask: Tensor) -> Tensor:
    """Mean of a per-sample loss ``[B]`` over the samples where ``mask`` is True (0 when there are none)."""
    weights = mask.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum().clamp_min(1.0)


def random_subsets(masks: Mapping[str, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Per sample, a non-empty subset of its present modalities, uniform over all such subsets.

    Keeping each present modality with probability 1/2 and drawing again when none is kept gives every
    non-empty subset the same probability. Samples with no modality present keep none.
    """
    names = sorted(masks)
    present = torch.stack([masks[n].bool() for n in names], dim=1)
    kept = torch.zeros_like(present)
    todo = present.any(dim=1)
    while bool(todo.any()):
        draw = present & (torch.rand(present.shape, generator=generator, device=present.device) < 0.5)
        kept = torch.where(todo.unsqueeze(1), draw, kept)
        todo = todo & ~draw.any(dim=1)
    return {n: kept[:, i] for i, n in enumerate(names)}
