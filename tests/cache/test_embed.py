"""Embedding through the cache: only misses are computed, and cached equals uncached."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polymodal.cache.embed import embed_with_cache
from polymodal.cache.store import EmbeddingStore
from polymodal.data.loading import load_image


class CountingEmbed:
    """A stand-in encoder: mean and max pixel of each image, counting the samples it sees."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, batch: list) -> np.ndarray:
        self.seen += len(batch)
        return np.array([[float(x.mean()), float(x.max())] for x in batch], np.float32)


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (6, 6), dtype=np.uint8) for _ in range(n)]


def test_cold_warm_and_uncached_give_identical_outputs(tmp_path):
    cells = images(7)
    embed = CountingEmbed()
    store = EmbeddingStore(tmp_path, "ns", 2, {})
    cold = embed_with_cache(embed, cells, store, 2, batch_size=3)
    warm = embed_with_cache(embed, cells, EmbeddingStore(tmp_path, "ns", 2, {}), 2, batch_size=3)
    uncached = embed_with_cache(CountingEmbed(), cells, None, 2, batch_size=3)
    assert embed.seen == 7  # the warm pass computed nothing
    np.testing.assert_array_equal(cold, warm)
    np.testing.assert_array_equal(cold, uncached)


def test_repeated_contents_are_computed_once(tmp_path):
    cell = images(1)[0]
    embed = CountingEmbed()
    out = embed_with_cache(embed, [cell, cell.copy(), cell], EmbeddingStore(tmp_path, "ns", 2, {}), 2)
    assert embed.seen == 1
    assert (out == out[0]).all()


def test_a_changed_file_invalidates_only_its_entry(tmp_path):
    paths = []
    for i, img in enumerate(images(3)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    store = EmbeddingStore(tmp_path / "cache", "ns", 2, {})
    before = embed_with_cache(CountingEmbed(), [load_image(p) for p in paths], store, 2)
    Image.fromarray(np.full((6, 6), 255, np.uint8)).save(paths[1])  # the file is edited in place
    embed = CountingEmbed()
    after = embed_with_cache(embed, [load_image(p) for p in paths], store, 2)
    assert embed.seen == 1  # only the edited file is recomputed
    assert after[1].tolist() == [255.0, 255.0]
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])


def test_encoder_returning_the_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"the encoder returned shape \(1, 3\), expected \(1, 2\)"):
        embed_with_cache(lambda batch: np.zeros((len(batch), 3)), images(1), None, 2)


def test_a_damaged_shard_is_recomputed_to_the_same_embeddings(tmp_path):
    cells = images(4)
    cold = embed_with_cache(CountingEmbed(), cells, EmbeddingStore(tmp_path, "ns", 2, {}), 2)
    (shard,) = (tmp_path / "ns").glob("shard-*")
    stored = np.load(shard / "values.npy", mmap_mode="r+")
    stored[:] = stored[::-1].copy()  # same shape, other bytes: what a bad disk or a stray write leaves
    stored.flush()
    del stored
    embed = CountingEmbed()
    with pytest.warns(UserWarning, match=f"{shard.name} has a values.npy that does not match its checksum"):
        warm = embed_with_cache(embed, cells, EmbeddingStore(tmp_path, "ns", 2, {}), 2)
    assert embed.seen == 4
    np.testing.assert_array_equal(warm, cold)
    again = CountingEmbed()
    embed_with_cache(again, cells, EmbeddingStore(tmp_path, "ns", 2, {}), 2)
    assert again.seen == 0  # the recomputed embeddings were stored in a sound shard
