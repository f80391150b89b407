"""polymodal's own training loop: the same training as Lightning's, chosen only where it applies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import polymodal
from polymodal.config import TrainConfig
from polymodal.engine.loop import EarlyStop, own_loop_applies
from polymodal.engine.trainer import read_history
from polymodal.errors import ResumeError

OPTIONS = {"target": "label", "epochs": 6, "batch_size": 32, "lr": 0.01, "seed": 5, "progress": False,
           "baseline": False}


def _fit(table: Path, run_dir: Path, **options: object) -> polymodal.Predictor:
    return polymodal.fit(table, run_dir=run_dir, **{**OPTIONS, **options})


@pytest.mark.parametrize("recipe", [
    {"patience": 6},
    # the weight average, a cosine schedule with warmup, and early stopping that triggers
    {"patience": 1, "ema_decay": 0.9, "lr_schedule": "cosine", "warmup_epochs": 1.0, "lr": 0.05},
])
def test_the_own_loop_trains_exactly_as_lightning_does(tabular_csv: Path, tmp_path: Path, recipe: dict) -> None:
    own = _fit(tabular_csv, tmp_path / "own", **recipe)
    lightning = _fit(tabular_csv, tmp_path / "lightning", loop="lightning", **recipe)
    a, b = own.metrics["train"], lightning.metrics["train"]
    assert a["epochs_run"] == b["epochs_run"] and a["best_epoch"] == b["best_epoch"]
    assert a["best_val_loss"] == pytest.approx(b["best_val_loss"], abs=1e-6)
    for name, value in lightning.metrics["validation"]["label"].items():
        assert own.metrics["validation"]["label"][name] == pytest.approx(value, abs=1e-6), name
    # the log: one row per epoch with the same values and the same columns
    own_log, lightning_log = (read_history(tmp_path / d / "logs" / "metrics.csv") for d in ("own", "lightning"))
    assert len(own_log) == len(lightning_log) == a["epochs_run"]
    for row, ref in zip(own_log, lightning_log, strict=True):
        assert set(row) == set(ref)
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, abs=1e-5), key
    # the best weights on disk are the model's
    from safetensors.torch import load_file

    for d in ("own", "lightning"):
        assert (tmp_path / d / "best.safetensors").exists()
    saved = load_file(str(tmp_path / "own" / "best.safetensors"))
    for name, value in load_file(str(tmp_path / "lightning" / "best.safetensors")).items():
        torch.testing.assert_close(saved[name], value, atol=1e-5, rtol=1e-4)


def test_the_loop_is_chosen_only_where_it_applies() -> None:
    class Module:
        runs_in_own_loop = True

    base = TrainConfig()
    assert own_loop_applies(Module(), base, extra_callbacks=0)
    assert not own_loop_applies(Module(), base, extra_callbacks=1)  # a Lightning callback (a tuning pruner)
    assert not own_loop_applies(object(), base, extra_callbacks=0)  # a module that does not say it can
    for change in ({"loop": "lightning"}, {"accelerator": "gpu"}, {"devices": 2}, {"num_nodes": 2},
                   {"strategy": "ddp"}, {"precision": "bf16-mixed"}):
        assert not own_loop_applies(Module(), base.model_copy(update=change), extra_callbacks=0), change


def test_early_stop_follows_lightnings_rule() -> None:
    stop = EarlyStop(patience=2)
    assert [stop.should_stop(v) for v in (1.0, 0.5, 0.5, 0.7)] == [False, False, False, True]  # equal is no gain
    assert EarlyStop(patience=5).should_stop(math.nan)
    again = EarlyStop(patience=2)
    again.load_state_dict(stop.state_dict())
    assert (again.best, again.wait) == (0.5, 2)


def test_a_checkpoint_of_the_other_loop_is_not_resumed(tabular_csv: Path, tmp_path: Path) -> None:
    _fit(tabular_csv, tmp_path / "a", epochs=2, loop="lightning")
    with pytest.raises(ResumeError, match=r"config.train.loop: checkpoint has 'lightning', this run has 'auto'"):
        _fit(tabular_csv, tmp_path / "a", epochs=2, resume=True, loop="auto")
    # the same configuration, and a checkpoint from the other loop (as a module that changed its mind would find)
    _fit(tabular_csv, tmp_path / "b", epochs=2)
    state = tmp_path / "b" / "resume" / "state.json"
    state.write_text(state.read_text().replace('"engine": "polymodal"', '"engine": "lightning"'))
    with pytest.raises(ResumeError, match="another training engine"):
        _fit(tabular_csv, tmp_path / "b", epochs=2, resume=True)


def test_a_failing_epoch_still_writes_the_best_weights(tabular_csv: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from polymodal.engine.module import SupervisedModule

    real = SupervisedModule.on_train_epoch_end

    def fail_at_epoch_two(self: SupervisedModule) -> None:
        real(self)
        if self.epoch == 2:
            raise RuntimeError("stopped from outside")

    monkeypatch.setattr(SupervisedModule, "on_train_epoch_end", fail_at_epoch_two)
    with pytest.raises(RuntimeError, match="stopped from outside"):
        _fit(tabular_csv, tmp_path / "run")
    assert (tmp_path / "run" / "best.safetensors").exists()


def test_the_progress_bar_goes_to_stderr_and_leaves_nothing_on_stdout(
        tabular_csv: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    predictor = _fit(tabular_csv, tmp_path / "run", epochs=2, progress=True)
    assert predictor.metrics["train"]["epochs_run"] == 2
    out, _ = capfd.readouterr()
    assert "Epoch" not in out
