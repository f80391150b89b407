"""``tune``: an Optuna study over :func:`~polymodal.engine.fit.fit` configs, stored so that it resumes.

Each trial is an ordinary ``fit`` of the base config with the trial's draw of the search space
(:mod:`polymodal.engine.search_space`) set on it; its value is the validation metric of the first target
(accuracy for classification, R2 for regression, or ``metric``), maximised or minimised as the metric
says. The first trial of a new study is the base config itself, so the study's best is never worse (on
the validation rows) than a plain ``fit``. A trial whose validation metric falls behind the others' at the
same epoch is pruned by Optuna's pruner, which runs inside the Lightning loop.

The study folder ``study`` holds:

- ``study.db``: Optuna's SQLite storage. Running the same command again continues the study: ``trials``
  counts the trials finished (complete, pruned or failed) in every run, so a rerun with ``trials=20``
  after 7 finished runs 13 more. A trial cut off by a kill is marked failed (``interrupted``) and does
  not count. The storage records a fingerprint of the table, the base config, the search space and the
  metric: a study of another table or config is refused (:class:`~polymodal.errors.ResumeError`).
- ``best/`` (or ``out``): the best trial's model, an ordinary bundle that ``polymodal predict`` /
  ``evaluate`` / :func:`polymodal.load` read, with its resolved config (``fit --config best/config.json``
  repeats it).
- ``trials.csv``: one row per trial (number, state, value, epochs, seconds, parameters).
- ``report.html`` (written by :func:`polymodal.tune`): the trial table, parameter importance and the
  optimisation history.

``time_limit`` is the budget of one invocation: no trial starts after it, and each trial's training gets
the time that is left (it stops cleanly with its best weights).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from polymodal.config import FitConfig, with_options
from polymodal.data.module import TableDataModule
from polymodal.data.schema import TaskKind
from polymodal.engine.fit import fit
from polymodal.engine.search_space import Dimension, apply_params, resolve_space, space_record, suggest
from polymodal.errors import PolymodalError, ResumeError
from polymodal.evaluation.metrics import higher_is_better
from polymodal.predictor import TableLike
from polymodal.storage.atomic import atomic_write_text
from polymodal.storage.bundle import check_writable_bundle_path

STUDY_DB = "study.db"
TRIALS_CSV = "trials.csv"
REPORT = "report.html"
BEST = "best"
STUDY_NAME = "polymodal"
_LOCK = ".study.lock"
_WRITTEN = frozenset({STUDY_DB, f"{STUDY_DB}-journal", TRIALS_CSV, REPORT, BEST})
_METRICS = {"classification": ("accuracy", "macro_f1", "auroc"), "regression": ("r2", "mae", "rmse")}
PRUNERS = ("median", "hyperband", "none")
# options that change where or how visibly a trial runs, or what is reported beside it, not what it learns
_NOT_FINGERPRINTED = ("progress", "verbose", "time_limit", "accelerator", "devices", "num_nodes", "strategy",
                      "num_workers", "baseline")


class TrialFailed(Exception):
    """A trial's config could not be trained (e.g. a fusion argument that does not suit the data)."""


@dataclass
class TuneResult:
    """What :func:`tune` found: the best trial and where the study's files are."""

    study_dir: Path
    metric: str
    direction: str
    best_trial: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_bundle: Path | None
    finished: int
    trials: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None


def check_study_dir(directory: str | Path, out: str | Path | None = None) -> Path:
    """Raise :class:`~polymodal.errors.PolymodalError` unless ``directory`` is absent, empty or a study folder
    (nothing but the files ``tune`` writes, and the best bundle ``out`` when it is inside): tune writes into
    it, and never beside someone else's files."""
    path = Path(directory).expanduser()
    inside = out is not None and Path(out).expanduser().parent.resolve() == path.resolve()
    written = _WRITTEN | ({Path(out).name} if inside and out is not None else set())
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise PolymodalError(f"--study {directory} is a file or a link, not a folder; give a new folder")
    foreign = sorted(p.name for p in path.iterdir() if p.name not in written and not p.name.startswith(".")) \
        if path.exists() else []
    if foreign:
        raise PolymodalError(f"refusing to use {directory} as a study folder: it holds {', '.join(foreign[:5])}, "
                             "which polymodal tune did not write; give a new or empty folder (--study DIR)")
    return path


