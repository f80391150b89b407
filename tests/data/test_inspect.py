from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from polymodal.data.inspect import inspect_table
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table


def _inspect(tmp_path: Path, frame: pd.DataFrame, overrides: dict[str, str] | None = None):
    table = read_table(frame, base_dir=tmp_path)
    return inspect_table(table, infer_schema(frame, "label", overrides))


def test_a_one_class_target_is_a_problem(tmp_path: Path) -> None:
    result = _inspect(tmp_path, pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["cat", "cat", "cat"]}))
    assert [p.message for p in result.report.errors] == ["target 'label' has a single class ['cat']"]


def test_present_counts_only_the_cells_that_load(tmp_path: Path) -> None:
    Image.new("L", (4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    frame = pd.DataFrame({"image": ["ok.png", "gone.png", "bad.png", None], "x": [1.0, 2.0, "abc", 4.0],
                          "label": ["a", "b", "a", "b"]})
    result = _inspect(tmp_path, frame, {"x": "numeric"})
    stats = {c["column"]: c for c in result.columns}
    assert {k: stats["image"][k] for k in ("present", "unreadable", "missing", "unique")} == {
        "present": 1, "unreadable": 2, "missing": 1, "unique": 1}
    assert {k: stats["x"][k] for k in ("present", "unreadable", "missing")} == {"present": 3, "unreadable": 1,
                                                                                "missing": 0}
    assert stats["label"]["present"] == 4


def test_label_coverage_per_target_and_partial_labels_are_no_problem(tmp_path: Path, capsys) -> None:
    from polymodal.cli import main

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", None, "b", "a"], "z": [None, 0.2, 0.5, None]})
    table = read_table(frame, base_dir=tmp_path)
    result = inspect_table(table, infer_schema(frame, ["y", "z"]))
    assert result.coverage == [{"target": "y", "labelled": 3, "rows": 4, "coverage": 0.75},
                               {"target": "z", "labelled": 2, "rows": 4, "coverage": 0.5}]
    assert result.report.errors == []  # each row holds at least one label
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["inspect", str(tmp_path / "t.csv"), "--target", "y", "--target", "z"]) == 0
    out = capsys.readouterr().out
    assert "label coverage" in out and "0.7500" in out and "0.5000" in out
