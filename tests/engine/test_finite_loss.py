"""A fit whose loss is not finite stops with an error naming the step, the loss term and the damaged input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.cli import main
from polymodal.config import ModelConfig, TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ModalityKind
from polymodal.data.schema import TaskKind
from polymodal.engine.module import SupervisedModule
from polymodal.engine.pretrain_module import PretrainModule
from polymodal.engine.trainer import train
from polymodal.errors import TrainingError
from polymodal.models import build_model
from tests.models.conftest import build, make_batch

N = 16
CONFIG = TrainConfig(epochs=1, batch_size=8, progress=False)


def _supervised() -> SupervisedModule:
    torch.manual_seed(0)
    model = build_model(ModelConfig(fusion="concat"), {"image": {"dim": 4}, "text": {"dim": 3}},
                        {"image": ModalityKind.VECTOR, "text": ModalityKind.VECTOR}, {"y": ("multiclass", 2)})
    return SupervisedModule(model, {"y": TaskKind.MULTICLASS}, {"y": 2})


def _data(bad_rows: list[int], value: float = float("nan")) -> EncodedData:
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(N, 4, generator=g), torch.randn(N, 3, generator=g)
    image[bad_rows, 1] = value  # what a damaged embedding cache used to hand over
    masks = {"image": torch.ones(N, dtype=torch.bool), "text": torch.ones(N, dtype=torch.bool)}
    return EncodedData({"image": image, "text": text}, masks, {"y": torch.arange(N) % 2}, np.arange(N))


def test_nan_in_an_input_stops_the_fit_naming_the_modality(tmp_path: Path) -> None:
    train_data, val_data = _data([9, 10]), _data([])  # rows 9 and 10: the second batch of the first epoch
    with pytest.raises(TrainingError, match=r"^training loss became NaN at epoch 0, step 1 \(non-finite term\(s\): "
                                            r"loss_y\): the input of modality 'image' holds non-finite values in 2 of "
                                            r"8 row\(s\) \(a damaged embedding cache or table\?\)$"):
        train(_supervised(), train_data.subset(np.arange(N)), val_data, CONFIG, tmp_path)


def test_infinity_in_a_validation_input_stops_the_fit(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"^validation loss became (NaN|infinite) at epoch 0, step 0 .*: the input "
                                            r"of modality 'image' holds non-finite values in 1 of 8 row\(s\)"):
        train(_supervised(), _data([]), _data([3], float("inf")), CONFIG, tmp_path)


def test_a_pretraining_loss_that_is_not_finite_names_its_input(tmp_path: Path) -> None:
    inputs, masks = make_batch(N, names=("img", "tab"))
    inputs["tab"][0, 0] = float("nan")
    data = EncodedData(inputs, masks, {}, np.arange(N))
    with pytest.raises(TrainingError, match=r"^training loss became NaN at epoch 0, step 0.*: the input of modality "
                                            r"'tab' holds non-finite values in 1 of 8 row\(s\)"):
        train(PretrainModule(build("contrastive", names=("img", "tab"))), data, data, CONFIG, tmp_path)


def test_a_diverging_fit_is_a_cli_error(tmp_path: Path, tabular_csv: Path, quiet_config: Path, capsys) -> None:
    code = main(["fit", str(tabular_csv), "--config", str(quiet_config), "--target", "label", "--epochs", "2",
                 "--lr", "1e37"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert re.search(r"error: training loss became NaN at epoch \d+, step \d+ \(non-finite term\(s\): loss_label\): "
                     r"every input and target of the batch is finite, so the model diverged \(try a lower learning "
                     r"rate, --lr, or 32-bit precision\)", err), err
    assert "Traceback" not in err
