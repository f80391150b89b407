"""Reading media files: images with Pillow, audio with soundfile. Errors say what is wrong with the file."""

from __future__ import annotations

import struct
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image, UnidentifiedImageError


class UnreadableFile(ValueError):
    """A file exists but cannot be read as the kind its column holds."""


def resolve_path(value: str, base_dir: Path, data_root: Path | None = None) -> Path:
    """Resolve a table cell to a file path; relative paths are relative to ``base_dir``.

    With ``data_root``, a path that resolves outside it (``..``, absolute paths, symlinks) is refused.
    """
    path = Path(value.strip()).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if data_root is not None:
        resolved = path.resolve()
        root = data_root.resolve()
        if not resolved.is_relative_to(root):
            raise PermissionError(f"path {value!r} resolves to {resolved}, outside the data root {root}")
    return path


_OPEN_LOCK = threading.Lock()
MAX_IMAGE_PIXELS = 50_000_000
"""Default limit on the pixels an image file may declare (50 megapixels, e.g. 7071 x 7071): larger ones are
refused before decoding, as decompression bombs (a few hundred bytes can declare gigabytes of pixels)."""


def check_pixel_limit(value: Any) -> int:
    """``max_image_pixels`` as a positive int; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"max_image_pixels must be a positive whole number of pixels, got {value!r}")
    return int(value)


def load_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB), scaled by its bit depth.

    16-bit images are scaled (65535 becomes 255, not clipped); 32-bit integer images whose values fit
    16 bits likewise, others and float images are scaled from their own range ([0, 1] floats by 255);
    palette, CMYK and other colour modes are converted to RGB; an alpha channel is dropped. An image that
    declares more than ``max_pixels`` pixels is refused before it is decoded.
    """
    try:
        with _open_image(path) as img:
            _check_declared_size(img, max_pixels)
            img.load()
            array = _to_uint8(img)
    except Image.DecompressionBombError as exc:  # Pillow's own limit (PIL.Image.MAX_IMAGE_PIXELS x 2)
        raise UnreadableFile(f"the image declares too many pixels to decode safely ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    if array.size == 0:
        raise UnreadableFile("the image has no pixels")
    return array


def _open_image(path: Path) -> Image.Image:
    """``Image.open`` (it reads only the header) without Pillow's DecompressionBombWarning: the declared size is
    checked against our own limit next. The lock keeps the warning filters of concurrent loads apart."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _check_declared_size(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width * height > max_pixels:
        raise UnreadableFile(
            f"the image declares {width} x {height} pixels ({width * height / 1e6:.1f} megapixels), over the "
            f"limit of {max_pixels / 1e6:g} megapixels; it was not decoded (raise the image option "
            "max_image_pixels if the file is genuine)"
        )


def _to_uint8(img: Image.Image) -> np.ndarray:
    """The pixels of an opened image as uint8 grey ``(H, W)`` or RGB ``(H, W, 3)``."""
    mode = img.mode
    if mode.startswith("I;16"):
        return _scaled(np.asarray(img, dtype=np.float64), 65535.0)
    if mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise UnreadableFile("the image holds NaN or infinite pixels")
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if mode == "I" and low >= 0 and high <= 65535:
            return _scaled(values, 65535.0)  # 16-bit pixels held in 32 bits (16-bit PNG and TIFF)
        if mode == "F" and low >= 0 and high <= 1:
            return _scaled(values, 1.0)
        return _scaled(values - low, high - low)  # no bit depth to go by: the image's own range
    if mode in ("1", "L", "LA", "La", "L;16"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


def _scaled(values: np.ndarray, full_scale: float) -> np.ndarray:
    """``values`` in ``[0, full_scale]`` as uint8 ``[0, 255]`` (rounded); a flat image (no range) is 0."""
    if full_scale <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint(np.clip(values / full_scale, 0.0, 1.0) * 255.0).astype(np.uint8)


def _wav_data_shortfall(path: Path) -> int:
    """Bytes the WAV header promises in its data chunk but the file does not hold (0 if complete)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                return max(0, offset + 8 + chunk_size - size)
            offset += 8 + chunk_size + (chunk_size & 1)
    return 0


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Audio as ``(float32 mono samples in [-1, 1], sample_rate)``; truncated files are refused."""
    try:
        if path.suffix.lower() == ".wav":
            missing = _wav_data_shortfall(path)
            if missing:
                raise UnreadableFile(f"truncated WAV: the header promises {missing} more bytes of audio")
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, struct.error) as exc:
        raise UnreadableFile(f"not readable audio ({type(exc).__name__}: {exc})") from exc
    if samples.shape[0] == 0:
        raise UnreadableFile("the audio file holds no samples")
    mono = samples.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise UnreadableFile("the audio holds NaN or infinite samples")
    return mono, int(rate)
