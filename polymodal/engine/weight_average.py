"""An exponential moving average of the weights (EMA), the weights that are validated, kept and saved.

Averaging the weights over the last optimiser steps (Polyak & Juditsky 1992; the EMA of timm's ``ModelEma``
and TensorFlow's ``ExponentialMovingAverage``) cancels much of the noise of the last steps of SGD: on small
or noisy tables the averaged model validates better, its validation loss is smoother (so early stopping
picks a better epoch), and it varies less from seed to seed. After every optimiser step::

    average = d * average + (1 - d) * weights,   d = min(decay, (1 + t) / (10 + t))

where ``t`` counts the updates: the warm-up of ``d`` keeps the first, random weights from lingering in the
average. The trainable parameters and the floating-point buffers (batch-norm statistics) are averaged;
frozen parameters, which do not move, are not copied.

:class:`WeightAverage` is a Lightning callback. Validation runs on the averaged weights (they are copied in
when validation starts and the raw weights back when it ends, after :class:`~polymodal.engine.trainer.
BestWeights` has kept them if the epoch is the best); when training ends the average stays in the model.
The optimiser only ever steps the raw weights. Its state (the average and the update count) is part of
the resume checkpoint, so a resumed run continues the same average.

Example
-------
>>> import torch
>>> from torch import nn
>>> net = nn.Linear(2, 1)
>>> ema = WeightAverage(0.9)
>>> ema.attach(net)
>>> with torch.no_grad():
...     _ = net.weight.add_(1.0)
>>> ema.update()
>>> ema.updates
1
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn


def ema_factor(decay: float, updates: int) -> float:
    """The weight of the old average at update ``updates`` (0-based): ``decay`` after its warm-up.

    >>> [round(ema_factor(0.99, t), 3) for t in (0, 1, 10, 1000)]
    [0.1, 0.182, 0.55, 0.99]
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage(Callback):
    """Keeps the exponential moving average of a module's weights with ``decay`` per optimiser step (see the
    module's notes); validation, the best weights and the final model use the average."""

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight-average decay must be between 0 and 1 (e.g. 0.99 to 0.9999), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.average: dict[str, Tensor] | None = None
        self._live: dict[str, Tensor] = {}
        self._raw: list[Tensor] | None = None

    def attach(self, module: nn.Module) -> None:
        """Follow ``module``'s trainable parameters and floating-point buffers (called when training starts,
        once the module is on its device); the average starts from them unless a resumed state holds one."""
        live: dict[str, Tensor] = {name: p for name, p in module.named_parameters() if p.requires_grad}
        live.update({name: b for name, b in module.named_buffers() if b.is_floating_point()})
        self._live = live
        if self.average is None:
            self.average = {name: t.detach().to(_average_dtype(t), copy=True) for name, t in live.items()}
        self._place()

    def _place(self) -> None:
        """The average on the followed tensors' devices (float32 for half-precision weights)."""
        if self.average is None or not self._live:
            return
        missing = sorted(set(self._live) - set(self.average))
        if missing:
            raise ValueError(f"the saved weight average has no entry for {', '.join(missing[:5])}: it was kept for "
                             "another model")
        self.average = {n: self.average[n].to(t.device, _average_dtype(t)) for n, t in self._live.items()}

    def _pairs(self) -> tuple[list[Tensor], list[Tensor]]:
        if self.average is None or not self._live:
            raise RuntimeError("WeightAverage.attach must be called before the average is used")
        names = list(self._live)
        return [self.average[n] for n in names], [self._live[n].detach() for n in names]

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the current weights."""
        average, live = self._pairs()
        weight = 1.0 - ema_factor(self.decay, self.updates)
        if all(a.dtype == t.dtype for a, t in zip(average, live, strict=True)):
            if average:
                torch._foreach_lerp_(average, live, weight)
        else:
            for a, t in zip(average, live, strict=True):
                a.lerp_(t.to(a.dtype), weight)
        self.updates += 1

    @torch.no_grad()
    def swap_in(self) -> None:
        """Copy the average into the module (keeping the raw weights to :meth:`swap_out`)."""
        if self._raw is not None or self.average is None or not self._live:
            return
        average, live = self._pairs()
        self._raw = [t.clone() for t in live]
        for t, a in zip(live, average, strict=True):
            t.copy_(a)

    @torch.no_grad()
    def swap_out(self) -> None:
        """Put the raw weights back after :meth:`swap_in`."""
        if self._raw is None:
            return
        _, live = self._pairs()
        for t, raw in zip(live, self._raw, strict=True):
            t.copy_(raw)
        self._raw = None

    @torch.no_grad()
    def copy_to_module(self) -> None:
        """Leave the average in the module for good (training is over)."""
        self.swap_out()
        average, live = self._pairs()
        for t, a in zip(live, average, strict=True):
            t.copy_(a)

    # --- Lightning hooks ---------------------------------------------------------------------------

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.attach(pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.update()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_in()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.swap_out()  # runs after BestWeights (placed after it), so the kept best weights are averaged

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.average is not None and self._live:
            self.copy_to_module()

    def state_dict(self) -> dict[str, Any]:
        average = {k: v.detach().cpu().contiguous() for k, v in (self.average or {}).items()}
        return {"decay": self.decay, "updates": self.updates, "average": average}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.updates = int(state_dict["updates"])
        self.average = {str(k): v for k, v in dict(state_dict["average"]).items()}
        self._place()  # training has started (a resumed run): onto the followed tensors' devices


def _average_dtype(t: Tensor) -> torch.dtype:
    """Half-precision weights are averaged in float32: a step of 1 - decay is below their resolution."""
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


__all__ = ["WeightAverage", "ema_factor"]
