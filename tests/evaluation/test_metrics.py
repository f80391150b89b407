"""Which way each metric points: one rule for the tuner, the baseline, robustness and the report."""

from __future__ import annotations

import pytest

from polymodal.evaluation.metrics import higher_is_better, lower_is_better


@pytest.mark.parametrize("metric", ["mae", "rmse", "test_y_rmse", "val_loss", "train_seconds", "error_rate"])
def test_errors_losses_and_costs_are_lower_is_better(metric: str) -> None:
    assert lower_is_better(metric) and not higher_is_better(metric)


@pytest.mark.parametrize("metric", ["accuracy", "auroc", "macro_f1", "r2", "test_y_accuracy", "recall_at_1"])
def test_scores_are_higher_is_better(metric: str) -> None:
    assert higher_is_better(metric) and not lower_is_better(metric)
