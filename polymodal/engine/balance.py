"""Modality imbalance: one strong modality starves the others of gradient. Two remedies for middle fusions,
each with a linear auxiliary head per modality on that encoder's output (for the first target):

* ``ogm-ge``, on-the-fly gradient modulation with generalisation enhancement (Peng et al., CVPR 2022,
  following github.com/GeWu-Lab/OGM-GE_CVPR2022 ``main.py``). Each step, the confidence ``s_m`` of modality
  ``m`` is the mean probability its auxiliary head gives the true class over the batch's rows that hold it
  (the heads train on detached features: they measure, they do not steer the encoders). Its ratio is
  ``rho_m = s_m / mean_{k != m} s_k`` (for two modalities the paper's ``s_v / s_a``), and the gradients of
  its encoder are scaled by ``k_m = 1 - tanh(alpha * (rho_m - 1))`` when ``rho_m > 1`` (``k_m = 1``
  otherwise); GE then adds Gaussian noise of the gradient's own standard deviation to every encoder
  parameter's gradient, as the reference does. A modality above the mean confidence is slowed, the others
  keep their pace. (The reference code uses ``tanh(alpha * rho)``, which jumps at ``rho = 1``; the
  ``rho - 1`` form is continuous and gives ``k = 1`` for balanced modalities.)
* ``gradient-blending`` (Wang, Tran and Feiszli, CVPR 2020): the loss is ``sum_k w_k L_k`` over the
  branches ``k`` (the fused model and each modality's auxiliary head, trained on the live features), with
  ``w_k`` proportional to ``G_k / O_k^2``: ``G_k`` the fall of the branch's validation loss over the last
  ``every`` epochs and ``O_k`` the change of its overfitting (validation minus training loss) over them.
  A branch that stopped generalising (``G_k <= 0``) gets no weight. The weights start uniform, are
  re-estimated every ``every`` epochs on the validation split and are scaled to sum to the number of
  branches (uniform weights are 1 each). The training loss of an epoch is its running mean.

The validation loss that early stopping watches stays the fused model's plain loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.data.schema import TaskKind
from polymodal.data.targets import target_present
from polymodal.data.weights import sample_weights
from polymodal.losses.supervised import task_loss

METHODS = ("none", "ogm-ge", "gradient-blending")


def ogm_coefficients(confidence: Tensor, alpha: float) -> Tensor:
    """The OGM coefficient ``k_m`` of each modality from its confidence ``s_m`` (``[M]``):
    ``rho_m = s_m / mean_{k != m} s_k``, ``k_m = 1 - tanh(alpha * (rho_m - 1))`` where ``rho_m > 1``, else 1.

    >>> [round(k, 4) for k in ogm_coefficients(torch.tensor([0.9, 0.3]), 1.0).tolist()]  # rho = 3: 1 - tanh(2)
    [0.036, 1.0]
    """
    s = confidence.double()
    m = len(s)
    if m < 2:
        return torch.ones_like(confidence)
    others = (s.sum() - s) / (m - 1)
    ratio = s / others.clamp_min(1e-12)
    coeff = torch.where(ratio > 1, 1 - torch.tanh(alpha * (ratio - 1)), torch.ones_like(ratio))
    return coeff.to(confidence.dtype)


def true_class_probability(task: TaskKind, logits: Tensor, target: Tensor) -> Tensor:
    """The probability ``[B]`` the logits give each row's true class (binary or multiclass)."""
    if task is TaskKind.BINARY:
        p1 = torch.sigmoid(logits.reshape(-1))
        y = target.reshape(-1)
        return torch.where(y > 0.5, p1, 1 - p1)
    return torch.softmax(logits, dim=-1).gather(1, target.long().reshape(-1, 1)).squeeze(1)


