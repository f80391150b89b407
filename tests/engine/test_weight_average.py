"""The weight average: the EMA arithmetic, the swap around validation, what is kept, half precision."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from polymodal.config import TrainConfig
from polymodal.engine.trainer import train_loaders
from polymodal.engine.weight_average import WeightAverage, ema_factor


def test_the_decay_warms_up_to_its_value() -> None:
    assert ema_factor(0.99, 0) == pytest.approx(0.1)
    assert [ema_factor(0.5, t) for t in (0, 10, 100)] == [0.1, 0.5, 0.5]
    assert ema_factor(0.999, 10**6) == 0.999


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2.0])
def test_a_decay_outside_zero_and_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(decay)


def test_updates_follow_the_ema_formula_and_frozen_parameters_are_left_out() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    net[2].weight.requires_grad_(False)
    ema = WeightAverage(0.9)
    ema.attach(net)
    assert ema.average is not None
    assert "2.weight" not in ema.average and "1.num_batches_tracked" not in ema.average
    assert {"0.weight", "0.bias", "1.running_mean", "2.bias"} <= set(ema.average)
    expected = net[0].weight.detach().clone()
    for step in range(30):
        with torch.no_grad():
            net[0].weight.add_(torch.randn_like(net[0].weight))
        d = ema_factor(0.9, step)
        expected = d * expected + (1 - d) * net[0].weight.detach()
        ema.update()
    assert ema.updates == 30
    torch.testing.assert_close(ema.average["0.weight"], expected)


def test_swapping_in_and_out_restores_the_raw_weights_exactly() -> None:
    net = nn.Linear(3, 2)
    ema = WeightAverage(0.5)
    ema.attach(net)
    with torch.no_grad():
        net.weight.mul_(3.0)
    ema.update()
    raw = net.weight.detach().clone()
    ema.swap_in()
    torch.testing.assert_close(net.weight.detach(), ema.average["weight"])  # type: ignore[index]
    assert not torch.equal(net.weight.detach(), raw)
    ema.swap_in()  # a second swap-in keeps the first raw copy
    ema.swap_out()
    assert torch.equal(net.weight.detach(), raw)
    ema.swap_out()  # nothing swapped in: a no-op
    assert torch.equal(net.weight.detach(), raw)


def test_half_precision_weights_are_averaged_in_float32() -> None:
    net = nn.Linear(2, 2).to(torch.bfloat16)
    ema = WeightAverage(0.9999)
    ema.attach(net)
    assert ema.average is not None and ema.average["weight"].dtype == torch.float32
    for _ in range(3):
        ema.update()
    ema.copy_to_module()
    assert net.weight.dtype == torch.bfloat16


def test_a_saved_average_for_another_model_is_refused() -> None:
    ema = WeightAverage(0.9)
    ema.load_state_dict({"decay": 0.9, "updates": 3, "average": {"other": torch.zeros(1)}})
    with pytest.raises(ValueError, match="no entry for bias, weight"):
        ema.attach(nn.Linear(2, 1))


class _Regression(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y), on_epoch=True)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.05)


class _Watch(Callback):
    """What validation and the optimiser see: the weights at each validation and before each step."""

    def __init__(self, average: list[WeightAverage]) -> None:
        self.average, self.validated, self.stepped_from_average = average, [], 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.validated.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})
        ema = next(cb for cb in trainer.callbacks if isinstance(cb, WeightAverage))  # type: ignore[attr-defined]
        torch.testing.assert_close(pl_module.net.weight.detach(), ema.average["net.weight"])

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        ema = next(cb for cb in trainer.callbacks if isinstance(cb, WeightAverage))  # type: ignore[attr-defined]
        if ema.average is not None and batch_idx == 0 and trainer.current_epoch > 0:
            self.stepped_from_average += int(torch.equal(pl_module.net.weight.detach(), ema.average["net.weight"]))


def _loaders() -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(96, 4)), dtype=torch.float32)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.3 * torch.tensor(rng.normal(size=(96, 1)),
                                                                                dtype=torch.float32)
    train = torch.utils.data.TensorDataset(x[:64], y[:64])
    val = torch.utils.data.TensorDataset(x[64:], y[64:])
    return (torch.utils.data.DataLoader(train, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)),
            torch.utils.data.DataLoader(val, batch_size=32))


def test_training_validates_and_keeps_the_average_while_the_optimiser_steps_the_raw_weights(tmp_path: Path) -> None:
    watch = _Watch([])
    module = _Regression()
    train_loader, val_loader = _loaders()
    config = TrainConfig(epochs=8, patience=8, ema_decay=0.8, progress=False)
    result = train_loaders(module, train_loader, val_loader, config, tmp_path, n_train=64, callbacks=[watch])
    assert len(watch.validated) == result.epochs_run == 8
    assert watch.stepped_from_average == 0  # the raw weights, not the average, went on training
    best = watch.validated[result.best_epoch]
    for name, value in module.state_dict().items():  # the kept model: the average of the best epoch
        torch.testing.assert_close(value, best[name])
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "best.safetensors"))  # written once, when training ended
    for name, value in module.state_dict().items():
        torch.testing.assert_close(saved[name], value)


class _Stop(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("stopped from outside")


def test_an_interrupted_run_still_writes_its_best_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    train_loader, val_loader = _loaders()
    config = TrainConfig(epochs=8, patience=8, ema_decay=0.8, progress=False)
    assert not (tmp_path / "best.safetensors").exists()
    with pytest.raises(RuntimeError, match="stopped from outside"):
        train_loaders(_Regression(), train_loader, val_loader, config, tmp_path, n_train=64, callbacks=[_Stop(2)])
    assert set(load_file(str(tmp_path / "best.safetensors"))) == {"net.weight", "net.bias"}
