from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.errors import DataError


@pytest.fixture(scope="module")
def predictor():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=40), "label": np.where(x > 0, "pos", "neg")})
    return polymodal.fit(frame, target="label", epochs=1, progress=False, batch_size=16)


def test_skip_drops_rows_with_unseen_labels_and_reports_them(predictor) -> None:
    frame = pd.DataFrame({"x": [1.0, -1.0, 2.0], "z": [0.0, 0.0, 0.0], "label": ["pos", "maybe", "pos"]})
    with pytest.raises(DataError, match=r"known labels: \['neg', 'pos'\] \(--on-error skip drops such rows\)\n"
                                        r"  - row 1, column 'label': unseen label 'maybe'"):
        predictor.evaluate(frame)
    metrics = predictor.evaluate(frame, on_error="skip")
    assert set(metrics) == {"label"}
    assert predictor.last_report.dropped_rows == [1]
    assert predictor.last_report.skip_summary() == "1 row(s) dropped for an unusable target"


def test_predictions_index_rows_by_position(predictor) -> None:
    preds = predictor.predict(pd.DataFrame({"x": [1.0, -1.0], "z": [0.0, 0.0]}))
    assert list(preds.columns[:2]) == ["row", "label"] and preds["row"].tolist() == [0, 1]


@pytest.fixture(scope="module")
def two_modalities():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=60), "emb": [list(v) for v in rng.normal(size=(60, 3))],
                          "label": np.where(x > 0, "pos", "neg")})
    return polymodal.fit(frame, target="label", epochs=1, progress=False, batch_size=16, preset="none"), frame


def test_a_table_without_any_column_of_a_modality_predicts_it_as_missing(two_modalities) -> None:
    predictor, frame = two_modalities
    modality = next(m for m in predictor.pipeline.schema.modalities if m.columns == ["emb"]).name
    without = frame.drop(columns=["emb", "label"])
    with pytest.warns(polymodal.errors.PolymodalWarning,
                      match=rf"has no column of modality '{modality}' \(emb\): it is treated as missing in every row"):
        predicted = predictor.predict(without)
    masked = frame.drop(columns="label").assign(emb=None)  # the same rows with the modality missing
    expected = predictor.predict(masked)
    pd.testing.assert_frame_equal(predicted, expected)
    with pytest.raises(DataError, match="emb"):
        predictor.predict(without, strict_columns=True)
