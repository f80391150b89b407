"""The streamed fit: a table file read in chunks trains, validates and saves a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.data.streaming import StreamingDataset, concat_encoded
from polymodal.engine.pretrain import pretrain
from polymodal.engine.resume import RESUME_DIR
from polymodal.engine.state_files import read_state_json
from polymodal.errors import DataError
from tests.data.test_streaming import _table
from tests.engine.processes import cli_command, kill_when


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
    with pytest.raises(DataError, match="split column 'nope' not in the table"):
        polymodal.fit(str(path), "y", stream=True, split_column="nope")
    with pytest.raises(ValueError, match="deep CCA does not stream tables yet"):
        pretrain(str(path), "dcca", stream=True, ignore=["y"], progress=False)


def _shards(folder: Path, n: int = 800) -> Path:
    """A table of ``n`` rows written as 4 Parquet shards, the last quarter of each marked test."""
    frame = _table(n)
    frame["split"] = np.where(np.arange(n) % 4 == 3, "test", "train")
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(n), 4)):
        frame.iloc[part].to_parquet(folder / f"part-{i}.parquet", row_group_size=64)
    return folder


STREAM = ["--target", "y", "--stream", "--split-column", "split", "--chunk-rows", "64", "--fit-sample-rows", "200",
          "--epochs", "4", "--patience", "4", "--batch-size", "32", "--lr", "0.003", "--seed", "2", "--json"]


def test_parquet_shards_stream_with_a_split_column_and_resume_after_a_kill(
        tmp_path: Path, quiet_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = _shards(tmp_path / "shards", n=480)
    reference_dir = tmp_path / "uninterrupted"
    base = ["fit", str(shards), "--config", str(quiet_config), *STREAM]
    capsys.readouterr()
    assert main([*base, "--run-dir", str(reference_dir)]) == 0
    reference = json.loads(capsys.readouterr().out)
    # the split column's test rows are held out and scored apart; the others split by the hash
    assert reference["sizes"]["test"] == 120
    assert reference["sizes"]["train"] + reference["sizes"]["val"] == 360
    assert reference["test"]["y"]["accuracy"] > 0.75

    run_dir = tmp_path / "run"
    args = [*base, "--run-dir", str(run_dir)]
    kill_when(cli_command(args), (run_dir / RESUME_DIR / "state.json").exists)
    killed_after = read_state_json(run_dir / RESUME_DIR)["epoch"]
    assert killed_after < 3, "the run finished before it was killed: nothing was resumed"
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["train"]["resumed_after_epochs"] == killed_after + 1
    assert resumed["train"]["best_val_loss"] == pytest.approx(reference["train"]["best_val_loss"], abs=1e-6)
    for part in ("validation", "test"):
        for name, value in reference[part]["y"].items():
            assert resumed[part]["y"][name] == pytest.approx(value, abs=1e-6), (part, name)


def test_pretrain_streams_shards_and_embeds_like_the_in_memory_model(tmp_path: Path) -> None:
    shards = _shards(tmp_path / "shards", n=400)
    streamed = pretrain(str(shards), "autoencoder", stream=True, chunk_rows=50, fit_sample_rows=400,
                        split_column="split", ignore=["y"], epochs=2, batch_size=32, progress=False)
    assert streamed.metrics["sizes"]["train"] + streamed.metrics["sizes"]["val"] == 300  # the test rows unseen
    frame = pd.concat([pd.read_parquet(f) for f in sorted(shards.glob("*.parquet"))], ignore_index=True)
    embedded = streamed.embed(frame)
    assert embedded.shape == (400, streamed.embedding_dim) and np.isfinite(embedded).all()
