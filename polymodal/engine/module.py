"""The Lightning module for supervised training of a fusion model (hard or soft sharing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from polymodal.data.dataset import Batch
from polymodal.data.schema import TaskKind
from polymodal.engine.finite_loss import check_finite_loss
from polymodal.engine.optim import adamw
from polymodal.evaluation.metrics import build_metrics, metric_inputs
from polymodal.losses import MultiTaskLoss
from polymodal.models import SupervisedModel


class SupervisedModule(L.LightningModule):
    """Trains a fusion model on one or more targets; logs ``train_loss``, ``val_loss`` and
    ``val_<target>_<metric>`` (regression metrics in the target's original units).

    The training losses are epoch means: they are summed (weighted by batch size) in the step and
    logged once at the epoch's end, the same value as Lightning's ``on_epoch`` logging at every step
    without its per-step cost, which small models notice (benchmarks/results/engine_overhead.md).
    """

    def __init__(
        self,
        model: SupervisedModel,
        tasks: Mapping[str, TaskKind],
        num_classes: Mapping[str, int],
        regression_scale: Mapping[str, tuple[float, float]] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        loss_weighting: str = "fixed",
        loss_weights: Mapping[str, float] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.tasks = dict(tasks)
        self.loss = MultiTaskLoss(self.tasks, loss_weighting, loss_weights)
        self.scale = dict(regression_scale or {})
        self.lr, self.weight_decay = lr, weight_decay
        self.label_smoothing = label_smoothing  # training loss only: val_loss stays the plain loss
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_rows = 0
        self.val_metrics: Any = nn.ModuleDict(
            {name: build_metrics(task, num_classes[name]) for name, task in self.tasks.items()}
        )

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.model(inputs, masks)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, masks, targets = batch
        logits, extras = self.model.training_outputs(inputs, masks, targets, self.tasks)
        out = self.loss(logits, targets, self.label_smoothing)
        total = out.total
        batch_size = next(iter(masks.values())).shape[0]
        for value in extras.values():
            total = total + value
        self._add_to_epoch_means({"train_loss": total, **{f"train_{k}": v for k, v in extras.items()}}, batch_size)
        check_finite_loss(self, "training", total, {**out.components, **extras}, batch, batch_idx)
        return total

    def on_train_epoch_start(self) -> None:
        self._epoch_sums, self._epoch_rows = {}, 0

    def _add_to_epoch_means(self, values: Mapping[str, Tensor], batch_size: int) -> None:
        for name, value in values.items():
            weighted = value.detach().float() * batch_size
            self._epoch_sums[name] = self._epoch_sums[name] + weighted if name in self._epoch_sums else weighted
        self._epoch_rows += batch_size

    def on_train_epoch_end(self) -> None:
        # batch_size=rows: with sync_dist, Lightning's mean is the row-weighted mean over all processes
        rows = self._epoch_rows
        for name, total in self._epoch_sums.items():
            self.log(name, total / max(rows, 1), on_step=False, on_epoch=True, prog_bar=name == "train_loss",
                     batch_size=max(rows, 1), sync_dist=True)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # polymodal's collate builds CPU tensors: on CPU there is nothing to move, and Lightning's walk
        # over the nested batch costs more per step than a small model's forward pass
        if device.type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        inputs, masks, targets = batch
        logits = self.model(inputs, masks)
        out = self.loss(logits, targets)
        check_finite_loss(self, "validation", out.total, out.components, batch, batch_idx)
        batch_size = next(iter(masks.values())).shape[0]
        self.log("val_loss", out.total, on_epoch=True, prog_bar=True, batch_size=batch_size, sync_dist=True)
        for name, task in self.tasks.items():
            preds, target = metric_inputs(task, logits[name], targets[name])
            if name in self.scale:
                mean, std = self.scale[name]
                preds, target = preds * std + mean, target * std + mean
            self.val_metrics[name].update(preds, target)

    def on_validation_epoch_end(self) -> None:
        for name, metrics in self.val_metrics.items():
            values = metrics.compute()
            self.log_dict({f"val_{name}_{k}": v for k, v in values.items()}, sync_dist=True)
            metrics.reset()

    def configure_optimizers(self) -> Any:
        return adamw(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
