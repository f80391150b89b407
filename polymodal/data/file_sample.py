"""A media cell keyed by its file's bytes, decoded only when something needs its pixels or samples.

The bytes are those of a file on disk, or the encoded file held in the table itself (a Hugging Face
``{bytes, path}`` struct, a binary column): the same bytes give the same key either way.

Frozen pretrained encoders look their embeddings up in the on-disk cache by a sample's content key.
Keying a file by its bytes (not by its decoded content) lets a table load without decoding the
files whose embeddings are already cached: :func:`~polymodal.data.validation.load_table` gives such
columns :class:`FileSample` cells, decoding (and validating) only the files the cache lacks. Editing
a file changes its bytes, hence its key: its old entry is never looked up again.

Example
-------
>>> import numpy as np, tempfile
>>> from pathlib import Path
>>> from PIL import Image
>>> path = Path(tempfile.mkdtemp()) / "a.png"
>>> Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
>>> cell = FileSample.of(path, "image")
>>> cell.decoded().shape, len(cell.key)
((4, 4), 16)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.data.loading import load_audio, load_image

LOADERS: dict[str, Callable[[Path | bytes], Any]] = {"image": load_image, "audio": load_audio}
KEY_BYTES = 16
_CHUNK = 1 << 20
_DIGESTS: dict[tuple[str, int, int], bytes] = {}


def file_digest(path: str | Path) -> bytes:
    """SHA-256 of a file's bytes, memoised per resolved path, size and modification time."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(memo)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        digest = _DIGESTS[memo] = h.digest()
    return digest


def _key(kind: str, digest: bytes) -> bytes:
    if kind not in LOADERS:
        raise ValueError(f"a file sample is an image or audio file, not {kind!r}")
    return hashlib.blake2b(f"file\0{kind}\0".encode() + digest, digest_size=KEY_BYTES).digest()


@dataclass(frozen=True, eq=False)
class FileSample:
    """An image or audio file with its content key; ``value`` is the decoded cell when already decoded;
    ``data`` the file's bytes when the table holds them (``path`` is then ``None``)."""

    path: Path | None
    kind: str
    key: bytes
    value: Any = None
    data: bytes | None = None

    @classmethod
    def of(cls, path: str | Path, kind: str, value: Any = None) -> FileSample:
        return cls(Path(path), kind, _key(kind, file_digest(path)), value)

    @classmethod
    def of_bytes(cls, data: bytes, kind: str, value: Any = None) -> FileSample:
        """A file held as bytes (its key is that of a file with these bytes)."""
        return cls(None, kind, _key(kind, hashlib.sha256(data).digest()), value, bytes(data))

    def decoded(self) -> Any:
        """The decoded cell (a uint8 image array, or ``(samples, rate)``); read from disk if not held.

        Raises :class:`~polymodal.data.loading.UnreadableFile` (naming the file) when it cannot be
        decoded, and ``ValueError`` when the file changed since its key was computed.
        """
        if self.value is not None:
            return self.value
        if self.path is None:
            return LOADERS[self.kind](self.data if self.data is not None else b"")
        if self.key != FileSample.of(self.path, self.kind).key:
            raise ValueError(f"{self.path} changed after the table was loaded; load the table again")
        return LOADERS[self.kind](self.path)

    def with_value(self) -> FileSample:
        """This sample holding its decoded cell."""
        return self if self.value is not None else FileSample(self.path, self.kind, self.key, self.decoded(), self.data)


def decoded(cell: Any) -> Any:
    """``cell`` decoded if it is a :class:`FileSample`, else unchanged."""
    return cell.decoded() if isinstance(cell, FileSample) else cell
