"""The Lightning module for representation learning: any model of :data:`polymodal.models.objectives.OBJECTIVES`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor

from polymodal.data.dataset import Batch
from polymodal.engine.finite_loss import check_finite_loss
from polymodal.engine.optim import adamw
from polymodal.losses.output import LossOutput
from polymodal.models.phased import PhasedModel, check_phases
from polymodal.models.representation import RepresentationModel


class PretrainModule(L.LightningModule):
    """Minimises the model's own objective; logs ``train_loss`` / ``val_loss`` and every named term as
    ``train_<name>`` / ``val_<name>``. Targets in the batch, if any, are ignored.

    A :class:`~polymodal.models.phased.PhasedModel` (a GAN) is trained with manual optimization: one
    AdamW optimizer per phase (learning rate ``lr * phase.lr_scale``, the phase's betas), and on every
    batch each phase in turn takes its steps with only its own parameters requiring gradients. Its
    ``train_loss`` is the sum of the phases' losses, logged with each phase's ``train_<phase>_loss``.
    """

    def __init__(self, model: RepresentationModel, lr: float = 1e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay
        self.phases = model.training_phases() if isinstance(model, PhasedModel) else []
        if self.phases:
            check_phases(model, self.phases)
            self.automatic_optimization = False

    def _log_loss(self, stage: str, out: LossOutput, masks: Mapping[str, Tensor], prefix: str = "") -> None:
        batch_size = next(iter(masks.values())).shape[0]
        self.log(f"{stage}_{prefix}loss", out.total.detach(), on_step=False, on_epoch=True, prog_bar=not prefix,
                 batch_size=batch_size, sync_dist=stage == "val")
        for name, value in out.components.items():
            self.log(f"{stage}_{name}", value.float(), on_step=False, on_epoch=True, batch_size=batch_size,
                     sync_dist=stage == "val")

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor | None:
        inputs, masks, _ = batch
        if not self.phases:
            out: LossOutput = self.model(inputs, masks)
            check_finite_loss(self, "training", out.total, out.components, batch, batch_idx)
            self._log_loss("train", out, masks)
            return out.total
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        total = torch.zeros((), device=self.device)
        for phase, optimizer in zip(self.phases, optimizers, strict=True):
            self.toggle_optimizer(optimizer)  # only this phase's parameters require gradients
            for _ in range(phase.steps):
                optimizer.zero_grad()
                out = cast(PhasedModel, self.model).phase_loss(phase.name, inputs, masks)
                check_finite_loss(self, f"training ({phase.name} phase)", out.total, out.components, batch, batch_idx)
                self.manual_backward(out.total)
                optimizer.step()
            self.untoggle_optimizer(optimizer)
            self._log_loss("train", out, masks, prefix=f"{phase.name}_")
            total = total + out.total.detach()
        self._log_loss("train", LossOutput(total), masks)
        return None

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        inputs, masks, _ = batch
        out: LossOutput = self.model(inputs, masks)
        check_finite_loss(self, "validation", out.total, out.components, batch, batch_idx)
        self._log_loss("val", out, masks)

    def configure_optimizers(self) -> Any:
        if not self.phases:
            return adamw(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return [adamw(p.parameters, lr=self.lr * p.lr_scale, betas=p.betas, weight_decay=self.weight_decay)
                for p in self.phases]
