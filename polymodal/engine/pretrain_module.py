"""The Lightning module for representation learning: any model of :data:`polymodal.models.objectives.OBJECTIVES`."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from polymodal.data.dataset import Batch
from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel


class PretrainModule(L.LightningModule):
    """Minimises the model's own objective; logs ``train_loss`` / ``val_loss`` and every named term as
    ``train_<name>`` / ``val_<name>``. Targets in the batch, if any, are ignored."""

    def __init__(self, model: RepresentationModel, lr: float = 1e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay

    def _step(self, batch: Batch, stage: str) -> Tensor:
        inputs, masks, _ = batch
        out: LossOutput = self.model(inputs, masks)
        batch_size = next(iter(masks.values())).shape[0]
        self.log(f"{stage}_loss", out.total, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch_size,
                 sync_dist=stage == "val")
        for name, value in out.components.items():
            self.log(f"{stage}_{name}", value.float(), on_step=False, on_epoch=True, batch_size=batch_size,
                     sync_dist=stage == "val")
        return out.total

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
