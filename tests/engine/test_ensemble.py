"""Training an ensemble (the ``best`` preset): members trained in turn, stacked, saved, repeated, within a budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import polymodal
from polymodal.cli import main
from polymodal.models.ensemble import EnsembleModel
from polymodal.models.supervised import FusionModel


@pytest.fixture(scope="module")
def two_modalities(tabular_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tabular table with a config that keeps its numeric and categorical columns apart (two modalities)."""
    folder = tmp_path_factory.mktemp("two")
    (folder / "t.csv").write_bytes(tabular_csv.read_bytes())
    return folder / "t.csv"


@pytest.fixture(scope="module")
def best(two_modalities: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[polymodal.Predictor, Path]:
    out = tmp_path_factory.mktemp("best") / "bundle"
    return polymodal.fit(str(two_modalities), target="label", preset="best", epochs=2, progress=False, out=out,
                         baseline=False, group_tabular=False), out


def test_best_trains_every_member_and_stacks_them(best: tuple[polymodal.Predictor, Path],
                                                  two_modalities: Path) -> None:
    predictor, out = best
    model = predictor.model
    assert isinstance(model, EnsembleModel) and bool(model.fitted)
    assert [m.fusions.keys() for m in model.members.values()][1] == {"label"}  # the late fusion: one per target
    members = predictor.metrics["ensemble"]["members"]
    assert [(m["fusion"], m["seed"], m["epochs_run"]) for m in members] == [
        ("concat", 0, 2), ("late", 0, 2), ("concat", 1, 2)]
    assert predictor.metrics["ensemble"]["validation"] == "cross-fitted"
    # the members differ: another fusion, another seed
    first, _, third = (m for m in model.members.values())
    assert not torch.equal(next(iter(first.parameters())), next(iter(third.parameters())))
    loaded = polymodal.load(out)
    assert isinstance(loaded.model, EnsembleModel)
    table = str(two_modalities)
    np.testing.assert_array_equal(loaded.predict_proba(table), predictor.predict_proba(table))


def test_the_saved_config_repeats_the_ensemble_exactly(best: tuple[polymodal.Predictor, Path],
                                                        two_modalities: Path, tmp_path: Path) -> None:
    predictor, out = best
    assert json.loads((out / "config.json").read_text())["model"]["ensemble"][1]["fusion"] == "late"
    assert main(["fit", str(two_modalities), "--config", str(out / "config.json"), "--out", str(tmp_path / "again"),
                 "--no-baseline"]) == 0
    again = polymodal.load(tmp_path / "again")
    table = str(two_modalities)
    np.testing.assert_array_equal(again.predict_proba(table), predictor.predict_proba(table))


def test_members_that_the_time_limit_leaves_no_time_for_are_dropped(tabular_csv: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fit", str(tabular_csv), "--target", "label", "--preset", "best", "--time-limit", "1", "--epochs",
                 "2", "--no-baseline", "--out", str(tmp_path / "b")])
    assert code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "left out for lack of time: member(s) 1, 2" in text
    predictor = polymodal.load(tmp_path / "b")
    assert isinstance(predictor.model, FusionModel)  # one member trained: it is the model
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["model"]["ensemble"] == [] and config["model"]["fusion"] == "concat"


def test_resume_and_an_ensemble_are_refused_together(tabular_csv: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fit", str(tabular_csv), "--target", "label", "--preset", "best", "--run-dir", str(tmp_path / "r"),
                 "--resume"])
    assert code == 2
    assert "resume does not work with an ensemble" in " ".join(capsys.readouterr().err.split())
