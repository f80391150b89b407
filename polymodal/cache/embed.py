"""Embeddings of many samples through the cache: look every sample up, compute only the misses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from polymodal.cache.keys import content_key
from polymodal.cache.store import EmbeddingStore

EmbedBatch = Callable[[list[Any]], np.ndarray]


def embed_with_cache(
    embed: EmbedBatch, cells: Sequence[Any], store: EmbeddingStore | None, dim: int, batch_size: int = 32
) -> np.ndarray:
    """``[len(cells), dim]`` float32: ``embed(batch)`` on the samples not in ``store``, the rest read back.

    Misses are computed once per distinct content, in their order of first appearance and in
    batches of ``batch_size``, and stored (one shard per batch, so an interrupted run keeps what it
    finished). With ``store=None`` every sample is computed, batched the same way, so a run with a
    cold cache, a warm cache or no cache gives the same numbers.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    keys = [content_key(c) for c in cells]
    if store is not None:
        out, found = store.get(keys)
    else:
        out, found = np.zeros((len(cells), dim), dtype=np.float32), np.zeros(len(cells), dtype=bool)
    first: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        if not found[i]:
            first.setdefault(key, i)
    todo = list(first.values())
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        values = np.asarray(embed([cells[i] for i in chunk]), dtype=np.float32)
        if values.shape != (len(chunk), dim):
            raise ValueError(f"the encoder returned shape {values.shape}, expected {(len(chunk), dim)}")
        out[chunk] = values
        if store is not None:
            store.put([keys[i] for i in chunk], values)
    for i in np.flatnonzero(~found).tolist():  # repeated contents share their first occurrence's embedding
        out[i] = out[first[keys[i]]]
    return out
