"""Task metrics from torchmetrics: accuracy, macro-F1, AUROC; MAE, RMSE, R2."""

from __future__ import annotations

import torch
import torchmetrics
from torch import Tensor
from torchmetrics import MetricCollection

from polymodal.data.schema import TaskKind
from polymodal.data.targets import target_present


def build_metrics(task: TaskKind, num_classes: int) -> MetricCollection:
    """The metrics of ``task``. ``num_classes`` counts classes (labels for multilabel)."""
    if task is TaskKind.REGRESSION:
        return MetricCollection({
            "mae": torchmetrics.MeanAbsoluteError(),
            "rmse": torchmetrics.MeanSquaredError(squared=False),
            "r2": torchmetrics.R2Score(),
        })
    if task is TaskKind.MULTILABEL:
        return MetricCollection({
            "accuracy": torchmetrics.Accuracy(task="multilabel", num_labels=num_classes),
            "macro_f1": torchmetrics.F1Score(task="multilabel", num_labels=num_classes, average="macro"),
            "auroc": torchmetrics.AUROC(task="multilabel", num_labels=num_classes),
        })
    # binary tasks are scored as two-class problems: macro-F1 over both classes, AUROC of the positive one
    num_classes = 2 if task is TaskKind.BINARY else num_classes
    return MetricCollection({
        "accuracy": torchmetrics.Accuracy(task="multiclass", num_classes=num_classes),
        "macro_f1": torchmetrics.F1Score(task="multiclass", num_classes=num_classes, average="macro"),
        "auroc": torchmetrics.AUROC(task="multiclass", num_classes=num_classes),
    })


def metric_inputs(task: TaskKind, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """What each metric expects: probabilities and integer targets for classification."""
    if task is TaskKind.REGRESSION:
        return logits.squeeze(-1).float(), target.squeeze(-1).float()
    if task is TaskKind.BINARY:
        p1 = torch.sigmoid(logits.squeeze(-1)).float()
        return torch.stack([1 - p1, p1], dim=-1), target.squeeze(-1).long()
    if task is TaskKind.MULTILABEL:
        return torch.sigmoid(logits).float(), target.long()
    return torch.softmax(logits, dim=-1).float(), target.long()


def update_metrics(metrics: MetricCollection, task: TaskKind, logits: Tensor, target: Tensor,
                   scale: tuple[float, float] | None = None) -> None:
    """Update ``metrics`` with the rows of ``target`` that hold a label (a multi-task row may lack one: see
    :func:`~polymodal.data.targets.target_present`); regression values back in original units with
    ``scale = (mean, std)``. A batch without a labelled row changes nothing."""
    present = target_present(task, target)
    if not bool(present.any()):
        return
    preds, target = metric_inputs(task, logits[present], target[present])
    if scale is not None:
        mean, std = scale
        preds, target = preds * std + mean, target * std + mean
    metrics.update(preds, target)


# what a name says when a larger value is worse: error metrics, losses, costs (every other metric polymodal
# reports, accuracy, AUROC, F1, R², is the other way round)
LOWER_IS_BETTER = ("mae", "mse", "loss", "seconds", "error")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better: the error metrics (MAE, RMSE), losses and costs, as
    plain names (``rmse``) or as a results table's columns (``test_y_rmse``, ``train_seconds``)."""
    return any(token in metric.lower() for token in LOWER_IS_BETTER)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` means a better model (see :func:`lower_is_better`)."""
    return not lower_is_better(metric)
