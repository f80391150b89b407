"""hf: backbones through polymodal.fit: frozen with the embedding cache, last:N, LoRA, bundles (items 2 and 4).

One 8-row table with text, image files and audio files; tiny random models saved locally, named
``hf:PATH`` exactly as a user names a downloaded model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from safetensors.torch import load_file

import polymodal
from polymodal.errors import BundleError
from polymodal.predictor import Predictor
from tests.encoders.pretrained.tiny_hf import save_tiny
from tests.engine.processes import subprocess_env

pytestmark = pytest.mark.usefixtures("one_thread")
ROWS = 8


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(ROWS):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        sf.write(folder / f"{i}.wav", 0.1 * rng.standard_normal(4000 + 500 * i), 8000)
        rows.append({"caption": ["a red ball", "a blue car", "the dog barked", "stock prices fell"][i % 4],
                     "photo": str(folder / f"{i}.png"), "voice": str(folder / f"{i}.wav"), "label": i % 2})
    return pd.DataFrame(rows)


def fit(table: pd.DataFrame, encoders: dict, encoder_args: dict | None = None, out=None) -> Predictor:
    return polymodal.fit(table, "label", encoders=encoders, encoder_args=encoder_args or {}, epochs=1, batch_size=4,
                         progress=False, seed=0, out=out, baseline=False)


def test_lora_and_last_n_bundles_hold_only_what_trained_and_predict_the_same_in_a_new_process(
        tmp_path, monkeypatch, hf_models, table):
    monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path / "cache"))
    text, image, audio = (f"hf:{hf_models[n]}" for n in ("bert", "vit", "wav2vec2"))
    predictor = fit(table, {"text": text, "image": image, "audio": audio},
                    {"text": {"train": "lora:r=2,alpha=4"}, "image": {"train": "last:1"},
                     "audio": {"max_seconds": 0.5}}, out=tmp_path / "model")
    lora = predictor.model.encoders["caption"]
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)  # only the adapters train
    adapted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert adapted == {"query", "value"}  # BERT's attention query and value
    weights = load_file(str(tmp_path / "model" / "model.safetensors"))
    text_keys = [k for k in weights if k.startswith("encoders.caption.")]
    assert text_keys and all("lora_" in k for k in text_keys)  # the adapters alone, not the base model
    assert any(k.startswith("encoders.photo.backbone.model.") for k in weights)  # last:1: the backbone's weights
    assert not any(k.startswith("encoders.voice.") for k in weights)  # frozen: nothing (embeddings in the cache)
    pipeline = json.loads((tmp_path / "model" / "pipeline.json").read_text())
    recorded = json.dumps(pipeline)
    for name in ("bert", "vit", "wav2vec2"):
        assert str(hf_models[name]) in recorded  # the base model's name ...
    digest = predictor.pipeline.preprocessors["caption"].weights_digest
    assert digest and digest in recorded  # ... and its weights digest
    expected = predictor.predict_proba(table)
    table.to_csv(tmp_path / "table.csv", index=False)
    script = ("import sys, numpy, polymodal; numpy.save(sys.argv[3], polymodal.load(sys.argv[1])"
              ".predict_proba(sys.argv[2]))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model"), str(tmp_path / "table.csv"),
                           str(tmp_path / "again.npy")], env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), expected)


def test_a_frozen_hf_encoder_uses_the_cache_and_a_warm_run_decodes_no_file(tmp_path, monkeypatch, hf_models, table):
    from polymodal.data import validation
    from polymodal.data.kinds import ColumnKind

    decoded: list[str] = []
    regular = validation.CELL_LOADERS[ColumnKind.IMAGE]
    monkeypatch.setitem(validation.CELL_LOADERS, ColumnKind.IMAGE,
                        lambda value, *a: decoded.append(value) or regular(value, *a))
    photos = table[["photo", "label"]]

    def run(cache: str) -> np.ndarray:
        monkeypatch.setenv("POLYMODAL_CACHE", cache)
        return fit(photos, {"image": f"hf:{hf_models['dinov2']}"}).predict_proba(photos)

    uncached = run("off")
    decoded.clear()
    cold = run(str(tmp_path / "cache"))
    assert len(decoded) == ROWS  # an empty cache: every file decoded once
    decoded.clear()
    warm = run(str(tmp_path / "cache"))
    assert decoded == []  # a warm cache: keyed by the files' bytes and the model's digest, nothing decoded
    np.testing.assert_array_equal(cold, uncached)
    np.testing.assert_array_equal(warm, uncached)
    (namespace,) = [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert namespace.startswith("hf-dinov2-")


@pytest.mark.parametrize("train", ["frozen", "lora"])
def test_a_bundle_refuses_a_model_folder_that_now_holds_other_weights(tmp_path, monkeypatch, table, train):
    monkeypatch.setenv("POLYMODAL_CACHE", "off")
    folder = save_tiny("vit", tmp_path / "vit", seed=0)
    photos = table[["photo", "label"]]
    fit(photos, {"image": f"hf:{folder}"}, {"image": {"train": train}}, out=tmp_path / "model")
    shutil.rmtree(folder)
    save_tiny("vit", folder, seed=1)  # same architecture, other weights
    with pytest.raises(BundleError, match=r"encoder 'hf:.*vit'.* now has other weights than the model was trained "
                                          r"with \(weights digest [0-9a-f]{12}, trained with [0-9a-f]{12}\)"):
        Predictor.load(tmp_path / "model").predict_proba(photos)
