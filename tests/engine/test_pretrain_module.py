"""The pretraining module: phased (adversarial) models step each phase's own parameters only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from polymodal.config import TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.engine.pretrain_module import PretrainModule
from polymodal.engine.trainer import train
from tests.models.conftest import build, make_batch


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {n for n in before if not torch.equal(before[n], after[n])}


def test_each_phase_steps_its_own_parameters_only(tmp_path: Path) -> None:
    model = build("cgan", source="txt", target="img", noise_dim=4, condition_dim=8, hidden_dim=16,
                  discriminator_lr_ratio=2.0)
    names = {p.name: {n for n, q in model.named_parameters() if any(q is r for r in p.parameters)}
             for p in model.training_phases()}
    snapshots: list[tuple[str, dict[str, torch.Tensor]]] = []
    phase_loss = model.phase_loss

    def recording(phase, inputs, masks):  # type: ignore[no-untyped-def]
        snapshots.append((phase, snapshot(model)))
        return phase_loss(phase, inputs, masks)

    model.phase_loss = recording  # type: ignore[method-assign]
    inputs, masks = make_batch(16, names=("img", "txt"))
    data = EncodedData(inputs, masks, {}, np.arange(16))
    module = PretrainModule(model, lr=1e-2)
    assert [o.param_groups[0]["lr"] for o in module.configure_optimizers()] == [2e-2, 1e-2]
    result = train(module, data, data, TrainConfig(epochs=1, batch_size=16, progress=False), tmp_path,
                   select_best=False)
    snapshots.append(("end", snapshot(model)))
    assert [s[0] for s in snapshots] == ["discriminator", "generator", "end"]
    after_d = changed(snapshots[0][1], snapshots[1][1])
    after_g = changed(snapshots[1][1], snapshots[2][1])
    assert after_d and after_d <= names["discriminator"]
    assert after_g and after_g <= names["generator"]
    history = result.history[-1]
    assert {"train_discriminator_loss", "train_generator_loss", "train_loss", "val_loss"} <= set(history)
