import pandas as pd
import pytest

from polymodal.data.kinds import ColumnKind, ModalityKind
from polymodal.data.schema import Schema, TaskKind, infer_column_kind, infer_schema, infer_task, parse_overrides
from polymodal.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "photo": ["a.png", "b.JPG", None, "d.png"],
        "clip": ["x.wav", "y.flac", "z.wav", None],
        "review": ["a long sentence about it", "another review of the thing", "the third one is here", None],
        "age": [1.0, 2.5, None, 4.0],
        "colour": ["red", "blue", "red", "blue"],
        "emb": ["[1, 2]", "[3, 4]", "[5, 6]", "[7, 8]"],
        "y": ["cat", "dog", "cat", "dog"],
    })


def test_infers_each_kind(frame: pd.DataFrame) -> None:
    kinds = {c: infer_column_kind(frame[c]) for c in frame.columns}
    assert kinds == {
        "photo": ColumnKind.IMAGE, "clip": ColumnKind.AUDIO, "review": ColumnKind.TEXT, "age": ColumnKind.NUMERIC,
        "colour": ColumnKind.CATEGORICAL, "emb": ColumnKind.VECTOR, "y": ColumnKind.CATEGORICAL,
    }


def test_groups_numeric_and_categorical_into_one_tabular_modality(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, "y")
    tab = schema.modality("tabular")
    assert tab.kind is ModalityKind.TABULAR and tab.columns == ["age", "colour"]
    assert [m.name for m in schema.modalities] == ["photo", "clip", "review", "emb", "tabular"]
    assert schema.targets[0].task is TaskKind.BINARY


def test_overrides_win(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, "y", ["review=categorical", "emb=ignore"])
    assert schema.modality("tabular").columns == ["review", "age", "colour"]
    assert "emb" in schema.ignored


def test_schema_round_trips(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, ["y"])
    assert Schema.from_dict(schema.to_dict()) == schema


def test_unknown_target_lists_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"column\(s\) 'label' not in the table; columns: photo, clip"):
        infer_schema(frame, "label")


def test_empty_table_is_an_error() -> None:
    with pytest.raises(DataError, match="the table is empty"):
        infer_schema(pd.DataFrame({"a": [], "y": []}), "y")


def test_bad_override_kind() -> None:
    with pytest.raises(ValueError, match="unknown modality kind 'picture'; valid kinds: image, audio"):
        parse_overrides(["a=picture"])
    with pytest.raises(ValueError, match="must look like COLUMN=KIND"):
        parse_overrides(["a"])


@pytest.mark.parametrize(
    ("values", "task"),
    [([0, 1, 0, 1], TaskKind.BINARY), (["a", "b", "c"], TaskKind.MULTICLASS),
     ([0.5, 1.25, 3.0], TaskKind.REGRESSION), (list(range(50)), TaskKind.REGRESSION),
     (["a|b", "b", "a|c"], TaskKind.MULTICLASS), ([["a", "b"], ["b"], ["c"]], TaskKind.MULTILABEL)],
)
def test_infer_task(values: list, task: TaskKind) -> None:
    assert infer_task(pd.Series(values)) is task
