"""Tiny media held in tables, as Hugging Face ``datasets`` writes them to Parquet (shared by several tests)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from PIL import Image

MEDIA_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def image_pixels(seed: int, size: int = 8) -> np.ndarray:
    """An RGB image whose brightness follows ``seed % 2`` (so that a label can be learnt from it)."""
    rng = np.random.default_rng(seed)
    base = 60 + 120 * (seed % 2)
    return np.clip(base + rng.integers(-40, 40, (size, size, 3)), 0, 255).astype(np.uint8)


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_pixels(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


def wave(seed: int, rate: int = 8000) -> np.ndarray:
    t = np.arange(rate // 4) / rate
    return (0.5 * np.sin(2 * np.pi * (300 + 400 * (seed % 2)) * t)).astype(np.float32)


def wav_bytes(seed: int, rate: int = 8000, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave(seed, rate), rate, format=fmt)
    return buffer.getvalue()


def hf_parquet(path: Path, n: int = 24) -> Path:
    """A table as ``datasets.Dataset.to_parquet`` writes one with ``Image()`` and ``Audio()`` features:
    ``{bytes, path}`` structs (path None in some rows; one image given by path only, next to the table)."""
    Image.fromarray(image_pixels(1)).save(path.parent / "on_disk.png")
    images = [{"bytes": png_bytes(i), "path": f"img_{i}.png" if i % 3 else None} for i in range(n)]
    images[5] = {"bytes": None, "path": "on_disk.png"}
    audio = [{"bytes": wav_bytes(i, fmt="FLAC" if i % 4 == 0 else "WAV"), "path": f"clip_{i}.wav"} for i in range(n)]
    table = pa.table({"image": pa.array(images, MEDIA_STRUCT), "audio": pa.array(audio, MEDIA_STRUCT),
                      "label": [f"c{i % 2}" for i in range(n)]})
    pq.write_table(table, path)
    return path
