"""An MLP over precomputed feature vectors."""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, mlp


class VectorMLP(Encoder):
    """Vectors ``[B, dim]`` to ``[B, output_dim]``: LayerNorm, then an MLP of ``num_layers`` hidden layers
    (``activation``: relu, gelu, silu, tanh or sigmoid, the last as in the deep CCA networks of Wang et al.
    2015).

    Example
    -------
    >>> import torch
    >>> VectorMLP(dim=5, output_dim=3)(torch.zeros(2, 5)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self, dim: int, output_dim: int = 128, hidden_dim: int = 128, num_layers: int = 2, dropout: float = 0.1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        check_positive(dim=dim, output_dim=output_dim, hidden_dim=hidden_dim)
        check_dropout(dropout)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.dim = int(dim)
        self.net = nn.Sequential(nn.LayerNorm(dim), mlp(dim, hidden_dim, output_dim, num_layers, dropout, activation))
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, self.dim], "VectorMLP")
        out: Tensor = self.net(x)
        return out
