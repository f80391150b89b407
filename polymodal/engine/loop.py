"""polymodal's own training loop: one process on the CPU, without Lightning's per-step machinery.

On a small model Lightning's loop costs more than the model: its hooks, closures and result collections
took about 18 ms an epoch on the demo table, where the forward and backward passes of a 19-step epoch
take 100 ms (benchmarks/results/engine_overhead.md). For a module that says it can
(``runs_in_own_loop``), a single-process CPU run in 32-bit precision with no extra Lightning callback
goes through :func:`run_loop` instead; everything else (devices, several processes, mixed precision,
a tuning study's pruner) stays on Lightning. Nothing that :func:`~polymodal.engine.trainer.train_loaders`
promises is lost:

* the same module code: ``training_step``, ``validation_step``, the epoch hooks, ``on_after_backward``
  and ``configure_optimizers``; the module records its epoch values through ``record`` (Lightning's
  ``self.log`` on the other path);
* the CSV log ``run_dir/logs/metrics.csv`` (one row per epoch, read by ``read_history``);
* early stopping with Lightning's rule (an epoch improves on a strictly lower ``val_loss``; training
  stops after ``patience`` epochs without one, or at a non-finite one);
* the best weights (kept in memory at every better epoch, restored at the end, written once as
  safetensors, also when training fails), the weight average, the learning-rate schedule;
* the resume checkpoint at every epoch end (safetensors + JSON, every random generator included), so a
  killed run resumes to the result of an uninterrupted one; the time limit; the progress bar.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from polymodal.config import TrainConfig
from polymodal.engine.resume import (
    FORMAT_VERSION,
    METRICS_FILE,
    RESUME_DIR,
    capture_rng,
    load_resume_state,
    log_rows,
    restore_rng,
)
from polymodal.engine.schedule import set_learning_rates
from polymodal.engine.state_files import save_state
from polymodal.engine.weight_average import WeightAverage
from polymodal.storage.atomic import atomic_write_with

ENGINE = "polymodal"  # written into the resume checkpoint: a run resumes on the loop that wrote it


def own_loop_applies(module: Any, config: TrainConfig, extra_callbacks: int) -> bool:
    """Whether :func:`run_loop` can train ``module`` under ``config`` (else Lightning does)."""
    return (config.loop == "auto" and bool(getattr(module, "runs_in_own_loop", False)) and extra_callbacks == 0
            and config.accelerator == "cpu" and str(config.devices) == "1" and config.num_nodes == 1
            and config.strategy == "auto" and str(config.precision) in ("32", "32-true"))


class EarlyStop:
    """Lightning's ``EarlyStopping(monitor="val_loss", mode="min")``: an epoch improves when its value is
    strictly below the best one; ``patience`` epochs without improvement, or a non-finite value, stop."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = math.inf
        self.wait = 0

    def should_stop(self, value: float) -> bool:
        if not math.isfinite(value):
            return True
        if value < self.best:
            self.best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "patience": self.patience}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])


class _Log:
    """The per-epoch CSV log, rewritten atomically after every epoch (a few rows: cheap)."""

    def __init__(self, log_dir: Path, rows: list[dict[str, Any]]) -> None:
        self.path = log_dir / METRICS_FILE
        self.rows = rows

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        columns = ["epoch", "step", *sorted({k for r in self.rows for k in r} - {"epoch", "step"})]

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self.rows)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(self.path, write)


