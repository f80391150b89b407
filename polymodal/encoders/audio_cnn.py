"""A 2-D convolutional encoder over log-mel spectrograms, trained from scratch."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, conv_block, downsampling_stages


class AudioCNN(Encoder):
    """Conv-BN-ReLU blocks with 2x2 max pooling over ``[B, 1, n_mels, n_frames]``, then global average
    and max pooling (concatenated) and a linear layer.

    ``num_stages=None`` picks the number of poolings from ``min(n_mels, n_frames)`` (about 4 cells
    left on the shorter side).

    Example
    -------
    >>> import torch
    >>> AudioCNN(n_mels=40, n_frames=101, output_dim=8)(torch.zeros(2, 1, 40, 101)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        output_dim: int = 128,
        base_channels: int = 16,
        num_stages: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(n_mels=n_mels, n_frames=n_frames, output_dim=output_dim, base_channels=base_channels)
        check_dropout(dropout)
        stages = downsampling_stages(min(n_mels, n_frames)) if num_stages is None else int(num_stages)
        if stages < 0:
            raise ValueError(f"num_stages must be >= 0, got {num_stages}")
        self.input_shape = (1, int(n_mels), int(n_frames))
        blocks: list[nn.Module] = [conv_block(1, base_channels)]
        width = base_channels
        for _ in range(stages):
            blocks += [nn.MaxPool2d(2), conv_block(width, min(width * 2, base_channels * 8))]
            width = min(width * 2, base_channels * 8)
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, output_dim))
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, *self.input_shape], "AudioCNN")
        maps = self.features(x).flatten(2)  # [B, C, cells]
        pooled = torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)
        out: Tensor = self.head(pooled)
        return out
