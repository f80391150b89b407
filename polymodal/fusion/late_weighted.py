"""Late fusion with learned weights over the modalities."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.base import masked_softmax
from polymodal.fusion.late_mean import LateFusion, to_logits


class WeightedLateFusion(LateFusion):
    """A weighted average of the modalities' probabilities (regression: predictions), with learned
    weights ``softmax(w)`` renormalised over the modalities present in each sample; returns the logits
    of that average. The weights start equal, where this is exactly ``late`` (mean) fusion.

    Example
    -------
    >>> import torch
    >>> f = WeightedLateFusion({"a": 3, "b": 2}, num_outputs=4)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 4])
    """

    def __init__(self, input_dims: Mapping[str, int], num_outputs: int, activation: str = "softmax") -> None:
        super().__init__(input_dims, num_outputs, activation)
        self.weight_logits = nn.Parameter(torch.zeros(len(self.modalities)))

    def weights(self, present: Tensor) -> Tensor:
        """Per-sample weights ``[B, M]`` over the present modalities (zero for missing ones)."""
        return masked_softmax(self.weight_logits.to(present.device).expand(present.shape), present, dim=1)

    def modality_weights(self) -> dict[str, float]:
        """The learned weights when every modality is present, by modality name."""
        weights = torch.softmax(self.weight_logits.detach(), dim=0)
        return {m: float(w) for m, w in zip(self.modalities, weights)}

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        preds = self.modality_predictions(features, masks)
        present = self.stacked_masks(masks, preds)
        weights = self.weights(present).to(preds.dtype).unsqueeze(-1)
        combined = torch.where(present.unsqueeze(-1), preds, torch.zeros_like(preds))
        return to_logits((weights * combined).sum(dim=1), self.activation)
