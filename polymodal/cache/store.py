"""An on-disk store of embeddings: shards of memory-mapped numpy arrays, written atomically and verified.

Layout (``root`` is :func:`~polymodal.cache.default_cache_dir` unless given)::

    root/
      CACHEDIR.TAG                 marks the folder as a cache (https://bford.info/cachedir/)
      <namespace>/                 one per encoder identity + weights + preprocessing
        meta.json                  what the namespace holds (encoder, weights digest, options, dim) and
                                   ``"polymodal_cache": 1``, the marker that proves polymodal wrote it
        shard-<id>/keys.npy        uint8 [n, 16]: the content key of each row
        shard-<id>/values.npy      float32 [n, dim]: the embeddings (read with mmap)
        shard-<id>/manifest.json   rows, dim and the SHA-256 of both arrays (see :mod:`polymodal.cache.shard`)

A shard is written under a hidden temporary name and renamed into place, so a reader sees whole
shards only, and several processes can fill the same namespace at once (each writes its own
shards; the same key in two shards holds the same embedding). A shard whose bytes do not match its
manifest, that has no manifest, or that holds NaN or infinity is not used: it is removed (with a
warning naming it) and its embeddings are computed again. Nothing is ever pickled.

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

import json
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.cache.keys import KEY_BYTES, content_key
from polymodal.cache.shard import check_shard, write_shard
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

FORMAT_VERSION = 1
MARKER = "polymodal_cache"  # the key of meta.json that proves a folder is a namespace polymodal wrote
META = "meta.json"
CACHEDIR_TAG = "CACHEDIR.TAG"
TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
             "# This file is a cache directory tag created by polymodal (its embedding cache).\n"
             "# For information about cache directory tags, see https://bford.info/cachedir/\n")


def namespace_meta(folder: Path) -> dict[str, Any] | None:
    """The ``meta.json`` of a cache namespace, or ``None`` when ``folder`` is not one polymodal wrote.

    A namespace is a real folder (not a link) whose ``meta.json`` is a JSON object carrying the marker
    ``"polymodal_cache"``, or, written before the marker existed, ``"format": 1`` and an integer ``"dim"``.
    """
    meta_path = folder / META
    if folder.is_symlink() or not folder.is_dir() or meta_path.is_symlink() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    marked = isinstance(meta.get(MARKER), int)
    first_format = meta.get("format") == 1 and isinstance(meta.get("dim"), int)
    return meta if marked or first_format else None


class EmbeddingStore:
    """The embeddings of one namespace (one encoder identity, weights and preprocessing)."""

    def __init__(self, root: str | Path, namespace: str, dim: int, meta: Mapping[str, Any]) -> None:
        if dim < 1:
            raise ValueError(f"embedding dim must be positive, got {dim}")
        self.path = Path(root) / namespace
        self.dim = int(dim)
        self._index: dict[bytes, tuple[str, int]] = {}
        self._values: dict[str, np.ndarray] = {}
        self._unused: set[str] = set()  # shards not indexed: of another layout, or damaged and not removable
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path.parent / CACHEDIR_TAG).exists():
            atomic_write_text(self.path.parent / CACHEDIR_TAG, TAG_TEXT)
        if namespace_meta(self.path) is None:  # new (or its meta.json was damaged: this is our namespace's name)
            atomic_write_json(self.path / META, {**meta, "dim": self.dim, "format": FORMAT_VERSION,
                                                 MARKER: FORMAT_VERSION})

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
        """Store ``values[i]`` under ``keys[i]`` as one new shard (atomic). Rows that are not finite are not
        stored (they would only be refused when read back)."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.shape != (len(keys), self.dim):
            raise ValueError(f"expected values of shape {(len(keys), self.dim)}, got {values.shape}")
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            keys, values = [k for k, ok in zip(keys, finite) if ok], values[finite]
        if not len(keys):
            return
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        name = f"shard-{uuid.uuid4().hex}"
        tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{name}."))
        try:
            write_shard(tmp, key_array, values)
            os.replace(tmp, self.path / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def _refresh(self) -> None:
        """Index the sound shards written since the last look (by this or another process); remove the
        damaged ones, with one warning naming them."""
        damaged: list[str] = []
        for shard in sorted(self.path.glob("shard-*")):
            if shard.name in self._values or shard.name in self._unused:
                continue
            check = check_shard(shard, self.dim)
            if check.problem is not None:
                damaged.append(f"{shard.name} {check.problem}")
                if not _discard(shard):
                    self._unused.add(shard.name)
                continue
            if check.other_layout:  # a shard of another embedding size: ignore it rather than read garbage
                self._unused.add(shard.name)
                continue
            keys = np.load(shard / "keys.npy", allow_pickle=False)
            self._values[shard.name] = np.load(shard / "values.npy", mmap_mode="r", allow_pickle=False)
            for row, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), (shard.name, row))
        if damaged:
            shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more" if len(damaged) > 5 else "")
            warnings.warn(f"embedding cache {self.path}: {len(damaged)} damaged shard(s) not used, their "
                          f"embeddings are computed again: {shown}", stacklevel=3)


def _discard(shard: Path) -> bool:
    """Remove a damaged shard (moved to a hidden name first, so no reader sees it half deleted)."""
    trash = shard.parent / f".{shard.name}.damaged-{uuid.uuid4().hex[:8]}"
    try:
        os.replace(shard, trash)
    except FileNotFoundError:
        return True  # another process removed it first
    except OSError:
        return False  # a read-only cache: leave it, this store will not read it
    shutil.rmtree(trash, ignore_errors=True)
    return True


__all__ = ["CACHEDIR_TAG", "FORMAT_VERSION", "MARKER", "META", "TAG_TEXT", "EmbeddingStore", "content_key",
           "namespace_meta"]
