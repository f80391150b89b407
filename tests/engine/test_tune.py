"""tune: trials stored in SQLite, resumed after an interruption, pruned in the Lightning loop, the best saved."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

import polymodal
from polymodal.datasets import make_synthetic_table
from polymodal.engine.tune import STUDY_DB, STUDY_NAME
from polymodal.errors import PolymodalError, ResumeError

# small and fast: 1 epoch, no baseline, two fusions and the learning rate searched
OPTIONS = {"epochs": 1, "baseline": False, "group_tabular": False}
SEARCH = {"fusion": ["concat", "late"], "lr": (1e-3, 1e-2)}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_table(tmp_path_factory.mktemp("tune"), n_rows=120, kinds=("numeric", "categorical"))


def stored(study_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{study_dir / STUDY_DB}")


@pytest.fixture(scope="module")
def resumed(table: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two trials; a third cut off by a kill (left running in the storage); then a rerun asking for 4."""
    folder = tmp_path_factory.mktemp("study") / "study"
    first = polymodal.tune(table, "label", trials=2, study=folder, search=SEARCH, **OPTIONS)
    killed = stored(folder).ask()  # what a SIGKILL mid-trial leaves: a trial still RUNNING
    lines: list[dict] = []
    second = polymodal.tune(table, "label", trials=4, study=folder, search=SEARCH, on_trial=lines.append, **OPTIONS)
    return {"folder": folder, "first": first, "second": second, "killed": killed.number, "lines": lines}


def test_trials_are_stored_and_the_first_is_the_base_config(resumed: dict) -> None:
    first = resumed["first"]
    assert first.finished == 2 and [r["trial"] for r in first.trials] == [0, 1]
    trials = stored(resumed["folder"]).get_trials()
    assert trials[0].user_attrs["base"] is True and trials[0].params == {}
    assert set(trials[1].params) == {"fusion", "lr", "weight_decay", "dropout", "modality_dropout", "head_hidden",
                                     "encoder_width", "batch_size"}
    assert 1e-3 <= trials[1].params["lr"] <= 1e-2


def test_a_rerun_resumes_counting_the_trials_already_done(resumed: dict) -> None:
    trials = stored(resumed["folder"]).get_trials()
    finished = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(finished) == 4  # 2 + 2, not 2 + 4
    killed = trials[resumed["killed"]]
    assert killed.state is TrialState.FAIL and killed.user_attrs["interrupted"] is True
    assert [r["trial"] for r in resumed["lines"]] == [3, 4]  # the rerun ran only the two missing trials
    assert resumed["second"].finished == 4
    rows = pd.read_csv(resumed["folder"] / "trials.csv")
    assert rows["state"].tolist() == ["complete", "complete", "interrupted", "complete", "complete"]
    # a resumed study draws new points (its sampler does not replay the first run's seed)
    assert trials[3].params != trials[1].params


def test_the_best_trial_is_an_ordinary_bundle(resumed: dict, table: Path) -> None:
    result = resumed["second"]
    study = stored(resumed["folder"])
    assert result.best_bundle == resumed["folder"] / "best" and result.best_trial == study.best_trial.number
    best = polymodal.load(result.best_bundle)
    assert best.metrics["validation"]["label"]["accuracy"] == pytest.approx(study.best_value)
    assert best.config.model_dump(mode="json") == study.best_trial.user_attrs["config"]
    assert best.config.model.fusion == study.best_trial.params.get("fusion", "concat")
    assert len(best.predict(table)) == 120


def test_a_study_of_another_config_or_table_is_refused(resumed: dict, table: Path, tmp_path: Path) -> None:
    with pytest.raises(ResumeError, match=r"was made for a different base config \(train.epochs differs\); rerun "
                                          r"with the table and options it was made with, or give a new --study DIR"):
        polymodal.tune(table, "label", trials=5, study=resumed["folder"], search=SEARCH, **{**OPTIONS, "epochs": 2})
    other = make_synthetic_table(tmp_path, n_rows=100, kinds=("numeric", "categorical"))
    with pytest.raises(ResumeError, match=r"was made for a different table and search space;"):
        polymodal.tune(other, "label", trials=5, study=resumed["folder"], **OPTIONS)


def test_a_folder_of_other_files_is_refused(table: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(PolymodalError, match=r"refusing to use .* as a study folder: it holds notes.txt, which "
                                             r"polymodal tune did not write; give a new or empty folder"):
        polymodal.tune(table, "label", trials=1, study=tmp_path, **OPTIONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_poor_trials_are_pruned_inside_the_training_loop(table: Path, tmp_path: Path) -> None:
    # accuracy never reaches 2: every trial is pruned at its second epoch (the pruner's first step)
    pruner = optuna.pruners.ThresholdPruner(lower=2.0, n_warmup_steps=1)
    result = polymodal.tune(table, "label", trials=2, study=tmp_path / "s", pruner=pruner,
                            **{**OPTIONS, "epochs": 3})
    trials = stored(tmp_path / "s").get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert [max(t.intermediate_values) for t in trials] == [1, 1]
    assert result.best_trial is None and result.best_bundle is None and not (tmp_path / "s" / "best").exists()


def test_the_time_limit_stops_the_study(table: Path, tmp_path: Path) -> None:
    result = polymodal.tune(table, "label", trials=50, study=tmp_path / "s", time_limit=0.5, **OPTIONS)
    assert 1 <= result.finished < 50
    assert stored(tmp_path / "s").get_trials()[0].user_attrs["config"]["train"]["time_limit"] is None


def test_bad_arguments(table: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"trials must be a positive number of trials, got 0"):
        polymodal.tune(table, "label", trials=0, study=tmp_path / "s")
    with pytest.raises(ValueError, match=r"metric 'r2' is not computed for a multiclass target; valid: accuracy, "
                                         r"macro_f1, auroc"):
        polymodal.tune(table, "label", trials=1, study=tmp_path / "s", metric="r2")
    with pytest.raises(ValueError, match=r"tune trains each trial in this process, on one device: give --devices 1"):
        polymodal.tune(table, "label", trials=1, study=tmp_path / "s", devices=2)


def test_the_best_bundle_may_live_in_the_study_folder_under_another_name(tmp_path: Path) -> None:
    from polymodal.engine.tune import check_study_dir

    (tmp_path / "model").mkdir()
    (tmp_path / STUDY_DB).write_bytes(b"")
    assert check_study_dir(tmp_path, out=tmp_path / "model") == tmp_path  # a resumed `tune --out DIR/model`
    with pytest.raises(PolymodalError, match=r"it holds model, which polymodal tune did not write"):
        check_study_dir(tmp_path)
