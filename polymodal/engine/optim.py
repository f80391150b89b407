"""The optimiser of every training loop: AdamW, fused where PyTorch has a fused kernel for the parameters.

PyTorch's default AdamW on the CPU updates one parameter tensor at a time; its fused kernel (CPU and
CUDA, floating-point parameters) does the whole update in one pass and is about 10x faster on the small
models polymodal trains on a CPU, where the update otherwise takes a sixth of the training time. The
result is the same update up to floating-point rounding.

Example
-------
>>> import torch
>>> adamw(torch.nn.Linear(2, 2).parameters(), lr=1e-3).defaults["fused"]
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

FUSED_DEVICES = ("cpu", "cuda")


def adamw(params: Iterable[nn.Parameter], **options: Any) -> torch.optim.AdamW:
    """``torch.optim.AdamW(params, **options)``, fused when every parameter is a floating-point tensor on a
    device with a fused kernel."""
    tensors: list[torch.Tensor] = list(params)
    fused = bool(tensors) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors) \
        and len({p.device for p in tensors}) == 1
    return torch.optim.AdamW(tensors, fused=fused or None, **options)


__all__ = ["adamw"]
