"""Zero-shot classification and retrieval with a joint model: equal to a hand computation with the same
transformers model; through the cache; fine-tuned by ``pretrain``; on the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal
from polymodal.cli import main
from polymodal.engine.joint_model import from_joint
from polymodal.evaluation.retrieval import cross_modal_retrieval
from polymodal.evaluation.zero_shot import class_prompts, zero_shot
from polymodal.pretrained import PretrainedModel
from tests.tiny_joint import audio_table, image_caption_table, save_tiny_clap, save_tiny_clip

pytest.importorskip("transformers")
CLASSES = ["cat", "dog", "bird"]
TEMPLATES = ["a photo of a {}", "a {}"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_caption_table(tmp_path_factory.mktemp("data"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path / "cache"))


def hand_features(clip: Path, table: Path, texts: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image features of the table's photos and text features of ``texts`` (default: its captions),
    by ``CLIPModel`` and its processor, as its documentation computes them."""
    from PIL import Image
    from transformers import AutoProcessor, CLIPModel

    model, processor = CLIPModel.from_pretrained(clip).eval(), AutoProcessor.from_pretrained(clip)
    frame = pd.read_csv(table)
    images = [Image.open(table.parent / p).convert("RGB") for p in frame["photo"]]
    with torch.no_grad():
        image = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
        tokens = processor.tokenizer(texts or frame["caption"].tolist(), padding=True, return_tensors="pt")
        text = model.get_text_features(**tokens).pooler_output
    normalise = lambda z: (z / z.norm(dim=1, keepdim=True)).numpy()  # noqa: E731
    return normalise(image), normalise(text)


def test_zero_shot_equals_a_hand_computation(clip, table):
    image, prompts = hand_features(clip, table, class_prompts(CLASSES, TEMPLATES))
    weights = prompts.reshape(len(CLASSES), len(TEMPLATES), -1).mean(axis=1)  # OpenCLIP: mean, then normalise
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    similarity = image @ weights.T
    result = polymodal.zero_shot(f"hf:{clip}", table, CLASSES, templates=TEMPLATES, target="label")
    assert result.predictions["predicted"].tolist() == [CLASSES[i] for i in similarity.argmax(axis=1)]
    np.testing.assert_allclose(result.predictions["similarity"], similarity.max(axis=1), atol=1e-5)
    proba = result.predictions[[f"proba_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    labels = pd.read_csv(table)["label"].to_numpy()
    expected = float((np.array(CLASSES)[similarity.argmax(axis=1)] == labels).mean())
    assert result.metrics["label"]["accuracy"] == pytest.approx(expected)
    assert set(result.metrics["label"]) == {"accuracy", "macro_f1", "auroc", "n"}


def test_retrieval_equals_a_hand_computation(clip, table):
    image, text = hand_features(clip, table)
    model = from_joint(f"hf:{clip}", table)
    data = model.encode_table(table)
    ours = model.embed(data, modalities=["photo"]) @ model.embed(data, modalities=["caption"]).T
    hand = image @ text.T
    np.testing.assert_array_equal(np.argsort(-ours, axis=1, kind="stable"), np.argsort(-hand, axis=1, kind="stable"))
    np.testing.assert_allclose(ours, hand, atol=1e-5)
    ranks = 1 + (hand > np.diag(hand)[:, None]).sum(axis=1)  # first hit: the row's own caption
    scores = cross_modal_retrieval(model, table, "photo", "caption", ks=(1, 3))
    assert scores["recall@1"] == pytest.approx(float((ranks <= 1).mean()))
    assert scores["recall@3"] == pytest.approx(float((ranks <= 3).mean()))
    assert scores["median_rank"] == float(np.median(ranks))


def test_frozen_towers_go_through_the_cache_and_a_warm_run_decodes_no_file(clip, table, monkeypatch, tmp_path):
    from polymodal.data import validation
    from polymodal.data.kinds import ColumnKind

    decoded: list[str] = []
    regular = validation.CELL_LOADERS[ColumnKind.IMAGE]
    monkeypatch.setitem(validation.CELL_LOADERS, ColumnKind.IMAGE,
                        lambda value, *a: decoded.append(value) or regular(value, *a))
    cold = from_joint(f"hf:{clip}", table).embed(table)
    assert len(decoded) == 8
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "cache").iterdir() if p.is_dir()) == ["image", "text"]
    decoded.clear()
    warm = from_joint(f"hf:{clip}", table).embed(table)
    assert decoded == []
    np.testing.assert_array_equal(cold, warm)


def test_pretrain_fine_tunes_from_the_joint_space_and_the_bundle_reloads(clip, table, tmp_path):
    start = from_joint(f"hf:{clip}", table)
    pretrained = polymodal.pretrain(table, "contrastive", encoders={"image+text": f"hf:{clip}"},
                                    encoder_args={"image+text": {"train": "full"}}, ignore=["label"], epochs=1,
                                    batch_size=3, lr=1e-2, progress=False, out=tmp_path / "bundle")
    net = pretrained.model
    assert all(isinstance(h, torch.nn.Identity) for h in net.heads.values())  # the model's own projections
    tower = net.encoders["photo"].backbone
    assert not torch.equal(tower.projection.weight, start_weights(clip))  # fine-tuning changed the weights
    reloaded = PretrainedModel.load(tmp_path / "bundle")
    np.testing.assert_allclose(reloaded.embed(table), pretrained.embed(table), atol=1e-6)
    assert not np.allclose(reloaded.embed(table), start.embed(table), atol=1e-4)
    assert zero_shot(tmp_path / "bundle", table, CLASSES).modality == "photo"


