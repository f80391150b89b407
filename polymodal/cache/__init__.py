"""The embedding cache of frozen encoders: outputs on disk, reused across runs, fusions and seeds.

The cache folder is, in order: the ``cache_dir`` given, ``$POLYMODAL_CACHE``, or
``$XDG_CACHE_HOME/polymodal`` (``~/.cache/polymodal``). ``POLYMODAL_CACHE=off`` turns caching off.
``polymodal cache info`` lists what it holds and ``polymodal cache clear`` empties it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.cache.keys import content_key, namespace, weights_digest
from polymodal.cache.store import EmbeddingStore

DISABLED = "off"


def default_cache_dir() -> Path | None:
    """The cache folder from the environment; ``None`` when ``POLYMODAL_CACHE=off``."""
    env = os.environ.get("POLYMODAL_CACHE")
    if env is not None and env.strip().lower() == DISABLED:
        return None
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "polymodal"


@dataclass(frozen=True)
class NamespaceInfo:
    """What one namespace of the cache holds."""

    name: str
    meta: dict[str, Any]
    entries: int
    bytes: int


def cache_info(root: str | Path | None = None) -> list[NamespaceInfo]:
    """Every namespace under ``root`` (default: :func:`default_cache_dir`) with its size."""
    folder = Path(root) if root is not None else default_cache_dir()
    if folder is None or not folder.is_dir():
        return []
    out = []
    for ns in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        meta_path = ns / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        shards = list(ns.glob("shard-*"))
        entries = sum(_rows(s / "keys.npy") for s in shards)
        size = sum(f.stat().st_size for f in ns.rglob("*") if f.is_file())
        out.append(NamespaceInfo(ns.name, meta, entries, size))
    return out


def clear_cache(root: str | Path | None = None) -> int:
    """Delete every namespace under ``root``; returns how many were removed."""
    folder = Path(root) if root is not None else default_cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for ns in folder.iterdir():
        if ns.is_dir():
            shutil.rmtree(ns, ignore_errors=True)
            removed += 1
    return removed


def _rows(keys_file: Path) -> int:
    if not keys_file.exists():
        return 0
    return int(np.load(keys_file, mmap_mode="r", allow_pickle=False).shape[0])


__all__ = [
    "EmbeddingStore",
    "NamespaceInfo",
    "cache_info",
    "clear_cache",
    "content_key",
    "default_cache_dir",
    "namespace",
    "weights_digest",
]
