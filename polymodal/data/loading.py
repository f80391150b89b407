"""Reading media files: images with Pillow, audio with soundfile. Errors say what is wrong with the file."""

from __future__ import annotations

import struct
from pathlib import Path

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


def load_image(path: Path) -> np.ndarray:
    """An image as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB)."""
    try:
        with Image.open(path) as opened:
            opened.load()
            img: Image.Image = opened
            if img.mode in ("L", "1", "I;16", "I", "F", "LA"):
                img = img.convert("L")
            elif img.mode != "RGB":
                img = img.convert("RGB")
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFile(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    if array.size == 0:
        raise UnreadableFile("the image has no pixels")
    return array


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
