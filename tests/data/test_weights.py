"""``polymodal.data.weights``: sample-weight columns checked row by row, class-weight specs parsed and resolved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.config import DataConfig, TrainConfig
from polymodal.data.module import StreamingDataModule, TableDataModule, table_schema
from polymodal.data.schema import TargetSpec, TaskKind
from polymodal.data.targets import TargetEncoder
from polymodal.data.weights import (
    SAMPLE_WEIGHT,
    parse_class_weight,
    resolve_class_weights,
    sample_weight_values,
)
from polymodal.errors import DataError


def _frame(weights: list[object]) -> pd.DataFrame:
    n = len(weights)
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": ["a", "b"] * (n // 2), "w": weights})


def test_sample_weights_name_every_bad_row() -> None:
    with pytest.raises(DataError, match=r"3 row\(s\) of the sample weight column 'w' in t.csv are not non-negative "
                                        r"numbers") as info:
        sample_weight_values(_frame([1.0, -2.0, "heavy", None]), "w", "t.csv")
    assert [(p.row, p.message) for p in info.value.problems] == [
        (1, "sample weight -2.0 is negative"), (2, "sample weight 'heavy' is not a number"), (3, "no sample weight")]


def test_sample_weights_all_zero_or_absent_column_are_errors() -> None:
    with pytest.raises(DataError, match="every sample weight in column 'w' of the table is zero: no row would train"):
        sample_weight_values(_frame([0, 0]), "w")
    with pytest.raises(DataError, match=r"sample weight column 'wt' is not in the table; columns: x, y, w"):
        sample_weight_values(_frame([1, 1]), "wt")
    assert sample_weight_values(_frame([1, "2.5"]), "w").tolist() == [1.0, 2.5]


def test_the_sample_weight_column_is_never_an_input_and_travels_with_the_rows() -> None:
    frame = _frame([1.0, 2.0] * 10)
    data = DataConfig(targets=["y"], sample_weight="w")
    assert "w" in table_schema(frame, data, supervised=True).ignored
    module = TableDataModule(frame, data, val_fraction=0.25).setup()
    train = module.split("train")
    assert "w" not in [c for m in module.schema.modalities for c in m.columns]
    expected = torch.tensor(frame["w"].to_numpy()[train.rows], dtype=torch.float32)
    assert torch.equal(train.targets[SAMPLE_WEIGHT], expected)


def test_sample_weights_are_refused_where_they_cannot_apply(tmp_path) -> None:
    frame = _frame([1.0, 2.0] * 10)
    with pytest.raises(ValueError, match=r"sample weights \(sample_weight, --sample-weight\) do not work with streamed "
                                         r"tables \(data.stream\) yet: turn streaming off"):
        StreamingDataModule(tmp_path / "t.csv", DataConfig(targets=["y"], sample_weight="w", stream=True))
    with pytest.raises(ValueError, match="pretraining has none: leave the option out"):
        table_schema(frame, DataConfig(targets=["y"], sample_weight="w"), supervised=False)
    with pytest.raises(ValueError, match="column 'y' is both a target and the sample weight column"):
        table_schema(frame, DataConfig(targets=["y"], sample_weight="y"), supervised=True)


def test_parse_class_weight_forms_and_errors() -> None:
    assert parse_class_weight(["balanced"]) == "balanced"
    assert parse_class_weight(["rare=5, common=1"]) == {"rare": 5.0, "common": 1.0}
    assert parse_class_weight(["y:balanced", "z:a=2"]) == {"y": "balanced", "z": {"a": 2.0}}
    with pytest.raises(ValueError, match=r"--class-weight 'rare=lots': expected 'balanced' or CLASS=VALUE pairs joined "
                                         r"by commas \(e.g. rare=5,common=1\), got 'rare=lots'"):
        parse_class_weight(["rare=lots"])
    with pytest.raises(ValueError, match="give one spec for every target, or one TARGET:SPEC per target"):
        parse_class_weight(["balanced", "a=2"])


def test_class_weight_config_is_checked() -> None:
    with pytest.raises(ValueError, match=r"class_weight must be 'balanced', \{class: weight\} or \{target: spec\}, "
                                         "got 'bal'"):
        TrainConfig(class_weight="bal")
    with pytest.raises(ValueError, match="class_weight of class 'a' must be a non-negative number, got -1"):
        TrainConfig(class_weight={"a": -1})
    assert TrainConfig(class_weight={0: 2}).class_weight == {"0": 2.0}  # YAML integer labels


def _encoders() -> tuple[dict[str, TargetEncoder], dict[str, torch.Tensor]]:
    y = pd.Series(["a"] * 6 + ["b"] * 2)
    z = pd.Series(np.linspace(0, 1, 8))
    encoders = {"y": TargetEncoder(TargetSpec("y", TaskKind.MULTICLASS)).fit(y),
                "z": TargetEncoder(TargetSpec("z", TaskKind.REGRESSION)).fit(z)}
    return encoders, {"y": encoders["y"].transform(y), "z": encoders["z"].transform(z)}


def test_balanced_class_weights_are_n_over_classes_times_count() -> None:
    encoders, targets = _encoders()
    # 8 rows, 2 classes: a (6 rows) 8 / (2 * 6), b (2 rows) 8 / (2 * 2); the regression target is left alone
    assert resolve_class_weights("balanced", encoders, targets) == {"y": {"a": 8 / 12, "b": 2.0}}
    resolved = resolve_class_weights({"y": {"b": 3}}, encoders, targets)
    assert resolved == {"y": {"a": 1.0, "b": 3.0}}
    assert resolve_class_weights(resolved, encoders, targets) == resolved  # the saved form resolves to itself


def test_class_weight_errors_name_the_target_or_class() -> None:
    encoders, targets = _encoders()
    with pytest.raises(ValueError, match=r"class_weight of target 'y' names unknown class\(es\) \['c'\]; its classes: "
                                         r"\['a', 'b'\]"):
        resolve_class_weights({"y": {"c": 2}}, encoders, targets)
    with pytest.raises(ValueError, match="class weights apply to binary and multiclass targets; target 'z' is "
                                         "regression"):
        resolve_class_weights({"z": "balanced"}, encoders, targets)
    with pytest.raises(ValueError, match=r"class_weight \{class: weight\} is ambiguous with several targets"):
        resolve_class_weights({"a": 2}, encoders, targets)
    with pytest.raises(ValueError, match=r"class_weight given for unknown target\(s\) \['w'\]"):
        resolve_class_weights({"w": "balanced"}, encoders, targets)