@contextlib.contextmanager
def _progress(enabled: bool, epochs: int, batches: int | None) -> Iterator[Any]:
    """A transient rich progress bar on stderr (an epoch's batches, the last losses), or nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[losses]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        bar.add_task(f"Epoch 0/{epochs - 1}", total=batches, losses="")
        yield bar


def run_loop(module: Any, train_loader: DataLoader, val_loader: DataLoader, config: TrainConfig, run_dir: Path,
             best: Any, fingerprint: Mapping[str, Any] | None, resume: bool, select_best: bool,
             count_samples: bool) -> dict[str, Any]:
    """Train ``module`` (see the module's notes); ``best`` is the run's
    :class:`~polymodal.engine.trainer.BestWeights` (``observe``, ``save``, ``finish``, its state). Returns what
    :class:`~polymodal.engine.trainer.TrainResult` needs: ``epochs`` (completed, Lightning's
    ``current_epoch``), ``seconds``, ``samples`` (when counted), ``resumed`` and ``log_path``."""
    log_dir = run_dir / "logs"
    stopping = EarlyStop(config.patience)
    average = WeightAverage(config.ema_decay) if config.ema_decay is not None else None
    optimizer = module.configure_optimizers()
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("polymodal's loop takes a module whose configure_optimizers returns one optimizer")
    generators = {name: loader.generator for name, loader in (("train", train_loader), ("val", val_loader))
                  if loader.generator is not None}
    state = (load_resume_state(run_dir / RESUME_DIR, fingerprint, ENGINE)
             if resume and fingerprint is not None else None)
    start_epoch, step, stop = 0, 0, False
    if average is not None:
        average.attach(module)
    if state is not None:
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best.load_state_dict(state["callbacks"]["best"])
        stopping.load_state_dict(state["callbacks"]["stopping"])
        if average is not None:
            average.load_state_dict(state["callbacks"]["average"])
        start_epoch, step, stop = int(state["epoch"]) + 1, int(state["step"]), bool(state["should_stop"])
        restore_rng(state["rng"], generators)
    log = _Log(log_dir, log_rows(log_dir / METRICS_FILE, start_epoch) if state is not None else [])
    per_epoch = _length(train_loader)
    warmup = round(config.warmup_epochs * (per_epoch or 1))
    scheduled = config.lr_schedule != "constant" or config.warmup_epochs > 0
    set_epoch = getattr(train_loader.dataset, "set_epoch", None)
    samples, completed = 0, start_epoch
    begin = time.perf_counter()
    limit = config.time_limit
    with _deterministic(), _progress(config.progress, config.epochs, per_epoch) as bar:
        try:
            for epoch in range(start_epoch, config.epochs):
                if stop:
                    break
                module.loop_epoch = epoch
                if callable(set_epoch):
                    set_epoch(epoch)
                module.train()
                module.on_train_epoch_start()
                if bar is not None:
                    bar.reset(0, total=per_epoch, description=f"Epoch {epoch}/{config.epochs - 1}")
                out_of_time = False
                for index, batch in enumerate(_batches(train_loader, per_epoch)):
                    if scheduled:
                        set_learning_rates([optimizer], epoch * (per_epoch or 1) + (index if per_epoch else 0),
                                           config.epochs * (per_epoch or 1), warmup, config.lr_schedule)
                    optimizer.zero_grad(set_to_none=True)
                    loss = module.training_step(batch, index)
                    loss.backward()
                    module.on_after_backward()
                    optimizer.step()
                    step += 1
                    if average is not None:
                        average.update()
                    if count_samples:
                        samples += len(next(iter(batch[1].values())))
                    if bar is not None:
                        bar.advance(0)
                    if limit is not None and time.perf_counter() - begin >= limit:
                        out_of_time = True
                        break
                completed = epoch + 1
                if out_of_time:  # as Lightning's timer: the cut epoch counts, without a validation
                    break
                metrics = _validate(module, val_loader, average)
                val_loss = float(metrics.get("val_loss", math.nan))
                best.observe(val_loss, epoch, module)
                if average is not None:
                    average.swap_out()
                module.train()
                module.on_train_epoch_end()
                metrics.update(module.take_records())
                log.add({"epoch": epoch, "step": step - 1, **metrics})
                if bar is not None:
                    shown = {k: metrics[k] for k in ("val_loss", "train_loss") if k in metrics}
                    bar.update(0, losses="  ".join(f"{k}: {v:.3g}" for k, v in shown.items()))
                stop = (select_best and stopping.should_stop(val_loss)) or (
                    limit is not None and time.perf_counter() - begin >= limit)
                if fingerprint is not None:
                    save_state(run_dir / RESUME_DIR, {
                        "format_version": FORMAT_VERSION, "engine": ENGINE, "fingerprint": dict(fingerprint),
                        "epoch": epoch, "step": step, "should_stop": stop, "model": module.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "callbacks": {"best": best.state_dict(), "stopping": stopping.state_dict(),
                                      "average": average.state_dict() if average is not None else {}},
                        "rng": capture_rng(generators),
                    })
        except BaseException:
            best.save()
            raise
        finally:
            module.loop_epoch = None
    seconds = time.perf_counter() - begin
    if average is not None:
        average.copy_to_module()
    best.finish(module)
    return {"epochs": completed, "seconds": seconds, "samples": samples,
            "resumed": start_epoch if state is not None else None, "log_path": log.path}


def _length(loader: DataLoader) -> int | None:
    """Batches per pass, or None for an iterable of unknown length (a stream)."""
    try:
        return len(loader)
    except TypeError:
        return None


def _batches(loader: DataLoader, length: int | None) -> Iterator[Any]:
    """The loader's batches, ``length`` of them when it is known. Stopping there, as Lightning does, without
    asking for one more: past its last index a shuffling sampler draws its next permutation from the
    loader's generator, which would change the batches of every later epoch."""
    return iter(loader) if length is None else itertools.islice(loader, length)


def _validate(module: Any, loader: DataLoader, average: WeightAverage | None) -> dict[str, float]:
    """One pass over the validation batches on the averaged weights (if any), in inference mode."""
    if average is not None:
        average.swap_in()
    module.eval()
    module.on_validation_epoch_start()
    with torch.inference_mode():
        for index, batch in enumerate(_batches(loader, _length(loader))):
            module.validation_step(batch, index)
        module.on_validation_epoch_end()
    return module.take_records()


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """Deterministic algorithms during the run, as Lightning's ``deterministic=True`` (restored after)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


__all__ = ["EarlyStop", "own_loop_applies", "run_loop"]
