"""The whole grid is checked before its first run: every wrong name or option, with the entry it is in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from polymodal.bench.check import check_grid, grid_problems
from polymodal.bench.config import BenchConfig
from polymodal.cli import main
from polymodal.config import ConfigError


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text("x,y,split,speaker\n1,a,train,s\n2,b,test,s\n")
    return path


def grid(table: Path, **changes: object) -> dict:
    base = {"datasets": [{"name": "d", "table": str(table), "target": "y", "options": {"split_column": "split"}}],
            "methods": [{"name": "concat", "options": {"fusion": "concat"}},
                        {"name": "low-rank r4", "options": {"fusion": "low_rank", "fusion_args": {"rank": 4}}}],
            "robustness": {"corruptions": ["noise"], "levels": [0, 0.5, 1]}}
    return {**base, **changes}


def test_a_correct_grid_has_no_problem(table: Path) -> None:
    assert grid_problems(BenchConfig.model_validate(grid(table))) == []


def test_every_problem_is_reported_at_once_with_its_entry(table: Path) -> None:
    config = BenchConfig.model_validate(grid(
        table, common={"epoch": 3},
        datasets=[{"name": "d", "table": str(table), "target": "digit", "options": {"ignore": ["speakr"]}}],
        methods=[{"name": "concat", "options": {"fusion": "concat", "encoders": {"x": "mlp"}}},
                 {"name": "low-rank r4", "options": {"fusion": "low_rnk"}},
                 {"name": "lmf", "options": {"fusion": "low_rank", "fusion_args": {"rnk": 4}}},
                 {"name": "slow", "options": {"lr": -1}}],
        robustness={"corruptions": ["gaussian_noise"], "levels": [0.5, 2]}))
    problems = grid_problems(config)
    expected = [
        "common: unknown option 'epoch'; valid options: ",
        f"datasets[0] 'd': target column 'digit' is not in the table {table}",
        f"datasets[0] 'd': ignore column 'speakr' is not in the table {table}",
        "methods[0] 'concat': encoders.x: unknown encoder 'mlp'; known encoders: audio-cnn, ",
        "methods[1] 'low-rank r4': unknown fusion 'low_rnk'; known fusions: concat, cross_attention, ",
        "methods[2] 'lmf': unknown argument(s) rnk for fusion 'low_rank'; valid arguments: output_dim, rank",
        "methods[3] 'slow': train.lr: Input should be greater than 0",
        "robustness.corruptions[0]: unknown corruption 'gaussian_noise'; known corruptions: audio_noise, blur, ",
        "robustness.levels: every level must be in [0, 1]; got [2.0]",
        "robustness.levels: levels must be distinct and include 0 (the clean data); got [0.5, 2.0]",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    with pytest.raises(ConfigError, match=re.escape("grid.yaml: 10 problem(s) in the benchmark grid; nothing was "
                                                    "run:\n  common: unknown option 'epoch'")):
        check_grid(config, "grid.yaml")


def test_a_missing_table_is_named(tmp_path: Path, table: Path) -> None:
    config = BenchConfig.model_validate(grid(table, datasets=[{"name": "d", "table": str(tmp_path / "no.csv"),
                                                               "target": "y"}]))
    assert grid_problems(config) == [f"datasets[0] 'd': table {tmp_path / 'no.csv'} does not exist"]


def test_bench_with_a_wrong_name_fails_before_training(tmp_path: Path, table: Path, capsys, monkeypatch) -> None:
    import polymodal.bench.runner as runner

    monkeypatch.setattr(runner, "run_grid", lambda *a, **k: pytest.fail("a run started"))
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid(table, robustness={"corruptions": ["gaussian_noise"]})))
    assert main(["bench", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: 1 problem(s) in the benchmark grid; nothing was run:\n"
                          "  robustness.corruptions[0]: unknown corruption 'gaussian_noise'; known corruptions: ")
    assert not (tmp_path / "out").exists()  # nothing written, nothing trained