def test_pretrain_init_from_a_joint_model_fine_tunes_its_towers(clip, table, tmp_path):
    pretrained = polymodal.pretrain(table, "contrastive", init_from=f"hf:{clip}", ignore=["label"], epochs=1,
                                    batch_size=3, lr=1e-2, progress=False)
    assert pretrained.config.model.encoder_args["photo"]["train"] == "full"
    assert pretrained.config.model.init_from is None  # a joint model, not a bundle: its towers are the encoders
    assert not torch.equal(pretrained.model.encoders["photo"].backbone.projection.weight, start_weights(clip))


def start_weights(clip: Path) -> torch.Tensor:
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(clip).visual_projection.weight.detach()


def test_the_joint_space_starts_at_the_models_logit_scale(clip, table):
    from transformers import CLIPModel

    model = from_joint(f"hf:{clip}", table)
    scale = float(CLIPModel.from_pretrained(clip).logit_scale.detach().exp())
    assert float(1 / model.model.loss.temperature().detach()) == pytest.approx(scale, rel=1e-5)
    assert model.embedding_dim == 8


def test_zero_shot_cli_writes_predictions_and_scores_like_evaluate(clip, table, tmp_path, capsys):
    photos = tmp_path / "photos.csv"  # no caption column: zero-shot needs only the images and the prompts
    pd.read_csv(table)[["photo", "label"]].assign(photo=lambda f: [str(table.parent / p) for p in f["photo"]]) \
        .to_csv(photos, index=False)
    code = main(["zero-shot", f"hf:{clip}", str(photos), "--classes", "cat,dog", "--labels", "a photo of a {}",
                 "--target", "label", "--out", str(tmp_path / "p.csv"), "--json"])
    assert code == 0
    assert "accuracy" in capsys.readouterr().out
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns) == ["row", "predicted", "similarity", "proba_cat", "proba_dog"]
    assert main(["zero-shot", f"hf:{clip}", str(photos), "--classes", "cat,dog", "--out", str(photos)]) == 2
    assert "is the input table" in capsys.readouterr().err


def test_embed_and_retrieve_cli_take_a_joint_model_name(clip, table, tmp_path, capsys):
    assert main(["embed", f"hf:{clip}", str(table), "--out", str(tmp_path / "z.npy"), "--from", "photo"]) == 0
    z = np.load(tmp_path / "z.npy")
    np.testing.assert_allclose(z, hand_features(clip, table)[0], atol=1e-5)
    capsys.readouterr()
    assert main(["retrieve", f"hf:{clip}", str(table), "--from", "photo", "--to", "caption", "--json"]) == 0
    by_name = capsys.readouterr().out
    assert '"recall@1"' in by_name
    assert main(["retrieve", f"hf:{clip}", str(table), "--from", "image", "--to", "text", "--json"]) == 0
    assert capsys.readouterr().out == by_name  # kinds name the same columns


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"classes": ["cat", "cat"]}, r"class name\(s\) given twice: cat"),
    ({"classes": ["cat"], "templates": ["a photo"]}, r"prompt template 'a photo' must hold \{\} exactly once"),
    ({"classes": ["cat", "dog"], "target": "caption"}, r"target column 'caption' holds label\(s\) that are not among "
                                                       r"the classes: 'a cat 0'"),
    ({"classes": ["cat"], "target": "nope"}, r"target column 'nope' is not in the table"),
])
def test_zero_shot_errors(clip, table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zero_shot(f"hf:{clip}", table, **kwargs)


def test_a_bundle_folder_is_not_a_joint_model_name(table, tmp_path):
    with pytest.raises(ValueError, match=r"is not a joint model name; give hf:NAME \(a hub name\) or hf:PATH"):
        from_joint(str(tmp_path), table)


def test_clap_audio_zero_shot_equals_a_hand_computation(table, tmp_path):
    import soundfile as sf
    from transformers import AutoProcessor, ClapModel

    clap, clips = save_tiny_clap(tmp_path / "clap"), audio_table(tmp_path / "audio")
    model, processor = ClapModel.from_pretrained(clap).eval(), AutoProcessor.from_pretrained(clap)
    waves = [sf.read(clips.parent / f"{i}.wav", dtype="float32")[0] for i in range(6)]
    prompts = class_prompts(["bark", "meow"], ["the sound of a {}"])
    with torch.no_grad():
        np.random.seed(0)  # noqa: NPY002 - the extractor's crop of the clips over 1 s, as polymodal draws it
        audio = model.get_audio_features(**processor.feature_extractor(waves, sampling_rate=8000,
                                                                      return_tensors="pt")).pooler_output
        text = model.get_text_features(**processor.tokenizer(prompts, padding=True, return_tensors="pt")).pooler_output
    similarity = (audio / audio.norm(dim=1, keepdim=True) @ (text / text.norm(dim=1, keepdim=True)).T).numpy()
    result = zero_shot(f"hf:{clap}", clips, ["bark", "meow"], templates=["the sound of a {}"], target="label")
    assert result.modality == "clip"
    assert result.predictions["predicted"].tolist() == [["bark", "meow"][i] for i in similarity.argmax(axis=1)]
    np.testing.assert_allclose(result.predictions["similarity"], similarity.max(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match=r"is a clap model: its towers encode audio and text, not image"):
        from_joint(f"hf:{clap}", table.parent / "t.csv", columns="photo+caption")


def test_pretrain_with_frozen_joint_towers_says_how_to_fine_tune(clip, table):
    with pytest.raises(ValueError, match=r"nothing to train: the joint model's towers \(caption, photo\) are frozen "
                                         r"\(the default\) and need no head; fine-tune them with --encoder-arg "
                                         r"A\+B.train=last:N"):
        polymodal.pretrain(table, "contrastive", encoders={"image+text": f"hf:{clip}"}, ignore=["label"], epochs=1,
                           progress=False)
