"""The streamed fit: a table file read in chunks trains, validates and saves a model."""

from __future__ import annotations

from pathlib import Path

import pytest

import polymodal
from polymodal.data.streaming import StreamingDataset, concat_encoded
from polymodal.engine.pretrain import pretrain
from tests.data.test_streaming import _table


def test_streamed_fit_learns_and_predicts(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    _table(2000).to_parquet(path, row_group_size=256)
    predictor = polymodal.fit(str(path), "y", stream=True, chunk_rows=256, fit_sample_rows=500, epochs=4,
                              batch_size=64, lr=3e-3, progress=False, out=tmp_path / "model")
    accuracy = predictor.metrics["validation"]["y"]["accuracy"]
    assert accuracy > 0.8  # the majority class is about 60%
    assert 300 < predictor.metrics["sizes"]["val"] < 500  # 20% of 2000 by the hash split
    chunks = list(StreamingDataset(path, predictor.pipeline, "val", val_fraction=0.2, chunk_rows=100).encoded_chunks())
    whole = predictor.evaluate_encoded(concat_encoded(chunks))  # metrics over all validation rows at once
    assert predictor.evaluate_chunks(chunks)["y"] == pytest.approx(whole["y"])
    assert predictor.metrics["validation"]["y"] == pytest.approx(whole["y"])
    test = _table(300, seed=9)
    predicted = polymodal.load(tmp_path / "model").predict(test.drop(columns="y"))
    assert (predicted["y"].to_numpy() == test["y"].to_numpy()).mean() > 0.8


def test_streamed_fit_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="streaming reads a table file"):
        polymodal.fit(_table(50), "y", stream=True)
    path = tmp_path / "t.parquet"
    _table(50).to_parquet(path)
    with pytest.raises(ValueError, match="does not support a split column"):
        polymodal.fit(str(path), "y", stream=True, split_column="x")


def test_pretrain_refuses_streaming(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pretrain does not stream tables yet"):
        pretrain(_table(50), "contrastive", stream=True)
