"""Small building blocks shared by the encoder families."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU (the convolution has no bias: batch norm supplies it)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def downsampling_stages(side: int, smallest: int = 4, most: int = 4) -> int:
    """How many halvings take ``side`` down to about ``smallest`` (at least 1, at most ``most``).

    >>> downsampling_stages(8), downsampling_stages(32), downsampling_stages(64)
    (1, 3, 4)
    """
    side = max(side, 1)
    wanted = max(1, math.floor(math.log2(side / smallest)))
    return int(min(most, wanted, math.floor(math.log2(side))))  # never pool a side below 1


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
                                            "sigmoid": nn.Sigmoid}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module by name (see :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, dropout: float,
        activation: str = "relu") -> nn.Sequential:
    """``num_layers`` hidden blocks (Linear, activation, Dropout) then a linear output layer."""
    layers: list[nn.Module] = []
    width = input_dim
    for _ in range(num_layers):
        layers += [nn.Linear(width, hidden_dim), activation_layer(activation), nn.Dropout(dropout)]
        width = hidden_dim
    layers.append(nn.Linear(width, output_dim))
    return nn.Sequential(*layers)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values [B, T, D]`` over dim 1 (tokens, or stacked modalities) counting only the positions
    where ``mask [B, T]`` is True; what the masked-out positions hold (even NaN) never matters.

    A row with no True position gets zeros, never NaN.
    """
    present = mask.to(torch.bool).unsqueeze(-1)
    total = torch.where(present, values, torch.zeros_like(values)).sum(dim=1)
    return total / present.to(values.dtype).sum(dim=1).clamp_min(1.0)


def check_positive(**sizes: float) -> None:
    """Raise a ``ValueError`` naming every size that is not positive."""
    bad = {name: value for name, value in sizes.items() if not value > 0}
    if bad:
        listed = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise ValueError(f"sizes must be positive, got {listed}")


def check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def check_input(x: Tensor, expected: list[int | None], what: str) -> None:
    """Check ``x``'s shape against ``expected`` (``None`` = any size)."""
    ok = x.dim() == len(expected) and all(e is None or s == e for s, e in zip(x.shape, expected))
    if not ok:
        shape = ", ".join("B" if i == 0 else "*" if e is None else str(e) for i, e in enumerate(expected))
        raise ValueError(f"{what} expects input [{shape}], got {list(x.shape)}")


def as_long_codes(x: Tensor) -> Tensor:
    """Category codes stored as floats back to integers (rounded, never below 0)."""
    return torch.round(x).clamp_min(0).long()
