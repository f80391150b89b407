"""Training an ensemble (``model.ensemble``, the ``best`` preset): members one after the other, then stacking.

Every member is trained as a single model would be (its own seed, early stopping on the validation split,
best weights kept, stacking late fusions cross-fitted), in its own folder ``run_dir/member-<i>``. With
``train.time_limit`` the members share the budget: each gets an equal part of what is left when it starts,
and a member that would start with less than :data:`MIN_MEMBER_SECONDS` left is dropped (the resolved
config then lists only the members trained, so ``fit --config`` repeats the run). The meta-model
(:meth:`~polymodal.models.ensemble.EnsembleModel.fit_combiner`) is fitted on the members' predictions for
the validation rows, which none of them trained on; the validation metrics reported for the ensemble are
cross-fitted (each fold of the validation rows scored by a meta-model fitted on the other folds), so that
they are not scored on the rows the meta-model was fitted on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from polymodal.config import FitConfig
from polymodal.data.dataset import EncodedData
from polymodal.engine.stacking import refit_stacking
from polymodal.engine.trainer import TrainResult, train
from polymodal.models.ensemble import EnsembleModel

MIN_MEMBER_SECONDS = 5.0
CROSS_FIT_FOLDS = 5


def member_config(config: FitConfig, index: int, time_limit: float | None) -> FitConfig:
    """The fit config of member ``index`` of ``config.model.ensemble``: its model fields, its seed offset,
    its share of the time budget."""
    member = config.model.ensemble[index]
    train = config.train.model_copy(update={"seed": config.train.seed + member.seed, "time_limit": time_limit})
    return config.model_copy(update={"model": config.model.member(member), "train": train})


@dataclass
class EnsembleRun:
    """What training an ensemble gives :func:`polymodal.fit`."""

    model: EnsembleModel | Any  # a single member's model when only one could be trained in the budget
    config: FitConfig  # the config with the members actually trained
    result: TrainResult
    members: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    cross_fitted_logits: dict[str, Tensor] | None = None


def _combined_result(results: list[TrainResult]) -> TrainResult:
    history, offset = [], 0
    for i, r in enumerate(results):
        history += [{**row, "epoch": row["epoch"] + offset, "member": i} for row in r.history]
        offset += max((int(row["epoch"]) + 1 for row in r.history), default=r.epochs_run)
    seconds = sum(r.train_seconds for r in results)
    samples = sum(r.samples_per_second * r.train_seconds for r in results)
    return TrainResult(
        best_val_loss=min(r.best_val_loss for r in results), best_epoch=-1,
        epochs_run=sum(r.epochs_run for r in results), train_seconds=seconds,
        samples_per_second=samples / max(seconds, 1e-9), history=history, log_path=results[0].log_path,
        global_rank=results[0].global_rank, time_limit_reached=any(r.time_limit_reached for r in results),
    )


def _cross_fitted(model: EnsembleModel, predictions: dict[str, Tensor], targets: dict[str, Tensor],
                  seed: int) -> dict[str, Tensor] | None:
    """Out-of-fold ensemble logits of the validation rows (None when they are too few to cross-fit)."""
    n = len(next(iter(predictions.values())))
    if n < 2 * CROSS_FIT_FOLDS:
        return None
    fold = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) % CROSS_FIT_FOLDS
    out: dict[str, Tensor] = {}
    for k in range(CROSS_FIT_FOLDS):
        train, test = fold != k, fold == k
        model.fit_combiner({t: p[train] for t, p in predictions.items()}, {t: y[train] for t, y in targets.items()})
        part = model.combine({t: p[test] for t, p in predictions.items()})
        for t, logits in part.items():
            out.setdefault(t, torch.zeros(n, logits.shape[1]))[test] = logits.detach()
    return out


def train_ensemble(config: FitConfig, build: Callable[[FitConfig], Any], targets: Mapping[str, tuple[str, int]],
                   train_data: EncodedData, val_data: EncodedData, work: Path) -> EnsembleRun:
    """Train ``config.model.ensemble``'s members with ``build(member_fit_config)`` (a seeded
    :class:`~polymodal.engine.module.SupervisedModule`), then fit the stacking meta-model on the
    validation rows. ``targets``: ``{target: (task, outputs)}``."""
    members = config.model.ensemble
    budget = config.train.time_limit
    start = time.perf_counter()
    modules: list[Any] = []
    results: list[TrainResult] = []
    records: list[dict[str, Any]] = []
    dropped: list[int] = []
    for i in range(len(members)):
        share = None
        if budget is not None:
            left = budget - (time.perf_counter() - start)
            if left < MIN_MEMBER_SECONDS and modules:
                dropped = list(range(i, len(members)))
                break
            share = max(left, MIN_MEMBER_SECONDS) / (len(members) - i)
        cfg = member_config(config, i, share)
        module = build(cfg)
        result = train(module, train_data, val_data, cfg.train, work / f"member-{i}")
        refit_stacking(module.model, train_data, seed=cfg.train.seed)
        modules.append(module)
        results.append(result)
        records.append({"member": i, "fusion": cfg.model.fusion, "seed": cfg.train.seed,
                        "best_val_loss": result.best_val_loss, "epochs_run": result.epochs_run,
                        "train_seconds": round(result.train_seconds, 2),
                        "time_limit_reached": result.time_limit_reached})
    kept = [members[i] for i in range(len(modules))]
    combined = _combined_result(results)
    if len(modules) == 1:  # the budget allowed one member: it is the model
        single = config.model.member(kept[0])
        train_cfg = config.train.model_copy(update={"seed": config.train.seed + kept[0].seed})
        return EnsembleRun(modules[0].model, config.model_copy(update={"model": single, "train": train_cfg}),
                           combined, records, dropped)
    model = EnsembleModel({str(i): m.model for i, m in enumerate(modules)}, targets)
    predictions = model.member_predictions(val_data)
    val_targets = {name: val_data.targets[name].cpu() for name in targets}
    cross = _cross_fitted(model, predictions, val_targets, config.train.seed)
    model.fit_combiner(predictions, val_targets)
    resolved = config.model_copy(update={"model": config.model.model_copy(update={"ensemble": kept})})
    return EnsembleRun(model, resolved, combined, records, dropped, cross)


__all__ = ["MIN_MEMBER_SECONDS", "EnsembleRun", "member_config", "train_ensemble"]
