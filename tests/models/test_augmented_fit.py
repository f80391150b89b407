"""Augmentations in supervised training: they change training only, and frozen embeddings count as vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal
from polymodal.augment.base import GaussianNoise
from polymodal.augment.image import RandomCrop
from polymodal.config import ModelConfig
from polymodal.data.kinds import ModalityKind
from polymodal.models.builder import build_model

SMALL = {"encoder_args": {"image": {"base_channels": 4, "output_dim": 16}}, "batch_size": 64, "progress": False,
         "epochs": 1, "seed": 5}


@pytest.fixture(scope="module")
def digits_150(digits_csv: Path) -> Path:
    path = digits_csv.parent / "digits_150_augment.csv"
    pd.read_csv(digits_csv).iloc[:150].to_csv(path, index=False)
    return path


def test_augmented_training_differs_and_prediction_is_deterministic(digits_150: Path, tmp_path: Path) -> None:
    plain = polymodal.fit(digits_150, "digit", **SMALL)
    augmented = polymodal.fit(digits_150, "digit", augment={"image": "default"}, out=tmp_path / "m", **SMALL)
    assert plain.history[-1]["train_loss"] != augmented.history[-1]["train_loss"]
    assert sorted(augmented.model.augment.augmentations) == ["noisy", "rotated"]
    first = augmented.predict_proba(digits_150)
    np.testing.assert_array_equal(augmented.predict_proba(digits_150), first)  # eval mode: no augmentation
    np.testing.assert_array_equal(polymodal.load(tmp_path / "m").predict_proba(digits_150), first)


def test_frozen_pretrained_embeddings_are_augmented_as_vectors() -> None:
    info = {"photo": {"kind": "image", "pretrained": "efficientnet-lite0", "train": "frozen", "embedding_dim": 6},
            "clip": {"kind": "audio", "n_mels": 8, "n_frames": 12}}
    kinds = {"photo": ModalityKind.IMAGE, "clip": ModalityKind.AUDIO}
    model = build_model(ModelConfig(encoders={"photo": "efficientnet-lite0"}, augment={"image": "default"}),
                        info, kinds, {"y": ("multiclass", 3)})
    assert [type(m) for m in model.augment.augmentations["photo"]] == [GaussianNoise]
    with pytest.raises(ValueError, match="'crop' applies to image, not to vector modality 'photo'"):
        build_model(ModelConfig(encoders={"photo": "efficientnet-lite0"}, augment={"photo": ["crop"]}),
                    info, kinds, {"y": ("multiclass", 3)})
    model = build_model(ModelConfig(augment={"image": ["crop"]}), {**info, "photo": {"kind": "image",
                        "channels": 1, "height": 8, "width": 8}}, kinds, {"y": ("multiclass", 3)})
    assert isinstance(model.augment.augmentations["photo"][0], RandomCrop)
    model.train()
    out = model({"photo": torch.randn(2, 1, 8, 8), "clip": torch.randn(2, 1, 8, 12)},
                {"photo": torch.ones(2, dtype=torch.bool), "clip": torch.ones(2, dtype=torch.bool)})
    assert out["y"].shape == (2, 3)
