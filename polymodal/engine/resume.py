"""Resuming training after a crash: an end-of-epoch checkpoint written without pickle, and its restore.

At the end of every epoch :class:`ResumeCheckpoint` writes ``run_dir/resume/`` atomically (see
:mod:`polymodal.engine.state_files`): model and optimizer state, the state of the callbacks that
decide what is kept and when to stop (best weights, early stopping), the epoch and step counters, and
every random number generator that training draws from (torch, CUDA, NumPy, Python, and the
DataLoader's shuffle generator). Restoring all of it at the start of training makes a resumed run
continue exactly where the killed one stopped: on the CPU its results equal those of an uninterrupted run.

The checkpoint also records a fingerprint of the run (the resolved config and the rows of each split);
resuming with a different one is a :class:`~polymodal.errors.ResumeError` that lists what differs.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.loggers import CSVLogger

from polymodal.engine.state_files import load_state, read_state_json, save_state, state_exists
from polymodal.errors import PolymodalWarning, ResumeError

RESUME_DIR = "resume"
FORMAT_VERSION = 1
METRICS_FILE = "metrics.csv"
METRICS_ASIDE = ".metrics.before-resume.csv"
ENGINE = "lightning"  # which loop wrote a checkpoint (polymodal.engine.loop writes "polymodal")


def load_resume_state(directory: Path, fingerprint: Mapping[str, Any], engine: str = ENGINE) -> dict[str, Any] | None:
    """The checkpoint in ``directory`` if there is one and it belongs to this run, written by the ``engine``
    that trains it (a checkpoint without the tag is Lightning's); ``None`` (with a warning) when there is
    none; :class:`ResumeError` when it was written by a different run or by the other training loop."""
    if not state_exists(directory):
        warnings.warn(f"resume: no checkpoint in {directory}; starting from the first epoch", PolymodalWarning,
                      stacklevel=2)
        return None
    meta = read_state_json(directory)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ResumeError(f"the checkpoint in {directory} has format {meta.get('format_version')}; this polymodal "
                          f"reads format {FORMAT_VERSION}. Start afresh without --resume or in another --run-dir")
    differences = describe_differences(meta.get("fingerprint", {}), fingerprint)
    if differences:
        raise ResumeError(
            f"cannot resume from {directory}: this run differs from the checkpoint's:\n"
            + "\n".join(f"  - {d}" for d in differences)
            + "\nresume with the same configuration and table, or start afresh in another --run-dir")
    written = meta.get("engine", ENGINE)
    if written != engine:
        raise ResumeError(f"the checkpoint in {directory} was written by another training engine ({written}'s "
                          f"loop; this run trains on {engine}'s): resume with the same devices and options, or "
                          "start afresh")
    state: dict[str, Any] = load_state(directory)
    return state


def describe_differences(saved: Any, current: Any, where: str = "") -> list[str]:
    """Every leaf where two nested JSON-like values differ, as ``path: checkpoint has X, this run has Y``."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(saved) | set(current)):
            name = f"{where}.{key}" if where else str(key)
            if key not in saved:
                out.append(f"{name}: not in the checkpoint, this run has {current[key]!r}")
            elif key not in current:
                out.append(f"{name}: checkpoint has {saved[key]!r}, this run has none")
            else:
                out.extend(describe_differences(saved[key], current[key], name))
        return out
    return [] if saved == current else [f"{where}: checkpoint has {saved!r}, this run has {current!r}"]


def capture_rng(generators: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """The state of every random number generator training draws from."""
    # NumPy's legacy global generator is the one seed_everything seeds and libraries draw from
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": [int(k) for k in keys], "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "generators": {key: gen.get_state() for key, gen in generators.items()},
    }


def restore_rng(state: Mapping[str, Any], generators: Mapping[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    keys = np.asarray(np_state["keys"], dtype=np.uint32)
    legacy = (np_state["name"], keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"])
    np.random.set_state(legacy)  # noqa: NPY002
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    for key, gen in generators.items():
        gen.set_state(state["generators"][key])


def set_log_aside(log_dir: Path, epochs_done: int) -> list[dict[str, str]]:
    """Move the CSV log of the killed run aside (Lightning's CSV logger deletes ``metrics.csv`` when it
    starts) and return its rows for the ``epochs_done`` completed epochs; the resumed run writes them
    back before its first epoch and then removes the copy. Safe to call from every process."""
    log, aside = log_dir / METRICS_FILE, log_dir / METRICS_ASIDE
    if log.exists() and not aside.exists():
        with contextlib.suppress(FileNotFoundError):  # another process of the run moved it first
            os.replace(log, aside)
    return log_rows(aside, epochs_done)


def log_rows(path: Path, epochs_done: int) -> list[dict[str, str]]:
    """The rows of the CSV log ``path`` for its first ``epochs_done`` epochs, empty cells left out (none when
    there is no log)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(fh) if int(float(row["epoch"])) < epochs_done]


class ResumeCheckpoint(Checkpoint):
    """Writes the resume checkpoint at every epoch end; given a loaded ``state``, restores it when
    training starts and carries the earlier epochs' rows of the CSV log over.

    A :class:`~lightning.pytorch.callbacks.Checkpoint` so that Lightning runs it after early stopping
    has decided about the epoch. Only global rank 0 writes; every rank restores from the same state.
    """

    def __init__(self, directory: Path, fingerprint: Mapping[str, Any], generators: Mapping[str, torch.Generator],
                 stateful: Sequence[Callback], state: Mapping[str, Any] | None = None,
                 old_rows: Sequence[Mapping[str, str]] = ()) -> None:
        self.directory = Path(directory)
        self.fingerprint = dict(fingerprint)
        self.generators = dict(generators)
        self.stateful = list(stateful)
        self.state = state
        self.old_rows = [dict(row) for row in old_rows]

    @classmethod
    def for_run(cls, directory: Path, log_dir: Path, fingerprint: Mapping[str, Any],
                generators: Mapping[str, torch.Generator], stateful: Sequence[Callback],
                resume: bool) -> ResumeCheckpoint:
        """The callback of a run: with ``resume``, loaded from ``directory`` (when there is a checkpoint)
        and holding the earlier rows of the CSV log in ``log_dir``."""
        state = load_resume_state(directory, fingerprint) if resume else None
        old_rows = set_log_aside(log_dir, int(state["epoch"]) + 1) if state is not None else []
        return cls(directory, fingerprint, generators, stateful, state, old_rows)

    @property
    def start_epoch(self) -> int:
        """How many epochs the restored checkpoint had completed (0 when starting afresh)."""
        return 0 if self.state is None else int(self.state["epoch"]) + 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            save_state(self.directory, self._collect(trainer, pl_module))
        trainer.strategy.barrier("polymodal-resume-checkpoint")

    def _collect(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        epoch_loop = trainer.fit_loop.epoch_loop
        return {
            "format_version": FORMAT_VERSION,
            "engine": ENGINE,
            "fingerprint": self.fingerprint,
            "epoch": trainer.current_epoch,
            "should_stop": bool(trainer.should_stop),
            "batches_that_stepped": epoch_loop._batches_that_stepped,
            "batch_progress": epoch_loop.batch_progress.total.state_dict(),
            "optim_progress": epoch_loop.automatic_optimization.optim_progress.state_dict(),
            "model": pl_module.state_dict(),
            "optimizers": [opt.state_dict() for opt in trainer.optimizers],
            "schedulers": [cfg.scheduler.state_dict() for cfg in trainer.lr_scheduler_configs],
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.stateful},
            "rng": capture_rng(self.generators),
        }

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.state is None:
            return
        state = self.state
        pl_module.load_state_dict(state["model"])
        for optimizer, saved in zip(trainer.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for cfg, saved in zip(trainer.lr_scheduler_configs, state["schedulers"], strict=True):
            cfg.scheduler.load_state_dict(saved)
        for cb in self.stateful:
            cb.load_state_dict(state["callbacks"][cb.state_key])
        self._restore_counters(trainer, state)
        if trainer.is_global_zero and isinstance(trainer.logger, CSVLogger):
            self._write_old_rows(trainer.logger)
        restore_rng(state["rng"], self.generators)

    def _restore_counters(self, trainer: L.Trainer, state: Mapping[str, Any]) -> None:
        completed = self.start_epoch
        progress = trainer.fit_loop.epoch_progress
        for tracker in (progress.total, progress.current):
            tracker.load_state_dict({"ready": completed, "started": completed, "processed": completed,
                                     "completed": completed})
        epoch_loop = trainer.fit_loop.epoch_loop
        epoch_loop._batches_that_stepped = int(state["batches_that_stepped"])
        epoch_loop.batch_progress.total.load_state_dict(dict(state["batch_progress"]))
        epoch_loop.automatic_optimization.optim_progress.load_state_dict(dict(state["optim_progress"]))
        trainer.should_stop = bool(state["should_stop"])

    def _write_old_rows(self, logger: CSVLogger) -> None:
        writer = logger.experiment
        writer.metrics[:0] = self.old_rows
        logger.save()
        (Path(logger.log_dir) / METRICS_ASIDE).unlink(missing_ok=True)
