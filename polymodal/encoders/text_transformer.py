"""A Transformer text encoder: embedding plus learned positions, self-attention, masked mean."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, masked_mean

PAD_ID = 0


class TransformerTextEncoder(Encoder):
    """Token ids ``[B, L]`` (0 = padding, ``L <= max_length``) to ``[B, output_dim]``.

    Padding is excluded from attention with ``src_key_padding_mask`` and from the mean. A row with
    no token would make every attention score ``-inf`` (NaN after softmax), so such rows attend to
    their first position instead; their pooled features are zeros (nothing to average), so the
    output is finite and does not depend on the padding.

    Example
    -------
    >>> import torch
    >>> enc = TransformerTextEncoder(vocab_size=10, max_length=5, output_dim=4, embedding_dim=8, num_heads=2)
    >>> enc(torch.tensor([[3, 4, 0, 0, 0], [0, 0, 0, 0, 0]])).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        output_dim: int = 128,
        embedding_dim: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        feedforward_dim: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(vocab_size=vocab_size, max_length=max_length, output_dim=output_dim)
        check_positive(embedding_dim=embedding_dim, num_heads=num_heads, num_layers=num_layers)
        check_positive(feedforward_dim=feedforward_dim)
        check_dropout(dropout)
        if embedding_dim % num_heads:
            raise ValueError(f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})")
        self.max_length = int(max_length)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.positions = nn.Embedding(max_length, embedding_dim)
        layer = nn.TransformerEncoderLayer(
            embedding_dim, num_heads, feedforward_dim, dropout=dropout, batch_first=True, norm_first=True
        )
        # enable_nested_tensor=False: the same code path in training and eval (and no warning)
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embedding_dim)
        self.projection = nn.Linear(embedding_dim, output_dim)
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, None], "TransformerTextEncoder")
        if x.shape[1] > self.max_length:
            raise ValueError(
                f"TransformerTextEncoder got sequences of length {x.shape[1]} > max_length {self.max_length}"
            )
        mask = x != PAD_ID
        positions = torch.arange(x.shape[1], device=x.device)
        hidden = self.embedding(x) + self.positions(positions)
        padding = ~mask
        padding[:, 0] &= mask.any(dim=1)  # an empty row attends to its first position (see class doc)
        hidden = self.transformer(hidden, src_key_padding_mask=padding)
        pooled = masked_mean(self.norm(hidden), mask)
        out: Tensor = self.projection(pooled)
        return out
