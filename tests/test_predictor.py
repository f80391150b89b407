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
