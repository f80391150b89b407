"""The supervised task losses: cross-entropy (with label smoothing), binary cross-entropy, squared error."""

from __future__ import annotations

import torch

from polymodal.data.schema import TaskKind


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
