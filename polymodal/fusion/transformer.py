"""A transformer encoder over modality tokens, optionally with MulT-style pairwise cross-modal blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from polymodal.fusion.attention import AttentionBlock
from polymodal.fusion.base import Fusion, stack_masks, zero_missing


class TransformerFusion(Fusion):
    """Self-attention over one token per modality plus a learned summary token, whose output (after a
    final LayerNorm) is the fused representation.

    Each modality is projected to ``output_dim`` and a learned modality embedding is added (the
    encoder is otherwise blind to which token is which). Missing modalities are masked as keys in every
    layer, so they never reach the summary token, which is always present (no empty softmax).

    ``pairwise_cross=True`` first runs, for every ordered pair (target, source), a stack of
    ``num_layers`` cross-modal blocks in which the target's token queries the source's (Tsai et al.
    2019, MulT); each target's outputs over its sources are concatenated and projected back to one
    token. A learned null key lets a target take nothing from a missing source. Needs two modalities.

    Example
    -------
    >>> import torch
    >>> f = TransformerFusion({"a": 3, "b": 2}, output_dim=8, num_heads=2, num_layers=1)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        output_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        ff_dim: int | None = None,
        dropout: float = 0.1,
        pairwise_cross: bool = False,
    ) -> None:
        super().__init__(input_dims)
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        if num_layers <= 0:
            raise ValueError(f"num_layers must be positive, got {num_layers}")
        if pairwise_cross and len(self.modalities) < 2:
            raise ValueError(f"pairwise_cross needs at least two modalities, got {self.modalities}")
        dim = self.output_dim = int(output_dim)
        ff = int(ff_dim) if ff_dim is not None else 2 * dim
        count = len(self.modalities)
        self.projections = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in self.input_dims.items()})
        self.modality_embeddings = nn.Parameter(torch.randn(count, dim) * 0.02)
        self.summary = nn.Parameter(torch.randn(dim) * 0.02)
        self.pairwise_cross = pairwise_cross
        self.cross = nn.ModuleDict()
        self.merge = nn.ModuleDict()
        if pairwise_cross:
            for target in self.modalities:
                self.cross[target] = nn.ModuleDict(
                    {
                        source: nn.ModuleList(
                            AttentionBlock(dim, num_heads, ff, dropout, cross=True) for _ in range(num_layers)
                        )
                        for source in self.modalities
                        if source != target
                    }
                )
                self.merge[target] = nn.Linear((count - 1) * dim, dim)
        self.blocks = nn.ModuleList(AttentionBlock(dim, num_heads, ff, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def _cross_modal(self, tokens: Tensor, present: Tensor) -> Tensor:
        """MulT's pairwise cross-modal stacks: ``[B, M, D]`` tokens to ``[B, M, D]`` enriched tokens."""
        enriched = []
        for i, target in enumerate(self.modalities):
            outputs = []
            for j, source in enumerate(self.modalities):
                if i == j:
                    continue
                h, context = tokens[:, i : i + 1], tokens[:, j : j + 1]
                allowed = present[:, j].reshape(-1, 1, 1)
                stack = cast(nn.ModuleDict, self.cross[target])[source]
                for block in cast(nn.ModuleList, stack):
                    h = block(h, allowed, context)
                outputs.append(h)
            enriched.append(self.merge[target](torch.cat(outputs, dim=-1)))
        return torch.cat(enriched, dim=1)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        tokens = torch.stack([self.projections[m](zero_missing(features[m], masks[m])) for m in self.modalities], dim=1)
        tokens = tokens + self.modality_embeddings.to(tokens.dtype)
        present = stack_masks(masks, self.modalities, tokens)
        if self.pairwise_cross:
            tokens = self._cross_modal(tokens, present)
        batch = tokens.shape[0]
        sequence = torch.cat([self.summary.to(tokens.dtype).expand(batch, 1, -1), tokens], dim=1)
        keys = torch.cat([torch.ones_like(present[:, :1]), present], dim=1)  # the summary is always there
        allowed = keys.unsqueeze(1).expand(batch, sequence.shape[1], sequence.shape[1])
        for block in self.blocks:
            sequence = block(sequence, allowed)
        return self.norm(sequence[:, 0])
