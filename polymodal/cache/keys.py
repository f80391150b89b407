"""Cache keys: a sample's content hash, a weights digest and the namespace of an encoder setup.

A sample is keyed by what the encoder reads, never by where it came from: text by its string,
an image by its decoded pixels (shape, dtype, bytes), audio by its samples and rate. Editing a file
changes its content, hence its key, so its old entry is simply never looked up again.

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

KEY_BYTES = 16
_CHUNK = 1 << 20
_DIGESTS: dict[tuple[str, int, int], str] = {}


def content_key(value: Any) -> bytes:
    """The 16-byte key of one sample: a ``str``, an image array, or a ``(samples, rate)`` tuple."""
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
        raise TypeError(f"cannot key a sample of type {type(value).__name__}; expected str, array or (samples, rate)")
    return h.digest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def weights_digest(paths: Iterable[str | Path]) -> str:
    """One digest of several weight files (sorted by name, so the order given does not matter)."""
    parts = sorted((Path(p).name, file_digest(p)) for p in paths)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def namespace(encoder: str, identity: Mapping[str, Any]) -> str:
    """``<encoder>-<16 hex>``: the folder of one encoder identity (weights and preprocessing included)."""
    text = json.dumps(dict(identity), sort_keys=True, default=str)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder)
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
