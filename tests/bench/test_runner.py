"""``polymodal bench``: a grid from YAML or flags, resumable, with robustness and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from polymodal.bench.config import BenchConfig
from polymodal.bench.runner import run_benchmark
from polymodal.cli import main

TINY = {"epochs": 1, "batch_size": 128, "encoder_args": {"image": {"base_channels": 4, "output_dim": 16}}}


@pytest.fixture(scope="module")
def split_table(digits_csv: Path) -> Path:
    frame = pd.read_csv(digits_csv).iloc[:250].copy()
    frame["split"] = np.where(np.arange(len(frame)) % 5 == 0, "test", "train")
    path = digits_csv.parent / "runner-split.csv"
    frame.to_csv(path, index=False)
    return path


def write_grid(tmp_path: Path, table: Path, **extra: object) -> Path:
    grid = {"name": "tiny", "seeds": [0], "common": TINY, "isolate": False,
            "datasets": [{"name": "digits", "table": str(table), "target": "digit",
                          "options": {"split_column": "split"}}],
            "methods": [{"name": "concat", "options": {"fusion": "concat"}},
                        {"name": "late", "options": {"fusion": "late"}}], **extra}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def test_grid_from_yaml_with_robustness(split_table: Path, tmp_path: Path) -> None:
    config = BenchConfig.from_file(write_grid(tmp_path, split_table, robustness={
        "corruptions": ["image_noise"], "levels": [0.0, 1.0]}))
    out = tmp_path / "out"
    result = run_benchmark(config, out)
    assert result["n_ok"] == 2 and result["n_failed"] == 0
    runs = pd.read_csv(out / "runs.csv")
    assert {"test_digit_accuracy", "missing_rotated_digit_accuracy", "peak_rss_mb", "parameters",
            "samples_per_second", "rr_image_noise_rotated+noisy_digit_accuracy"} <= set(runs.columns)
    scores = pd.read_csv(out / "robustness_scores.csv")
    assert {"relative_robustness", "effective_robustness"} <= set(scores.columns)
    late = scores[scores["method"] == "late"]
    assert np.allclose(late["effective_robustness"].dropna(), 0.0)  # the baseline against itself
    curves = pd.read_csv(out / "robustness.csv")
    assert set(curves["level"]) == {0.0, 1.0} and set(curves["modality"]) == {"rotated", "noisy", "rotated+noisy"}
    page = (out / "report.html").read_text()
    assert "<h2>Robustness</h2>" in page and "effective robustness (vs late)" in page
    # the best run's modality contribution (both runs have two modalities: each wrote its explain.json)
    assert "<h2>Modality contribution</h2>" in page and "Shapley value" in page
    for key in runs["key"]:
        explained = json.loads((out / "artifacts" / key / "explain" / "explain.json").read_text())
        assert explained["contributions"][0]["modalities"] == ["rotated", "noisy"]
    assert (out / "summary.md").read_text().startswith("| dataset | method | runs |")


def test_bench_from_flags_resumes_without_redoing_runs(split_table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "flags"
    argv = ["bench", "--table", str(split_table), "--target", "digit", "--split-column", "split",
            "--fusion", "sum", "--epochs", "1", "--inline", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "[1/1] runner-split · sum · seed 0: ok" in printed and "report:" in printed
    first = (out / "runs.csv").read_text()
    assert "baseline_logistic_test_digit_accuracy" in first  # the classical baseline beside every run
    assert main(argv) == 0  # everything finished: nothing runs again
    assert "[1/1]" not in capsys.readouterr().out and (out / "runs.csv").read_text() == first


def test_bench_preset_and_no_baseline_flags_reach_every_run(split_table: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "plain"
    assert main(["bench", "--table", str(split_table), "--target", "digit", "--split-column", "split", "--fusion",
                 "sum", "--epochs", "1", "--preset", "none", "--no-baseline", "--inline", "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert not [c for c in runs if c.startswith("baseline_")] and runs["status"].eq("ok").all()


def test_bench_config_errors(tmp_path: Path, split_table: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: []\nmethods: []\nsurprise: 1\n")
    assert main(["bench", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "surprise" in capsys.readouterr().err
    assert main(["bench", "--out", str(tmp_path / "x")]) == 2
    assert "--table TABLE --target COL" in capsys.readouterr().err
    grid = write_grid(tmp_path, split_table, methods=[{"name": "a"}, {"name": "a"}])
    assert main(["bench", str(grid), "--out", str(tmp_path / "y")]) == 2
    assert "method names must be unique; repeated: a" in capsys.readouterr().err


def test_a_failing_method_is_recorded_and_a_rerun_after_the_fix_keeps_its_row_apart(
        split_table: Path, tmp_path: Path, capsys) -> None:
    broken = {"name": "lmf", "options": {"fusion": "low_rank", "fusion_args": {"rank": 0}}}  # fails in training
    quick, plain = {**TINY, "baseline": False}, {"name": "sum", "options": {"fusion": "sum"}}
    grid = write_grid(tmp_path, split_table, common=quick, methods=[broken, plain])
    out = tmp_path / "z"
    assert main(["bench", str(grid), "--out", str(out)]) == 1
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["status"]) == ["error", "ok"] and "rank must be positive, got 0" in runs.loc[0, "error"]
    page = (out / "report.html").read_text()
    assert "<h2>Failed runs</h2>" in page and "<pre>ValueError: rank must be positive, got 0" in page
    capsys.readouterr()

    fixed = {"name": "lmf", "options": {"fusion": "low_rank", "fusion_args": {"rank": 2}}}
    grid = write_grid(tmp_path, split_table, common=quick, methods=[fixed, plain])
    assert main(["bench", str(grid), "--out", str(out)]) == 0  # the old failed row no longer counts
    printed = capsys.readouterr().out
    assert "[2/2] digits · lmf · seed 0: ok" in printed and "· sum ·" not in printed  # only the changed run ran
    assert ("(2 finished, 0 failed; 1 stale row(s) from runs no longer in the grid, kept apart and not counted)"
            in printed)
    assert len(pd.read_csv(out / "runs.csv")) == 3  # the stale row is kept in the file
    page = (out / "report.html").read_text()
    assert "<h2>Failed runs</h2>" not in page and "<h2>Stale runs</h2>" in page
    assert "<td>stale (error)</td><td>ValueError: rank must be positive, got 0</td>" in page
    assert "2 finished runs, 0 failed; 1 stale row(s) from runs no longer in the grid, not counted" in page


def test_a_bench_killed_half_way_resumes_without_redoing_finished_runs(split_table: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    grid = write_grid(tmp_path, split_table, seeds=[0, 1, 2], methods=[{"name": "sum", "options": {"fusion": "sum"}}])
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "polymodal.cli", "bench", str(grid), "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs_file = out / "runs.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (runs_file.exists() and len(pd.read_csv(runs_file)) >= 1):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the grid and any run it started
    process.wait()
    first = pd.read_csv(runs_file)
    assert 1 <= len(first) < 3, "the kill should land between the first and the last run"
    assert main(["bench", str(grid), "--out", str(out)]) == 0
    final = pd.read_csv(runs_file)
    assert len(final) == 3 and final["status"].eq("ok").all()
    kept = final.set_index("key").loc[first["key"]]  # finished runs were kept as they were, not redone
    assert np.allclose(kept["wall_seconds"].to_numpy(), first["wall_seconds"].to_numpy())


def test_the_run_settings_say_what_the_runs_were_trained_with(split_table: Path, tmp_path: Path) -> None:
    from polymodal.bench.runner import run_settings

    config = BenchConfig.from_file(write_grid(tmp_path, split_table, seeds=[0, 1],
                                              robustness={"corruptions": ["image_noise"], "levels": [0, 1]}))
    config.datasets[0].options["ignore"] = ["noisy"]
    runs = pd.DataFrame({"method": ["concat", "late"], "epochs_run": [1, 1]})
    settings = dict(run_settings(config, "digits", runs))
    assert settings["epochs (at most)"] == "1" and settings["epochs trained"] == "1"
    assert settings["split column"] == "split" and settings["ignored columns"] == "noisy"
    assert settings["preset"] == "medium (default)" and settings["seeds"] == "0, 1"
    assert settings["method late"] == "fusion=late" and settings["robustness"] == "image_noise at levels 0, 1"
    assert settings["encoder_args"] == '{"image": {"base_channels": 4, "output_dim": 16}}'
    config.common.pop("epochs")
    settings = dict(run_settings(config, "digits", runs.assign(epochs_run=[3, 7])))
    assert settings["epochs (at most)"] == "chosen by the preset (default)"
    assert settings["epochs trained"] == "3 to 7"
