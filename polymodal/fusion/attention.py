"""Masked multi-head attention and a pre-norm transformer block, shared by the attention-based fusions.

Not a fusion itself (not registered): :mod:`polymodal.fusion.cross_attention` and
:mod:`polymodal.fusion.transformer` build on it. The masks here are per query *and* key
(``allowed [B, Nq, Nk]``), so a fusion can hide missing modalities and a modality from itself; a
query with no allowed key gets zero attention instead of the NaN of an all ``-inf`` softmax.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from polymodal.fusion.base import masked_softmax

ATTENTION_KINDS = ("dot", "additive")


class MaskedAttention(nn.Module):
    """Multi-head attention of ``query [B, Nq, D]`` over ``context [B, Nk, D]``.

    ``kind="dot"``: scaled dot-product scores ``q . k / sqrt(d_head)`` (Vaswani et al. 2017);
    ``kind="additive"``: Bahdanau et al. (2015) scores ``v_h . tanh(W_q q + W_k k)``, per head.
    ``null_key=True`` appends one learned context token that every query may always attend to, so a
    query can take "nothing" from the context (and a context of one token still has a softmax over
    two entries, which keeps the query and key projections trainable).

    Example
    -------
    >>> attn = MaskedAttention(8, num_heads=2)
    >>> x = torch.randn(3, 4, 8)
    >>> attn(x, x, torch.ones(3, 4, 4, dtype=torch.bool)).shape
    torch.Size([3, 4, 8])
    """

    def __init__(
        self, dim: int, num_heads: int = 4, kind: str = "dot", dropout: float = 0.0, null_key: bool = False
    ) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {kind!r}; valid: {', '.join(ATTENTION_KINDS)}")
        if num_heads <= 0 or dim % num_heads != 0:
            raise ValueError(f"the model size {dim} must be a positive multiple of num_heads={num_heads}")
        self.kind = kind
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.query = nn.Linear(dim, dim)
        # a key bias adds the same amount to every score of a query: the softmax cancels it (no gradient)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.score = (
            nn.Parameter(torch.randn(num_heads, self.head_dim) / math.sqrt(self.head_dim))
            if kind == "additive"
            else None
        )
        self.null = nn.Parameter(torch.randn(dim) * 0.02) if null_key else None

    def _split(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim)

    def scores(self, query: Tensor, context: Tensor) -> Tensor:
        """Unnormalised attention scores ``[B, H, Nq, Nk]``."""
        q, k = self._split(self.query(query)), self._split(self.key(context))
        if self.score is None:
            return torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.head_dim)
        hidden = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))  # [B, Nq, Nk, H, d]
        return torch.einsum("bqkhd,hd->bhqk", hidden, self.score)

    def forward(self, query: Tensor, context: Tensor, allowed: Tensor) -> Tensor:
        """``allowed [B, Nq, Nk]`` (bool): which context tokens each query may attend to."""
        allowed = allowed.to(device=query.device, dtype=torch.bool)
        if self.null is not None:
            batch = context.shape[0]
            null = self.null.to(context.dtype).expand(batch, 1, -1)
            context = torch.cat([context, null], dim=1)
            always = torch.ones(batch, allowed.shape[1], 1, dtype=torch.bool, device=allowed.device)
            allowed = torch.cat([allowed, always], dim=2)
        weights = self.dropout(masked_softmax(self.scores(query, context), allowed.unsqueeze(1), dim=-1))
        mixed = torch.einsum("bhqk,bkhd->bqhd", weights, self._split(self.value(context)))
        return self.out(mixed.reshape(query.shape))


class AttentionBlock(nn.Module):
    """A pre-norm transformer block: ``x + attention(LN(x), context)`` then ``x + MLP(LN(x))``.

    Self-attention when ``cross=False`` (the context is ``x`` itself); with ``cross=True`` the context
    is another sequence, normalised by its own LayerNorm, and a learned null key is added (MulT-style
    cross-modal block, Tsai et al. 2019).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 4,
        ff_dim: int = 128,
        dropout: float = 0.0,
        cross: bool = False,
        attention: str = "dot",
    ) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim) if cross else None
        self.attention = MaskedAttention(dim, num_heads, attention, dropout, null_key=cross)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, allowed: Tensor, context: Tensor | None = None) -> Tensor:
        h = self.norm_query(x)
        if self.norm_context is None:
            ctx = h
        else:
            if context is None:
                raise ValueError("a cross-attention block needs a context sequence")
            ctx = self.norm_context(context)
        x = x + self.dropout(self.attention(h, ctx, allowed))
        return x + self.dropout(self.ff(self.norm_ff(x)))
