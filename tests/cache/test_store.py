"""The shard store: round trip, memory-mapped reads, several writers, atomic shards."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from polymodal.cache import cache_info, clear_cache, content_key
from polymodal.cache.store import EmbeddingStore


def _write(root: str, start: int) -> None:
    store = EmbeddingStore(root, "ns", 3, {"encoder": "test"})
    keys = [content_key(f"sample {i}") for i in range(start, start + 5)]
    store.put(keys, np.arange(start * 3, (start + 5) * 3, dtype=np.float32).reshape(5, 3))


def test_put_then_get_round_trips_and_reports_misses(tmp_path):
    store = EmbeddingStore(tmp_path, "ns", 2, {"encoder": "test"})
    a, b = content_key("a"), content_key("b")
    store.put([a], np.array([[1.5, -2.0]], np.float32))
    values, found = store.get([a, b])
    assert found.tolist() == [True, False]
    assert values.tolist() == [[1.5, -2.0], [0.0, 0.0]]


def test_another_reader_sees_shards_written_later(tmp_path):
    reader = EmbeddingStore(tmp_path, "ns", 2, {"encoder": "test"})
    assert len(reader) == 0
    EmbeddingStore(tmp_path, "ns", 2, {"encoder": "test"}).put([content_key("x")], np.ones((1, 2), np.float32))
    assert len(reader) == 1
    assert isinstance(reader._values[next(iter(reader._values))], np.memmap)


def test_two_processes_fill_one_namespace(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write, args=(str(tmp_path), start)) for start in (0, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    store = EmbeddingStore(tmp_path, "ns", 3, {"encoder": "test"})
    values, found = store.get([content_key(f"sample {i}") for i in range(10)])
    assert found.all()
    np.testing.assert_array_equal(values, np.arange(30, dtype=np.float32).reshape(10, 3))
    assert not [p for p in (tmp_path / "ns").iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_wrong_shape_is_refused(tmp_path):
    store = EmbeddingStore(tmp_path, "ns", 2, {"encoder": "test"})
    with pytest.raises(ValueError, match=r"expected values of shape \(1, 2\)"):
        store.put([content_key("a")], np.zeros((1, 3), np.float32))


def test_info_and_clear(tmp_path):
    _write(str(tmp_path), 0)
    (info,) = cache_info(tmp_path)
    assert (info.name, info.entries, info.meta["encoder"], info.meta["dim"]) == ("ns", 5, "test", 3)
    assert clear_cache(tmp_path) == 1
    assert cache_info(tmp_path) == []
