"""An on-disk store of embeddings: shards of memory-mapped numpy arrays, written atomically.

Layout (``root`` is :func:`~polymodal.cache.default_cache_dir` unless given)::

    root/
      <namespace>/                 one per encoder identity + weights + preprocessing
        meta.json                  what the namespace holds (encoder, weights digest, options, dim)
        shard-<id>/keys.npy        uint8 [n, 16]: the content key of each row
        shard-<id>/values.npy      float32 [n, dim]: the embeddings (read with mmap)

A shard is written under a hidden temporary name and renamed into place, so a reader sees whole
shards only, and several processes can fill the same namespace at once (each writes its own
shards; the same key in two shards holds the same embedding). Nothing is ever pickled.

Example
-------
>>> import numpy as np, tempfile
>>> store = EmbeddingStore(tempfile.mkdtemp(), "demo", dim=2, meta={"encoder": "demo"})
>>> key = content_key("hello")
>>> store.put([key], np.array([[1.0, 2.0]], np.float32))
>>> store.get([key])[0].tolist()
[[1.0, 2.0]]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.cache.keys import KEY_BYTES, content_key
from polymodal.engine.atomic import atomic_write_json

FORMAT_VERSION = 1


class EmbeddingStore:
    """The embeddings of one namespace (one encoder identity, weights and preprocessing)."""

    def __init__(self, root: str | Path, namespace: str, dim: int, meta: Mapping[str, Any]) -> None:
        if dim < 1:
            raise ValueError(f"embedding dim must be positive, got {dim}")
        self.path = Path(root) / namespace
        self.dim = int(dim)
        self._index: dict[bytes, tuple[str, int]] = {}
        self._values: dict[str, np.ndarray] = {}
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / "meta.json").exists():
            atomic_write_json(self.path / "meta.json", {**meta, "dim": self.dim, "format": FORMAT_VERSION})

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """``(values [n, dim] float32, found [n] bool)``; rows not found are zeros."""
        self._refresh()
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        for i, key in enumerate(keys):
            where = self._index.get(key)
            if where is not None:
                out[i] = self._values[where[0]][where[1]]
                found[i] = True
        return out, found

    def contains(self, keys: Sequence[bytes]) -> np.ndarray:
        """``[n]`` bool: which keys the store holds (nothing is read but the key index)."""
        self._refresh()
        return np.fromiter((key in self._index for key in keys), dtype=bool, count=len(keys))

    def put(self, keys: Sequence[bytes], values: np.ndarray) -> None:
        """Store ``values[i]`` under ``keys[i]`` as one new shard (atomic)."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.shape != (len(keys), self.dim):
            raise ValueError(f"expected values of shape {(len(keys), self.dim)}, got {values.shape}")
        if not len(keys):
            return
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        name = f"shard-{uuid.uuid4().hex}"
        tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{name}."))
        try:
            np.save(tmp / "keys.npy", key_array, allow_pickle=False)
            np.save(tmp / "values.npy", values, allow_pickle=False)
            os.replace(tmp, self.path / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def _refresh(self) -> None:
        """Index shards written since the last look (by this or another process)."""
        for shard in sorted(self.path.glob("shard-*")):
            if shard.name in self._values:
                continue
            keys = np.load(shard / "keys.npy", allow_pickle=False)
            values = np.load(shard / "values.npy", mmap_mode="r", allow_pickle=False)
            if values.shape != (len(keys), self.dim):
                continue  # a shard of another layout: ignore it rather than read garbage
            self._values[shard.name] = values
            for row, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), (shard.name, row))


__all__ = ["FORMAT_VERSION", "EmbeddingStore", "content_key"]
