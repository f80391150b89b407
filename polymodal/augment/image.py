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


class GaussianBlur(Augmentation):
    """With probability ``p``, blurs an image with a Gaussian of standard deviation drawn uniformly from
    ``sigma`` (a range, in pixels), as SimCLR does; separable, with reflected borders. Teaches a model
    to read blurred or generated images (see ``benchmarks/avdigits_generation.py``)."""

    kinds = frozenset({ModalityKind.IMAGE})

    def __init__(self, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5) -> None:
        super().__init__()
        low, high = float(sigma[0]), float(sigma[1])
        if not 0.0 < low <= high:
            raise ValueError(f"sigma is a (low, high) range of positive standard deviations; got {sigma}")
        self.sigma = (low, high)
        self.p = check_probability("p", p)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        sigma = torch.empty(n, device=x.device, dtype=x.dtype).uniform_(*self.sigma)
        radius = min(math.ceil(3 * self.sigma[1]), (min(h, w) - 1) // 2)
        if radius < 1:
            return x
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)
        kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # [n * c, k]
        flat = x.reshape(1, n * c, h, w)
        flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=n * c)
        flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=n * c)
        blurred = flat.reshape(n, c, h, w)
        chosen = torch.rand(n, device=x.device) < self.p
        return torch.where(chosen.view(-1, 1, 1, 1), blurred, x)