@contextlib.contextmanager
def _study_lock(directory: Path) -> Iterator[None]:
    """One ``tune`` at a time on a study folder (a second one is refused, not queued)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / _LOCK, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PolymodalError(f"another `polymodal tune` is running on the study {directory}; wait for it "
                                 "to finish, or give another --study DIR") from None
        yield
    finally:
        os.close(fd)


def objective_metric(task: TaskKind, metric: str | None) -> str:
    """The metric a study optimises for a first target of ``task``: ``metric`` if it is one of the task's."""
    valid = _METRICS["regression" if task is TaskKind.REGRESSION else "classification"]
    if metric is None:
        return valid[0]
    if metric not in valid:
        raise ValueError(f"metric {metric!r} is not computed for a {task.value} target; valid: {', '.join(valid)}")
    return metric


def table_digest(frame: pd.DataFrame) -> str:
    """A hash of the table's cells and column names (the files it names are not read)."""
    import hashlib

    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def study_fingerprint(frame: pd.DataFrame, config: FitConfig, space: Mapping[str, Dimension],
                      metric: str) -> dict[str, Any]:
    """What a resumed study must share with the stored one (as JSON: it is stored in the study's user attrs)."""
    resolved = config.model_dump(mode="json")
    for name in _NOT_FINGERPRINTED:
        resolved["train"].pop(name, None)
    fingerprint = {"table": table_digest(frame), "config": resolved, "space": space_record(space), "metric": metric}
    return json.loads(json.dumps(fingerprint))


def check_fingerprint(stored: Mapping[str, Any] | None, current: Mapping[str, Any], directory: Path) -> None:
    if stored is None:
        raise ResumeError(f"{directory / STUDY_DB} holds no polymodal study; give a new --study DIR")
    if stored == current:
        return
    what = [name for name, label in (("table", "table"), ("space", "search space"), ("metric", "metric"))
            if stored.get(name) != current.get(name)]
    config_a, config_b = stored.get("config", {}), current.get("config", {})
    changed = sorted(f"{s}.{k}" for s in {*config_a, *config_b}
                     for k in {*config_a.get(s, {}), *config_b.get(s, {})}
                     if config_a.get(s, {}).get(k) != config_b.get(s, {}).get(k))
    labels = [{"space": "search space"}.get(w, w) for w in what]
    if changed:
        labels.append(f"base config ({', '.join(changed[:8])} differ{'s' if len(changed) == 1 else ''})")
    raise ResumeError(f"the study in {directory} was made for a different {' and '.join(labels)}; rerun with "
                      "the table and options it was made with, or give a new --study DIR")


def _device_count(devices: int | str) -> int | None:
    """How many devices ``devices`` names (None: as many as there are, e.g. ``-1`` or ``auto``)."""
    text = str(devices).strip().strip("[]")
    if text.lstrip("-").isdigit():
        return None if int(text) < 0 else int(text)
    if "," in text:
        return len([d for d in text.split(",") if d.strip()])
    return None


def check_single_process(config: FitConfig) -> None:
    """Trials run one after another in this process: refuse a config that trains on several processes."""
    train = config.train
    count = _device_count(train.devices)
    if train.num_nodes > 1 or (count != 1 and not (count is None and train.accelerator == "cpu")):
        raise ValueError(f"tune trains each trial in this process, on one device: give --devices 1 (or one device "
                         f"index, e.g. --devices 0,), not {train.devices!r}"
                         + (f" on {train.num_nodes} nodes" if train.num_nodes > 1 else ""))


def make_pruner(pruner: Any) -> Any:
    """An Optuna pruner: ``median`` (default), ``hyperband``, ``none``, or a pruner object."""
    import optuna

    if not isinstance(pruner, str):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if pruner == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {pruner!r}; valid: {', '.join(PRUNERS)}")


def _finished(trial: Any) -> bool:
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state is TrialState.FAIL and not trial.user_attrs.get("interrupted"))


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, epochs, seconds, then each parameter (blank where undrawn)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = t.duration.total_seconds() if t.duration is not None else None
        state = "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower()
        row: dict[str, Any] = {"trial": t.number, "state": state, "value": t.value,
                               "epochs": t.user_attrs.get("epochs"), "seconds": seconds,
                               "base": bool(t.user_attrs.get("base"))}
        if t.state.name == "PRUNED" and t.intermediate_values:
            row["pruned_at_epoch"] = max(t.intermediate_values)
            row["epochs"] = row["pruned_at_epoch"] + 1  # epochs count from 1, the pruner's steps from 0
        row.update(t.params)
        if t.user_attrs.get("error"):
            row["error"] = t.user_attrs["error"]
        rows.append(row)
    return rows


