"""Cross-modal attention: every modality queries the others."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.encoders.layers import masked_mean
from polymodal.fusion.attention import MaskedAttention
from polymodal.fusion.base import Fusion, stack_masks, zero_missing


class CrossAttentionFusion(Fusion):
    """Each modality, projected to ``output_dim``, attends to the *other* present modalities
    (queries from one modality, keys and values from the rest); ``LayerNorm(token + attention)`` is
    then averaged over the present modalities.

    ``attention="dot"``: multi-head scaled dot-product attention; ``attention="additive"``: multi-head
    additive (Bahdanau) attention. Missing modalities are hidden from every query (the key padding
    mask) and left out of the average; a modality alone in its sample attends to nothing and keeps
    its own (normalised) projection. Needs at least two modalities.

    Example
    -------
    >>> import torch
    >>> f = CrossAttentionFusion({"a": 3, "b": 2}, output_dim=8, num_heads=2)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        output_dim: int = 64,
        num_heads: int = 4,
        attention: str = "dot",
        dropout: float = 0.1,
    ) -> None:
        super().__init__(input_dims)
        if len(self.modalities) < 2:
            raise ValueError(
                f"cross-attention fusion needs at least two modalities, got {self.modalities}; "
                "use 'concat' or 'transformer' for one"
            )
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        self.output_dim = int(output_dim)
        self.attention = MaskedAttention(self.output_dim, num_heads, attention, dropout)
        self.projections = nn.ModuleDict({m: nn.Linear(d, self.output_dim) for m, d in self.input_dims.items()})
        self.norm = nn.LayerNorm(self.output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        tokens = torch.stack(
            [self.projections[m](zero_missing(features[m], masks[m])) for m in self.modalities], dim=1
        )  # [B, M, D]
        present = stack_masks(masks, self.modalities, tokens)
        others = ~torch.eye(len(self.modalities), dtype=torch.bool, device=tokens.device)
        allowed = present.unsqueeze(1) & others  # [B, query, key]: present keys, never the query itself
        attended = self.norm(tokens + self.dropout(self.attention(tokens, tokens, allowed)))
        return masked_mean(attended, present)
