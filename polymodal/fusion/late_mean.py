"""Late fusion: a head per modality, predictions averaged over the present modalities."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.encoders.layers import masked_mean
from polymodal.fusion.base import ACTIVATIONS, Fusion, zero_missing


def to_probabilities(logits: Tensor, activation: str) -> Tensor:
    if activation == "softmax":
        return torch.softmax(logits, dim=-1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    return logits


def to_logits(probabilities: Tensor, activation: str, eps: float = 1e-7) -> Tensor:
    """Inverse of :func:`to_probabilities` (up to a constant for softmax)."""
    if activation == "softmax":
        return torch.log(probabilities.clamp_min(eps))
    if activation == "sigmoid":
        p = probabilities.clamp(eps, 1 - eps)
        return torch.log(p) - torch.log1p(-p)
    return probabilities


class LateFusion(Fusion):
    """Base of late fusions: one linear head per modality producing task logits."""

    produces_predictions = True

    def __init__(self, input_dims: Mapping[str, int], num_outputs: int, activation: str = "softmax") -> None:
        super().__init__(input_dims)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if num_outputs <= 0:
            raise ValueError(f"num_outputs must be positive, got {num_outputs}")
        self.activation = activation
        self.output_dim = int(num_outputs)
        self.heads = nn.ModuleDict({m: nn.Linear(d, self.output_dim) for m, d in self.input_dims.items()})

    def modality_logits(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None) -> Tensor:
        """Per-modality logits (regression: values) stacked as ``[B, M, num_outputs]``, modalities sorted.

        With ``masks``, a missing modality's features are zeroed first, so nothing from them (not even
        a NaN) can reach the output or the heads' gradients.
        """
        return torch.stack(
            [
                self.heads[m](features[m] if masks is None else zero_missing(features[m], masks[m]))
                for m in self.modalities
            ],
            dim=1,
        )

    def modality_predictions(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None) -> Tensor:
        """Per-modality probabilities (or values for regression) stacked as ``[B, M, num_outputs]``."""
        return to_probabilities(self.modality_logits(features, masks), self.activation)

    def stacked_masks(self, masks: Mapping[str, Tensor], like: Tensor) -> Tensor:
        return torch.stack([masks[m].to(device=like.device, dtype=torch.bool) for m in self.modalities], 1)


class MeanLateFusion(LateFusion):
    """Average the modalities' probabilities (regression: their predictions) over present modalities;
    returns logits of that average."""

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        preds = self.modality_predictions(features, masks)
        return to_logits(masked_mean(preds, self.stacked_masks(masks, preds)), self.activation)
