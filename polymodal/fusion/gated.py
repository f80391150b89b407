"""Gated multimodal unit (GMU), Arevalo et al. 2017, generalised to any number of modalities."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.base import Fusion, MissingEmbeddings, masked_softmax, stack_masks, zero_missing

GATES = ("softmax", "sigmoid")


class GatedFusion(Fusion):
    """``h = sum_m g_m * tanh(W_m x_m)``, with gates ``g [B, M, output_dim]`` computed from the
    concatenation of all modalities' features and their presence indicators.

    ``gate="softmax"``: per hidden unit, the gates are a softmax over the *present* modalities (they sum
    to one; for two modalities this is exactly the bimodal GMU's ``z, 1 - z``). ``gate="sigmoid"``: an
    independent sigmoid gate per modality and unit. Either way a missing modality's gate is zero, and
    in the gates' input its features are replaced by a learned embedding, so its values never matter.

    Example
    -------
    >>> import torch
    >>> f = GatedFusion({"a": 3, "b": 2}, output_dim=4)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 4])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int = 64, gate: str = "softmax") -> None:
        super().__init__(input_dims)
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; valid: {', '.join(GATES)}")
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        self.gate = gate
        self.output_dim = int(output_dim)
        self.transforms = nn.ModuleDict({m: nn.Linear(d, self.output_dim) for m, d in self.input_dims.items()})
        self.missing = MissingEmbeddings(self.input_dims)
        gate_inputs = sum(self.input_dims.values()) + len(self.modalities)
        self.gate_layer = nn.Linear(gate_inputs, len(self.modalities) * self.output_dim)

    def gates(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """Gates ``[B, M, output_dim]`` (modalities sorted by name); zero for missing modalities."""
        self.check_inputs(features, masks)
        parts = [self.missing(m, features[m], masks[m]) for m in self.modalities]
        present = stack_masks(masks, self.modalities, parts[0])
        logits = self.gate_layer(torch.cat([*parts, present.to(parts[0].dtype)], dim=1))
        logits = logits.reshape(logits.shape[0], len(self.modalities), self.output_dim)
        if self.gate == "softmax":
            return masked_softmax(logits, present.unsqueeze(-1), dim=1)
        return torch.where(present.unsqueeze(-1), torch.sigmoid(logits), torch.zeros_like(logits))

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        gates = self.gates(features, masks)
        hidden = torch.stack(
            [torch.tanh(self.transforms[m](zero_missing(features[m], masks[m]))) for m in self.modalities], 1
        )
        return (gates * hidden).sum(dim=1)
