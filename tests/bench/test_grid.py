"""A grid of runs resumes where it stopped and records failures without stopping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from polymodal.bench.grid import read_runs, run_grid
from polymodal.bench.run import RunSpec


def specs(n: int) -> list[RunSpec]:
    return [RunSpec(method=f"m{i}", dataset="d", table="t.csv", target=("y",), seed=0) for i in range(n)]


class FakeRunner:
    """Records the runs it was asked for; fails on ``fail`` and "dies" (KeyboardInterrupt) on ``die``."""

    def __init__(self, fail: set[str] = frozenset(), die: str | None = None) -> None:  # type: ignore[assignment]
        self.calls: list[str] = []
        self.fail, self.die = fail, die

    def __call__(self, spec: RunSpec, timeout: float | None = None) -> dict[str, Any]:
        if spec.method == self.die:
            raise KeyboardInterrupt  # the grid's process is stopped half-way
        self.calls.append(spec.method)
        ok = spec.method not in self.fail
        return {"method": spec.method, "dataset": spec.dataset, "seed": spec.seed, "key": spec.key(),
                "status": "ok" if ok else "error", "error": "" if ok else "RuntimeError: boom",
                "test_y_accuracy": 0.5 if ok else None}


def test_a_grid_stopped_half_way_resumes_without_redoing_finished_runs(tmp_path: Path) -> None:
    grid, path = specs(5), tmp_path / "runs.csv"
    first = FakeRunner(die="m3")
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, path, runner=first)
    assert first.calls == ["m0", "m1", "m2"]
    assert list(read_runs(path)["method"]) == ["m0", "m1", "m2"]  # written after every run
    second = FakeRunner()
    runs = run_grid(grid, path, runner=second)
    assert second.calls == ["m3", "m4"]
    assert list(runs["method"]) == ["m0", "m1", "m2", "m3", "m4"]
    third = FakeRunner()
    run_grid(grid, path, runner=third)
    assert third.calls == []


def test_a_failed_run_is_recorded_the_grid_goes_on_and_it_is_retried(tmp_path: Path) -> None:
    grid, path = specs(3), tmp_path / "runs.csv"
    runs = run_grid(grid, path, runner=FakeRunner(fail={"m1"}))
    assert list(runs["status"]) == ["ok", "error", "ok"] and runs.loc[1, "error"] == "RuntimeError: boom"
    again = FakeRunner()
    runs = run_grid(grid, path, runner=again)
    assert again.calls == ["m1"] and list(runs["status"]) == ["ok", "ok", "ok"]
    run_grid(specs(1), tmp_path / "other.csv", runner=FakeRunner(fail={"m0"}))
    untouched = FakeRunner()
    runs = run_grid(specs(1), tmp_path / "other.csv", runner=untouched, retry_failed=False)
    assert untouched.calls == [] and runs["status"].tolist() == ["error"]


def test_keys_survive_the_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    spec = specs(1)[0]
    pd.DataFrame([{"key": "0123456789012345", "status": "ok", "method": "x"}]).to_csv(path, index=False)
    assert read_runs(path)["key"].tolist() == ["0123456789012345"]  # not read as a number
    assert len(run_grid([spec], path, runner=FakeRunner())) == 2  # other grids' rows are kept


def test_duplicate_runs_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate runs"):
        run_grid(specs(2) + specs(1), tmp_path / "runs.csv", runner=FakeRunner())
