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


def test_an_int64_target_with_na_has_no_na_class() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": pd.array([0, 1, pd.NA, 1], dtype="Int64")})
    schema = infer_schema(frame, "label")
    assert schema.targets[0].task is TaskKind.BINARY  # two classes, not three with '<NA>'


def test_extension_dtypes_are_inferred_from_their_values() -> None:
    frame = pd.DataFrame({
        "n": pd.array([1, pd.NA, 3], dtype="Int64"), "b": pd.array([True, pd.NA, False], dtype="boolean"),
        "s": pd.array(["a", pd.NA, "b"], dtype="string[pyarrow]"), "f": pd.array([1.5, pd.NA, 2.0], dtype="Float64"),
    })
    assert {c: infer_column_kind(frame[c]) for c in frame} == {
        "n": ColumnKind.NUMERIC, "b": ColumnKind.CATEGORICAL, "s": ColumnKind.CATEGORICAL, "f": ColumnKind.NUMERIC,
    }


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_datetime_columns_are_ignored_unless_given_a_kind(tz: str | None) -> None:
    when = pd.Series(pd.to_datetime(["2020-01-01", None, "2021-06-01"]))
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "when": when.dt.tz_localize(tz) if tz else when})
    assert infer_schema(frame, []).ignored == ["when"]
    schema = infer_schema(frame, [], {"when": "numeric"})
    assert schema.modality("tabular").columns == ["x", "when"]


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".ogg", ".aiff", ".au", ".caf"])
def test_a_column_of_paths_of_any_soundfile_format_is_audio(ext: str) -> None:
    assert infer_column_kind(pd.Series([f"clips/{i}{ext}" for i in range(5)])) is ColumnKind.AUDIO


def test_a_target_given_twice_is_refused() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})
    with pytest.raises(DataError, match=r"^target\(s\) 'label' given more than once; give each target once\n"
                                        r"  - column 'label': target given more than once"):
        infer_schema(frame, ["label", "label"])


def test_a_target_named_row_is_refused() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "row": ["a", "b"]})
    with pytest.raises(DataError, match=r"^a target may not be named 'row': predictions use that column for the row "
                                        r"number; rename the column in the table"):
        infer_schema(frame, "row")
    assert infer_schema(frame, []).modality("tabular").columns == ["x", "row"]  # as an input it is fine


def test_columns_of_media_held_in_the_table_are_image_and_audio() -> None:
    import numpy as np

    from tests.hf_media import png_bytes, wav_bytes

    frame = pd.DataFrame({
        "png": [png_bytes(i) for i in range(9)] + [b"corrupt"],  # a few bad cells do not change the kind
        "hf_image": [{"bytes": None, "path": f"{i}.jpg"} for i in range(10)],
        "wav": [{"bytes": wav_bytes(i), "path": None} for i in range(10)],
        "array": [np.zeros((6, 6, 3), np.uint8)] * 10,
        "clip": [(np.zeros(100, np.float32), 8000)] * 10,
        "emb": [np.zeros(4)] * 10})
    assert {c: infer_column_kind(frame[c]) for c in frame} == {
        "png": ColumnKind.IMAGE, "hf_image": ColumnKind.IMAGE, "wav": ColumnKind.AUDIO, "array": ColumnKind.IMAGE,
        "clip": ColumnKind.AUDIO, "emb": ColumnKind.VECTOR}
