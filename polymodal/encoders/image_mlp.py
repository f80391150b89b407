"""An MLP over the flattened pixels: the encoder that suits tiny images (8x8 to 16x16 digits, icons)."""

from __future__ import annotations

from torch import Tensor

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, mlp


class ImageMLP(Encoder):
    """Images ``[B, C, H, W]`` to ``[B, output_dim]``: flattened pixels through an MLP of ``num_layers``
    hidden layers.

    On tiny images a convolutional network has little spatial structure to use and over-fits; an MLP over
    the ``C * H * W`` pixels is the stronger and cheaper encoder (the ``medium`` preset picks it for images
    of at most 16 pixels a side).

    Example
    -------
    >>> import torch
    >>> ImageMLP(channels=1, height=8, width=8, output_dim=16)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self, channels: int, height: int, width: int, output_dim: int = 128, hidden_dim: int = 256,
        num_layers: int = 1, dropout: float = 0.2, activation: str = "relu",
    ) -> None:
        super().__init__()
        check_positive(channels=channels, height=height, width=width, output_dim=output_dim, hidden_dim=hidden_dim)
        check_dropout(dropout)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.input_shape = (int(channels), int(height), int(width))
        self.net = mlp(channels * height * width, hidden_dim, output_dim, num_layers, dropout, activation)
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, *self.input_shape], "ImageMLP")
        out: Tensor = self.net(x.flatten(1))
        return out
