"""Learning-rate schedules: linear warmup, then a constant rate or a cosine decay to zero.

:class:`LearningRateSchedule` is a Lightning callback that sets every optimizer's learning rate before
each training batch, so it serves any module (one optimizer or the phases of a GAN) without changing
how the module builds its optimizers. The base rate of a parameter group is kept in the group as
``initial_lr`` (as torch's schedulers do): it is saved with the optimizer's state, so a resumed run
continues the same schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch.optim import Optimizer

SCHEDULES = ("constant", "cosine")


def lr_factor(step: int, total_steps: int, warmup_steps: int = 0, schedule: str = "constant") -> float:
    """The multiple of the base learning rate at training step ``step`` (0-based) of ``total_steps``.

    Warmup: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps. Then 1 (``"constant"``)
    or ``0.5 * (1 + cos(pi * t))`` with ``t`` going from 0 after the warmup to 1 at the last step
    (``"cosine"``, Loshchilov & Hutter 2017, without restarts).

    >>> [round(lr_factor(s, 5, 0, "cosine"), 3) for s in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    >>> [lr_factor(s, 4, 2) for s in range(4)]
    [0.5, 1.0, 1.0, 1.0]
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    decay_steps = total_steps - warmup_steps - 1
    if decay_steps <= 0:
        return 1.0
    t = min((step - warmup_steps) / decay_steps, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * t))


class LearningRateSchedule(Callback):
    """Sets the learning rate of every parameter group of every optimizer before each training batch to
    its base rate times :func:`lr_factor`; steps are training batches, over ``max_epochs`` epochs (a
    stream of unknown length counts one step per epoch)."""

    def __init__(self, schedule: str = "cosine", warmup_epochs: float = 0.0) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.schedule, self.warmup_epochs = schedule, float(warmup_epochs)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        per_epoch = trainer.num_training_batches
        if not isinstance(per_epoch, int) or per_epoch <= 0:  # an iterable of unknown length
            per_epoch, batch_idx = 1, 0
        step = trainer.current_epoch * per_epoch + batch_idx
        total = max(int(trainer.max_epochs or 1), 1) * per_epoch
        set_learning_rates(trainer.optimizers, step, total, round(self.warmup_epochs * per_epoch), self.schedule)


def set_learning_rates(optimizers: Iterable[Optimizer], step: int, total_steps: int, warmup_steps: int,
                       schedule: str) -> None:
    """Set every parameter group's rate to its base rate (kept as ``initial_lr``) times :func:`lr_factor`."""
    factor = lr_factor(step, total_steps, warmup_steps, schedule)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
