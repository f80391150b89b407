"""Interpreting single cells: missing values, paths, media held in the table, vectors, label lists."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# soundfile's format names that are not file extensions (raw needs its layout given; wavex, mat4 and mat5
# are written .wav / .mat), and the usual extensions of its formats that are not format names
_NOT_EXTENSIONS = frozenset({"raw", "wavex", "mat4", "mat5"})
AUDIO_EXTENSIONS = frozenset(
    {f".{name.lower()}" for name in sf.available_formats() if name.lower() not in _NOT_EXTENSIONS}
    | {".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc", ".mp3"}
)
"""Extensions of the audio files soundfile (libsndfile) reads: a column of such paths is audio."""


def is_missing(value: Any) -> bool:
    """True for a blank cell: ``None``, float NaN, ``pd.NA``, ``pd.NaT`` and ``numpy`` NaT.

    A media struct whose ``bytes`` and ``path`` are both null (how Hugging Face ``datasets`` may write a
    missing image) is missing too. An empty string is *not* missing (it is reported); arrays, lists and
    tuples are never missing.

    >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, np.datetime64("NaT"), "", 0)]
    [True, True, True, True, True, False, False]
    >>> is_missing({"bytes": None, "path": None}), is_missing({"bytes": b"...", "path": None})
    (True, False)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, Mapping):
        return set(value) <= MEDIA_FIELDS and all(v is None for v in value.values())
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


MEDIA_FIELDS = frozenset({"bytes", "path"})
"""The fields of the media structs Hugging Face ``datasets`` writes to Parquet (``Image()``, ``Audio()``)."""
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_AUDIO_MAGIC = (b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b".snd", b"caff")


def media_struct(value: Any) -> tuple[bytes | None, str | None] | None:
    """``(bytes, path)`` of a media struct (a mapping with ``bytes`` and/or ``path`` and no other key); None
    for any other cell."""
    if not isinstance(value, Mapping) or not value or not set(value) <= MEDIA_FIELDS:
        return None
    data, path = value.get("bytes"), value.get("path")
    data = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
    return data, path if isinstance(path, str) and path.strip() else None


def sniff_media(data: bytes) -> str | None:
    """``"image"`` or ``"audio"`` when ``data`` starts as a file of that kind does (PNG, JPEG, GIF, BMP, TIFF,
    WebP; WAV, FLAC, Ogg, MP3, AIFF, AU, CAF), else None."""
    head = bytes(data[:16])
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(_AUDIO_MAGIC) or (head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE") \
            or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")):
        return "audio"
    return None


def media_kind(value: Any) -> str | None:
    """``"image"`` or ``"audio"`` for a cell that holds media rather than naming a file: encoded bytes (by
    their magic number), a media struct (by its bytes, else its path's extension), a PIL image, an image
    array ``(H, W)`` / ``(H, W, C)`` (``C`` in 1, 3, 4; sides of at least 2), a ``(samples, sample_rate)``
    tuple, or a decoded ``{"array", "sampling_rate"}`` mapping; None for anything else (paths included).

    >>> media_kind(np.zeros((8, 8, 3), np.uint8)), media_kind((np.zeros(100), 16000)), media_kind(np.zeros(5))
    ('image', 'audio', None)
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return sniff_media(bytes(value))
    struct = media_struct(value)
    if struct is not None:
        data, path = struct
        kind = sniff_media(data) if data is not None else None
        extension = path_extension(path)
        return kind or ("image" if extension in IMAGE_EXTENSIONS else "audio" if extension in AUDIO_EXTENSIONS
                        else None)
    if isinstance(value, Mapping):
        return "audio" if set(value) >= {"array", "sampling_rate"} else None
    if isinstance(value, np.ndarray):
        image_shape = value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3, 4))
        return "image" if image_shape and min(value.shape[:2]) >= 2 and value.dtype.kind in "biuf" else None
    if isinstance(value, tuple):
        return "audio" if audio_tuple(value) else None
    from PIL import Image

    return "image" if isinstance(value, Image.Image) else None


def audio_tuple(value: Any) -> bool:
    """True for ``(samples, sample_rate)``: a 1-D or 2-D array or list of numbers and a positive whole rate."""
    if not (isinstance(value, tuple) and len(value) == 2):
        return False
    samples, rate = value
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        return False
    if isinstance(samples, np.ndarray):
        return samples.ndim in (1, 2) and samples.dtype.kind in "iuf"
    return isinstance(samples, list)


def parse_vector(value: Any) -> np.ndarray | None:
    """A list/array cell or a JSON list string as a float vector; None when it is not one."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float64).ravel() if value.dtype.kind in "biuf" else None
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return None
            if isinstance(parsed, list) and all(isinstance(v, (int, float)) for v in parsed):
                return np.asarray(parsed, dtype=np.float64)
    return None


def parse_label_list(value: Any) -> list[str] | None:
    """A multilabel cell: a list, a JSON list string, or labels separated by ``|``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return None
            return [str(v) for v in parsed] if isinstance(parsed, list) else None
        if "|" in text:
            return [t.strip() for t in text.split("|") if t.strip()]
    return None


def path_extension(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    dot = text.rfind(".")
    return text[dot:].lower() if dot > max(text.rfind("/"), text.rfind("\\")) else None


def to_float(value: Any) -> float | None:
    """A numeric cell as a float (NaN for missing); None when the cell is not a number."""
    if is_missing(value):
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):  # a datetime given the numeric kind: seconds since 1970
        return float(pd.Timestamp(value).value) / 1e9
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return float(pd.Timedelta(value).total_seconds())
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
