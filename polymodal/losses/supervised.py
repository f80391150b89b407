"""Supervised losses per task, and their combination over several targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import TaskKind
from polymodal.data.targets import target_present
from polymodal.data.weights import sample_weights
from polymodal.losses.output import LossOutput

WEIGHTINGS = ("fixed", "uncertainty")


def task_loss(logits: Tensor, target: Tensor, task: TaskKind, label_smoothing: float = 0.0,
              class_weight: Tensor | None = None, sample_weight: Tensor | None = None) -> Tensor:
    """Cross-entropy for multiclass (with ``label_smoothing``), binary cross-entropy with logits for
    binary/multilabel, MSE for regression (on standardised targets).

    Rows without a label (a partial label, see :func:`~polymodal.data.targets.target_present`) are left
    out. With ``class_weight`` (``[classes]``, binary and multiclass) and/or ``sample_weight`` (``[B]``) the
    loss is the weighted mean ``sum_i w_i l_i / sum_i w_i`` over the labelled rows, ``w_i`` the product of
    the row's weights (as ``F.cross_entropy(weight=...)`` normalises); without them, the plain mean. A batch
    with no labelled row (or only zero weights) gives a zero loss that keeps the graph.
    """
    if task is not TaskKind.MULTICLASS and logits.shape != target.shape:
        # MSE / BCE would broadcast [B, 1] against [B] into [B, B]
        raise ValueError(f"{task.value} loss: predictions of shape {tuple(logits.shape)} against targets of "
                         f"shape {tuple(target.shape)}")
    present = target_present(task, target)
    logits, target = logits[present], target[present]
    per_row = _per_row_loss(logits, target, task, label_smoothing)
    if class_weight is None and sample_weight is None:
        return per_row.mean() if len(per_row) else logits.sum() * 0.0
    weight = torch.ones_like(per_row)
    if sample_weight is not None:
        weight = weight * sample_weight[present].to(per_row)
    if class_weight is not None:
        weight = weight * class_weight.to(per_row)[(target.flatten(1)[:, 0] if target.dim() > 1 else target).long()]
    total = weight.sum()
    if len(per_row) == 0 or float(total) <= 0:
        return logits.sum() * 0.0
    return (weight * per_row).sum() / total


def _per_row_loss(logits: Tensor, target: Tensor, task: TaskKind, label_smoothing: float) -> Tensor:
    """Each row's loss ``[B]`` (a multilabel row's is the mean over its labels)."""
    if task is TaskKind.MULTICLASS:
        return F.cross_entropy(logits, target.long(), label_smoothing=label_smoothing, reduction="none")
    if task in (TaskKind.BINARY, TaskKind.MULTILABEL):
        loss = F.binary_cross_entropy_with_logits(logits, target.float(), reduction="none")
    else:
        loss = F.mse_loss(logits, target.float(), reduction="none")
    return loss.flatten(1).mean(dim=1) if loss.dim() > 1 else loss


def uncertainty_weighted(losses: Sequence[Tensor], log_vars: Tensor, tasks: Sequence[TaskKind]) -> Tensor:
    """Kendall et al. (2018): ``sum_i c_i * exp(-s_i) * L_i + s_i / 2`` with ``s_i = log sigma_i^2``;
    ``c_i`` is 1/2 for regression and 1 for classification."""
    total = log_vars.new_zeros(())
    for loss, s, task in zip(losses, log_vars, tasks):
        scale = 0.5 if task is TaskKind.REGRESSION else 1.0
        total = total + scale * torch.exp(-s) * loss + 0.5 * s
    return total


class MultiTaskLoss(nn.Module):
    """Sum of per-target losses, weighted by fixed weights or learned uncertainty (Kendall et al. 2018).

    Example
    -------
    >>> loss = MultiTaskLoss({"y": TaskKind.MULTICLASS})
    >>> out = loss({"y": torch.zeros(2, 3)}, {"y": torch.tensor([0, 1])})
    >>> round(float(out.total), 4)
    1.0986
    """

    def __init__(
        self, tasks: Mapping[str, TaskKind], weighting: str = "fixed", weights: Mapping[str, float] | None = None,
        class_weights: Mapping[str, Tensor] | None = None,
    ) -> None:
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown loss weighting {weighting!r}; valid: {', '.join(WEIGHTINGS)}")
        unknown = sorted(set(weights or {}) - set(tasks))
        if unknown:
            raise ValueError(f"loss weights given for unknown target(s) {unknown}; targets: {sorted(tasks)}")
        unknown = sorted(set(class_weights or {}) - set(tasks))
        if unknown:
            raise ValueError(f"class weights given for unknown target(s) {unknown}; targets: {sorted(tasks)}")
        self.tasks = dict(tasks)
        self.weighting = weighting
        self.weights = {name: float((weights or {}).get(name, 1.0)) for name in self.tasks}
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks))) if weighting == "uncertainty" else None
        self.class_weights = {name: torch.as_tensor(w, dtype=torch.float32)
                              for name, w in (class_weights or {}).items()}

    def forward(self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                label_smoothing: float = 0.0) -> LossOutput:
        """``label_smoothing`` applies to the multiclass targets (training; validation scores without). The
        rows' sample weights, when the fit has them, are in ``targets`` (see
        :func:`polymodal.data.weights.sample_weights`)."""
        names = list(self.tasks)
        rows = sample_weights(targets)
        losses = [task_loss(logits[n], targets[n], self.tasks[n], label_smoothing, self.class_weights.get(n), rows)
                  for n in names]
        if self.log_vars is not None:
            total = uncertainty_weighted(losses, self.log_vars, [self.tasks[n] for n in names])
        else:
            total = sum((self.weights[n] * loss for n, loss in zip(names, losses)), losses[0].new_zeros(()))
        return LossOutput(total, {f"loss_{n}": loss.detach() for n, loss in zip(names, losses)})
