"""Text augmentation on token ids ``[B, L]`` (0 = padding, 1 = unknown): word dropout."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.augment.base import Augmentation, check_probability
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.text import PAD_ID, UNKNOWN_ID


class WordDropout(Augmentation):
    """Replaces each word (not padding) by the unknown token with probability ``p``."""

    kinds = frozenset({ModalityKind.TEXT})

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = check_probability("p", p)

    def forward(self, x: Tensor) -> Tensor:
        drop = (torch.rand(x.shape, device=x.device) < self.p) & (x != PAD_ID)
        return torch.where(drop, torch.full_like(x, UNKNOWN_ID), x)
