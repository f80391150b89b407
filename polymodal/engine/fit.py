"""``fit``: a table in, a trained :class:`~polymodal.predictor.Predictor` out."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import Callback

from polymodal.config import FitConfig, ModelConfig
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import Schema, TaskKind
from polymodal.data.splits import split_by_column, stratified_split
from polymodal.data.table import Table, read_table
from polymodal.data.validation import LoadedTable, load_table
from polymodal.encoders.pretrained import with_pretrained_preprocessing
from polymodal.encoders.pretrained.joint import with_joint_encoders
from polymodal.engine.bundle import check_writable_bundle_path
from polymodal.engine.ensemble import train_ensemble
from polymodal.engine.fit_steps import build_module, finish, fit_baseline, infer_table_schema
from polymodal.engine.presets import resolve_preset
from polymodal.engine.resume import RESUME_DIR
from polymodal.engine.stacking import refit_stacking
from polymodal.engine.state_files import check_state_path
from polymodal.engine.stream_fit import fit_stream
from polymodal.engine.trainer import train
from polymodal.engine.transfer import TransferSource
from polymodal.errors import DataError
from polymodal.fusion import FUSIONS
from polymodal.predictor import Predictor, TableLike


def _splits(loaded: LoadedTable, frame: Any, schema: Schema, config: FitConfig) -> dict[str, np.ndarray]:
    positions = np.arange(len(loaded.rows))
    test = np.empty(0, dtype=np.int64)
    if config.data.split_column:
        _, test_rows = split_by_column(frame, config.data.split_column)
        in_test = np.isin(loaded.rows, test_rows)
        positions, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
        if len(positions) == 0:
            raise DataError(f"split column {config.data.split_column!r} marks every row as test")
    labels = None
    first = schema.targets[0]
    if first.task in (TaskKind.BINARY, TaskKind.MULTICLASS):
        labels = loaded.targets[first.column].iloc[positions].to_numpy()
    tr, va = stratified_split(len(positions), labels, config.train.val_fraction, config.train.seed)
    return {"train": positions[tr], "val": positions[va], "test": test}


def _without_unseen_labels(pipeline: DataPipeline, loaded: LoadedTable,
                           splits: dict[str, np.ndarray]) -> tuple[LoadedTable, dict[str, np.ndarray]]:
    """``loaded`` without the validation and test rows whose labels the training rows never held (reported
    as dropped), and ``splits`` moved to the positions of the rows that are left."""
    kept = pipeline.drop_unseen_labels(loaded)
    if kept is loaded:
        return loaded, splits
    position = np.full(len(loaded.rows), -1, dtype=np.int64)
    keep = np.isin(loaded.rows, kept.rows)
    position[keep] = np.arange(int(keep.sum()))
    return kept, {name: position[idx][position[idx] >= 0] for name, idx in splits.items()}


def run_fingerprint(config: FitConfig, splits: dict[str, np.ndarray]) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint: the config (less display options) and the rows
    of each split (their count and a hash of the row positions)."""
    resolved = config.model_dump(mode="json")
    resolved["train"].pop("progress", None)
    resolved["train"].pop("verbose", None)
    resolved["train"].pop("time_limit", None)  # a resumed run may be given another budget
    rows = {name: {"count": len(idx), "sha256": hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()}
            for name, idx in splits.items()}
    return {"config": resolved, "rows": rows}



def check_transfer_options(model: ModelConfig) -> None:
    """``freeze`` and ``transfer="trunk"`` need ``init_from``; an early (raw-input) fusion has no encoders."""
    if model.init_from is None:
        if model.freeze or model.transfer != "encoders":
            raise ValueError("freeze and transfer='trunk' act on transferred weights: give init_from=BUNDLE "
                             "(--init-from BUNDLE)")
        return
    if model.transfer == "encoders" and getattr(FUSIONS.get(model.fusion).factory, "raw_inputs", False):
        raise ValueError(f"the fusion {model.fusion!r} feeds raw inputs to the model, with no encoders to "
                         f"initialise from {model.init_from}; choose another fusion")


def check_outputs(table: TableLike, kind: str, out: str | Path | None, run_dir: str | Path | None,
                  data_root: str | None, force: bool = False) -> None:
    """Refuse, before any training, an ``out`` that saving a bundle of ``kind`` may not replace (a folder
    that is not a bundle; the current folder; one holding the table or the data root; see
    :func:`~polymodal.engine.bundle.check_writable_bundle_path`) and a ``run_dir`` whose resume folder
    holds other files."""
    if out is not None:
        inputs: list[str | Path] = [data_root] if data_root else []
        if isinstance(table, (str, Path)):
            inputs.append(table)
        elif isinstance(table, Table):
            inputs.append(table.base_dir)
        check_writable_bundle_path(out, kind, force=force, inputs=inputs)
    if run_dir is not None:
        check_state_path(Path(run_dir) / RESUME_DIR)


