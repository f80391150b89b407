"""Cache keys: a sample's content hash, a weights digest and the namespace of an encoder setup.

A sample is keyed by its content, never by where it came from: text by its string, a media file
by its bytes (a :class:`~polymodal.data.file_sample.FileSample`, so that a cached sample need not be
decoded), a decoded image by its pixels (shape, dtype, bytes), decoded audio by its samples and rate
(cells changed in memory, e.g. corrupted for a robustness test). Editing a file changes its bytes,
hence its key, so its old entry is simply never looked up again.

Example
-------
>>> content_key("a cat") == content_key("a cat"), content_key("a cat") == content_key("a dog")
(True, False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.data.file_sample import KEY_BYTES, FileSample, file_digest


def content_key(value: Any) -> bytes:
    """The 16-byte key of one sample: a ``str``, a ``FileSample``, an image array, or a ``(samples, rate)`` tuple."""
    if isinstance(value, FileSample):
        return value.key
    h = hashlib.blake2b(digest_size=KEY_BYTES)
    if isinstance(value, str):
        h.update(b"text\0" + value.encode("utf-8"))
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        h.update(f"array\0{array.dtype.str}\0{array.shape}\0".encode())
        h.update(array.data)
    elif isinstance(value, tuple) and len(value) == 2:
        samples = np.ascontiguousarray(value[0], dtype=np.float32)
        h.update(f"audio\0{int(value[1])}\0{samples.shape}\0".encode())
        h.update(samples.data)
    else:
        raise TypeError(f"cannot key a sample of type {type(value).__name__}; expected str, FileSample, array "
                        "or (samples, rate)")
    return h.digest()


def weights_digest(paths: Iterable[str | Path]) -> str:
    """One digest of several weight files (sorted by name, so the order given does not matter)."""
    parts = sorted((Path(p).name, file_digest(p).hex()) for p in paths)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def namespace(encoder: str, identity: Mapping[str, Any]) -> str:
    """``<encoder>-<16 hex>``: the folder of one encoder identity (weights and preprocessing included)."""
    text = json.dumps(dict(identity), sort_keys=True, default=str)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder)
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
