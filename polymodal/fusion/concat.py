"""Middle fusion by concatenation."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from polymodal.fusion.base import Fusion, MissingEmbeddings


class ConcatFusion(Fusion):
    """Concatenate the modalities' features (sorted by name); a missing modality is replaced by a
    learned embedding, and a presence indicator per modality is appended so the head can tell.

    Example
    -------
    >>> import torch
    >>> f = ConcatFusion({"a": 3, "b": 2})
    >>> f({"a": torch.ones(4, 3), "b": torch.ones(4, 2)}, {"a": torch.ones(4, dtype=torch.bool),
    ...   "b": torch.ones(4, dtype=torch.bool)}).shape
    torch.Size([4, 7])
    """

    def __init__(self, input_dims: Mapping[str, int]) -> None:
        super().__init__(input_dims)
        self.missing = MissingEmbeddings(self.input_dims)
        self.output_dim = sum(self.input_dims.values()) + len(self.modalities)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        parts = [self.missing(m, features[m], masks[m]) for m in self.modalities]
        ref = parts[0]
        indicators = torch.stack([masks[m].to(ref.dtype) for m in self.modalities], dim=1)
        return torch.cat([*parts, indicators.to(ref.device)], dim=1)
