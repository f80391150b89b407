"""Learning-rate schedules: the factor against hand values, and the callback inside a real training run."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from polymodal.config import TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.encoders import build_encoder
from polymodal.engine.pretrain_module import PretrainModule
from polymodal.engine.schedule import LearningRateSchedule, lr_factor
from polymodal.engine.trainer import train
from polymodal.models.objectives import OBJECTIVES


def test_factor_matches_hand_values() -> None:
    assert [lr_factor(s, 10) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]
    assert [lr_factor(s, 10, warmup_steps=4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    # cosine over the 6 steps after a warmup of 4: 1 at the first, 0 at the last, 0.5 half way
    cosine = [lr_factor(s, 10, 4, "cosine") for s in range(4, 10)]
    assert cosine[0] == 1.0 and cosine[-1] == pytest.approx(0.0, abs=1e-12)
    assert cosine[2] == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 5)))
    assert all(a > b for a, b in itertools.pairwise(cosine))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        lr_factor(0, 10, schedule="step")
    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        LearningRateSchedule("cosine", -1)


class _Recording(PretrainModule):
    """Notes the learning rate each training step runs with."""

    seen: list[float]

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        self.seen.append(float(self.trainer.optimizers[0].param_groups[0]["lr"]))
        return super().training_step(batch, batch_idx)


def _run(tmp_path: Path, **options: Any) -> list[float]:
    torch.manual_seed(0)
    info = {"x": {"kind": "vector", "dim": 3}}
    encoders = {"x": build_encoder("vector-mlp", info["x"], output_dim=4, hidden_dim=8)}
    module = _Recording(OBJECTIVES.create("autoencoder", encoders=encoders, input_info=info, latent_dim=2), lr=0.01)
    module.seen = []
    n = 40
    data = EncodedData({"x": torch.randn(n, 3)}, {"x": torch.ones(n, dtype=torch.bool)}, {}, np.arange(n))
    config = TrainConfig(epochs=3, batch_size=10, patience=10, progress=False, **options)
    train(module, data.subset(np.arange(30)), data.subset(np.arange(30, 40)), config, tmp_path)
    return module.seen


def test_cosine_with_warmup_drives_the_optimizer_and_the_default_stays_constant(tmp_path: Path) -> None:
    seen = _run(tmp_path / "cosine", lr_schedule="cosine", warmup_epochs=1)  # 3 batches an epoch, 9 steps
    expected = [0.01 * lr_factor(s, 9, 3, "cosine") for s in range(9)]
    assert seen == pytest.approx(expected)
    assert seen[:3] == pytest.approx([0.01 / 3, 0.02 / 3, 0.01]) and seen[-1] == pytest.approx(0.0, abs=1e-12)
    assert _run(tmp_path / "constant") == pytest.approx([0.01] * 9)
