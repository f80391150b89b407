from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.data.loading import MAX_IMAGE_PIXELS
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.errors import DataError


def _fitted(tmp_path: Path) -> tuple[DataPipeline, pd.DataFrame]:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", "b", "a", "b"]})
    schema = infer_schema(train, "label")
    loaded = load_table(read_table(train, base_dir=tmp_path), schema)
    return DataPipeline(schema).fit(loaded, np.arange(4)), train


def test_rows_with_unseen_labels_are_dropped_and_reported(tmp_path: Path) -> None:
    pipeline, _ = _fitted(tmp_path)
    new = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "zebra", "b"]})
    loaded = load_table(read_table(new, base_dir=tmp_path), pipeline.schema, on_error="skip")
    with pytest.raises(DataError, match=r"row 1, column 'label': unseen label 'zebra'"):
        pipeline.transform(loaded)
    kept = pipeline.drop_unseen_labels(loaded)
    assert kept.rows.tolist() == [0, 2] and kept.targets["label"].tolist() == ["a", "b"]
    assert kept.report.dropped_rows == [1]
    assert kept.report.skip_summary() == "1 row(s) dropped for an unusable target"
    assert [str(p) for p in kept.report.errors] == [
        "row 1, column 'label': unseen label 'zebra' (remove the row, or retrain with this label)"]
    assert pipeline.transform(kept).targets["label"].tolist() == [[0.0], [1.0]]  # binary
    alone = load_table(read_table(new.iloc[[1]], base_dir=tmp_path), pipeline.schema, on_error="skip")
    with pytest.raises(DataError, match=r"^no usable row left: every row holds a label the model never saw"):
        pipeline.drop_unseen_labels(alone)


def test_image_pixel_limits_come_from_the_image_options() -> None:
    frame = pd.DataFrame({"a": ["1.png", "2.png"], "b": ["3.png", "4.png"], "label": ["x", "y"]})
    schema = infer_schema(frame, "label")
    assert DataPipeline(schema).image_pixel_limits() == {"a": MAX_IMAGE_PIXELS, "b": MAX_IMAGE_PIXELS}
    options = {"image": {"max_image_pixels": 10}, "b": {"max_image_pixels": 20}}
    assert DataPipeline(schema, options).image_pixel_limits() == {"a": 10, "b": 20}
