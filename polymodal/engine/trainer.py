"""Training: seeded, early-stopped, best weights kept, per-epoch CSV log; on PyTorch Lightning, or in polymodal's
own loop for a single-process CPU run (:mod:`polymodal.engine.loop`, chosen by ``config.loop``)."""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from polymodal.config import TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.module import DataModule, make_loader
from polymodal.engine.loop import own_loop_applies, run_loop
from polymodal.engine.resume import RESUME_DIR, ResumeCheckpoint
from polymodal.engine.schedule import LearningRateSchedule
from polymodal.engine.weight_average import WeightAverage
from polymodal.storage.atomic import atomic_write_with


class BestWeights(Callback):
    """Keeps the weights of the epoch with the lowest monitored value in memory, restores them when training
    ends (unless ``restore`` is False), and writes them to ``path`` as safetensors (no pickle) once, when
    training ends or is interrupted: a file written at every better epoch cost a synchronised write each
    epoch (with a weight average most epochs are better), and a run cut off mid-way keeps its best
    weights in the resume checkpoint."""

    def __init__(self, monitor: str = "val_loss", path: Path | None = None, restore: bool = True) -> None:
        self.monitor, self.path, self.restore = monitor, path, restore
        self.best = math.inf
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def observe(self, value: float, epoch: int, module: torch.nn.Module) -> None:
        """Keep ``module``'s weights when ``value`` is below the best so far."""
        if not value < self.best:
            return
        self.best, self.best_epoch = float(value), epoch
        self.state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def save(self) -> None:
        """The best weights so far to ``path`` (call on one process only)."""
        if self.path is not None and self.state is not None:
            state = {k: v.contiguous() for k, v in self.state.items()}
            atomic_write_with(self.path, lambda tmp: save_file(state, str(tmp)))

    def finish(self, module: torch.nn.Module) -> None:
        """Training is over: write the best weights, and put them into ``module`` unless ``restore`` is False."""
        self.save()
        if self.state is not None and self.restore:
            module.load_state_dict(self.state)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None:
            self.observe(float(value), trainer.current_epoch, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.finish(pl_module)
        elif self.state is not None and self.restore:
            pl_module.load_state_dict(self.state)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.is_global_zero:
            self.save()

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.best_epoch = float(state_dict["best"]), int(state_dict["best_epoch"])
        self.state = state_dict["state"]


@dataclass
class TrainResult:
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    samples_per_second: float
    history: list[dict[str, Any]] = field(default_factory=list)
    log_path: str | None = None
    resumed_after_epochs: int | None = None  # epochs the restored checkpoint had done; this run trained the rest
    global_rank: int = 0
    time_limit_reached: bool = False
    trainable_parameters: int | None = None  # of the model (frozen parts left out); None when not counted


def read_history(path: Path) -> list[dict[str, Any]]:
    """The CSV log merged into one row per epoch."""
    if not path.exists():
        return []
    rows: dict[int, dict[str, Any]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            epoch = int(float(row["epoch"]))
            merged = rows.setdefault(epoch, {"epoch": epoch})
            merged.update({k: float(v) for k, v in row.items() if v not in ("", None) and k not in ("epoch", "step")})
    return [rows[e] for e in sorted(rows)]


BANNER = ("GPU available", "TPU available", "HPU available", "IPU available", "💡 Tip")


class _DropBanner(logging.Filter):
    """Drops Lightning's device banner and its tips (e.g. to install litlogger or litmodels)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(BANNER) or "litlogger" in message.lower() or "litmodels" in message.lower())


@contextlib.contextmanager
def _quiet_lightning(verbose: bool, single: bool) -> Iterator[None]:
    """Unless ``verbose``, keep Lightning's banner (devices available, tips) out of polymodal's output; in a
    single-process run every other informational line too ("`Trainer.fit` stopped ..."), while a multi-process
    run keeps its distributed set-up lines. Warnings and errors always show."""
    if verbose:
        yield
        return
    banner = _DropBanner()
    sources = [logging.getLogger(f"lightning.{package}.utilities.rank_zero") for package in ("pytorch", "fabric")]
    names = ("lightning.pytorch", "lightning.fabric", "lightning") if single else ()
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in sources:
        lg.addFilter(banner)
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*(GPU|TPU|HPU) available but not used.*")
            yield
    finally:
        for lg in sources:
            lg.removeFilter(banner)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def train(module: L.LightningModule, train_data: EncodedData, val_data: EncodedData, config: TrainConfig,
          run_dir: Path, fingerprint: dict[str, Any] | None = None, resume: bool = False,
          select_best: bool = True, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Fit ``module``; the best epoch's weights are restored at the end. With ``config.drop_last`` the last
    training batch of an epoch is left out when it is incomplete (the validation batches never are).
    ``callbacks`` are extra Lightning callbacks (e.g. a tuning study's pruner), run after polymodal's own.

    ``select_best=False`` (for losses that do not measure quality, as a GAN's) trains every epoch without
    early stopping and keeps the last weights; the best validation loss is still reported.

    With ``config.ema_decay`` the model validated, kept and returned is the exponential moving average of the
    weights (:class:`~polymodal.engine.weight_average.WeightAverage`); the optimiser steps the raw weights.

    With a ``fingerprint`` (what identifies the run: config, data) a resume checkpoint is written to
    ``run_dir/resume`` at every epoch end; ``resume=True`` continues from it (or starts afresh, with a
    warning, when there is none).
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    # only training batches are dropped: validation scores every sample
    train_loader = make_loader(train_data, config, True, drop_last=config.drop_last)
    val_loader = make_loader(val_data, config, False)
    return train_loaders(module, train_loader, val_loader, config, run_dir, fingerprint, resume,
                         n_train=len(train_data), select_best=select_best, callbacks=callbacks)


def train_on(module: L.LightningModule, data: DataModule, config: TrainConfig, run_dir: Path,
             fingerprint: dict[str, Any] | None = None, resume: bool = False, select_best: bool = True,
             callbacks: Sequence[Callback] = ()) -> TrainResult:
    """:func:`train` on the batches of a set-up :class:`~polymodal.data.module.DataModule` (in memory or
    streamed: the training code only asks it for its loaders)."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    return train_loaders(module, data.train_dataloader(config), data.val_dataloader(config), config, run_dir,
                         fingerprint, resume, n_train=data.rows_per_epoch, select_best=select_best,
                         callbacks=callbacks)


class DatasetEpoch(Callback):
    """Tells a dataset that shuffles by epoch (a stream's ``set_epoch``) which epoch starts, so that a resumed
    run draws the batches of an uninterrupted one."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.dataset.set_epoch(trainer.current_epoch)


class SampleCounter(Callback):
    """Counts the training samples seen (for data whose length is unknown before a pass, e.g. a stream)."""

    def __init__(self) -> None:
        self.samples = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.samples += len(next(iter(batch[1].values())))


def train_loaders(module: L.LightningModule, train_loader: DataLoader, val_loader: DataLoader, config: TrainConfig,
                  run_dir: Path, fingerprint: dict[str, Any] | None = None, resume: bool = False,
                  n_train: int | None = None, select_best: bool = True,
                  callbacks: Sequence[Callback] = ()) -> TrainResult:
    """:func:`train` on ready data loaders (e.g. over a :class:`~polymodal.data.streaming.StreamingDataset`);
    ``n_train`` (training samples per epoch) is counted during training when not given. Resuming needs
    loaders with a seeded ``generator``."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and fingerprint is None:
        raise ValueError("resume=True needs a run fingerprint (polymodal.fit passes one when run_dir is given)")
    best = BestWeights(path=run_dir / "best.safetensors", restore=select_best)
    if own_loop_applies(module, config, len(callbacks)):
        return _result(module, best, run_loop(module, train_loader, val_loader, config, run_dir, best, fingerprint,
                                              resume, select_best, count_samples=n_train is None), config, n_train)
    stopping = EarlyStopping(monitor="val_loss", patience=config.patience, mode="min")
    counter = SampleCounter()
    # after BestWeights: validation sees the average, and BestWeights keeps it before the raw weights come back
    average = [WeightAverage(config.ema_decay)] if config.ema_decay is not None else []
    hooks: list[Callback] = [best, *average, *([stopping] if select_best else []),
                             *([counter] if n_train is None else [])]
    if config.lr_schedule != "constant" or config.warmup_epochs > 0:
        hooks.append(LearningRateSchedule(config.lr_schedule, config.warmup_epochs))
    logger = CSVLogger(save_dir=str(run_dir), name="logs", version="")
    checkpoint = None
    if fingerprint is not None:
        generators = {name: loader.generator for name, loader in (("train", train_loader), ("val", val_loader))
                      if loader.generator is not None}  # a stream's batches follow its epoch, not a generator
        checkpoint = ResumeCheckpoint.for_run(run_dir / RESUME_DIR, Path(logger.log_dir), fingerprint, generators,
                                              [best, stopping, *average], resume)
        hooks.append(checkpoint)
    set_epoch = getattr(train_loader.dataset, "set_epoch", None)
    if callable(set_epoch):
        hooks.append(DatasetEpoch(train_loader.dataset))
        set_epoch(checkpoint.start_epoch if checkpoint is not None else 0)  # the first iterator is made before hooks
    if config.progress:
        hooks.append(RichProgressBar(leave=False, console_kwargs={"stderr": True}))
    hooks.extend(callbacks)
    single = str(config.devices) == "1" and config.num_nodes == 1  # keep the distributed set-up lines
    with warnings.catch_warnings(), _quiet_lightning(config.verbose, single):
        trainer = L.Trainer(
            max_epochs=config.epochs, accelerator=config.accelerator, devices=config.devices,
            num_nodes=config.num_nodes, strategy=config.strategy,
            precision=config.precision,  # type: ignore[arg-type]
            callbacks=hooks, logger=logger, enable_checkpointing=checkpoint is not None,
            enable_progress_bar=config.progress, enable_model_summary=False, deterministic=True,
            num_sanity_val_steps=0, log_every_n_steps=1,
            max_time=None if config.time_limit is None else timedelta(seconds=config.time_limit),
        )
        start = time.perf_counter()
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*is smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*isinstance.treespec, LeafSpec.*")
        warnings.filterwarnings("ignore", ".*Experiment logs directory .* exists and is not empty.*")
        # frozen parts (transferred encoders, frozen backbone blocks) are kept in eval mode on purpose
        warnings.filterwarnings("ignore", r".*module\(s\) in eval mode at the start of training.*")
        trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    resumed = checkpoint.start_epoch if checkpoint is not None and checkpoint.state is not None else None
    outcome = {"epochs": trainer.current_epoch, "seconds": seconds, "samples": counter.samples, "resumed": resumed,
               "log_path": Path(logger.log_dir) / "metrics.csv", "global_rank": trainer.global_rank}
    return _result(module, best, outcome, config, n_train)


def _result(module: L.LightningModule, best: BestWeights, outcome: dict[str, Any], config: TrainConfig,
            n_train: int | None) -> TrainResult:
    """The :class:`TrainResult` of a run from what its engine reports (see :func:`~polymodal.engine.loop.run_loop`)."""
    epochs, seconds, resumed, log_path = outcome["epochs"], outcome["seconds"], outcome["resumed"], outcome["log_path"]
    return TrainResult(
        best_val_loss=best.best, best_epoch=best.best_epoch, epochs_run=epochs, train_seconds=seconds,
        samples_per_second=(outcome["samples"] if n_train is None else n_train * max(epochs - (resumed or 0), 1))
        / max(seconds, 1e-9),
        trainable_parameters=sum(p.numel() for p in getattr(module, "model", module).parameters() if p.requires_grad),
        history=read_history(log_path), log_path=str(log_path), resumed_after_epochs=resumed,
        global_rank=outcome.get("global_rank", 0),
        time_limit_reached=config.time_limit is not None and epochs < config.epochs and seconds >= config.time_limit,
    )
