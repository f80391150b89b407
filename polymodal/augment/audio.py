"""Audio augmentations on log-mel ``[B, 1, n_mels, T]`` batches: time shift, time and frequency masks."""

from __future__ import annotations

import torch
from torch import Tensor

from polymodal.augment.base import Augmentation, check_fraction, mask_bands
from polymodal.data.kinds import ModalityKind

AUDIO = frozenset({ModalityKind.AUDIO})


class TimeShift(Augmentation):
    """Rolls each spectrogram along time by a random shift of up to ``max_fraction`` of its frames."""

    kinds = AUDIO

    def __init__(self, max_fraction: float = 0.1) -> None:
        super().__init__()
        self.max_fraction = check_fraction("max_fraction", max_fraction)

    def forward(self, x: Tensor) -> Tensor:
        frames = x.shape[-1]
        limit = round(self.max_fraction * frames)
        shifts = torch.randint(-limit, limit + 1, (x.shape[0],), device=x.device)
        index = (torch.arange(frames, device=x.device).unsqueeze(0) - shifts.unsqueeze(1)) % frames
        return torch.gather(x, -1, index.view(x.shape[0], *([1] * (x.dim() - 2)), frames).expand_as(x))


class TimeMask(Augmentation):
    """SpecAugment time masking: ``count`` bands of up to ``max_width`` of the frames set to zero."""

    kinds = AUDIO

    def __init__(self, max_width: float = 0.1, count: int = 2) -> None:
        super().__init__()
        self.max_width = check_fraction("max_width", max_width)
        if count < 1:
            raise ValueError(f"count must be positive, got {count}")
        self.count = int(count)

    def forward(self, x: Tensor) -> Tensor:
        return mask_bands(x, -1, self.max_width, self.count)


class FrequencyMask(TimeMask):
    """SpecAugment frequency masking: ``count`` bands of up to ``max_width`` of the mel bins set to zero."""

    def __init__(self, max_width: float = 0.15, count: int = 2) -> None:
        super().__init__(max_width, count)

    def forward(self, x: Tensor) -> Tensor:
        return mask_bands(x, -2, self.max_width, self.count)
