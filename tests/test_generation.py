"""Generation from pretrained bundles: files, index table, seeds and precise errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from polymodal.cli import main
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.datasets import make_synthetic_table
from polymodal.engine.pretrain import pretrain
from polymodal.generation import INDEX_NAME, generate
from polymodal.pretrained import PretrainedModel

SMALL = {"encoder_args": {"image": {"base_channels": 4, "output_dim": 8}, "audio": {"base_channels": 4,
                                                                                   "output_dim": 8}},
         "preprocess": {"image": {"image_size": 8}, "audio": {"sample_rate": 4000, "n_mels": 16}},
         "ignore": ["label"], "epochs": 1, "batch_size": 16, "progress": False}


@pytest.fixture(scope="module")
def media_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 rows of images and audio (3 classes, column ``label``)."""
    return make_synthetic_table(tmp_path_factory.mktemp("media"), n_rows=24, kinds=("image", "audio"))


@pytest.fixture(scope="module")
def gan(media_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gan") / "bundle"
    pretrain(media_csv, "cgan", objective_args={"source": "audio", "target": "image", "noise_dim": 4,
                                                "hidden_dim": 16}, out=out, **SMALL)
    return out


@pytest.fixture(scope="module")
def vae(media_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> PretrainedModel:
    return pretrain(media_csv, "vae", objective_args={"latent_dim": 4, "hidden_dim": 16}, **SMALL)


def test_cgan_writes_pngs_and_an_index_table(gan: Path, media_csv: Path, tmp_path: Path) -> None:
    index = generate(gan, media_csv, source="audio", target="image", out=tmp_path / "a", seed=1, samples=2)
    table = pd.read_csv(media_csv)
    assert list(index.columns) == ["row", "sample", "image", "label"]
    assert len(index) == 2 * len(table) and sorted(set(index["sample"])) == [0, 1]
    assert index["label"].tolist() == table["label"].iloc[index["row"]].tolist()  # labels of the source rows
    assert pd.read_csv(tmp_path / "a" / INDEX_NAME).equals(index)
    pixels = [np.asarray(Image.open(tmp_path / "a" / p)) for p in index["image"]]
    assert all(p.dtype == np.uint8 and p.shape == (8, 8, 3) for p in pixels)  # the table's images are RGB
    again = generate(gan, media_csv, source="audio", target="image", out=tmp_path / "b", seed=1, samples=2)
    other = generate(gan, media_csv, source="audio", target="image", out=tmp_path / "c", seed=2)
    same = [np.array_equal(np.asarray(Image.open(tmp_path / "b" / p)), q) for p, q in zip(again["image"], pixels)]
    assert all(same)
    assert not all(np.array_equal(np.asarray(Image.open(tmp_path / "c" / p)), q)
                   for p, q in zip(other["image"], pixels[: len(other)]))


def test_the_index_is_a_polymodal_table(gan: Path, media_csv: Path, tmp_path: Path) -> None:
    generate(gan, media_csv, source="audio", target="image", out=tmp_path)
    schema = infer_schema(read_table(tmp_path / INDEX_NAME).frame, ["label"], ignore=["row", "sample"])
    assert [(m.name, m.kind.value) for m in schema.modalities] == [("image", "image")]


def test_vae_writes_wavs_from_images(vae: PretrainedModel, media_csv: Path, tmp_path: Path) -> None:
    few = media_csv.with_name("first-rows.csv")  # next to the table: its paths resolve
    pd.read_csv(media_csv).iloc[:3].to_csv(few, index=False)
    index = generate(vae, few, source="image", target="audio", out=tmp_path)
    assert len(index) == 3
    info = sf.info(str(tmp_path / index["audio"][0]))
    assert info.samplerate == 4000 and info.frames == vae.pipeline.preprocessors["audio"].n_samples_
    wave, _ = sf.read(str(tmp_path / index["audio"][0]))
    assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0


def test_errors_are_precise(gan: Path, vae: PretrainedModel, media_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown modality 'text'; the model's modalities"):
        generate(gan, media_csv, source="text", target="image", out=tmp_path)
    with pytest.raises(ValueError, match="this cgan translates 'audio' to 'image', not 'image' to 'audio'"):
        generate(gan, media_csv, source="image", target="audio", out=tmp_path)
    with pytest.raises(ValueError, match="a 'vae' bundle generates one deterministic sample per row"):
        generate(vae, media_csv, source="image", target="audio", out=tmp_path, samples=3)
    contrastive = pretrain(media_csv, "contrastive", **SMALL)
    with pytest.raises(ValueError, match="objective 'contrastive' cannot generate; pretrain with --objective vae"):
        generate(contrastive, media_csv, source="image", target="audio", out=tmp_path)


def test_a_target_kind_that_cannot_be_written(tmp_path: Path) -> None:
    csv = make_synthetic_table(tmp_path / "t", n_rows=12, kinds=("numeric", "vector"))
    model = pretrain(csv, "autoencoder", objective_args={"latent_dim": 2, "hidden_dim": 8}, **SMALL)
    source, target = sorted(m.name for m in model.pipeline.schema.modalities)
    with pytest.raises(ValueError, match=f"cannot write generated .* samples of '{target}': polymodal generate "
                                         "writes image \\(PNG\\) and audio \\(WAV\\)"):
        generate(model, csv, source=source, target=target, out=tmp_path)


def test_cli(gan: Path, media_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(gan), str(media_csv), "--from", "audio", "--to", "image", "--out",
                 str(tmp_path / "g"), "--seed", "3"]) == 0
    assert "24 image sample(s) generated from audio" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "g" / INDEX_NAME)) == 24
    assert main(["generate", str(gan), str(media_csv), "--from", "sound", "--to", "image", "--out",
                 str(tmp_path / "h")]) == 2
    assert "unknown modality 'sound'" in capsys.readouterr().err
