"""An MLP over numeric values and one learned embedding per categorical column."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import as_long_codes, check_dropout, check_input, check_positive, mlp


def embedding_size(cardinality: int, largest: int = 16) -> int:
    """Embedding width of a categorical column: ``min(largest, (cardinality + 1) // 2)``, at least 1."""
    return max(1, min(largest, (int(cardinality) + 1) // 2))


class TabularMLP(Encoder):
    """Input ``[B, F + K]`` (``F`` numeric values, then ``K`` category codes as floats) to ``[B, output_dim]``.

    Each categorical column gets an embedding of :func:`embedding_size` (code 0 is the unknown
    bucket, a row of its own); codes outside ``[0, cardinality)`` map to 0. Works with ``F = 0`` or
    ``K = 0``.

    Example
    -------
    >>> import torch
    >>> TabularMLP(n_numeric=2, cardinalities=[3], output_dim=4)(torch.tensor([[0.5, -1.0, 2.0]])).shape
    torch.Size([1, 4])
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int] = (),
        output_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 2,
        dropout: float = 0.1,
        max_embedding_dim: int = 16,
    ) -> None:
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        if n_numeric < 0 or any(c < 1 for c in cardinalities):
            raise ValueError(f"n_numeric must be >= 0 and every cardinality >= 1, got {n_numeric} and {cardinalities}")
        if n_numeric == 0 and not cardinalities:
            raise ValueError("TabularMLP needs at least one numeric or categorical column")
        check_positive(output_dim=output_dim, hidden_dim=hidden_dim, max_embedding_dim=max_embedding_dim)
        check_dropout(dropout)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.n_numeric = int(n_numeric)
        self.cardinalities = cardinalities
        sizes = [embedding_size(c, max_embedding_dim) for c in cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(cardinalities, sizes))
        width = self.n_numeric + sum(sizes)
        self.mlp = mlp(width, hidden_dim, output_dim, num_layers, dropout)
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, self.n_numeric + len(self.cardinalities)], "TabularMLP")
        parts = [x[:, : self.n_numeric]]
        codes = as_long_codes(x[:, self.n_numeric :])
        for j, embedding in enumerate(self.embeddings):
            column = codes[:, j]
            column = torch.where(column < self.cardinalities[j], column, torch.zeros_like(column))
            parts.append(embedding(column))
        out: Tensor = self.mlp(torch.cat(parts, dim=1))
        return out