def write_trials_csv(study: Any, directory: Path) -> Path:
    path = directory / TRIALS_CSV
    frame = pd.DataFrame(trial_rows(study))
    for column in ("epochs", "pruned_at_epoch"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")  # whole numbers, blank where there is none
    atomic_write_text(path, frame.to_csv(index=False))
    return path


@dataclass
class _Study:
    """Everything a trial needs: the table, the base config, the space and where the best goes."""

    table: Any
    config: FitConfig
    space: dict[str, Dimension]
    kinds: dict[str, str]
    target: str
    metric: str
    out: Path
    deadline: float | None
    callbacks_for: Callable[[Any], list[Any]]

    def trial_config(self, trial: Any) -> FitConfig:
        params = {} if trial.user_attrs.get("base") else suggest(trial, self.space, self.config.model.fusion)
        # no progress bar: tune prints a line per trial
        config = with_options(apply_params(self.config, params, self.kinds), {"progress": False})
        if self.deadline is not None:
            left = max(self.deadline - time.monotonic(), 1.0)
            limit = min(left, config.train.time_limit or math.inf)
            config = with_options(config, {"time_limit": limit})
        return config

    def objective(self, trial: Any) -> float:
        import optuna

        config = self.trial_config(trial)
        run_dir = Path(tempfile.mkdtemp(prefix="polymodal-trial-"))  # the trial's log and checkpoints
        try:
            predictor = fit(self.table, config, run_dir=run_dir, callbacks=self.callbacks_for(trial))
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except (PolymodalError, ValueError, RuntimeError) as exc:
            if trial.user_attrs.get("base"):
                raise  # the user's own config: their error, shown as it is
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise TrialFailed(str(exc)) from exc
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        trial.set_user_attr("epochs", predictor.metrics["train"]["epochs_run"])
        value = float(predictor.metrics["validation"][self.target][self.metric])
        if not math.isfinite(value):
            raise TrialFailed(f"validation {self.metric} is {value}")
        # the bundle's config repeats the trial, without the study's budget and display settings
        base = {"time_limit": self.config.train.time_limit, "progress": self.config.train.progress}
        predictor.config = predictor.config.model_copy(update={"train": predictor.config.train.model_copy(update=base)})
        trial.set_user_attr("config", predictor.config.model_dump(mode="json"))
        if _improves(trial.study, value):
            predictor.save(self.out)
            trial.study.set_user_attr("best_bundle", {"trial": trial.number, "path": str(self.out)})
        return value


def _improves(study: Any, value: float) -> bool:
    try:
        best = study.best_value
    except ValueError:  # no complete trial yet
        return True
    return value > best if study.direction.name == "MAXIMIZE" else value < best


def tune(table: TableLike, config: FitConfig, *, trials: int, study: str | Path, time_limit: float | None = None,
         out: str | Path | None = None, search: Mapping[str, Any] | None = None, metric: str | None = None,
         pruner: Any = "median", on_trial: Callable[[dict[str, Any]], None] | None = None,
         on_finish: Callable[[Any, Path], None] | None = None) -> TuneResult:
    """Search configs of ``fit`` for ``table``; see the module docstring for the files in ``study``.

    ``config`` is the base config (its set options are fixed; the others are searched as ``search`` says,
    see :func:`~polymodal.engine.search_space.resolve_space`); ``trials`` the number of finished trials the
    study should hold; ``out`` the best bundle (default ``study/best``); ``pruner`` ``median``,
    ``hyperband``, ``none`` or an Optuna pruner. ``on_trial(row)`` is called after each trial (a row of
    ``trials.csv``); ``on_finish(study, folder)`` once the study ends, stopped or not (e.g. to write the report).
    """
    import optuna
    from optuna_integration import PyTorchLightningPruningCallback

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive number of trials, got {trials!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if not config.data.targets:
        raise ValueError("tune needs at least one target column (--target COL)")
    if config.data.stream:
        raise ValueError("tune does not work with streamed tables (data.stream) yet; tune on a sample of the table")
    check_single_process(config)
    directory = check_study_dir(study, out)
    bundle = Path(out) if out is not None else directory / BEST
    # one data module for every trial: the table is read, loaded and encoded once (the space holds nothing
    # that changes the preprocessing)
    data = TableDataModule(table, config.data, supervised=True, val_fraction=config.train.val_fraction,
                           seed=config.train.seed)
    tbl = data.table
    check_writable_bundle_path(bundle, "supervised", inputs=[tbl.base_dir] + ([table] if isinstance(table, (str, Path))
                                                                             else []))
    schema = data.schema
    kinds = {m.name: m.kind.value for m in schema.modalities}
    first = schema.targets[0]
    metric = objective_metric(first.task, metric)
    space = resolve_space(config, kinds, search)
    fingerprint = study_fingerprint(tbl.frame, config, space, metric)
    direction: Literal["maximize", "minimize"] = "maximize" if higher_is_better(metric) else "minimize"
    start = time.monotonic()
    with _study_lock(directory), _quiet_optuna():
        storage = _open_storage(directory / STUDY_DB)
        names = optuna.get_all_study_names(storage)
        if names and STUDY_NAME not in names:
            raise ResumeError(f"{directory / STUDY_DB} holds no polymodal study; give a new --study DIR")
        study_obj = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=direction,
                                        load_if_exists=True)
        if not names:
            study_obj.set_user_attr("polymodal", fingerprint)
            study_obj.enqueue_trial({}, user_attrs={"base": True})
        check_fingerprint(study_obj.user_attrs.get("polymodal"), fingerprint, directory)
        _mark_interrupted(study_obj, storage)
        done = sum(_finished(t) for t in study_obj.get_trials(deepcopy=False))
        # a resumed study draws new points: the sampler's seed moves on with the trials already run
        sampler = optuna.samplers.TPESampler(seed=config.train.seed + done,
                                             n_startup_trials=min(10, max(3, trials // 4)))
        study_obj = optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=sampler,
                                      pruner=make_pruner(pruner))
        state = _Study(data, config, space, kinds, first.column, metric, bundle,
                       None if time_limit is None else start + time_limit,
                       lambda trial: [PyTorchLightningPruningCallback(trial, monitor=f"val_{first.column}_{metric}")])

        def after_trial(s: Any, trial: Any) -> None:
            write_trials_csv(s, directory)
            if on_trial is not None:
                on_trial(next(r for r in trial_rows(s) if r["trial"] == trial.number))
            if state.deadline is not None and time.monotonic() >= state.deadline:
                s.stop()

        try:
            if trials > done:
                study_obj.optimize(state.objective, n_trials=trials - done, timeout=time_limit,
                                   callbacks=[after_trial], catch=(TrialFailed,))
            best = _best_bundle(study_obj, state)
        finally:
            write_trials_csv(study_obj, directory)
            if on_finish is not None:
                on_finish(study_obj, directory)
        return _result(study_obj, directory, metric, direction, best)


def _best_bundle(study: Any, state: _Study) -> Path | None:
    """The best trial's bundle; refitted from its recorded config when a kill came between the trial and its save."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    saved = study.user_attrs.get("best_bundle", {})
    if saved.get("trial") != best.number or not (state.out / "polymodal.json").exists():
        fit(state.table, FitConfig.model_validate(best.user_attrs["config"]), out=state.out)
        study.set_user_attr("best_bundle", {"trial": best.number, "path": str(state.out)})
    return state.out


def _open_storage(path: Path) -> Any:
    import optuna
    import sqlalchemy.exc

    try:
        return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ResumeError(f"{path} is not an Optuna study database ({type(exc).__name__}); give a new "
                          "--study DIR") from None


def _mark_interrupted(study: Any, storage: Any) -> None:
    """Trials left running by a killed run (the lock says no other run is alive) are failed, ``interrupted``."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # storage API: by trial id
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _result(study: Any, directory: Path, metric: str, direction: str, bundle: Path | None) -> TuneResult:
    rows = trial_rows(study)
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return TuneResult(study_dir=directory, metric=metric, direction=direction,
                      best_trial=None if best is None else best.number,
                      best_value=None if best is None else best.value,
                      best_params={} if best is None else dict(best.params), best_bundle=bundle,
                      finished=sum(_finished(t) for t in study.get_trials(deepcopy=False)), trials=rows)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's own per-trial log lines off (tune prints its own), restored after."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


__all__ = ["BEST", "PRUNERS", "REPORT", "STUDY_DB", "TRIALS_CSV", "TuneResult", "check_study_dir", "trial_rows",
           "tune"]
