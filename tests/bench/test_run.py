"""One benchmark run in an isolated process: metrics, missing-modality scores, cost, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.bench.run import RunSpec, execute, flatten_metrics, run_isolated, summarize


@pytest.fixture(scope="module")
def split_table(digits_csv: Path) -> Path:
    frame = pd.read_csv(digits_csv).iloc[:300].copy()
    frame["split"] = np.where(np.arange(len(frame)) % 5 == 0, "test", "train")
    path = digits_csv.parent / "bench-split.csv"
    frame.to_csv(path, index=False)
    return path


def spec(table: Path, **options: object) -> RunSpec:
    return RunSpec(method="concat", dataset="digits", table=str(table), target=("digit",), seed=1,
                   options={"split_column": "split", "epochs": 1, "fusion": "concat", **options},
                   missing=("rotated", "noisy"))


def test_flatten_metrics() -> None:
    assert flatten_metrics("test", {"y": {"accuracy": 0.5}}) == {"test_y_accuracy": 0.5}


def test_key_is_stable_and_ignores_where_the_model_goes(split_table: Path) -> None:
    a = spec(split_table)
    assert a.key() == spec(split_table).key()
    assert a.key() != spec(split_table, epochs=2).key()
    assert a.key() == RunSpec(**{**a.__dict__, "save_to": "/elsewhere"}).key()


def test_execute_scores_each_missing_modality(split_table: Path) -> None:
    row = execute(spec(split_table))
    assert row["n_test"] == 60
    for prefix in ("val", "test", "missing_rotated", "missing_noisy"):
        assert 0.0 <= row[f"{prefix}_digit_accuracy"] <= 1.0
    assert row["parameters"] > 0 and row["train_seconds"] > 0 and row["samples_per_second"] > 0


def test_run_isolated_records_cost_and_failures(split_table: Path) -> None:
    ok = run_isolated(spec(split_table))
    assert ok["status"] == "ok" and ok["error"] == "" and ok["peak_rss_mb"] > 50
    bad = run_isolated(spec(split_table, fusion="no-such-fusion"))
    assert bad["status"] == "error" and "unknown fusion 'no-such-fusion'" in bad["error"]
    summary = summarize(pd.DataFrame([ok, bad]), ["method"], ["test_digit_accuracy"])
    assert summary.loc[0, "runs"] == 1 and summary.loc[0, "test_digit_accuracy_std"] == 0.0


def test_summarize_mean_and_sample_std() -> None:
    rows = pd.DataFrame({"method": ["a", "a", "b"], "status": ["ok"] * 3, "acc": [0.5, 0.7, 0.9]})
    out = summarize(rows, ["method"])
    assert out.loc[0, "acc_mean"] == pytest.approx(0.6)
    assert out.loc[0, "acc_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert out.loc[1, "runs"] == 1
