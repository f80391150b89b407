"""Content keys and namespaces."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.cache import content_key, namespace, weights_digest


def test_keys_follow_content_not_identity():
    image = np.zeros((4, 4), np.uint8)
    assert content_key(image) == content_key(image.copy())
    changed = image.copy()
    changed[0, 0] = 1
    assert content_key(changed) != content_key(image)
    assert content_key(image) != content_key(image.reshape(2, 8))  # same bytes, other shape
    wave = np.ones(10, np.float32)
    assert content_key((wave, 8000)) != content_key((wave, 16000))
    assert content_key("abc") != content_key("abd")


def test_unkeyable_sample_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot key a sample of type int"):
        content_key(3)


def test_weights_digest_changes_with_file_bytes(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    first = weights_digest([path])
    path.write_bytes(b"two!")
    assert weights_digest([path]) != first


def test_namespace_depends_on_every_part_of_the_identity():
    base = {"weights": "abc", "options": {"max_length": 16}}
    assert namespace("minilm", base) == namespace("minilm", dict(base))
    assert namespace("minilm", base) != namespace("minilm", {**base, "options": {"max_length": 32}})
    assert namespace("minilm", base).startswith("minilm-")


def test_media_held_in_a_table_is_keyed_by_content(tmp_path):
    from polymodal.data.file_sample import FileSample
    from tests.hf_media import png_bytes

    (tmp_path / "a.png").write_bytes(png_bytes(0))
    held = FileSample.of_bytes(png_bytes(0), "image")
    assert content_key(held) == content_key(FileSample.of(tmp_path / "a.png", "image"))  # same bytes, same key
    assert content_key(held) != content_key(FileSample.of_bytes(png_bytes(1), "image"))
    assert content_key(held) != content_key(FileSample.of_bytes(png_bytes(0), "audio"))
    floats = np.linspace(0.0, 1.0, 24).reshape(4, 6)
    assert content_key(floats) == content_key(floats.copy())  # equal arrays, equal keys (not by identity)
    assert content_key(floats[:, ::2]) == content_key(np.ascontiguousarray(floats[:, ::2]))  # views by content
    assert content_key(floats) != content_key(floats.astype(np.float32))  # the dtype is part of the key
    other = floats.copy()
    other[3, 5] = 0.5
    assert content_key(other) != content_key(floats)
    clip = np.sin(np.arange(50.0))
    assert content_key((clip, 8000)) == content_key((clip.copy(), 8000)) != content_key((clip[::-1], 8000))
