"""A small convolutional image encoder trained from scratch."""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, conv_block, downsampling_stages


class ImageCNN(Encoder):
    """Conv-BN-ReLU blocks, halving the resolution ``num_stages`` times, global average pool, linear.

    ``num_stages=None`` picks it from the image size so that the last feature map is about 4x4 (1
    stage for 8x8, 4 for 64x64). Channels double at each stage from ``base_channels`` up to
    ``8 * base_channels``.

    Example
    -------
    >>> import torch
    >>> ImageCNN(channels=3, height=32, width=32, output_dim=16)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        output_dim: int = 128,
        base_channels: int = 32,
        num_stages: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(channels=channels, height=height, width=width, output_dim=output_dim)
        check_positive(base_channels=base_channels)
        check_dropout(dropout)
        stages = downsampling_stages(min(height, width)) if num_stages is None else int(num_stages)
        if stages < 0:
            raise ValueError(f"num_stages must be >= 0, got {num_stages}")
        self.input_shape = (int(channels), int(height), int(width))
        blocks: list[nn.Module] = [conv_block(channels, base_channels)]
        width_in = base_channels
        for _ in range(stages):
            width_out = min(width_in * 2, base_channels * 8)
            blocks += [conv_block(width_in, width_out, stride=2), conv_block(width_out, width_out)]
            width_in = width_out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width_in, output_dim))
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, *self.input_shape], "ImageCNN")
        out: Tensor = self.head(self.pool(self.features(x)))
        return out
