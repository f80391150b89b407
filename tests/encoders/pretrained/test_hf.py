"""hf: backbones over every family (tiny random models saved locally): the contract, pooling, inputs, listing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.encoders import ENCODERS
from polymodal.encoders.layers import masked_mean
from polymodal.encoders.pretrained import FineTunedEncoder, TrainMode, load_backbone
from polymodal.encoders.pretrained.hf_families import FAMILIES, family_of_type
from tests.encoders.pretrained.tiny_hf import BUILDERS, kind_of, save_tiny

pytestmark = pytest.mark.usefixtures("one_thread")
SHORT = {"max_seconds": 0.5}  # waveform models: half a second keeps the tiny tests fast


def cells(kind: str, n: int = 2, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    if kind == "text":
        return ["a cat sat on the mat", "stock prices fell sharply", "the dog barked"][:n]
    if kind == "image":
        return [rng.integers(0, 256, (20 + 3 * i, 24, 3), dtype=np.uint8) for i in range(n)]
    return [(0.1 * rng.standard_normal(6000 + 1000 * i).astype(np.float32), 8000 * (i + 1)) for i in range(n)]


def options(name: str) -> dict:
    return SHORT if name in ("wav2vec2", "hubert", "wavlm") else {}


def test_the_tiny_models_cover_every_family(hf_models):
    types = [json.loads((folder / "config.json").read_text())["model_type"] for folder in hf_models.values()]
    assert {family_of_type(t).name for t in types} == {f.name for f in FAMILIES}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_family_loads_embeds_and_fine_tunes_by_block(hf_models, name):
    """The contract of every hf: family: kind, [B, D] embeddings, inputs of one size, blocks that train."""
    backbone = load_backbone(f"hf:{hf_models[name]}", **options(name))
    assert backbone.kind.value == kind_of(name)
    values = backbone.embed(cells(kind_of(name)))
    assert values.shape == (2, backbone.output_dim) and np.isfinite(values).all()
    assert not np.allclose(values[0], values[1])  # different inputs, different embeddings
    x = backbone.prepare(cells(kind_of(name)))
    assert x.shape == (2, *backbone.input_shape())
    identity = backbone.identity()
    assert len(identity["weights"]) == 64 and identity["options"]["pooling"] == backbone.pooling
    encoder = FineTunedEncoder(backbone, TrainMode.parse("full"))
    encoder.train()
    encoder(x).sum().backward()
    trainable = [(n, p) for n, p in backbone.named_parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for _, p in trainable), [n for n, p in trainable if p.grad is None]
    FineTunedEncoder(backbone, TrainMode.parse("last:1"))
    blocks = backbone.blocks()
    assert len(blocks) >= 3  # stem, layers, last layer with the head
    assert all(p.requires_grad for p in blocks[-1].parameters())
    assert not any(p.requires_grad for b in blocks[:-1] for p in b.parameters())


def test_text_mean_pooling_equals_a_hand_computation(hf_models):
    import transformers

    folder = hf_models["bert"]
    texts = cells("text", 3)
    ours = load_backbone(f"hf:{folder}").embed(texts)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    np.testing.assert_allclose(ours, masked_mean(states, batch["attention_mask"]).numpy(), atol=1e-5)


def test_a_sentence_transformers_folder_pools_and_normalises_as_it_says(tmp_path, hf_models):
    import transformers

    folder = save_tiny("bert", tmp_path / "st", sentence_transformers=True)  # CLS pooling + Normalize
    backbone = load_backbone(f"hf:{folder}")
    assert backbone.pooling == "cls" and backbone.normalise
    ours = backbone.embed(["a cat sat"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        cls = transformers.AutoModel.from_pretrained(folder)(**tokenizer(["a cat sat"], return_tensors="pt"))
    np.testing.assert_allclose(ours, torch.nn.functional.normalize(cls.last_hidden_state[:, 0]).numpy(), atol=1e-5)


def test_pooling_is_chosen_per_family_and_overridable(hf_models):
    vit = load_backbone(f"hf:{hf_models['vit']}")
    mean = load_backbone(f"hf:{hf_models['vit']}", pooling="mean")
    assert (vit.pooling, mean.pooling, load_backbone(f"hf:{hf_models['convnext']}").pooling) == ("cls", "mean",
                                                                                                   "pooler")
    x = vit.prepare(cells("image"))
    with torch.no_grad():
        states = vit.model(pixel_values=x.view(2, 3, 16, 16)).last_hidden_state
    np.testing.assert_allclose(vit.embed(cells("image")), states[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(mean.embed(cells("image")), states.mean(dim=1).numpy(), atol=1e-5)


def test_a_clip_checkpoint_given_for_images_uses_its_vision_tower(hf_models):
    import transformers

    folder = hf_models["clip"]
    backbone = load_backbone(f"hf:{folder}")
    assert "Vision" in type(backbone.model).__name__ and not hasattr(backbone.model, "text_model")
    images = [Image.fromarray(c) for c in cells("image")]
    pixels = transformers.AutoImageProcessor.from_pretrained(folder)(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        reference = transformers.CLIPModel.from_pretrained(folder).vision_model(pixel_values=pixels).pooler_output
    np.testing.assert_allclose(backbone.embed(cells("image")), reference.numpy(), atol=1e-5)


def test_audio_is_resampled_to_the_processor_rate_and_truncated_to_max_seconds(hf_models):
    from polymodal.data.audio_features import resample

    backbone = load_backbone(f"hf:{hf_models['wav2vec2']}", **SHORT)
    rng = np.random.default_rng(0)
    long_clip = (0.1 * rng.standard_normal(16000 * 2).astype(np.float32), 16000)  # 2 s: truncated to 0.5 s
    head = (long_clip[0][:8000], 16000)
    np.testing.assert_allclose(backbone.embed([long_clip]), backbone.embed([head]), atol=1e-6)
    at_8k = (0.1 * rng.standard_normal(4000).astype(np.float32), 8000)
    np.testing.assert_allclose(backbone.embed([at_8k]), backbone.embed([(resample(at_8k[0], 8000, 16000), 16000)]),
                               atol=1e-6)
    whisper = load_backbone(f"hf:{hf_models['whisper']}")
    assert whisper.options["max_seconds"] == pytest.approx(1.0)  # the feature extractor's own window


def test_too_long_text_is_truncated_to_max_length(hf_models):
    backbone = load_backbone(f"hf:{hf_models['bert']}", max_length=6)  # [CLS] + 4 words + [SEP]
    long = "a cat sat on the mat " * 20
    np.testing.assert_allclose(backbone.embed([long]), backbone.embed(["a cat sat on"]), atol=1e-6)
    assert load_backbone(f"hf:{hf_models['bert']}").options["max_length"] == 32  # the model's maximum


def test_hf_names_are_registered_encoders_and_listed_with_their_families(capsys):
    from polymodal.cli import main

    assert "hf:/any/folder" in ENCODERS
    assert "pooling" in ENCODERS.get("hf:/any/folder").parameters()
    assert main(["encoders"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "hf:NAME_OR_PATH" in shown
    for family in FAMILIES:
        assert family.name in shown
    assert "image=hf:facebook/dinov2-small" in shown.replace("│ ", "").replace(" │", "")


def test_the_cli_flags_of_the_readme_reach_the_config_as_written():
    from polymodal.commands import parse_nested, parse_pairs

    assert parse_pairs(["image=hf:./models/vit", "text=hf:bert-base-uncased"], "--encoder") == {
        "image": "hf:./models/vit", "text": "hf:bert-base-uncased"}
    args = parse_nested(["text.train=lora:r=8,alpha=16,dropout=0.05", "image.pooling=mean", "image.train=last:2",
                         "audio.max_seconds=5"], "--encoder-arg")
    assert args == {"text": {"train": "lora:r=8,alpha=16,dropout=0.05"},
                    "image": {"pooling": "mean", "train": "last:2"}, "audio": {"max_seconds": 5}}
    assert str(TrainMode.parse(args["text"]["train"])) == "lora:r=8,alpha=16,dropout=0.05"
