"""A fit that says nothing says so: chance level, one class for every row, too few optimiser steps."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.evaluation.fit_checks import MIN_STEPS, ClassCounts, fit_warnings

CAUSE = r"likely too few epochs \(1\) or rows \(40 training rows\) for the data, or a learning rate \(0\.001\)"


def _warnings(validation: dict, counts: dict, steps: int = 500) -> list[str]:
    return fit_warnings(validation, counts, steps=steps, epochs=1, rows=40, lr=1e-3)


def test_one_class_for_every_row_is_named_with_its_cause() -> None:
    found = _warnings({"y": {"accuracy": 0.1}}, {"y": ClassCounts([1, 9], [10, 0], ["a", "b"])})
    assert len(found) == 1
    assert found[0].startswith("target 'y': the model predicts one class ('a') for every validation row")
    assert re.search(CAUSE, found[0])


def test_chance_level_accuracy_is_named_and_a_good_fit_is_not() -> None:
    counts = {"y": ClassCounts([50, 30, 20], [40, 40, 20], ["a", "b", "c"])}
    (found,) = _warnings({"y": {"accuracy": 0.51}}, counts)
    assert "validation accuracy 0.5100 is at chance level (the most frequent class is 0.5000 of the rows)" in found
    assert _warnings({"y": {"accuracy": 0.80}}, counts) == []


def test_a_regressor_no_better_than_the_mean_and_few_steps_are_named() -> None:
    found = _warnings({"v": {"r2": -0.2, "mae": 1.0}}, {}, steps=7)
    assert found[0].startswith("target 'v': validation R² -0.2000 is no better than predicting the mean")
    assert found[1].startswith(f"training took only 7 optimiser step(s) (fewer than {MIN_STEPS})")


def test_a_too_short_fit_reports_it_in_its_metrics_and_output(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": x, "z": rng.normal(size=60), "label": np.where(x > 0, "pos", "neg")}).to_csv(table, index=False)
    with pytest.warns(polymodal.errors.PolymodalWarning, match="optimiser step"):
        predictor = polymodal.fit(table, target="label", epochs=1, progress=False, preset="none", baseline=False)
    assert any("optimiser step" in w for w in predictor.metrics["warnings"])
    capsys.readouterr()
    assert main(["fit", str(table), "--target", "label", "--epochs", "1", "--preset", "none", "--no-baseline",
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert any("optimiser step" in w for w in json.loads(captured.out)["warnings"])
    assert "warning: training took only" in captured.err
