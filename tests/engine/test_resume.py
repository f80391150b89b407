"""Resuming a killed run: the same result as an uninterrupted run; a different run is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import polymodal
from polymodal.cli import main
from polymodal.engine.resume import RESUME_DIR
from polymodal.engine.state_files import read_state_json
from polymodal.errors import PolymodalWarning, ResumeError
from tests.engine.processes import cli_command, kill_when

EPOCHS = 6
ARGS = ["--target", "label", "--epochs", str(EPOCHS), "--batch-size", "32", "--lr", "0.003", "--patience",
        str(EPOCHS), "--seed", "3", "--json"]


def _fit_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _val_losses(run_dir: Path) -> list[float]:
    return [row["val_loss"] for row in polymodal.engine.trainer.read_history(run_dir / "logs" / "metrics.csv")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, tabular_csv: Path) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    out = run_dir / "metrics.json"
    predictor = polymodal.fit(tabular_csv, target="label", progress=False, epochs=EPOCHS, batch_size=32, lr=0.003,
                              patience=EPOCHS, seed=3, run_dir=run_dir)
    out.write_text(json.dumps(predictor.metrics))
    return run_dir


def test_a_run_killed_after_an_epoch_resumes_to_the_uninterrupted_result(
        tmp_path: Path, tabular_csv: Path, quiet_config: Path, uninterrupted: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    args = ["fit", str(tabular_csv), "--config", str(quiet_config), *ARGS, "--run-dir", str(run_dir)]
    kill_when(cli_command(args), (run_dir / RESUME_DIR / "state.json").exists)
    killed_after = read_state_json(run_dir / RESUME_DIR)["epoch"]
    assert killed_after < EPOCHS - 1, "the run finished before it was killed: nothing was resumed"
    shutil.copytree(run_dir, tmp_path / "printed")

    resumed = _fit_json(capsys, [*args, "--resume"])
    reference = json.loads((uninterrupted / "metrics.json").read_text())
    assert resumed["train"]["resumed_after_epochs"] == killed_after + 1
    assert resumed["train"]["epochs_run"] == reference["train"]["epochs_run"] == EPOCHS
    for name, value in reference["validation"]["label"].items():
        assert resumed["validation"]["label"][name] == pytest.approx(value, abs=1e-6), name
    assert resumed["train"]["best_val_loss"] == pytest.approx(reference["train"]["best_val_loss"], abs=1e-6)
    # the log holds every epoch once, the killed run's epochs included, with the same values
    assert _val_losses(run_dir) == pytest.approx(_val_losses(uninterrupted), abs=1e-6)
    assert len(_val_losses(run_dir)) == EPOCHS

    again = _fit_json(capsys, [*args, "--resume"])  # a finished run: nothing left to train
    assert again["validation"] == resumed["validation"]

    # printed: the resumed run says it resumed, and how many epochs it trained itself out of the total
    printed = [a for a in args if a != "--json"]
    printed[printed.index(str(run_dir))] = str(tmp_path / "printed")
    assert main([*printed, "--resume"]) == 0
    done = killed_after + 1
    assert (f"resumed after epoch {done} from the checkpoint in --run-dir: trained {EPOCHS - done} epoch(s) in "
            f"this run, {EPOCHS} in total, in ") in " ".join(capsys.readouterr().out.split())


def test_resuming_with_another_config_says_what_differs(uninterrupted: Path, tabular_csv: Path) -> None:
    with pytest.raises(ResumeError, match=r"(?s)differs from the checkpoint's.*train\.lr: checkpoint has 0\.003, "
                                          r"this run has 0\.01.*train\.seed: checkpoint has 3, this run has 4"):
        polymodal.fit(tabular_csv, target="label", epochs=EPOCHS, batch_size=32, lr=0.01, patience=EPOCHS, seed=4,
                      progress=False, run_dir=uninterrupted, resume=True)


def test_resuming_on_other_rows_says_so(uninterrupted: Path, tabular_csv: Path, tmp_path: Path) -> None:
    fewer = tmp_path / "fewer.csv"
    fewer.write_text("".join(tabular_csv.read_text().splitlines(keepends=True)[:-10]))
    with pytest.raises(ResumeError, match=r"rows\.train\.count: checkpoint has \d+, this run has \d+"):
        polymodal.fit(fewer, target="label", epochs=EPOCHS, batch_size=32, lr=0.003, patience=EPOCHS, seed=3,
                      progress=False, run_dir=uninterrupted, resume=True)


def test_resume_without_a_checkpoint_starts_afresh_and_says_so(tmp_path: Path, tabular_csv: Path) -> None:
    with pytest.warns(PolymodalWarning, match=r"resume: no checkpoint in .*; starting from the first epoch"):
        predictor = polymodal.fit(tabular_csv, target="label", epochs=1, progress=False, run_dir=tmp_path,
                                  resume=True)
    assert predictor.metrics["train"]["resumed_after_epochs"] is None
    assert read_state_json(tmp_path / RESUME_DIR)["epoch"] == 0


def test_resume_without_a_checkpoint_is_one_warning_line_on_the_command_line(
        tmp_path: Path, tabular_csv: Path, quiet_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fit", str(tabular_csv), "--config", str(quiet_config), "--target", "label", "--epochs", "1",
            "--preset", "none", "--no-baseline", "--run-dir", str(tmp_path), "--resume"]
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert (f"warning: resume: no checkpoint in {tmp_path / RESUME_DIR}; starting from the first epoch") in lines
    # one line: no "UserWarning", no file:line, no source line (the other lines: the inputs, the fit checks)
    assert "UserWarning" not in captured.err and ".py:" not in captured.err and "warnings.warn" not in captured.err
    assert "trained 1 epoch(s) in" in captured.out and "resumed" not in captured.out


def test_resume_needs_a_run_dir(tabular_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(tabular_csv), "--target", "label", "--resume"]) == 2
    assert "--resume needs --run-dir DIR" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"resume needs the run folder"):
        polymodal.fit(tabular_csv, target="label", resume=True)


def test_an_early_stopped_run_stays_stopped(tmp_path: Path, tabular_csv: Path) -> None:
    options = {"target": "label", "epochs": 40, "lr": 0.05, "patience": 1, "progress": False, "run_dir": tmp_path}
    stopped = polymodal.fit(tabular_csv, **options)
    assert stopped.metrics["train"]["epochs_run"] < 40, "early stopping did not trigger; the test needs it to"
    resumed = polymodal.fit(tabular_csv, resume=True, **options)  # as if killed after the last checkpoint
    assert resumed.metrics["train"]["epochs_run"] == stopped.metrics["train"]["epochs_run"]
    assert resumed.metrics["validation"] == stopped.metrics["validation"]
