from pathlib import Path

import pandas as pd
import pytest

from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.errors import DataError


def _load(path: Path, **kwargs):
    table = read_table(path)
    schema = infer_schema(table.frame, "label")
    return load_table(table, schema, **kwargs)


def test_every_defect_is_reported_with_row_column_and_file(messy_table) -> None:
    path, defects = messy_table
    with pytest.raises(DataError) as info:
        _load(path)
    found = {(p.row, p.column) for p in info.value.problems}
    errors = {(d["row"], d["column"]) for d in defects if d["kind"] != "nan"}
    assert errors <= found
    messages = {(p.row, p.column): p for p in info.value.problems}
    assert messages[(2, "image")].message == "image file not found"
    assert messages[(2, "image")].file.endswith("missing_0002.png")
    assert "not a readable image" in messages[(5, "image")].message
    assert "truncated WAV" in messages[(8, "audio")].message
    assert messages[(14, "num_a")].message == "infinite value"
    assert messages[(17, "text")].message == "empty text"
    assert messages[(20, "num_b")].message == "expected a number, got str 'abc'"
    assert "--on-error skip" in str(info.value)


def test_nan_is_a_warning_not_an_error(messy_table) -> None:
    path, _ = messy_table
    report = _load(path, on_error="skip").report
    warnings = [p for p in report.warnings if p.column == "num_a"]
    assert len(warnings) == 1 and "rows 11" in warnings[0].message


def test_skip_treats_bad_cells_as_missing_and_counts_them(messy_table) -> None:
    path, _ = messy_table
    loaded = _load(path, on_error="skip")
    assert dict(loaded.report.skipped_cells) == {"image": 2, "audio": 1, "num_a": 1, "text": 1, "num_b": 1}
    assert loaded.modalities["image"]["image"].iloc[5] is None
    assert loaded.modalities["audio"]["audio"].iloc[8] is None
    assert len(loaded.rows) == 30  # no row dropped: only cells
    assert "2 cell(s) of 'image' treated as missing" in loaded.report.skip_summary()


def test_rows_without_target_are_dropped_and_reported(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", None, "b", "a"]})
    table = read_table(frame, base_dir=tmp_path)
    schema = infer_schema(frame, "label")
    with pytest.raises(DataError, match=r"row 1, column 'label': no target value"):
        load_table(table, schema)
    loaded = load_table(table, schema, on_error="skip")
    assert loaded.report.dropped_rows == [1]
    assert list(loaded.rows) == [0, 2, 3]


def test_data_root_refuses_escaping_paths(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    frame = pd.DataFrame({"img": ["../secret.png", "../secret.png"], "label": [0, 1]})
    table = read_table(frame, base_dir=tmp_path / "root")
    schema = infer_schema(frame, "label", ["img=image"])
    with pytest.raises(DataError, match="outside the data root"):
        load_table(table, schema, data_root=tmp_path / "root")


def test_vector_length_mismatch_names_the_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"v": ["[1, 2]", "[3, 4]", "[5]"], "label": [0, 1, 0]})
    table = read_table(frame, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"row 2, column 'v': vector of length 1; most rows have 2"):
        load_table(table, infer_schema(frame, "label"))


def test_on_error_value_is_checked(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    with pytest.raises(ValueError, match="on_error must be one of raise, skip"):
        load_table(read_table(frame), infer_schema(frame, "label"), on_error="ignore")
