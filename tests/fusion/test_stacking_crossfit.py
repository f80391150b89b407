"""Stacking's meta-model learns from held-out predictions (cross-fitting), not in-sample ones."""

from __future__ import annotations

import pytest
import torch

from polymodal.fusion.late_stacking import StackingLateFusion
from polymodal.fusion.linear_fit import fit_linear


def two_views(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``good``: 2 informative dimensions (about 85% accuracy); ``noise``: 300 dimensions of pure noise,
    which a linear head fits perfectly in-sample when there are fewer rows than dimensions."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    good = centres[y] + torch.randn(n, 2, generator=g)
    return {"good": good, "noise": torch.randn(n, 300, generator=g)}, y


def accuracy(fusion: StackingLateFusion, features: dict[str, torch.Tensor], y: torch.Tensor) -> float:
    on = torch.ones(len(y), dtype=torch.bool)
    with torch.no_grad():
        return float((fusion(features, {"good": on, "noise": on}).argmax(1) == y).float().mean())


def test_held_out_stacking_ignores_a_modality_that_only_overfits() -> None:
    train, y = two_views(150, seed=0)
    test, y_test = two_views(2000, seed=1)
    on = torch.ones(150, dtype=torch.bool)
    masks = {"good": on, "noise": on}

    crossfit = StackingLateFusion({"good": 2, "noise": 300}, num_outputs=3)
    crossfit.fit_stacking(train, masks, y, n_folds=5, seed=0)

    # the same refit, but the meta-model learns from in-sample predictions (what plain training does)
    naive = StackingLateFusion({"good": 2, "noise": 300}, num_outputs=3)
    naive.fit_stacking(train, masks, y, n_folds=5, seed=0)
    meta_x = naive._meta_features(naive.modality_logits(train).double(), torch.ones(150, 2, dtype=torch.bool))
    w, b = fit_linear(meta_x, y, "softmax", 3)
    with torch.no_grad():
        naive.meta.weight.copy_(w.float())
        naive.meta.bias.copy_(b.float())

    head_only = float((crossfit.heads["good"](test["good"]).argmax(1) == y_test).float().mean())
    assert accuracy(crossfit, test, y_test) > head_only - 0.03  # it learned to trust the good view
    assert accuracy(crossfit, test, y_test) > accuracy(naive, test, y_test) + 0.1  # in-sample stacking trusts noise
    weights = crossfit.meta.weight.abs()
    assert weights[:, :3].sum() > 2 * weights[:, 3:6].sum()  # good view's probabilities weigh more than noise's


def test_missing_rows_and_small_inputs() -> None:
    train, y = two_views(60, seed=2)
    masks = {"good": torch.ones(60, dtype=torch.bool), "noise": torch.arange(60) % 3 != 0}
    fusion = StackingLateFusion({"good": 2, "noise": 300}, num_outputs=3, hidden_dim=8)
    fusion.fit_stacking(train, masks, y, n_folds=3)
    assert torch.isfinite(fusion(train, masks)).all()
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        fusion.fit_stacking(train, masks, y, n_folds=1)
