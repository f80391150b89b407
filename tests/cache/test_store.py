"""The shard store: round trip, memory-mapped reads, several writers, atomic shards, damaged shards."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from polymodal.cache import cache_info, clear_cache, content_key, foreign_folders
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
    assert info.meta["polymodal_cache"] == 1
    assert clear_cache(tmp_path).removed == ("ns",)
    assert cache_info(tmp_path) == []


def _user_folders(root: Path) -> None:
    """Folders a user keeps beside the cache: plain files, a bad meta.json, a meta.json of another program."""
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "todo.txt").write_text("keep me")
    (root / "broken").mkdir()
    (root / "broken" / "meta.json").write_text("{not json")
    (root / "other").mkdir()
    (root / "other" / "meta.json").write_text(json.dumps({"format": 1, "title": "holiday photos"}))


def test_clear_removes_only_cache_namespaces_and_reports_the_rest(tmp_path):
    _user_folders(tmp_path)
    _write(str(tmp_path), 0)
    report = clear_cache(tmp_path)
    assert report.removed == ("ns",)
    assert report.summary() == (f"removed 1 cache namespace(s) from {tmp_path}; left 3 folder(s) that are not "
                                "polymodal cache namespaces: broken, notes, other")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CACHEDIR.TAG", "broken", "notes", "other"]


def test_info_lists_namespaces_and_flags_other_folders_without_failing_on_a_bad_meta(tmp_path):
    _user_folders(tmp_path)
    _write(str(tmp_path), 0)
    assert [i.name for i in cache_info(tmp_path)] == ["ns"]
    assert foreign_folders(tmp_path) == ["broken", "notes", "other"]


def test_a_namespace_of_the_first_format_is_still_recognised(tmp_path):
    legacy = tmp_path / "minilm-0123456789abcdef"
    legacy.mkdir()
    (legacy / "meta.json").write_text(json.dumps({"encoder": "minilm", "dim": 4, "format": 1}))
    assert [i.name for i in cache_info(tmp_path)] == [legacy.name]
    assert clear_cache(tmp_path).removed == (legacy.name,)
    assert not legacy.exists()


def _filled(root: Path, n: int = 4) -> tuple[EmbeddingStore, list[bytes], np.ndarray, Path]:
    store = EmbeddingStore(root, "ns", 3, {"encoder": "test"})
    keys = [content_key(f"s{i}") for i in range(n)]
    values = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    store.put(keys, values)
    (shard,) = (root / "ns").glob("shard-*")
    return store, keys, values, shard


def _overwrite_values(shard: Path, values: np.ndarray) -> None:
    """Write other values of the same shape over the shard's values.npy, in place (the file keeps its name)."""
    stored = np.load(shard / "values.npy", mmap_mode="r+")
    stored[:] = values
    stored.flush()
    del stored


@pytest.mark.parametrize("damage", ["same shape", "nan"])
def test_a_damaged_shard_is_a_miss_named_in_a_warning_and_removed(tmp_path, damage):
    _, keys, values, shard = _filled(tmp_path)
    bad = values[::-1].copy() if damage == "same shape" else np.where(values > 4, np.nan, values)
    _overwrite_values(shard, bad)
    expected = "has a values.npy that does not match its checksum"
    with pytest.warns(UserWarning, match=rf"embedding cache .*ns: 1 damaged shard\(s\) not used, their embeddings "
                                         rf"are computed again: {shard.name} {expected}"):
        out, found = EmbeddingStore(tmp_path, "ns", 3, {"encoder": "test"}).get(keys)
    assert not found.any() and not out.any()
    assert not shard.exists()
    assert not [p for p in (tmp_path / "ns").iterdir() if p.name != "meta.json"]  # nothing half removed is left


def test_nan_values_with_a_matching_manifest_are_refused(tmp_path):
    """Even with a checksum that matches (e.g. a shard and manifest rewritten together), NaN is never read."""
    from polymodal.cache.shard import write_shard

    _, keys, values, shard = _filled(tmp_path)
    values[1, 0] = np.nan
    write_shard(shard, np.load(shard / "keys.npy"), values)  # arrays and manifest rewritten, in agreement
    with pytest.warns(UserWarning, match=f"{shard.name} holds values that are not finite \\(NaN or infinity\\)"):
        assert not EmbeddingStore(tmp_path, "ns", 3, {}).contains(keys).any()


def test_a_shard_without_manifest_is_a_miss(tmp_path):
    _, keys, _, shard = _filled(tmp_path)
    (shard / "manifest.json").unlink()  # as written by the first cache format
    with pytest.warns(UserWarning, match=f"{shard.name} has no checksum manifest \\(written by an older polymodal\\)"):
        assert not EmbeddingStore(tmp_path, "ns", 3, {}).contains(keys).any()


def test_a_damaged_manifest_is_a_miss(tmp_path):
    _, keys, _, shard = _filled(tmp_path)
    (shard / "manifest.json").write_text("{")
    with pytest.warns(UserWarning, match=f"{shard.name} has a damaged manifest.json"):
        assert not EmbeddingStore(tmp_path, "ns", 3, {}).contains(keys).any()


def test_non_finite_rows_are_not_stored(tmp_path):
    store = EmbeddingStore(tmp_path, "ns", 2, {})
    keys = [content_key("a"), content_key("b")]
    store.put(keys, np.array([[1.0, np.inf], [2.0, 3.0]], np.float32))
    assert EmbeddingStore(tmp_path, "ns", 2, {}).contains(keys).tolist() == [False, True]
