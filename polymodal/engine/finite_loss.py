"""Stop training when the loss is not finite, with an error that says where the NaN or infinity came from.

A NaN loss never recovers: the weights it reaches are NaN, every later loss is NaN, and early stopping
keeps nothing (the best validation loss stays infinite). The Lightning modules call
:func:`check_finite_loss` on every training and validation step; it costs one scalar check per step
(and, in a multi-process run, one tiny all-reduce so that every process stops together).

Example
-------
>>> import torch
>>> inputs = {"image": torch.tensor([[0.0, float("nan")]])}
>>> describe_non_finite("training", torch.tensor(float("nan")), {}, (inputs, {}, {}), epoch=1, step=3)
"training loss became NaN at epoch 1, step 3: the input of modality 'image' holds non-finite values in 1 of 1 \
row(s) (a damaged embedding cache or table?)"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from polymodal.data.dataset import Batch
from polymodal.errors import TrainingError


def check_finite_loss(module: Any, stage: str, total: Tensor, components: Mapping[str, Tensor], batch: Batch,
                      step: int) -> None:
    """Raise :class:`~polymodal.errors.TrainingError` when ``total`` is NaN or infinite (on any process)."""
    finite = bool(torch.isfinite(total.detach()).all())
    trainer = getattr(module, "_trainer", None)
    everywhere = finite
    if trainer is not None and trainer.world_size > 1:
        everywhere = bool(trainer.strategy.reduce_boolean_decision(finite, all=True))
    if everywhere:
        return
    epoch = int(getattr(module, "epoch", getattr(module, "current_epoch", 0)))
    if finite:
        raise TrainingError(f"{stage} loss became non-finite at epoch {epoch}, step {step} on another process of "
                            "the run (its error names the cause)")
    raise TrainingError(describe_non_finite(stage, total, components, batch, epoch, step))


def describe_non_finite(stage: str, total: Tensor, components: Mapping[str, Tensor], batch: Batch, epoch: int,
                        step: int) -> str:
    """The message for a non-finite ``total``: which loss terms and which inputs or targets of the batch."""
    value = float(total.detach().float().reshape(-1)[0]) if total.numel() else float("nan")
    text = f"{stage} loss became {_name(value)} at epoch {epoch}, step {step}"
    terms = [name for name, term in components.items() if not bool(torch.isfinite(term.detach()).all())]
    if terms:
        text += f" (non-finite term(s): {', '.join(terms)})"
    inputs, _, targets = batch
    causes = [f"the input of modality {name!r} holds non-finite values in {bad} of {rows} row(s)"
              for name, (bad, rows) in _non_finite(inputs).items()]
    causes += [f"the target {name!r} holds non-finite values in {bad} of {rows} row(s)"
               for name, (bad, rows) in _non_finite(targets).items()]
    if causes:
        return f"{text}: {'; '.join(causes)} (a damaged embedding cache or table?)"
    return (f"{text}: every input and target of the batch is finite, so the model diverged (try a lower learning "
            "rate, --lr, or 32-bit precision)")


def _non_finite(tensors: Mapping[str, Tensor]) -> dict[str, tuple[int, int]]:
    """``{name: (rows holding a NaN or infinity, rows)}`` of the floating-point tensors that hold any."""
    out = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, Tensor) or not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        bad = ~torch.isfinite(tensor.detach()).reshape(len(tensor), -1).all(dim=1)
        if bool(bad.any()):
            out[name] = (int(bad.sum()), len(tensor))
    return out


def _name(value: float) -> str:
    return "NaN" if value != value else ("infinite" if value > 0 else "-infinite")


__all__ = ["check_finite_loss", "describe_non_finite"]
