"""Image augmentations on ``[B, C, H, W]`` batches: random resized crop, horizontal flip (noise is in base)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.augment.base import Augmentation, check_fraction, check_probability
from polymodal.data.kinds import ModalityKind


class RandomCrop(Augmentation):
    """A random crop of ``scale`` (a range) of the area and ``ratio`` (a range) of aspect, resized back
    to the input size with bilinear sampling (the "random resized crop" of SimCLR and CLIP)."""

    kinds = frozenset({ModalityKind.IMAGE})

    def __init__(self, scale: tuple[float, float] = (0.7, 1.0), ratio: tuple[float, float] = (0.75, 4 / 3)) -> None:
        super().__init__()
        low, high = (check_fraction("scale", float(v)) for v in scale)
        if low > high or ratio[0] <= 0 or ratio[0] > ratio[1]:
            raise ValueError(f"scale and ratio are (low, high) ranges; got scale={scale}, ratio={ratio}")
        self.scale = (low, high)
        self.ratio = (float(ratio[0]), float(ratio[1]))

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        area = torch.empty(n, device=x.device).uniform_(*self.scale)
        log_ratio = torch.empty(n, device=x.device).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = log_ratio.exp()
        sx = (area * aspect).sqrt().clamp(max=1.0)  # crop width / image width
        sy = (area / aspect).sqrt().clamp(max=1.0)
        tx = (torch.rand(n, device=x.device) * 2 - 1) * (1 - sx)  # the crop stays inside the image
        ty = (torch.rand(n, device=x.device) * 2 - 1) * (1 - sy)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomFlip(Augmentation):
    """Mirrors each image left-right with probability ``p`` (not for digits or text in images)."""

    kinds = frozenset({ModalityKind.IMAGE})

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability("p", p)

    def forward(self, x: Tensor) -> Tensor:
        flip = torch.rand(x.shape[0], device=x.device) < self.p
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
