"""``polymodal.engine.module.SupervisedModule``: a partial-label multi-task fit trains on every row, and its
training loss on a batch is the masked loss computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import polymodal
from polymodal.config import FitConfig
from polymodal.data.module import TableDataModule
from polymodal.engine.fit_steps import build_module


def _partial_table(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """Two targets, each empty in a third of the rows (never both): ``y`` (3 classes) and ``z`` (a number)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["vec"] = [str(list(map(float, r))) for r in rng.normal(size=(n, 2))]
    frame["y"] = np.array(["p", "q", "r"], dtype=object)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)]
    frame["z"] = x[:, 2] * 2.0
    frame.loc[0::3, "y"] = None
    frame.loc[1::3, "z"] = np.nan
    return frame


def test_partial_label_fit_trains_on_every_row_and_scores_the_labelled_ones() -> None:
    frame = _partial_table()
    predictor = polymodal.fit(frame, ["y", "z"], epochs=1, preset="none", baseline=False, progress=False,
                              modalities={"vec": "vector"})
    sizes = predictor.metrics["sizes"]
    assert sizes["train"] + sizes["val"] == len(frame)  # no row dropped for its empty target
    assert predictor.metrics["skipped"]["rows"] == []
    scores = predictor.evaluate(frame)  # over the rows holding each label: finite, not NaN from the empty ones
    assert np.isfinite(scores["y"]["accuracy"]) and np.isfinite(scores["z"]["mae"])
    labelled = frame["z"].notna().to_numpy()
    predicted = predictor.predict(frame)["z"].to_numpy(dtype=float)
    assert scores["z"]["mae"] == pytest.approx(np.abs(predicted[labelled] - frame["z"][labelled]).mean(), rel=1e-4)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_loss_on_a_batch_is_the_masked_loss_by_hand() -> None:
    frame = _partial_table()
    config = FitConfig.model_validate({"data": {"targets": ["y", "z"], "modalities": {"vec": "vector"}}})
    data = TableDataModule(frame, config.data).setup()
    module = build_module(config, data.fitted)
    inputs, masks, targets = next(iter(data.train_dataloader(config.train)))
    assert bool((targets["y"] < 0).any()) and bool(torch.isnan(targets["z"]).any())  # the batch has empty labels
    module.eval()  # no dropout nor augmentation: the step's loss is then a function of the batch alone
    loss = module.training_step((inputs, masks, targets), 0)
    logits = module.model(inputs, masks)
    has_y, has_z = targets["y"] >= 0, ~torch.isnan(targets["z"][:, 0])
    by_hand = (F.cross_entropy(logits["y"][has_y], targets["y"][has_y])
               + F.mse_loss(logits["z"][has_z], targets["z"][has_z]))
    assert torch.allclose(loss, by_hand, atol=1e-6)


def test_a_multi_task_row_without_any_label_is_still_an_error() -> None:
    frame = _partial_table()
    frame.loc[2, ["y", "z"]] = None
    with pytest.raises(polymodal.errors.DataError, match="no target value in any of the targets 'y', 'z'"):
        polymodal.fit(frame, ["y", "z"], epochs=1, preset="none", baseline=False, progress=False,
                      modalities={"vec": "vector"})
