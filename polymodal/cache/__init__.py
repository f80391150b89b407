"""The embedding cache of frozen encoders: outputs on disk, reused across runs, fusions and seeds.

The cache folder is, in order: the ``cache_dir`` given, ``$POLYMODAL_CACHE``, or
``$XDG_CACHE_HOME/polymodal`` (``~/.cache/polymodal``). ``POLYMODAL_CACHE=off`` turns caching off.
``polymodal cache info`` lists what it holds and ``polymodal cache clear`` empties it. Only the
namespaces polymodal wrote (a folder whose ``meta.json`` carries the ``"polymodal_cache"`` marker) are
listed or deleted: any other folder in the cache folder is left alone and reported.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.cache.keys import content_key, namespace, weights_digest
from polymodal.cache.results import RESULTS, ResultStore
from polymodal.cache.store import META, EmbeddingStore, namespace_meta

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


@dataclass(frozen=True)
class ClearReport:
    """What :func:`clear_cache` did: the namespaces it removed and the folders it left alone."""

    folder: Path | None  # None: the cache is turned off
    removed: tuple[str, ...]
    left: tuple[str, ...]  # folders in the cache folder that are not polymodal cache namespaces
    failed: tuple[str, ...] = ()  # namespaces that could not be removed (no permission, or being written)

    def summary(self) -> str:
        text = f"removed {len(self.removed)} cache namespace(s) from {self.folder}"
        if self.failed:
            text += f"; could not remove {len(self.failed)} (no permission, or in use): {_names(self.failed)}"
        if self.left:
            text += (f"; left {len(self.left)} folder(s) that are not polymodal cache namespaces: "
                     f"{_names(self.left)}")
        return text


def cache_info(root: str | Path | None = None) -> list[NamespaceInfo]:
    """Every namespace under ``root`` (default: :func:`default_cache_dir`) with its size; folders that are
    not polymodal cache namespaces are not listed (see :func:`foreign_folders`)."""
    out = []
    for folder, meta in _namespaces(root)[0]:
        if meta.get("holds") == RESULTS:
            entries = len([p for p in folder.glob("*.json") if p.name != META])
        else:
            entries = sum(_rows(s / "keys.npy") for s in folder.glob("shard-*"))
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
        out.append(NamespaceInfo(folder.name, meta, entries, size))
    return out


def foreign_folders(root: str | Path | None = None) -> list[str]:
    """The names of the folders under ``root`` that are not polymodal cache namespaces (left alone)."""
    return _namespaces(root)[1]


def clear_cache(root: str | Path | None = None) -> ClearReport:
    """Delete every polymodal cache namespace under ``root``; any other folder is left (and reported)."""
    folder = Path(root) if root is not None else default_cache_dir()
    namespaces, left = _namespaces(folder)
    for ns, _ in namespaces:
        shutil.rmtree(ns, ignore_errors=True)
    removed = tuple(ns.name for ns, _ in namespaces if not ns.exists())
    failed = tuple(ns.name for ns, _ in namespaces if ns.exists())
    return ClearReport(folder, removed, tuple(left), failed)


def _namespaces(root: str | Path | None) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """``([(folder, meta), ...] of the namespaces, [names of the other folders])``, by name; hidden entries
    (temporaries) are skipped."""
    folder = Path(root) if root is not None else default_cache_dir()
    if folder is None or not folder.is_dir():
        return [], []
    namespaces, other = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        meta = namespace_meta(entry)
        if meta is None:
            other.append(entry.name)
        else:
            namespaces.append((entry, meta))
    return namespaces, other


def _names(names: tuple[str, ...], shown: int = 10) -> str:
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _rows(keys_file: Path) -> int:
    try:
        return int(np.load(keys_file, mmap_mode="r", allow_pickle=False).shape[0])
    except (OSError, ValueError):  # missing or damaged: counted as empty (it is recomputed when read)
        return 0


__all__ = [
    "ClearReport",
    "EmbeddingStore",
    "NamespaceInfo",
    "ResultStore",
    "cache_info",
    "clear_cache",
    "content_key",
    "default_cache_dir",
    "foreign_folders",
    "namespace",
    "weights_digest",
]
