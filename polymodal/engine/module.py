"""The Lightning module for supervised training of a fusion model (hard or soft sharing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor, nn

from polymodal.data.dataset import Batch
from polymodal.data.schema import TaskKind
from polymodal.engine.balance import ModalityBalance
from polymodal.engine.finite_loss import check_finite_loss
from polymodal.engine.optim import adamw
from polymodal.evaluation.metrics import build_metrics, update_metrics
from polymodal.losses import MultiTaskLoss
from polymodal.models import FusionModel, SupervisedModel


class SupervisedModule(L.LightningModule):
    """Trains a fusion model on one or more targets; logs ``train_loss``, ``val_loss`` and
    ``val_<target>_<metric>`` (regression metrics in the target's original units).

    The training and validation losses are epoch means: they are summed (weighted by batch size) in the
    step and logged once at the epoch's end, the same value as Lightning's ``on_epoch`` logging at every
    step without its per-step cost, which small models notice (benchmarks/results/engine_overhead.md).

    The module runs under Lightning or, for a single-process CPU run, in polymodal's own loop
    (:mod:`polymodal.engine.loop`, which sets ``loop_epoch`` while it trains): its epoch values go through
    :meth:`record`, which is Lightning's ``self.log`` on the one path and kept for :meth:`take_records`
    on the other.
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
        class_weights: Mapping[str, Tensor] | None = None,
        balance: ModalityBalance | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.tasks = dict(tasks)
        self.loss = MultiTaskLoss(self.tasks, loss_weighting, loss_weights, class_weights)
        self.scale = dict(regression_scale or {})
        self.lr, self.weight_decay = lr, weight_decay
        self.label_smoothing = label_smoothing  # training loss only: val_loss stays the plain loss
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_rows = 0
        self._val_sum: Tensor | None = None
        self._val_rows = 0
        self.val_metrics: Any = nn.ModuleDict(
            {name: build_metrics(task, num_classes[name]) for name, task in self.tasks.items()}
        )
        self.balance = balance  # modality imbalance (polymodal.engine.balance): its auxiliary heads train here
        self.aux_metrics: Any = nn.ModuleDict(
            {m: build_metrics(balance.task, num_classes[balance.target]) for m in balance.modalities}
            if balance is not None else {})
        self.loop_epoch: int | None = None
        self._records: dict[str, float] = {}

    @property
    def runs_in_own_loop(self) -> bool:
        """Whether polymodal's own loop can train this module: not with modality balancing, whose estimates
        follow Lightning's epochs and sanity checks."""
        return self.balance is None

    @property
    def epoch(self) -> int:
        """The epoch being trained, under either loop."""
        return self.loop_epoch if self.loop_epoch is not None else int(self.current_epoch)

    def record(self, name: str, value: Tensor, prog_bar: bool = False, batch_size: int | None = None) -> None:
        """An epoch value: Lightning's ``self.log`` (epoch-level, synchronised over processes) under Lightning,
        else kept for the loop's log."""
        if self.loop_epoch is not None:
            self._records[name] = float(value)
            return
        self.log(name, value, on_step=False, on_epoch=True, prog_bar=prog_bar, batch_size=batch_size, sync_dist=True)

    def take_records(self) -> dict[str, float]:
        """The values recorded since the last call (polymodal's loop)."""
        records, self._records = self._records, {}
        return records

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.model(inputs, masks)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, masks, targets = batch
        if self.balance is None:
            logits, extras = self.model.training_outputs(inputs, masks, targets, self.tasks)
            out = self.loss(logits, targets, self.label_smoothing)
            total = out.total
        else:
            model = cast(FusionModel, self.model)  # balancing is for one trunk (see build_balance)
            features, fused_masks = model.training_features(inputs, masks)
            logits = model.fuse(features, fused_masks)
            extras = model.extra_losses(features, fused_masks, targets, self.tasks)
            out = self.loss(logits, targets, self.label_smoothing)
            total, logs = self.balance.training_loss(out.total, features, masks, targets)
            out.components.update(logs)
        batch_size = next(iter(masks.values())).shape[0]
        for value in extras.values():
            total = total + value
        balance_logs = {f"train_{k}": v for k, v in out.components.items()} if self.balance is not None else {}
        self._add_to_epoch_means({"train_loss": total, **{f"train_{k}": v for k, v in extras.items()}, **balance_logs},
                                 batch_size)
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
            self.record(name, total / max(rows, 1), prog_bar=name == "train_loss", batch_size=max(rows, 1))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # polymodal's collate builds CPU tensors: on CPU there is nothing to move, and Lightning's walk
        # over the nested batch costs more per step than a small model's forward pass
        if device.type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_backward(self) -> None:
        if self.balance is not None:
            self.balance.modulate(cast(FusionModel, self.model).encoders)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        inputs, masks, targets = batch
        trunk = cast(FusionModel, self.model)
        features = trunk.encode(inputs) if self.balance is not None else None
        bool_masks = {k: v.bool() for k, v in masks.items()}
        logits = trunk.fuse(features, bool_masks) if features is not None else self.model(inputs, masks)
        out = self.loss(logits, targets)
        check_finite_loss(self, "validation", out.total, out.components, batch, batch_idx)
        batch_size = next(iter(masks.values())).shape[0]
        weighted = out.total.detach().float() * batch_size
        self._val_sum = weighted if self._val_sum is None else self._val_sum + weighted
        self._val_rows += batch_size
        for name, task in self.tasks.items():
            update_metrics(self.val_metrics[name], task, logits[name], targets[name], self.scale.get(name))
        if self.balance is not None and features is not None:
            self.balance.record_validation(out.total, features, bool_masks, targets)
            target = targets[self.balance.target]
            for m, head in self.balance.heads.items():
                keep = bool_masks[m]
                update_metrics(self.aux_metrics[m], self.balance.task, head(features[m][keep]), target[keep])

    def on_validation_epoch_start(self) -> None:
        self._val_sum, self._val_rows = None, 0

    def on_validation_epoch_end(self) -> None:
        if self._val_sum is not None:  # batch_size=rows: the row-weighted mean over processes, as for training
            rows = max(self._val_rows, 1)
            self.record("val_loss", self._val_sum / rows, prog_bar=True, batch_size=rows)
        for name, metrics in self.val_metrics.items():
            for k, v in metrics.compute().items():
                self.record(f"val_{name}_{k}", v)
            metrics.reset()
        for m, metrics in self.aux_metrics.items():
            if metrics["accuracy"].update_called:
                self.log(f"val_aux_{m}_accuracy", metrics.compute()["accuracy"], sync_dist=True)
            metrics.reset()
        if self.balance is not None:
            self.balance.end_epoch(self.current_epoch, keep=not self.trainer.sanity_checking)

    def configure_optimizers(self) -> Any:
        return adamw(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