def blending_weights(first: Sequence[tuple[float, float]], last: Sequence[tuple[float, float]],
                     previous: Tensor) -> Tensor:
    """Gradient-blending weights of ``K`` branches from their ``(train loss, validation loss)`` at the start
    (``first``) and the end (``last``) of the window: ``w_k ∝ G_k / O_k^2`` with ``G_k = Lv_first - Lv_last``
    and ``O_k = (Lv_last - Lt_last) - (Lv_first - Lt_first)``, ``w_k = 0`` where ``G_k <= 0``; scaled to sum
    to ``K``. ``previous`` is kept when no branch generalised.

    >>> w = blending_weights([(1.0, 1.2), (1.0, 1.2)], [(0.6, 1.0), (0.9, 1.15)], torch.ones(2))
    >>> [round(x, 4) for x in w.tolist()]  # G / O^2: 0.2 / 0.2^2 = 5 and 0.05 / 0.05^2 = 20
    [0.4, 1.6]
    """
    raw = []
    for (t0, v0), (t1, v1) in zip(first, last):
        gain = v0 - v1
        overfit = (v1 - t1) - (v0 - t0)
        raw.append(gain / max(overfit * overfit, 1e-8) if gain > 0 else 0.0)
    weights = torch.tensor(raw, dtype=torch.float64)
    if not bool(weights.sum() > 0):
        return previous.clone()
    return (weights * len(raw) / weights.sum()).to(previous.dtype)


