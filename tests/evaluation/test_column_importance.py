"""Permutation importance of tabular columns: a column that carries the label beats a noise column."""

from __future__ import annotations

import pytest

from polymodal.evaluation.column_importance import column_permutation_importance


def test_an_informative_column_beats_a_noise_column(three_modality) -> None:
    predictor, frame = three_modality  # x shows the label (three classes one unit apart), z is noise
    loaded = predictor.load_cells(frame)
    importance = column_permutation_importance(predictor, loaded, repeats=3, seed=0)
    by_column = importance.set_index("column")
    assert list(importance["column"]) == ["x", "z"]  # sorted, most important first
    assert by_column.loc["x", "importance_mean"] > by_column.loc["z", "importance_mean"] + 0.15
    assert abs(by_column.loc["z", "importance_mean"]) < 0.05
    assert by_column.loc["x", "clean"] == pytest.approx(predictor.evaluate(frame)["label"]["accuracy"])
    assert {"importance_0", "importance_1", "importance_2"} <= set(importance.columns)
    again = column_permutation_importance(predictor, loaded, repeats=3, seed=0)
    assert again.equals(importance)  # seeded


def test_repeats_and_metric_are_checked(three_modality) -> None:
    predictor, frame = three_modality
    loaded = predictor.load_cells(frame)
    with pytest.raises(ValueError, match="repeats must be 1 or more, got 0"):
        column_permutation_importance(predictor, loaded, repeats=0)
    with pytest.raises(ValueError, match=r"unknown metric 'rmse' for target 'label'; known: accuracy"):
        column_permutation_importance(predictor, loaded, metric="rmse")
