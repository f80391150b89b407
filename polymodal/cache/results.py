"""Small computed results (JSON) in the cache folder, beside the embeddings: e.g. the classical baseline.

A result namespace is a folder of the cache (``<cache>/<namespace>/``) whose ``meta.json`` carries the
``polymodal_cache`` marker and ``"holds": "results"``, so ``polymodal cache info`` lists it and
``polymodal cache clear`` removes it, like an embedding namespace. Each result is one ``<key>.json`` file,
written atomically; a file that cannot be read back (damaged, half-written by a killed process of an older
version) counts as absent and is recomputed and replaced.

Example
-------
>>> import tempfile
>>> store = ResultStore(tempfile.mkdtemp(), "baseline-v1", {"what": "classical baseline"})
>>> store.get("ab12") is None
True
>>> store.put("ab12", {"accuracy": 0.9}); store.get("ab12")
{'accuracy': 0.9}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polymodal.cache.store import CACHEDIR_TAG, FORMAT_VERSION, MARKER, META, TAG_TEXT, namespace_meta
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = "results"  # the value of meta.json's "holds" for a result namespace
_KEY = re.compile(r"^[0-9a-f]{8,128}$")


class ResultStore:
    """JSON results of one namespace, by hexadecimal key."""

    def __init__(self, root: str | Path, namespace: str, meta: Mapping[str, Any]) -> None:
        self.path = Path(root) / namespace
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path.parent / CACHEDIR_TAG).exists():
            atomic_write_text(self.path.parent / CACHEDIR_TAG, TAG_TEXT)
        if namespace_meta(self.path) is None:
            atomic_write_json(self.path / META, {**meta, "holds": RESULTS, "format": FORMAT_VERSION,
                                                 MARKER: FORMAT_VERSION})

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"a result key is a hexadecimal digest, got {key!r}")
        return self.path / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The result stored under ``key``, or None (absent, or not readable)."""
        path = self._file(key)
        if path.is_symlink() or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``, atomically."""
        atomic_write_json(self._file(key), value)

    def __len__(self) -> int:
        return sum(1 for p in self.path.glob("*.json") if p.name != META)


__all__ = ["RESULTS", "ResultStore"]
