"""Reading media: images with Pillow, audio with soundfile, from a file, from encoded bytes held in the table,
or from decoded values (image arrays and PIL images, ``(samples, sample_rate)``). Errors say what is wrong."""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
import soundfile as sf
from PIL import Image, UnidentifiedImageError

from polymodal.data.sources import is_url, join_location

MediaData = Path | bytes
"""Where encoded media comes from: a local file, or its bytes (held in the table, or read from a URL)."""


class UnreadableFile(ValueError):
    """A file exists but cannot be read as the kind its column holds."""


def resolve_path(value: str, base_dir: Path | str, data_root: Path | None = None) -> Path | str:
    """Resolve a table cell to a file path, or to a URL (``str``) for a URL cell or a relative path in a
    remote table (``base_dir`` a URL); relative paths are relative to ``base_dir``.

    With ``data_root``, a path that resolves outside it (``..``, absolute paths, symlinks) is refused; a URL
    is refused unless ``data_root`` is a URL it lies under.
    """
    text = value.strip()
    if is_url(text) or (isinstance(base_dir, str) and not Path(text).expanduser().is_absolute()):
        url = join_location(text, ".") if is_url(text) else join_location(str(base_dir), text)
        if data_root is not None and not PurePosixPath(url).is_relative_to(PurePosixPath(str(data_root))):
            raise PermissionError(f"path {value!r} resolves to {url}, outside the data root {data_root}")
        return url
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
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


def load_image(path: MediaData, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image as uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB), scaled by its bit depth.

    16-bit images are scaled (65535 becomes 255, not clipped); 32-bit integer images whose values fit
    16 bits likewise, others and float images are scaled from their own range ([0, 1] floats by 255);
    palette, CMYK and other colour modes are converted to RGB; an alpha channel is dropped. An image that
    declares more than ``max_pixels`` pixels is refused before it is decoded. ``path`` may also be the
    file's bytes.
    """
    try:
        with _open_image(path if isinstance(path, Path) else io.BytesIO(path)) as img:
            _check_declared_size(img, max_pixels)
            img.load()
            array = _to_uint8(img)
    except Image.DecompressionBombError as exc:  # Pillow's own limit (PIL.Image.MAX_IMAGE_PIXELS x 2)
        raise UnreadableFile(f"the image declares too many pixels to decode safely ({_detail(exc)})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(f"not a readable image ({type(exc).__name__}: {_detail(exc)})") from exc
    if array.size == 0:
        raise UnreadableFile("the image has no pixels")
    return array


def _detail(exc: BaseException) -> str:
    """An error's text with Pillow's or libsndfile's name of an in-memory file (``<_io.BytesIO object at
    0x...>``) replaced by words: the address means nothing to the user and differs on every run."""
    return re.sub(r"<_io\.BytesIO object at 0x[0-9A-Fa-f]+>", "in the cell", str(exc))


def _open_image(path: Path | IO[bytes]) -> Image.Image:
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


def _wav_data_shortfall(path: MediaData) -> int:
    """Bytes the WAV header promises in its data chunk but the file (or bytes) does not hold (0 if complete)."""
    size = path.stat().st_size if isinstance(path, Path) else len(path)
    with path.open("rb") if isinstance(path, Path) else io.BytesIO(path) as fh:
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


def load_audio(path: MediaData) -> tuple[np.ndarray, int]:
    """Audio as ``(float32 mono samples in [-1, 1], sample_rate)``; truncated files are refused. ``path``
    may also be the file's bytes."""
    try:
        if isinstance(path, bytes) or path.suffix.lower() == ".wav":
            missing = _wav_data_shortfall(path)
            if missing:
                raise UnreadableFile(f"truncated WAV: the header promises {missing} more bytes of audio")
        source = str(path) if isinstance(path, Path) else io.BytesIO(path)
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, struct.error) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(f"not readable audio ({type(exc).__name__}: {_detail(exc)})") from exc
    if samples.shape[0] == 0:
        raise UnreadableFile("the audio file holds no samples")
    return _mono(samples), int(rate)


