"""The steps every supervised fit shares, in memory or streamed: the schema, the module, the baseline, the end.

:func:`polymodal.engine.fit.fit` and :func:`polymodal.engine.stream_fit.fit_stream` both call them, so
neither needs the other's module (the data flows one way: fit chooses the streamed path and calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from polymodal.config import FitConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import Schema, TaskKind, infer_schema
from polymodal.engine.atomic import atomic_write_json
from polymodal.engine.module import SupervisedModule
from polymodal.engine.trainer import TrainResult
from polymodal.evaluation.baseline import classical_baseline
from polymodal.models.builder import build_model
from polymodal.models.ensemble import EnsembleModel
from polymodal.predictor import Predictor


def infer_table_schema(frame: Any, config: FitConfig) -> Schema:
    data = config.data
    ignore = [*data.ignore, *([data.split_column] if data.split_column else [])]
    return infer_schema(frame, data.targets, data.modalities, data.tasks, ignore=ignore,
                        group_tabular=data.group_tabular)


def build_module(config: FitConfig, pipeline: DataPipeline) -> SupervisedModule:
    """The model ``config`` describes for the fitted ``pipeline``, seeded, wrapped for training."""
    targets = {n: (e.task.value, e.num_outputs) for n, e in pipeline.targets.items()}
    kinds = {m.name: m.kind for m in pipeline.schema.modalities}
    L.seed_everything(config.train.seed, workers=True, verbose=False)  # the initial weights depend on the seed
    model = build_model(config.model, pipeline.input_info(), kinds, targets)
    if isinstance(model, EnsembleModel):
        raise TypeError("an ensemble trains member by member (polymodal.engine.ensemble), not as one module")
    return SupervisedModule(
        model, {n: e.task for n, e in pipeline.targets.items()},
        {n: max(len(e.classes_), 1) for n, e in pipeline.targets.items()},
        {n: (e.mean_, e.std_) for n, e in pipeline.targets.items() if e.task is TaskKind.REGRESSION},
        lr=config.train.lr, weight_decay=config.train.weight_decay,
        loss_weighting=config.train.loss_weighting, loss_weights=config.train.loss_weights,
        label_smoothing=config.train.label_smoothing,
    )


def fit_baseline(pipeline: DataPipeline, data: EncodedData, splits: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """The classical baseline (:mod:`polymodal.evaluation.baseline`) on the fit's own rows and splits."""
    targets = {n: (e.task, max(len(e.classes_), 1)) for n, e in pipeline.targets.items()}
    scale = {n: (e.mean_, e.std_) for n, e in pipeline.targets.items() if e.task is TaskKind.REGRESSION}
    return classical_baseline(data, pipeline.input_info(), targets, splits, seed=seed, regression_scale=scale)


def finish(predictor: Predictor, result: TrainResult, config: FitConfig, work: Path,
           out: str | Path | None, force: bool = False) -> Predictor:
    """The end of every fit: the training history and rank on the predictor; rank 0 writes the config
    beside the run and saves the bundle to ``out`` (the other processes of a multi-process run write nothing)."""
    predictor.history = result.history
    predictor.global_rank = result.global_rank
    if result.global_rank == 0:
        atomic_write_json(work / "config.json", config.model_dump(mode="json"))
        if out is not None:
            predictor.save(out, force=force)
    return predictor


__all__ = ["build_module", "finish", "fit_baseline", "infer_table_schema"]
