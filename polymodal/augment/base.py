"""The augmentation contract: a random, label-preserving change of a batch tensor, applied in training only.

An augmentation is an ``nn.Module`` without parameters: ``forward(x) -> x'`` on one modality's
batch tensor (see :mod:`polymodal.data.kinds` for the shapes), drawing from torch's global random
generator (so ``seed_everything`` makes it reproducible), each sample independently. ``kinds`` says
which modality kinds it applies to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from polymodal.data.kinds import ModalityKind


class Augmentation(nn.Module, ABC):
    kinds: ClassVar[frozenset[ModalityKind]]

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor: ...

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_") and k != "training")


def check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def check_fraction(name: str, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return float(value)


class GaussianNoise(Augmentation):
    """Adds ``std`` times standard normal noise (inputs are standardised, so ``std`` is relative)."""

    kinds = frozenset({ModalityKind.IMAGE, ModalityKind.AUDIO, ModalityKind.VECTOR})

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        if std < 0:
            raise ValueError(f"std must be non-negative, got {std}")
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.std * torch.randn_like(x)


def mask_bands(x: Tensor, dim: int, max_width: float, count: int) -> Tensor:
    """``count`` bands along ``dim`` of each sample, each of random width up to ``max_width`` of the
    axis, set to zero (the mean of standardised inputs), SpecAugment style."""
    size = x.shape[dim]
    limit = max(1, round(max_width * size))
    positions = torch.arange(size, device=x.device)
    keep = torch.ones(x.shape[0], size, dtype=torch.bool, device=x.device)
    for _ in range(count):
        width = torch.randint(0, limit + 1, (x.shape[0], 1), device=x.device)
        start = (torch.rand(x.shape[0], 1, device=x.device) * (size - width + 1)).floor().long()
        keep &= ~((positions >= start) & (positions < start + width))
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[dim if dim >= 0 else x.dim() + dim] = size
    return x * keep.view(shape).to(x.dtype)
