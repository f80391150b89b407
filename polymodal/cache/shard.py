"""One shard of the embedding cache: its arrays, its checksum manifest, and the check made when it is opened.

A shard folder holds ``keys.npy`` (uint8 ``[n, 16]``), ``values.npy`` (float32 ``[n, dim]``) and
``manifest.json``: the row count, the dim and the SHA-256 of each array file's bytes. The three are
written into a temporary folder that is renamed into place, so the manifest always describes the
arrays beside it. On open, :func:`check_shard` compares the files with the manifest and checks that
every value is finite; a shard that fails (a changed byte, a missing or damaged manifest, NaN or
infinity) is not used, so its embeddings are computed again.

Shards of the first cache format have no manifest: nothing proves their bytes are the ones written,
so they are treated like damaged shards (removed and recomputed once).

Verifying reads every byte once: about 70 ms for 10,000 x 1,280 float32 (51 MB; SHA-256 at ~0.8 GB/s
and the finiteness check at ~3 GB/s on one core of the machine it was measured on). A shard passes
at most once per process (the result is kept per path, inode, size and modification time).

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_shard(folder, np.zeros((1, 16), np.uint8), np.ones((1, 2), np.float32))
>>> check_shard(folder, dim=2).problem is None
True
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.cache.keys import KEY_BYTES

MANIFEST = "manifest.json"
SHARD_FORMAT = 1
ARRAYS = ("keys.npy", "values.npy")
NO_MANIFEST = "has no checksum manifest (written by an older polymodal)"

_passed: set[tuple[Any, ...]] = set()  # shards verified in this process, by path and file identity


@dataclass(frozen=True)
class ShardCheck:
    """What opening a shard found: ``problem`` is ``None`` for a sound shard; ``other_layout`` marks a sound
    shard of another embedding size (left alone, not read)."""

    problem: str | None = None
    other_layout: bool = False


def write_shard(folder: Path, keys: np.ndarray, values: np.ndarray) -> None:
    """Write the arrays and their manifest into ``folder`` (a fresh temporary folder the caller renames)."""
    digests = {}
    for name, array in zip(ARRAYS, (keys, values), strict=True):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        data = buffer.getvalue()
        (folder / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    manifest = {"format": SHARD_FORMAT, "rows": int(values.shape[0]), "dim": int(values.shape[1]), "sha256": digests}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check_shard(folder: Path, dim: int) -> ShardCheck:
    """Compare a shard's files with its manifest and check its values are finite (once per process)."""
    identity = _identity(folder)
    if identity is not None and identity in _passed:
        return ShardCheck()
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return ShardCheck(NO_MANIFEST)
    except (OSError, UnicodeDecodeError, ValueError):
        return ShardCheck("has a damaged manifest.json")
    if not _manifest_is_valid(manifest):
        return ShardCheck("has a damaged manifest.json")
    if manifest["dim"] != dim:
        return ShardCheck(other_layout=True)
    for name in ARRAYS:
        problem = _check_file(folder / name, manifest["sha256"][name])
        if problem is not None:
            return ShardCheck(problem)
    try:
        keys = np.load(folder / "keys.npy", mmap_mode="r", allow_pickle=False)
        values = np.load(folder / "values.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return ShardCheck("holds arrays numpy cannot read")
    if keys.shape != (manifest["rows"], KEY_BYTES) or values.shape != (manifest["rows"], dim):
        return ShardCheck(f"holds arrays of shape {keys.shape} and {values.shape}, not those of its manifest")
    if not np.isfinite(values).all():
        return ShardCheck("holds values that are not finite (NaN or infinity)")
    if identity is not None:
        _passed.add(identity)
    return ShardCheck()


def _manifest_is_valid(manifest: Any) -> bool:
    if not isinstance(manifest, dict) or manifest.get("format") != SHARD_FORMAT:
        return False
    sums = manifest.get("sha256")
    counts = [manifest.get("rows"), manifest.get("dim")]
    return (all(isinstance(c, int) and c >= 0 for c in counts) and isinstance(sums, dict)
            and all(isinstance(sums.get(name), str) for name in ARRAYS))


def _check_file(path: Path, expected: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return f"lacks {path.name}"
    except OSError as exc:
        return f"has an unreadable {path.name} ({exc.strerror or exc})"
    return None if digest.hexdigest() == expected else f"has a {path.name} that does not match its checksum"


def _identity(folder: Path) -> tuple[Any, ...] | None:
    """The shard's path and the inode, size and modification time of each of its files (``None`` if one is
    missing): a file replaced or rewritten since it was verified is verified again."""
    try:
        stats = [os.stat(folder / name) for name in (*ARRAYS, MANIFEST)]
    except OSError:
        return None
    return (str(folder.resolve()), *((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats))


__all__ = ["MANIFEST", "NO_MANIFEST", "SHARD_FORMAT", "ShardCheck", "check_shard", "write_shard"]
