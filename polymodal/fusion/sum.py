"""Middle fusion by summation in a shared space."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.base import Fusion, zero_missing


class SumFusion(Fusion):
    """Project each modality linearly to ``output_dim`` and sum the projections of the present ones.

    A missing modality contributes nothing (not even its projection's bias); a sample with no
    modality present gets zeros. The sum (not the mean) keeps "how many modalities agree" in the
    representation's scale.

    Example
    -------
    >>> import torch
    >>> f = SumFusion({"a": 3, "b": 2}, output_dim=4)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": torch.ones(5, dtype=torch.bool),
    ...   "b": torch.zeros(5, dtype=torch.bool)}).shape
    torch.Size([5, 4])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int = 64) -> None:
        super().__init__(input_dims)
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        self.output_dim = int(output_dim)
        self.projections = nn.ModuleDict({m: nn.Linear(d, self.output_dim) for m, d in self.input_dims.items()})

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        projected = [
            zero_missing(self.projections[m](zero_missing(features[m], masks[m])), masks[m]) for m in self.modalities
        ]
        return torch.stack(projected, dim=0).sum(dim=0)
