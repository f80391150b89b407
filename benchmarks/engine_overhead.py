"""What polymodal's training engine costs over a plain PyTorch loop on the very same model and data.

For each table, ``polymodal.engine.fit.fit`` builds the model, the preprocessed tensors and the training
config exactly as ``polymodal fit`` would (medium preset); the script captures them at the call to
``train()`` and then times, from the same initial weights:

* **plain loop**: the same loaders (``make_loader``: same batch size, seed, collate), the same loss
  (the module's ``MultiTaskLoss`` and the model's extra loss terms), the same AdamW
  (``configure_optimizers``); each epoch a training pass, then the validation loss over the
  validation loader, keeping a copy of the best weights;
* **train()**: ``polymodal.engine.trainer.train`` with the progress bar off (as the demo and the
  benchmarks run it): on one CPU process that is polymodal's own loop (``polymodal.engine.loop``), with
  the per-epoch CSV log, validation metrics, best-weights checkpoint (safetensors), early-stopping
  bookkeeping (patience set above the epochs so both run every epoch);
* **train() without validation metrics** (their update and compute replaced by nothing), to split the
  overhead;
* **train() with the progress bar** (the CLI default), to show what the bar costs;
* **train() with a resume checkpoint** (what ``--run-dir`` adds: model, optimiser, best weights and every
  random generator written as safetensors + JSON at each epoch end);
* **train() on Lightning** (``loop="lightning"``: the engine before polymodal's own loop, and still
  the one for devices, several processes and mixed precision).

Both run with a constant learning rate (no schedule) for a fixed number of epochs; rounds are
interleaved (plain, train, train+bar, plain, ...) and each figure is the best of the rounds; torch and
BLAS are limited to 1 and then 2 threads. Tables: the embedded demo table (two-view digits) and a
seeded subsample of AV-digits (MNIST image + FSDD audio; pass the folder ``polymodal datasets build
avdigits`` wrote).

Run from the repository root::

    python benchmarks/engine_overhead.py --avdigits /tmp/avdigits [--rows 600] [--epochs 5]

Writes ``benchmarks/results/engine_overhead.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from threadpoolctl import threadpool_limits

import polymodal.engine.fit as fit_module
from polymodal.bench.docs import write_benchmarks_doc
from polymodal.config import DataConfig, FitConfig, TrainConfig
from polymodal.data.module import make_loader
from polymodal.demo import demo_table
from polymodal.engine.trainer import train
from polymodal.storage.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
THREADS = (1, 2)


def capture(table: Path, target: str) -> dict[str, Any]:
    """The module (initial weights), train / validation tensors and train config ``fit`` hands to ``train``."""
    captured: dict[str, Any] = {}
    real = fit_module.train_on

    def spy(module: Any, data: Any, config: TrainConfig, work: Path, **kwargs: Any) -> Any:
        captured.update(module=copy.deepcopy(module), train=data.split("train"), val=data.split("val"), config=config)
        return real(module, data, config.model_copy(update={"epochs": 1}), work, **kwargs)

    config = FitConfig(
        data=DataConfig(targets=[target], split_column="split"),
        train=TrainConfig(progress=False, baseline=False),
    )
    fit_module.train_on = spy  # type: ignore[assignment]
    try:
        fit_module.fit(str(table), config)
    finally:
        fit_module.train_on = real  # type: ignore[assignment]
    return captured


def plain_loop(module: Any, train_data: Any, val_data: Any, config: TrainConfig) -> float:
    """The hand-written loop: train, validate, keep the best weights; returns the best validation loss."""
    torch.manual_seed(config.seed)
    train_loader = make_loader(train_data, config, True, drop_last=config.drop_last)
    val_loader = make_loader(val_data, config, False)
    model, optimizer = module.model, module.configure_optimizers()
    best, best_state = math.inf, None
    for _ in range(config.epochs):
        model.train()
        for inputs, masks, targets in train_loader:
            optimizer.zero_grad(set_to_none=True)
            logits, extras = model.training_outputs(inputs, masks, targets, module.tasks)
            loss = module.loss(logits, targets, module.label_smoothing).total + sum(extras.values())
            loss.backward()
            optimizer.step()
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for inputs, masks, targets in val_loader:
                size = next(iter(masks.values())).shape[0]
                total += float(module.loss(model(inputs, masks), targets).total) * size
                count += size
        if total / count < best:
            best, best_state = total / count, {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert best_state is not None
    return best


def contestants(captured: dict[str, Any], epochs: int) -> dict[str, Callable[[], Any]]:
    config = captured["config"].model_copy(
        # the weight average (medium's) is left out: the plain loop has none, and it is a recipe, not overhead
        update={"epochs": epochs, "patience": epochs + 1, "lr_schedule": "constant", "warmup_epochs": 0.0,
                "ema_decay": None, "progress": False}
    )
    with_bar = config.model_copy(update={"progress": True})
    fresh = lambda: copy.deepcopy(captured["module"])  # noqa: E731

    def polymodal_train(cfg: TrainConfig, metrics: bool = True, fingerprint: dict | None = None) -> Callable[[], Any]:
        def run() -> Any:
            module = fresh()
            if not metrics:
                module.val_metrics = torch.nn.ModuleDict({name: NoMetrics() for name in module.val_metrics})
            with tempfile.TemporaryDirectory() as work:
                return train(module, captured["train"], captured["val"], cfg, Path(work), fingerprint=fingerprint)
        return run

    return {
        "plain": lambda: plain_loop(fresh(), captured["train"], captured["val"], config),
        "train": polymodal_train(config),
        "train_no_metrics": polymodal_train(config, metrics=False),
        "train_progress_bar": polymodal_train(with_bar),
        "train_resume": polymodal_train(config, fingerprint={"benchmark": "engine_overhead"}),
        "train_lightning": polymodal_train(config.model_copy(update={"loop": "lightning"})),
    }


class NoMetrics(torch.nn.Module):
    """Stands in for a task's metric collection: updates nothing, computes nothing."""

    def update(self, *args: Any) -> None:
        return None

    def compute(self) -> dict[str, Any]:
        return {}

    def reset(self) -> None:
        return None