class ModalityBalance(nn.Module):
    """The auxiliary heads and the state of one balancing method (``ogm-ge`` or ``gradient-blending``) for
    the first target ``target`` of a :class:`~polymodal.models.FusionModel` whose encoders give features of
    ``dims``; :class:`~polymodal.engine.module.SupervisedModule` calls it at each step."""

    weights: Tensor  # gradient blending: one weight per branch (fused, then each modality), a buffer

    def __init__(self, method: str, dims: Mapping[str, int], target: str, task: TaskKind, num_outputs: int,
                 alpha: float = 0.5, noise: bool = True, every: int = 2) -> None:
        super().__init__()
        if method not in METHODS[1:]:
            raise ValueError(f"unknown balance method {method!r}; valid: {', '.join(METHODS)}")
        if method == "ogm-ge" and task not in (TaskKind.BINARY, TaskKind.MULTICLASS):
            raise ValueError(f"--balance ogm-ge measures each modality's confidence in the true class: the first "
                             f"target {target!r} is {task.value}; use a classification target first, or "
                             "--balance gradient-blending")
        self.method, self.target, self.task = method, target, task
        self.alpha, self.noise, self.every = alpha, noise, every
        self.modalities = sorted(dims)
        self.heads = nn.ModuleDict({m: nn.Linear(dims[m], num_outputs) for m in self.modalities})
        self.coefficients: dict[str, float] = {m: 1.0 for m in self.modalities}  # of the last step (ogm-ge)
        self.branches = ["fused", *self.modalities]
        self.register_buffer("weights", torch.ones(len(self.branches)))  # gradient blending, in branch order
        self.epoch_losses: dict[str, list[float]] = {"train": [], "val": []}  # running sums, counts per branch
        self.loss_history: list[list[tuple[float, float]]] = []  # per epoch: (train, val) loss per branch
        self.weight_history: list[dict[str, Any]] = []
        self._sums: dict[str, Tensor] = {}

    def auxiliary(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                  detach: bool) -> dict[str, Tensor]:
        """Each modality's auxiliary loss on the rows that hold it and the target."""
        target, rows = targets[self.target], sample_weights(targets)
        out = {}
        for m in self.modalities:
            x = features[m].detach() if detach else features[m]
            keep = masks[m].bool()
            weight = rows[keep] if rows is not None else None
            out[m] = task_loss(self.heads[m](x[keep]), target[keep], self.task, sample_weight=weight)
        return out

    def confidences(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor], target: Tensor) -> Tensor:
        """``s_m`` of each modality: the mean true-class probability of its head over the rows holding it."""
        with torch.no_grad():
            values = []
            for m in self.modalities:
                keep = masks[m].bool() & target_present(self.task, target)
                if not keep.any():
                    values.append(torch.tensor(float("nan")))
                    continue
                p = true_class_probability(self.task, self.heads[m](features[m][keep]), target[keep])
                values.append(p.mean().float().cpu())
            s = torch.stack(values)
        return torch.nan_to_num(s, nan=float(s[~torch.isnan(s)].mean()) if (~torch.isnan(s)).any() else 1.0)

    def training_loss(self, fused: Tensor, features: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                      targets: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The step's loss from the fused loss (every target's), and the terms to log; for ``ogm-ge`` the
        coefficients of :meth:`modulate` are set from this batch."""
        aux = self.auxiliary(features, masks, targets, detach=self.method == "ogm-ge")
        logs = {f"aux_{m}": v.detach() for m, v in aux.items()}
        if self.method == "ogm-ge":
            coeff = ogm_coefficients(self.confidences(features, masks, targets[self.target]), self.alpha)
            self.coefficients = {m: float(c) for m, c in zip(self.modalities, coeff)}
            logs.update({f"ogm_coeff_{m}": torch.tensor(c) for m, c in self.coefficients.items()})
            return fused + sum(aux.values(), fused.new_zeros(())), logs
        self._accumulate("train", [fused, *(aux[m] for m in self.modalities)])
        w = self.weights.to(fused)
        total = w[0] * fused + sum((w[i + 1] * aux[m] for i, m in enumerate(self.modalities)), fused.new_zeros(()))
        return total, logs

    def modulate(self, encoders: nn.ModuleDict) -> None:
        """``ogm-ge``, after the backward pass: scale each encoder's gradients by its coefficient, then (GE)
        add ``N(0, std(grad))`` noise to every encoder parameter's gradient."""
        if self.method != "ogm-ge":
            return
        for m in self.modalities:
            for p in encoders[m].parameters():
                if p.grad is None:
                    continue
                std = float(p.grad.std()) if p.grad.numel() > 1 else 0.0
                p.grad.mul_(self.coefficients[m])
                if self.noise and std > 0:
                    p.grad.add_(torch.randn_like(p.grad) * (std + 1e-8))

    def record_validation(self, fused: Tensor, features: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                          targets: Mapping[str, Tensor]) -> None:
        aux = self.auxiliary(features, masks, targets, detach=True)
        self._accumulate("val", [fused, *(aux[m] for m in self.modalities)])

    def _accumulate(self, split: str, losses: Sequence[Tensor]) -> None:
        values = torch.stack([v.detach().float().cpu() for v in losses])
        total, count = self._sums.get(split, torch.zeros(len(values))), self._sums.get(f"{split}_n", torch.zeros(()))
        self._sums[split], self._sums[f"{split}_n"] = total + values, count + 1

    def end_epoch(self, epoch: int, keep: bool = True) -> None:
        """``gradient-blending``, at each validation epoch end: keep the epoch's branch losses and, every
        ``every`` epochs, re-estimate the weights from the window's first and last epochs (``keep=False``,
        Lightning's sanity check: forget what was seen)."""
        if not keep or self.method != "gradient-blending" or "train" not in self._sums or "val" not in self._sums:
            self._sums.clear()
            return
        train = (self._sums["train"] / self._sums["train_n"]).tolist()
        val = (self._sums["val"] / self._sums["val_n"]).tolist()
        self._sums.clear()
        self.loss_history.append(list(zip(train, val)))
        if len(self.loss_history) > self.every and (len(self.loss_history) - 1) % self.every == 0:
            new = blending_weights(self.loss_history[-1 - self.every], self.loss_history[-1], self.weights.cpu())
            self.weights.copy_(new.to(self.weights))
            self.weight_history.append({"epoch": epoch, **dict(zip(self.branches, map(float, new)))})

    def summary(self) -> dict[str, Any]:
        """What a fit's metrics keep of the method."""
        out: dict[str, Any] = {"method": self.method, "target": self.target, "modalities": self.modalities}
        if self.method == "ogm-ge":
            out.update({"alpha": self.alpha, "noise": self.noise, "last_coefficients": dict(self.coefficients)})
        else:
            out.update({"every": self.every, "weights": dict(zip(self.branches, map(float, self.weights))),
                        "weight_history": list(self.weight_history)})
        return out


__all__ = ["METHODS", "ModalityBalance", "blending_weights", "ogm_coefficients", "true_class_probability"]