def _mono(samples: np.ndarray) -> np.ndarray:
    """``(frames, channels)`` float32 mixed down to finite mono samples."""
    mono = samples.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise UnreadableFile("the audio holds NaN or infinite samples")
    return mono


def image_from_value(value: Any, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A decoded image given in memory, a PIL image or a numpy array ``(H, W)`` / ``(H, W, C)`` with ``C`` in
    1, 3, 4, as :func:`load_image` returns it: uint8 grey ``(H, W)`` or RGB ``(H, W, 3)``.

    Arrays are scaled as image files are: uint8 as they are, bool to 0/255, 16-bit integers by 65535, float
    in [0, 1] by 255, other values from their own range; an alpha channel is dropped. Raises
    :class:`UnreadableFile` saying what is wrong, and for more than ``max_pixels`` pixels.

    >>> image_from_value(np.array([[0.0, 0.5], [1.0, 1.0]])).tolist()
    [[0, 128], [255, 255]]
    """
    if isinstance(value, Image.Image):
        _check_declared_size(value, max_pixels)
        return _to_uint8(value)
    array = np.asarray(value)
    if array.ndim == 3 and array.shape[2] in (1, 3, 4) and array.size:
        array = array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or array.size == 0:
        raise UnreadableFile(f"expected an image array (H, W) or (H, W, C) with C 1, 3 or 4, got shape {array.shape}")
    height, width = array.shape[:2]
    if height * width > max_pixels:
        raise UnreadableFile(f"the image array has {width} x {height} pixels ({width * height / 1e6:.1f} megapixels), "
                             f"over the limit of {max_pixels / 1e6:g} megapixels (raise the image option "
                             "max_image_pixels)")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "iuf":
        raise UnreadableFile(f"expected an image array of numbers, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise UnreadableFile("the image holds NaN or infinite pixels")
    low, high = float(values.min()), float(values.max())
    if array.dtype.kind in "iu" and low >= 0 and high <= 255:
        return values.astype(np.uint8)
    if array.dtype.kind in "iu" and low >= 0 and high <= 65535:
        return _scaled(values, 65535.0)
    if array.dtype.kind == "f" and low >= 0 and high <= 1:
        return _scaled(values, 1.0)
    return _scaled(values - low, high - low)


def audio_from_value(samples: Any, rate: Any) -> tuple[np.ndarray, int]:
    """Decoded audio given in memory, ``samples`` ``[T]`` or ``(frames, channels)`` at ``rate`` Hz, as
    :func:`load_audio` returns it. Integer samples are scaled by their type's range (int16 by 32768).

    >>> audio_from_value(np.array([0, 16384], np.int16), 8000)
    (array([0. , 0.5], dtype=float32), 8000)
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float, np.floating)) or not rate > 0 \
            or float(rate) != int(rate):
        raise UnreadableFile(f"the sample rate must be a positive whole number of Hz, got {rate!r}")
    array = np.asarray(samples)
    if array.dtype.kind not in "iuf" or array.ndim not in (1, 2):
        raise UnreadableFile(f"expected audio samples [T] or (frames, channels) of numbers, got "
                             f"{array.dtype} {array.shape}")
    if array.size == 0:
        raise UnreadableFile("the audio holds no samples")
    if array.dtype.kind in "iu":  # signed: full scale at 2**(bits-1); unsigned (8-bit WAV): centred on half
        half = float(np.iinfo(array.dtype).max) + 1 if array.dtype.kind == "i" else (np.iinfo(array.dtype).max + 1) / 2
        array = (array.astype(np.float64) - (0.0 if array.dtype.kind == "i" else half)) / half
    return _mono(array.reshape(len(array), -1).astype(np.float32)), int(rate)
