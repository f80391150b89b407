"""The supervised task losses: cross-entropy (with label smoothing), binary cross-entropy, squared error."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polymodal.data.schema import TaskKind
from polymodal.losses.supervised import task_loss


def test_label_smoothing_applies_to_multiclass_targets_only() -> None:
    import torch.nn.functional as F

    from polymodal.losses.supervised import MultiTaskLoss

    loss = MultiTaskLoss({"y": TaskKind.MULTICLASS, "b": TaskKind.BINARY})
    logits = {"y": torch.tensor([[2.0, 0.0, -1.0]]), "b": torch.tensor([[0.5]])}
    targets = {"y": torch.tensor([0]), "b": torch.tensor([[1.0]])}
    smoothed = loss(logits, targets, label_smoothing=0.1)
    expected = F.cross_entropy(logits["y"], targets["y"], label_smoothing=0.1)
    assert torch.isclose(smoothed.components["loss_y"], expected)
    assert torch.isclose(smoothed.components["loss_b"], loss(logits, targets).components["loss_b"])
    assert smoothed.components["loss_y"] > loss(logits, targets).components["loss_y"]


def test_weighted_loss_is_the_weighted_mean_over_labelled_rows() -> None:
    from polymodal.data.targets import MISSING_CLASS

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])
    target = torch.tensor([0, 1, MISSING_CLASS, 1])  # row 2 has no label: left out
    rows, classes = torch.tensor([1.0, 2.0, 5.0, 0.5]), torch.tensor([1.0, 3.0])
    per_row = -torch.log_softmax(logits, dim=1)[[0, 1, 3], [0, 1, 1]]
    w = torch.tensor([1.0 * 1.0, 2.0 * 3.0, 0.5 * 3.0])
    expected = (w * per_row).sum() / w.sum()
    got = task_loss(logits, target, TaskKind.MULTICLASS, class_weight=classes, sample_weight=rows)
    assert torch.allclose(got, expected)
    assert torch.allclose(task_loss(logits, target, TaskKind.MULTICLASS), per_row.mean())
    # the class weights alone: what F.cross_entropy(weight=...) computes on the labelled rows
    assert torch.allclose(task_loss(logits, target, TaskKind.MULTICLASS, class_weight=classes),
                          F.cross_entropy(logits[[0, 1, 3]], target[[0, 1, 3]], weight=classes))


def test_binary_and_regression_losses_mask_missing_labels() -> None:
    logits = torch.tensor([[0.3], [-1.0], [2.0]])
    target = torch.tensor([[1.0], [float("nan")], [0.0]])
    expected = F.binary_cross_entropy_with_logits(logits[[0, 2]], target[[0, 2]])
    assert torch.allclose(task_loss(logits, target, TaskKind.BINARY), expected)
    expected = F.mse_loss(logits[[0, 2]], target[[0, 2]])
    assert torch.allclose(task_loss(logits, target, TaskKind.REGRESSION), expected)
    none = task_loss(logits, torch.full((3, 1), float("nan")), TaskKind.REGRESSION)
    assert float(none) == 0.0 and none.requires_grad is logits.requires_grad
