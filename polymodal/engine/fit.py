"""``fit``: a table in, a trained :class:`~polymodal.predictor.Predictor` out."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from polymodal.config import FitConfig
from polymodal.data.module import DataModule, StreamingDataModule
from polymodal.engine.ensemble import train_ensemble
from polymodal.engine.fit_steps import (
    announce_inputs,
    balance_scores,
    build_module,
    check_outputs,
    check_transfer_options,
    data_module,
    finish,
    fit_baseline,
    prepare_inputs,
    resolve_fit_weights,
    run_fingerprint,
    run_folder,
    train_metrics,
)
from polymodal.engine.presets import resolve_preset
from polymodal.engine.stacking import refit_stacking
from polymodal.engine.trainer import train_on
from polymodal.errors import PolymodalWarning
from polymodal.evaluation.fit_checks import ClassCounter, fit_warnings
from polymodal.predictor import Predictor, TableLike


def fit(table: TableLike | DataModule, config: FitConfig, out: str | Path | None = None,
        run_dir: str | Path | None = None, resume: bool = False, force: bool = False,
        callbacks: Sequence[Callback] = ()) -> Predictor:
    """Train a supervised multimodal model as ``config`` says; save it to ``out`` if given.

    ``table`` is a table (path, DataFrame) or a :class:`~polymodal.data.module.DataModule` made with
    targets (set up once, it serves several fits with the same preprocessing, as a tuning study's trials).
    ``predictor.metrics`` holds validation (and, with a split column, test) metrics, training cost and
    the skip report; ``run_dir`` receives the per-epoch CSV log, the best checkpoint and a resume
    checkpoint written at every epoch end (without it the run folder is temporary, removed at the end;
    the log is kept in ``metrics["history"]``). ``resume=True`` continues a killed run from its last
    completed epoch (same config and table; anything else is a :class:`~polymodal.errors.ResumeError`).
    Under multi-process training only global rank 0 writes ``out`` and ``config.json``. ``out`` is
    checked before training: an existing folder there is replaced only when it is a supervised bundle
    (``force=True`` also replaces another kind of bundle, or a damaged one; never a folder that is not
    a bundle, nor the current folder or one holding the table). ``callbacks`` are extra Lightning callbacks
    for the training loop (e.g. the pruner of :func:`polymodal.engine.tune.tune`).
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
    data = data_module(table, config, supervised=True)
    streamed = isinstance(data, StreamingDataModule)
    if streamed and (config.train.preset == "best" or config.model.ensemble):
        raise ValueError("an ensemble (preset best, model.ensemble) does not work with streamed tables (data.stream) "
                         "yet; choose preset medium or fast")
    announce_inputs(data)
    config, source, preparation = prepare_inputs(config, data.schema, config.model.transfer, data.left_out)
    data.setup(preparation)
    pipeline = data.fitted
    config, preset = resolve_preset(config, pipeline.input_info(), data.n_train)
    config, weights = resolve_fit_weights(config, data)
    with run_folder(run_dir, "polymodal-run-") as work:
        transferred, ensemble, balance = None, None, None
        if config.model.ensemble:
            if config.train.balance != "none":
                raise ValueError(f"--balance {config.train.balance} trains one model's encoders; it does not work "
                                 "with an ensemble (model.ensemble, preset best) yet")
            # extra callbacks (tune's pruner) watch one model's epochs: an ensemble's members train without them
            targets = {n: (e.task.value, e.num_outputs) for n, e in pipeline.targets.items()}
            ensemble = train_ensemble(config, lambda cfg: build_module(cfg, pipeline), targets,
                                      data.fit_rows(), next(data.chunks("val")), work)
            config, model, result = ensemble.config, ensemble.model, ensemble.result
        else:
            module = build_module(config, pipeline)
            transferred = (source.initialise(module.model, config.model.transfer, config.model.freeze)
                           if source else None)
            fingerprint = run_fingerprint(config, data) if run_dir is not None else None
            result = train_on(module, data, config.train, work, fingerprint=fingerprint, resume=resume,
                              callbacks=callbacks)
            refit_stacking(module.model, data.fit_rows(), seed=config.train.seed)  # the (sample's) training rows
            model = module.model
            if module.balance is not None:
                balance = {**module.balance.summary(),
                           "auxiliary_accuracy": {split: balance_scores(module, data.chunks(split))
                                                  for split in ("val", "test")}}
        predictor = Predictor(config, pipeline, model)
        cross = ensemble.cross_fitted_logits if ensemble is not None else None
        counter = ClassCounter(pipeline.targets)
        if cross is not None:
            val_rows = next(data.chunks("val"))
            validation = predictor.score(cross, val_rows.targets)
            counter.add(val_rows, cross)
        else:
            validation = predictor.evaluate_chunks(data.chunks("val"), observe=counter.add)
        test = predictor.evaluate_chunks(data.chunks("test"))  # before the summary: a stream counts as it reads
        metrics: dict[str, Any] = {
            "validation": validation,
            "train": train_metrics(result, kept_folder=run_dir is not None),
            **data.summary(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "preset": {**preset, **({"rows_of": "the training rows of the fit sample"} if streamed else {})},
            "history": result.history,
        }
        rows = int(metrics["sizes"]["train"])
        steps = result.epochs_run * -(-rows // config.train.batch_size)  # (about: streamed rows are counted)
        problems = fit_warnings(validation, counter.counts(), steps=steps, epochs=result.epochs_run, rows=rows,
                                lr=config.train.lr)
        if problems:
            metrics["warnings"] = problems
            for problem in problems:
                warnings.warn(problem, PolymodalWarning, stacklevel=2)
        if transferred is not None:
            metrics["transfer"] = transferred
        if weights:
            metrics["weights"] = weights
        if balance is not None:
            metrics["balance"] = balance
        if ensemble is not None:
            metrics["ensemble"] = {"members": ensemble.members, "dropped_for_time": ensemble.dropped,
                                   "validation": "cross-fitted" if cross is not None else "fitted on these rows"}
        if test:
            metrics["test"] = test
        baseline = data.baseline_rows() if config.train.baseline else None
        if baseline is not None:  # streamed: on the fit sample, as the whole table may not fit in memory
            metrics["baseline"] = fit_baseline(pipeline, *baseline, config.train.seed)
            if streamed:
                metrics["baseline_rows"] = "the fit sample (fit_sample_rows), its own training and validation rows"
        predictor.metrics = metrics
        predictor.last_report = data.last_report
        return finish(predictor, result, config, work, out, force)
