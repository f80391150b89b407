"""``fit`` on a table larger than memory: schema and preprocessing fitted on a sample, training streamed.

Memory holds the fit sample, one chunk (plus one batch) and the model, whatever the number of rows.
Rows go to training or validation by a seeded hash of their position
(:func:`~polymodal.data.streaming.hash_split`); validation metrics are accumulated chunk by chunk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from polymodal.config import FitConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import TaskKind
from polymodal.data.streaming import StreamingDataset, hash_split, load_chunk, sample_rows, stream_format
from polymodal.encoders.pretrained import with_pretrained_preprocessing
from polymodal.engine.fit_steps import build_module, finish, fit_baseline, infer_table_schema
from polymodal.engine.presets import resolve_preset
from polymodal.engine.stacking import refit_stacking
from polymodal.engine.trainer import train_loaders
from polymodal.evaluation.metrics import build_metrics, metric_inputs
from polymodal.predictor import Predictor


def _check_streamable(table: Any, config: FitConfig, resume: bool) -> Path:
    if not isinstance(table, (str, Path)):
        raise TypeError(f"streaming reads a table file (CSV or Parquet path), got {type(table).__name__}; "
                        "pass the file's path, or turn streaming off for a table already in memory")
    if config.data.split_column:
        raise ValueError("streaming does not support a split column yet; hold the test rows out in their own "
                         "file and evaluate the saved model on it")
    if resume:
        raise ValueError("streaming does not support resume yet; start the run again without resume")
    stream_format(table)
    return Path(table)


def fit_pipeline_on_sample(path: Path, config: FitConfig) -> tuple[DataPipeline, EncodedData, dict[str, Any]]:
    """Schema and preprocessing fitted on a seeded sample of ``config.data.fit_sample_rows`` rows (its
    training rows only); returns the pipeline, the sample's encoded training rows, and all the sample's rows
    encoded with their positions in each split (``{"train": ..., "val": ...}``, for the classical baseline)."""
    data, seed = config.data, config.train.seed
    sample = sample_rows(path, data.fit_sample_rows, seed=seed, chunk_rows=data.chunk_rows)
    schema = infer_table_schema(sample.reset_index(drop=True), config)
    loaded = load_chunk(sample, schema, path.parent.resolve(), str(path), data.on_error, data.data_root)
    train_rows = np.flatnonzero(~hash_split(loaded.rows, config.train.val_fraction, seed))
    if len(train_rows) == 0:
        raise ValueError(f"the fit sample of {path} has no training row; raise fit_sample_rows")
    kinds = {m.name: m.kind for m in schema.modalities}
    preprocess = with_pretrained_preprocessing(data.preprocess, config.model.encoders, config.model.encoder_args,
                                               kinds)
    pipeline = DataPipeline(schema, preprocess).fit(loaded, train_rows)
    encoded = pipeline.transform(loaded)
    val_rows = np.setdiff1d(np.arange(len(loaded.rows)), train_rows)
    return pipeline, encoded.subset(train_rows), {"all": encoded, "train": train_rows, "val": val_rows}


def evaluate_stream(predictor: Predictor, chunks: Iterable[EncodedData]) -> dict[str, dict[str, float]]:
    """Metrics per target accumulated over encoded chunks (the same values as one pass over all rows)."""
    encoders = predictor.pipeline.targets
    metrics = {n: build_metrics(e.task, max(len(e.classes_), 1)) for n, e in encoders.items()}
    for data in chunks:
        logits = predictor.logits(data)
        for name, encoder in encoders.items():
            preds, target = metric_inputs(encoder.task, logits[name], data.targets[name])
            if encoder.task is TaskKind.REGRESSION:
                preds, target = preds * encoder.std_ + encoder.mean_, target * encoder.std_ + encoder.mean_
            metrics[name].update(preds, target)
    return {n: {k: float(v) for k, v in m.compute().items()} for n, m in metrics.items()}


def fit_stream(table: Any, config: FitConfig, out: str | Path | None = None,
               run_dir: str | Path | None = None, resume: bool = False, force: bool = False) -> Predictor:
    """:func:`~polymodal.engine.fit.fit` with ``config.data.stream``: the table file is read in chunks of
    ``config.data.chunk_rows`` rows at every pass and never held whole in memory."""
    path = _check_streamable(table, config, resume)
    pipeline, sample_train, sample = fit_pipeline_on_sample(path, config)
    if config.train.preset == "best" or config.model.ensemble:
        raise ValueError("an ensemble (preset best, model.ensemble) does not work with streamed tables (data.stream) "
                         "yet; choose preset medium or fast")
    config, preset = resolve_preset(config, pipeline.input_info(), len(sample_train))
    module = build_module(config, pipeline)
    options: dict[str, Any] = {
        "val_fraction": config.train.val_fraction, "seed": config.train.seed,
        "batch_size": config.train.batch_size, "chunk_rows": config.data.chunk_rows,
        "on_error": config.data.on_error, "data_root": config.data.data_root,
    }
    train_set = StreamingDataset(path, pipeline, "train", shuffle=True, **options)
    val_set = StreamingDataset(path, pipeline, "val", **options)
    workers = config.train.num_workers
    loaders = [DataLoader(s, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
               for s in (train_set, val_set)]
    work = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="polymodal-run-"))
    result = train_loaders(module, loaders[0], loaders[1], config.train, work)
    refit_stacking(module.model, sample_train, seed=config.train.seed)  # on the sample's training rows
    predictor = Predictor(config, pipeline, module.model)
    validation = evaluate_stream(predictor, val_set.encoded_chunks())
    report, train_report = val_set.report, train_set.report  # the last pass of each (without workers)
    predictor.metrics = {
        "validation": validation,
        "train": {k: v for k, v in asdict(result).items() if k not in ("history", "global_rank")},
        "sizes": {"train": train_report.rows_used, "val": report.rows_used, "fit_sample_train": len(sample_train)},
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "skipped": {"cells": dict(train_report.skipped_cells + report.skipped_cells),
                    "rows": sorted(train_report.dropped_rows + report.dropped_rows)},
        "stream": {"chunk_rows": config.data.chunk_rows, "fit_sample_rows": config.data.fit_sample_rows},
        "preset": {**preset, "rows_of": "the training rows of the fit sample"},
    }
    if config.train.baseline and len(sample["val"]):  # on the fit sample: the whole table may not fit in memory
        splits = {"train": sample["train"], "val": sample["val"]}
        predictor.metrics["baseline"] = fit_baseline(pipeline, sample["all"], splits, config.train.seed)
        predictor.metrics["baseline_rows"] = "the fit sample (fit_sample_rows), its own training and validation rows"
    return finish(predictor, result, config, work, out, force)
