"""Joint (two-tower) models: the towers equal the transformers model's own features; loading errors are clear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.joint import (
    JointAudioTower,
    JointImageTower,
    JointModelError,
    JointTextTower,
    expand_joint,
    model_folder,
)
from tests.tiny_joint import save_tiny_clip, save_tiny_siglip

pytest.importorskip("transformers")
IMAGE, TEXT, AUDIO, TABULAR = ModalityKind.IMAGE, ModalityKind.TEXT, ModalityKind.AUDIO, ModalityKind.TABULAR


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


def test_towers_equal_the_models_own_image_and_text_features(clip):
    from PIL import Image
    from transformers import AutoProcessor, CLIPModel

    model, processor = CLIPModel.from_pretrained(clip).eval(), AutoProcessor.from_pretrained(clip)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20, 14, 3), dtype=np.uint8), rng.integers(0, 256, (9, 9), dtype=np.uint8)]
    texts = ["a cat", "a small dog and a cat"]
    with torch.no_grad():
        pixels = processor(images=[Image.fromarray(i).convert("RGB") for i in images], return_tensors="pt")
        want_image = model.get_image_features(**pixels).pooler_output.numpy()
        tokens = processor.tokenizer(texts, padding=True, return_tensors="pt")
        want_text = model.get_text_features(**tokens).pooler_output.numpy()
    image_tower, text_tower = JointImageTower(clip), JointTextTower(clip)
    np.testing.assert_allclose(image_tower.embed(images), want_image, atol=1e-5)
    np.testing.assert_allclose(text_tower.embed(texts), want_text, atol=1e-5)
    assert image_tower.output_dim == text_tower.output_dim == 8
    assert image_tower.logit_scale == pytest.approx(float(model.logit_scale.detach().exp()))
    assert image_tower.weights_id == text_tower.weights_id  # one digest of the model's files, processor included


def test_siglip_towers_equal_its_features_on_the_full_padded_length(clip, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor, SiglipModel

    siglip = save_tiny_siglip(tmp_path / "siglip", clip)
    model, processor = SiglipModel.from_pretrained(siglip).eval(), AutoProcessor.from_pretrained(siglip)
    image = np.random.default_rng(1).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    texts = ["a cat", "a small dog"]
    with torch.no_grad():  # SigLIP's documented use: pad to max_length, as it was trained
        tokens = processor.tokenizer(texts, padding="max_length", max_length=16, return_tensors="pt")
        want_text = model.get_text_features(input_ids=tokens["input_ids"]).pooler_output.numpy()
        pixels = processor(images=[Image.fromarray(image)], return_tensors="pt")["pixel_values"]
        want_image = model.get_image_features(pixel_values=pixels).pooler_output.numpy()
    np.testing.assert_allclose(JointTextTower(siglip).embed(texts), want_text, atol=1e-5)
    np.testing.assert_allclose(JointImageTower(siglip).embed([image]), want_image, atol=1e-5)


def test_text_longer_than_max_length_is_truncated(clip):
    tower = JointTextTower(clip, max_length=4)
    assert tower.prepare(["a cat and a dog and a cat"]).shape == (1, 2, 4)
    with pytest.raises(JointModelError, match=r"max_length=99: the clip text tower takes 1 to 16 tokens"):
        JointTextTower(clip, max_length=99)


def test_expand_joint_gives_each_column_its_tower():
    kinds = {"photo": IMAGE, "caption": TEXT, "tabular": TABULAR}
    encoders, args = expand_joint({"image+text": "hf:some/clip", "tabular": "tabular-mlp"},
                                  {"image+text": {"train": "full"}, "caption": {"max_length": 8}}, kinds)
    assert encoders == {"tabular": "tabular-mlp", "photo": "joint-image", "caption": "joint-text"}
    assert args == {"caption": {"train": "full", "max_length": 8, "weights": "some/clip"},
                    "photo": {"train": "full", "weights": "some/clip"}}


@pytest.mark.parametrize(("key", "kinds", "message"), [
    ("image+text", {"a": IMAGE, "b": IMAGE, "c": TEXT},
     r"the table has 2 image columns \(a, b\); name the one to use, e.g. a\+\.\.\. instead of image\+text"),
    ("image+tabular", {"a": IMAGE, "tabular": TABULAR},
     r"a joint model pairs an image or audio column with a text column; 'a' is image, 'tabular' is tabular"),
    ("image+text", {"a": AUDIO, "c": TEXT}, r"'image' is neither a column nor the kind of one; the table's "
                                            r"modalities: a \(audio\), c \(text\)"),
    ("image+text+audio", {"a": IMAGE}, r"a joint model encodes two columns, e.g. image\+text or photo\+caption"),
])
def test_expand_joint_wrong_columns_are_clear_errors(key, kinds, message):
    with pytest.raises(JointModelError, match=message):
        expand_joint({key: "hf:x"}, {}, kinds)


def test_joint_key_needs_a_joint_model_and_one_encoder_per_column():
    kinds = {"photo": IMAGE, "caption": TEXT}
    with pytest.raises(JointModelError, match=r"a joint key \(A\+B\) takes a joint model, hf:NAME_OR_PATH"):
        expand_joint({"image+text": "image-cnn"}, {}, kinds)
    with pytest.raises(JointModelError, match=r"column 'photo' has two encoders: photo=image-cnn and image\+text=hf:x"):
        expand_joint({"photo": "image-cnn", "image+text": "hf:x"}, {}, kinds)


def test_loading_errors_are_clear(clip, tmp_path):
    with pytest.raises(JointModelError, match=r"no model folder at .*nope \(hf:.*nope\); check the path"):
        model_folder(f"hf:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(JointModelError, match=r"has no config.json: it is not a transformers model folder"):
        model_folder(tmp_path / "empty")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(JointModelError, match=r"holds a 'bert' model, not a joint \(two-tower\) model; joint models "
                                              r"are clap, clip, siglip"):
        JointImageTower(bert)
    with pytest.raises(JointModelError, match=r"is a clip model: its towers encode image and text, not audio"):
        JointAudioTower(clip)
    with pytest.raises(JointModelError, match=r"encoder 'joint-text' needs weights=MODEL"):
        JointTextTower()


def test_a_hub_name_without_network_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(JointModelError, match=r"cannot load 'nobody/no-such-clip': it is not a local folder, and the "
                                              r"Hugging Face hub gave no model of that name"):
        model_folder("hf:nobody/no-such-clip")


def test_fit_a_classifier_on_joint_features_and_reload_it(clip, tmp_path, monkeypatch):
    import pandas as pd

    import polymodal
    from tests.tiny_joint import image_caption_table

    monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path / "cache"))
    table = image_caption_table(tmp_path / "data")
    predictor = polymodal.fit(table, "label", encoders={"photo+caption": f"hf:{clip}"}, epochs=1, batch_size=4,
                              progress=False, baseline=False, preset="none", out=tmp_path / "model")
    assert predictor.config.model.encoders == {"photo": "joint-image", "caption": "joint-text"}
    reloaded = polymodal.load(tmp_path / "model")
    pd.testing.assert_frame_equal(reloaded.predict(table), predictor.predict(table))
