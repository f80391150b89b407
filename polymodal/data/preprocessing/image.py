"""Images: resize to a square, scale to [0, 1], normalise per channel with training statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from polymodal.data.kinds import ModalityKind
from polymodal.data.loading import MAX_IMAGE_PIXELS, check_pixel_limit
from polymodal.data.preprocessing.base import SingleColumnPreprocessor, require_arrays, row_label

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 64


class ImagePreprocessor(SingleColumnPreprocessor):
    """Images (``uint8`` arrays ``(H, W)`` or ``(H, W, 3)``) to float ``[N, C, S, S]``.

    Parameters
    ----------
    column:
        The image column.
    image_size:
        Side ``S`` of the square output; ``None`` fits it: the median side of the training images,
        clipped to [8, 64].
    channels:
        1 (grayscale) or 3 (RGB); ``None`` fits it: 1 if every training image is grayscale, else 3.
    max_image_pixels:
        Image files that declare more pixels (width x height) are refused before they are decoded and
        reported like any unreadable file (decompression bombs). Default 50 megapixels; raise it with
        ``--preprocess image.max_image_pixels=N`` for genuine larger images (Pillow's own limit,
        ``PIL.Image.MAX_IMAGE_PIXELS`` x 2, about 179 megapixels, still applies).

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> train = pd.DataFrame({"img": [np.zeros((10, 12), np.uint8), np.full((10, 10), 255, np.uint8)]})
    >>> ImagePreprocessor("img").fit(train).transform(train).shape
    torch.Size([2, 1, 10, 10])
    """

    kind = ModalityKind.IMAGE

    def __init__(self, column: str, image_size: int | None = None, channels: int | None = None,
                 max_image_pixels: int = MAX_IMAGE_PIXELS) -> None:
        super().__init__(column)
        self.max_image_pixels = check_pixel_limit(max_image_pixels)
        if image_size is not None and int(image_size) < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size}")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or None (fitted), got {channels}")
        self.image_size = None if image_size is None else int(image_size)
        self.channels = channels

    def options(self) -> dict[str, Any]:
        return {"column": self.column, "image_size": self.image_size, "channels": self.channels,
                "max_image_pixels": self.max_image_pixels}

    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        positions, cells = self._present_values(frame)
        if not cells:
            raise self._no_training_values()
        images = [self._check_cell(frame, p, c) for p, c in zip(positions, cells)]
        sides = [side for img in images for side in img.shape[:2]]
        size = self.image_size
        if size is None:
            size = int(np.clip(round(float(np.median(sides))), MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))
        channels = self.channels
        if channels is None:
            channels = 1 if all(img.ndim == 2 for img in images) else 3
        self.size_, self.channels_ = size, channels
        # Running sums (float64) instead of one stacked array: training sets may not fit in memory.
        total, total_sq = np.zeros(channels), np.zeros(channels)
        for img in images:
            pixels = self._resize(img).astype(np.float64)
            total += pixels.sum(axis=(1, 2))
            total_sq += np.square(pixels).sum(axis=(1, 2))
        count = len(images) * size * size
        self.mean_ = total / count
        std = np.sqrt(np.maximum(total_sq / count - np.square(self.mean_), 0.0))
        self.std_ = np.where(std > 1e-6, std, 1.0)

    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        out = np.zeros((len(frame), self.channels_, self.size_, self.size_), dtype=np.float32)
        positions, cells = self._present_values(frame)
        mean = self.mean_.astype(np.float32)[:, None, None]
        std = self.std_.astype(np.float32)[:, None, None]
        for position, cell in zip(positions, cells):
            out[position] = (self._resize(self._check_cell(frame, position, cell)) - mean) / std
        return torch.from_numpy(out)

    def _input_info(self) -> dict[str, Any]:
        return {"channels": self.channels_, "height": self.size_, "width": self.size_}

    def inverse_transform(self, values: torch.Tensor) -> list[np.ndarray]:
        """Preprocessed images ``[N, C, S, S]`` back to uint8 pixels ``(S, S)`` (grayscale) or ``(S, S, 3)``:
        the normalisation undone, values clipped to [0, 1] and rounded. The resizing is not undone."""
        self._check_fitted("inverse_transform")
        expected = (self.channels_, self.size_, self.size_)
        if values.dim() != 4 or tuple(values.shape[1:]) != expected:
            raise ValueError(f"expected images [N, {', '.join(map(str, expected))}], got {list(values.shape)}")
        mean = self.mean_.astype(np.float32)[:, None, None]
        std = self.std_.astype(np.float32)[:, None, None]
        pixels = np.clip(values.detach().cpu().float().numpy() * std + mean, 0.0, 1.0)
        pixels = np.rint(pixels * 255.0).astype(np.uint8)
        return [p[0] if self.channels_ == 1 else p.transpose(1, 2, 0) for p in pixels]

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"image_size": self.size_, "channels": self.channels_}, {"mean": self.mean_, "std": self.std_}

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        require_arrays(arrays, ["mean", "std"], "image preprocessing")
        self.size_, self.channels_ = int(fitted["image_size"]), int(fitted["channels"])
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        self.std_ = np.asarray(arrays["std"], dtype=np.float64)

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> np.ndarray:
        where = f"column {self.column!r}, row {row_label(frame, position)}"
        if not isinstance(cell, np.ndarray):
            raise TypeError(f"{where}: expected an image array, got {type(cell).__name__}")
        if cell.dtype != np.uint8:
            raise TypeError(f"{where}: expected a uint8 image, got dtype {cell.dtype}")
        if cell.ndim == 3 and cell.shape[2] == 1:
            cell = cell[:, :, 0]
        elif cell.ndim == 3 and cell.shape[2] == 4:
            cell = cell[:, :, :3]  # drop alpha
        if not (cell.ndim == 2 or (cell.ndim == 3 and cell.shape[2] == 3)) or min(cell.shape[:2]) < 1:
            raise ValueError(f"{where}: expected an image (H, W) or (H, W, 3), got shape {cell.shape}")
        return cell

    def _resize(self, image: np.ndarray) -> np.ndarray:
        """``(H, W[, 3])`` uint8 to float32 ``[C, S, S]`` in [0, 1] (bilinear)."""
        pil = Image.fromarray(image)
        pil = pil.convert("L" if self.channels_ == 1 else "RGB")
        pil = pil.resize((self.size_, self.size_), Image.Resampling.BILINEAR)
        array = np.asarray(pil, dtype=np.float32) / 255.0
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