def fit(table: TableLike, config: FitConfig, out: str | Path | None = None,
        run_dir: str | Path | None = None, resume: bool = False, force: bool = False,
        callbacks: Sequence[Callback] = ()) -> Predictor:
    """Train a supervised multimodal model as ``config`` says; save it to ``out`` if given.

    ``predictor.metrics`` holds validation (and, with a split column, test) metrics, training cost and
    the skip report; ``run_dir`` receives the per-epoch CSV log, the best checkpoint and a resume
    checkpoint written at every epoch end. ``resume=True`` continues a killed run from its last
    completed epoch (same config and table; anything else is a :class:`~polymodal.errors.ResumeError`).
    Under multi-process training only global rank 0 writes ``out`` and ``config.json``. ``out`` is
    checked before training: an existing folder there is replaced only when it is a supervised bundle
    (``force=True`` also replaces another kind of bundle, or a damaged one; never a folder that is not
    a bundle, nor the current folder or one holding the table). ``callbacks`` are extra Lightning callbacks
    for the training loop (e.g. the pruner of :func:`polymodal.engine.tune.tune`; not with streamed tables).
    """
    if not config.data.targets:
        raise ValueError("fit needs at least one target column (--target COL)")
    if resume and run_dir is None:
        raise ValueError("resume needs the run folder of the run to continue (run_dir=..., --run-dir DIR)")
    check_transfer_options(config.model)
    if resume and (config.model.ensemble or config.train.preset == "best"):
        raise ValueError("resume does not work with an ensemble (model.ensemble, preset best) yet: rerun "
                         "without --resume")
    check_outputs(table, "supervised", out, run_dir, config.data.data_root, force)
    if config.data.stream:
        if config.model.init_from or callbacks:
            raise ValueError("init_from and callbacks do not work with streamed tables (data.stream) yet; "
                             "turn one off")
        return fit_stream(table, config, out, run_dir, resume, force)
    tbl = read_table(table)
    schema = infer_table_schema(tbl.frame, config)
    kinds = {m.name: m.kind for m in schema.modalities}
    config = config.model_copy(update={"model": with_joint_encoders(config.model, kinds)})  # image+text=hf:...
    source = TransferSource.load(config.model.init_from) if config.model.init_from else None
    if source is not None:
        config = config.model_copy(update={"model": source.resolve(config.model, schema, config.model.transfer)})
    preprocess = with_pretrained_preprocessing(config.data.preprocess, config.model.encoders,
                                               config.model.encoder_args, kinds)
    pipeline = DataPipeline(schema, preprocess, fitted=source.preprocessors if source else None)
    loaded = load_table(tbl, schema, on_error=config.data.on_error, data_root=config.data.data_root,
                        file_lookups=pipeline.file_lookups(), max_image_pixels=pipeline.image_pixel_limits())
    splits = _splits(loaded, tbl.frame, schema, config)
    pipeline.fit(loaded, splits["train"])
    if config.data.on_error == "skip":  # skip drops the rows whose target is unusable, unseen labels too
        loaded, splits = _without_unseen_labels(pipeline, loaded, splits)
    config, preset = resolve_preset(config, pipeline.input_info(), len(splits["train"]))
    data = pipeline.transform(loaded)
    work = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="polymodal-run-"))
    train_data, val_data = data.subset(splits["train"]), data.subset(splits["val"])
    transferred, ensemble = None, None
    if config.model.ensemble:
        # extra callbacks (tune's pruner) watch one model's epochs: an ensemble's members train without them
        targets = {n: (e.task.value, e.num_outputs) for n, e in pipeline.targets.items()}
        ensemble = train_ensemble(config, lambda cfg: build_module(cfg, pipeline), targets, train_data, val_data,
                                  work)
        config, model, result = ensemble.config, ensemble.model, ensemble.result
    else:
        module = build_module(config, pipeline)
        transferred = source.initialise(module.model, config.model.transfer, config.model.freeze) if source else None
        fingerprint = run_fingerprint(config, splits) if run_dir is not None else None
        result = train(module, train_data, val_data, config.train, work, fingerprint=fingerprint, resume=resume,
                       callbacks=callbacks)
        refit_stacking(module.model, train_data, seed=config.train.seed)
        model = module.model
    predictor = Predictor(config, pipeline, model)
    cross = ensemble.cross_fitted_logits if ensemble is not None else None
    metrics: dict[str, Any] = {
        "validation": (predictor.score(cross, val_data.targets) if cross is not None
                       else predictor.evaluate_encoded(val_data)),
        "train": {k: v for k, v in asdict(result).items() if k not in ("history", "global_rank")},
        "sizes": {k: len(v) for k, v in splits.items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "skipped": {"cells": dict(loaded.report.skipped_cells), "rows": loaded.report.dropped_rows},
        "preset": preset,
    }
    if transferred is not None:
        metrics["transfer"] = transferred
    if ensemble is not None:
        metrics["ensemble"] = {"members": ensemble.members, "dropped_for_time": ensemble.dropped,
                               "validation": "cross-fitted" if cross is not None else "fitted on these rows"}
    if len(splits["test"]):
        metrics["test"] = predictor.evaluate_encoded(data.subset(splits["test"]))
    if config.train.baseline:
        metrics["baseline"] = fit_baseline(pipeline, data, splits, config.train.seed)
    predictor.metrics = metrics
    predictor.last_report = loaded.report
    return finish(predictor, result, config, work, out, force)