def best_of(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    best = dict.fromkeys(runs, math.inf)
    for _ in range(rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def subsample_avdigits(folder: Path, rows: int, seed: int = 0) -> Path:
    """A seeded subsample of ``rows`` rows of the AV-digits table, written beside it (paths stay valid)."""
    frame = pd.read_csv(folder / "avdigits.csv")
    frame = frame.sample(n=min(rows, len(frame)), random_state=seed).sort_index()
    path = folder / f"avdigits_{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def run(avdigits: Path | None, rows: int, epochs: int, rounds: int) -> dict[str, Any]:
    tables: list[tuple[str, Path, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="engine-overhead-"))
    tables.append(("demo (two-view digits)", demo_table(tmp, seed=0), "digit"))
    if avdigits is not None:
        tables.append((f"AV-digits ({rows} rows)", subsample_avdigits(avdigits, rows), "digit"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "epochs": epochs, "rounds": rounds, "load_before": os.getloadavg(), "rows": [],
    }
    for name, table, target in tables:
        captured = capture(table, target)
        if not results["rows"]:
            results["profile_demo"] = profile_train(captured, epochs)
        params = sum(p.numel() for p in captured["module"].model.parameters())
        steps = math.ceil(len(captured["train"]) / captured["config"].batch_size)
        for threads in THREADS:
            torch.set_num_threads(threads)
            with threadpool_limits(limits=threads):
                best = best_of(contestants(captured, epochs), rounds)
            row = {
                "table": name, "threads": threads, "parameters": params, "train_rows": len(captured["train"]),
                "val_rows": len(captured["val"]), "batch_size": captured["config"].batch_size,
                "steps_per_epoch": steps, "seconds": best, "load": os.getloadavg(),
                "train_over_plain": best["train"] / best["plain"],
                "bar_over_plain": best["train_progress_bar"] / best["plain"],
                "resume_over_plain": best["train_resume"] / best["plain"],
                "lightning_over_plain": best["train_lightning"] / best["plain"],
                "overhead_ms_per_epoch": 1000 * (best["train"] - best["plain"]) / epochs,
                # the overhead split: the validation metrics, and the rest of the loop (log, best weights, ...)
                "ms_per_epoch": {
                    "validation_metrics": 1000 * (best["train"] - best["train_no_metrics"]) / epochs,
                    "loop_log_best_weights": 1000 * (best["train_no_metrics"] - best["plain"]) / epochs,
                    "resume_checkpoint": 1000 * (best["train_resume"] - best["train"]) / epochs,
                    "lightning_over_own_loop": 1000 * (best["train_lightning"] - best["train"]) / epochs,
                },
            }
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    results["load_after"] = os.getloadavg()
    return results


def _load(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def to_markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Training engine overhead: polymodal `train()` against a plain PyTorch loop",
        "",
        f"{r['machine']['cpus']} CPUs ({r['machine']['platform']}), torch {r['machine']['torch']}. Written by "
        "`benchmarks/engine_overhead.py`.",
        "",
        "How it was measured: `polymodal.engine.fit.fit` builds the model, tensors and config of a medium-preset "
        "fit; from the same initial weights, the plain loop (same loaders, loss, AdamW; validation loss and "
        "a copy of the best weights every epoch) and `train()` (on one CPU process polymodal's own loop, "
        "`polymodal.engine.loop`: CSV log, validation metrics, best-weights safetensors checkpoint, "
        "early-stopping bookkeeping; no resume checkpoint, as a fit without `--run-dir`) each run "
        f"{r['epochs']} epochs at a constant learning rate; beside them `train()` without the validation "
        "metrics, with the progress bar, with a resume checkpoint written every epoch (`--run-dir`), and on "
        "Lightning (`loop='lightning'`). Rounds interleaved (plain, train, ..., plain, ...), best of "
        f"{r['rounds']}; torch.set_num_threads and threadpoolctl set the "
        f"threads. This machine is shared: load average (1, 5, 15 min) before {_load(r['load_before'])}, "
        f"after {_load(r['load_after'])}, and at each row.",
        "",
        "| table | threads | parameters | train / val rows | steps per epoch | plain loop (s) | train() (s) | "
        "train() / plain | overhead per epoch (ms) | with progress bar (s) | / plain | with resume checkpoint (s) "
        "| / plain | on Lightning (s) | / plain | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["rows"]:
        s = row["seconds"]
        lines.append(
            f"| {row['table']} | {row['threads']} | {row['parameters']:,} | {row['train_rows']} / {row['val_rows']} "
            f"| {row['steps_per_epoch']} | {s['plain']:.2f} | {s['train']:.2f} | **{row['train_over_plain']:.2f}x** "
            f"| {row['overhead_ms_per_epoch']:.0f} | {s['train_progress_bar']:.2f} | {row['bar_over_plain']:.2f}x "
            f"| {s['train_resume']:.2f} | {row['resume_over_plain']:.2f}x | {s['train_lightning']:.2f} "
            f"| {row['lightning_over_plain']:.2f}x | {_load(row['load'])} |"
        )
    lines += [
        "",
        "## What the overhead is made of",
        "",
        "Milliseconds per epoch, from the same rounds: the validation metrics (torchmetrics accuracy, "
        "macro-F1, exact AUROC: `train()` minus `train()` without them), the rest of polymodal's loop (CSV "
        "log, best-weights copy and safetensors file, early stopping, the run's set-up: without metrics "
        "minus the plain loop), their total; then what a resume checkpoint adds per epoch, and what "
        "Lightning's loop costs over polymodal's.",
        "",
        "| table | threads | validation metrics | loop, log, best weights | total | resume checkpoint "
        "| Lightning over own loop |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        ms = row["ms_per_epoch"]
        lines.append(
            f"| {row['table']} | {row['threads']} | {ms['validation_metrics']:.1f} | {ms['loop_log_best_weights']:.1f} "
            f"| {row['overhead_ms_per_epoch']:.1f} | {ms['resume_checkpoint']:.1f} "
            f"| {ms['lightning_over_own_loop']:.1f} |"
        )
    lines += [
        "",
        "## Where `train()` spends its time (cProfile, demo table, 1 thread, own time)",
        "",
        "```",
        r.get("profile_demo", "").rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def profile_train(captured: dict[str, Any], epochs: int, top: int = 15) -> str:
    """cProfile of one ``train()`` run (1 thread): the functions with the most own time, as text."""
    import cProfile
    import io
    import pstats

    run = contestants(captured, epochs)["train"]
    torch.set_num_threads(1)
    profiler = cProfile.Profile()
    with threadpool_limits(limits=1):
        profiler.enable()
        run()
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    body = out.getvalue()
    return body[body.index("ncalls"):] if "ncalls" in body else body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avdigits", type=Path, help="the folder `polymodal datasets build avdigits` wrote")
    parser.add_argument("--rows", type=int, default=600, help="rows of AV-digits to subsample (seeded)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="print only, write nothing")
    args = parser.parse_args()
    results = run(args.avdigits, args.rows, args.epochs, args.rounds)
    markdown = to_markdown(results)
    if args.quick:
        print(markdown)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "engine_overhead.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(RESULTS / "engine_overhead.md", markdown)
    write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    print(markdown)


if __name__ == "__main__":
    main()
