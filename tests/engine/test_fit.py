"""``polymodal.engine.fit``: what ``fit`` refuses before it trains (its training is tested in test_api/test_cli)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.errors import BundleError, DataError, ResumeError
from polymodal.storage.bundle import load_bundle, save_bundle
from tests.storage.test_bundle import _contents


@pytest.fixture
def data_folder(tmp_path: Path, tabular_csv: Path) -> Path:
    """A user's folder: the table, an image and an unrelated notes file."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(tabular_csv, folder / "t.csv")
    (folder / "img_000.png").write_bytes(b"png")
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if training starts: the refusals must come first."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail("training started before the output folder was checked")

    monkeypatch.setattr("polymodal.engine.fit.train_on", refuse)
    monkeypatch.setattr("polymodal.engine.pretrain.train_on", refuse)


def _unchanged(folder: Path) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["img_000.png", "notes.txt", "t.csv"] and \
        (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_fit_out_naming_the_data_folder_is_refused_and_deletes_nothing(
        data_folder: Path, no_training: None, capsys: pytest.CaptureFixture[str], force: list[str]) -> None:
    code = main(["fit", str(data_folder / "t.csv"), "--target", "label", "--epochs", "1", "--out", str(data_folder),
                 *force])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert f"refusing to save the model to {data_folder}: it holds {data_folder / 't.csv'}, an input of this run" in err
    assert _unchanged(data_folder)


def test_fit_out_dot_is_refused_before_training(data_folder: Path, no_training: None,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(data_folder)
    assert main(["fit", "t.csv", "--target", "label", "--epochs", "1", "--out", "."]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "refusing to save the model to .: it is the current folder or a parent of it" in err
    assert _unchanged(data_folder)


def test_an_unrelated_folder_is_refused_by_fit_and_pretrain(data_folder: Path, tabular_csv: Path,
                                                            no_training: None) -> None:
    message = r"refusing to replace .*data: it is not a polymodal bundle \(it has no polymodal\.json\)"
    with pytest.raises(BundleError, match=message):
        polymodal.fit(tabular_csv, target="label", epochs=1, progress=False, out=data_folder, force=True)
    with pytest.raises(BundleError, match=message):
        polymodal.pretrain(tabular_csv, "autoencoder", ignore=["label"], epochs=1, progress=False, out=data_folder)
    assert _unchanged(data_folder)


def test_a_run_dir_whose_resume_folder_is_not_a_state_is_refused(tmp_path: Path, tabular_csv: Path,
                                                                 no_training: None) -> None:
    (tmp_path / "run" / "resume").mkdir(parents=True)
    (tmp_path / "run" / "resume" / "notes.txt").write_text("mine")
    with pytest.raises(ResumeError, match=r"refusing to replace .*run/resume: it holds notes\.txt"):
        polymodal.fit(tabular_csv, target="label", epochs=1, progress=False, run_dir=tmp_path / "run")


def test_force_replaces_a_bundle_of_another_kind(tmp_path: Path, tabular_csv: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    pretrained = _contents()
    pretrained.kind = "pretrained"
    save_bundle(out, pretrained)
    args = ["fit", str(tabular_csv), "--target", "label", "--epochs", "1", "--out", str(out)]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "it holds a 'pretrained' model, and this saves a 'supervised' one" in err
    assert main([*args, "--force"]) == 0
    assert load_bundle(out).kind == "supervised"


def test_skip_drops_held_out_rows_whose_label_training_never_saw(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 60
    label = np.where(np.arange(n) % 2 == 0, "a", "b").astype(object)
    split = np.array(["train"] * n, dtype=object)
    label[[5, 11]], split[[5, 11]] = "c", "test"  # a class that only the test rows hold
    split[[0, 1, 2, 3]] = "test"
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": rng.normal(size=n) + (label == "a"), "label": label, "split": split}).to_csv(table, index=False)
    options = {"split_column": "split", "epochs": 1, "progress": False, "baseline": False, "preset": "none"}
    unseen = (r"2 row\(s\) of target 'label' hold labels the model never saw in training; known labels: "
              r"\['a', 'b'\] \(--on-error skip drops such rows\)")
    with pytest.raises(DataError, match=unseen):
        polymodal.fit(table, target="label", **options)
    predictor = polymodal.fit(table, target="label", on_error="skip", **options)
    assert predictor.metrics["skipped"]["rows"] == [5, 11]
    assert predictor.metrics["sizes"]["test"] == 4


def test_no_temporary_run_folder_survives_a_fit_or_a_pretrain(tmp_path: Path, tabular_csv: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where mkdtemp makes the run folders
    predictor = polymodal.fit(tabular_csv, target="label", epochs=2, progress=False, out=tmp_path / "model")
    pretrained = polymodal.pretrain(tabular_csv, "autoencoder", ignore=["label"], epochs=1, progress=False)
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("polymodal-")) == []
    # the log is kept in the metrics (and the bundle), not as a path into a removed folder
    for metrics in (predictor.metrics, pretrained.metrics, polymodal.load(tmp_path / "model").metrics):
        assert "log_path" not in metrics["train"]
        assert [row["epoch"] for row in metrics["history"]] == list(range(metrics["train"]["epochs_run"]))
