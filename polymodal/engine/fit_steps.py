"""The steps every run shares, supervised or not, in memory or streamed: the checks before training, the
data module, the inputs' preprocessing, the module, the run folder, the baseline and the end.

:func:`polymodal.engine.fit.fit` and :func:`polymodal.engine.pretrain.pretrain` both call them; the table
path itself is :mod:`polymodal.data.module`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import lightning as L
import numpy as np
import torch

from polymodal.config import FitConfig, ModelConfig, PretrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.module import DataModule, Preparation, StreamingDataModule, TableDataModule, TableLike
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import Schema, TaskKind
from polymodal.data.suspects import input_summary, suspect_columns
from polymodal.data.table import Table
from polymodal.data.weights import class_weight_tensor, resolve_class_weights, sample_weight_summary, sample_weights
from polymodal.encoders.base import Encoder
from polymodal.encoders.pretrained import with_pretrained_preprocessing
from polymodal.encoders.pretrained.joint import with_joint_encoders
from polymodal.engine.balance import ModalityBalance
from polymodal.engine.module import SupervisedModule
from polymodal.engine.resume import RESUME_DIR
from polymodal.engine.state_files import check_state_path
from polymodal.engine.trainer import TrainResult
from polymodal.engine.transfer import TransferSource
from polymodal.errors import PolymodalWarning
from polymodal.evaluation.baseline import classical_baseline
from polymodal.evaluation.metrics import update_metrics
from polymodal.fusion import FUSIONS
from polymodal.models.builder import build_model
from polymodal.models.ensemble import EnsembleModel
from polymodal.models.supervised import FusionModel
from polymodal.predictor import Predictor
from polymodal.storage.atomic import atomic_write_json
from polymodal.storage.bundle import check_writable_bundle_path

RunConfig = TypeVar("RunConfig", FitConfig, PretrainConfig)
logger = logging.getLogger(__name__)


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


def check_outputs(table: TableLike | DataModule, kind: str, out: str | Path | None, run_dir: str | Path | None,
                  data_root: str | None, force: bool = False) -> None:
    """Refuse, before any training, an ``out`` that saving a bundle of ``kind`` may not replace (a folder
    that is not a bundle; the current folder; one holding the table or the data root; see
    :func:`~polymodal.storage.bundle.check_writable_bundle_path`) and a ``run_dir`` whose resume folder
    holds other files."""
    if out is not None:
        inputs: list[str | Path] = [data_root] if data_root else []
        if isinstance(table, TableDataModule) and table.table is not None:
            table = table.table
        elif isinstance(table, StreamingDataModule):
            table = table.path
        if isinstance(table, (str, Path)):
            inputs.append(table)
        elif isinstance(table, Table):
            inputs.append(table.base_dir)
        check_writable_bundle_path(out, kind, force=force, inputs=inputs)
    if run_dir is not None:
        check_state_path(Path(run_dir) / RESUME_DIR)


def data_module(table: TableLike | DataModule, config: FitConfig | PretrainConfig, supervised: bool) -> DataModule:
    """The data module of a run: ``table`` itself when it is one (set up or not), else one over ``table``,
    streamed when ``config.data.stream``."""
    if isinstance(table, DataModule):
        if table.supervised != supervised:
            raise ValueError(f"this data module was made {'with' if table.supervised else 'without'} targets; "
                             f"a {'supervised fit' if supervised else 'pretraining run'} needs one made "
                             f"{'with' if supervised else 'without'} them")
        return table
    kind = StreamingDataModule if config.data.stream else TableDataModule
    return kind(table, config.data, supervised=supervised, val_fraction=config.train.val_fraction,
                seed=config.train.seed)


def announce_inputs(data: DataModule) -> None:
    """Before training: log which columns form which modality, and warn about each input column that looks
    like a label, a split or an identifier (:func:`~polymodal.data.suspects.suspect_columns`), with the flag
    that leaves it out."""
    logger.info("inputs:\n%s", input_summary(data.schema))
    for suspect in suspect_columns(data.frame, data.schema, unsupervised=not data.supervised):
        warnings.warn(suspect.message(), PolymodalWarning, stacklevel=3)


def prepare_inputs(config: RunConfig, schema: Schema, transfer: str = "encoders", left_out: Sequence[str] = (),
                   ) -> tuple[RunConfig, TransferSource | None, Preparation]:
    """``config`` with its encoders resolved for ``schema`` (a joint model's columns, a transferred
    bundle's encoders), the bundle to transfer from, and the preprocessing those encoders need;
    ``left_out`` (the columns the run leaves out) lets a transfer error say which flag to drop."""
    kinds = {m.name: m.kind for m in schema.modalities}
    config = config.model_copy(update={"model": with_joint_encoders(config.model, kinds)})  # image+text=hf:...
    source = TransferSource.load(config.model.init_from) if config.model.init_from else None
    if source is not None:
        config = config.model_copy(update={"model": source.resolve(config.model, schema, transfer, left_out)})
    model = config.model
    preprocess = with_pretrained_preprocessing(config.data.preprocess, model.encoders, model.encoder_args, kinds)
    return config, source, Preparation(preprocess, source.preprocessors if source else None)


def build_module(config: FitConfig, pipeline: DataPipeline) -> SupervisedModule:
    """The model ``config`` describes for the fitted ``pipeline``, seeded, wrapped for training."""
    targets = {n: (e.task.value, e.num_outputs) for n, e in pipeline.targets.items()}
    kinds = {m.name: m.kind for m in pipeline.schema.modalities}
    L.seed_everything(config.train.seed, workers=True, verbose=False)  # the initial weights depend on the seed
    model = build_model(config.model, pipeline.input_info(), kinds, targets)
    if isinstance(model, EnsembleModel):
        raise TypeError("an ensemble trains member by member (polymodal.engine.ensemble), not as one module")
    resolved = config.train.class_weight  # resolved by resolve_fit_weights: {target: {class: weight}}
    class_weights = ({n: class_weight_tensor(w, pipeline.targets[n]) for n, w in resolved.items()}
                     if isinstance(resolved, dict) else None)
    return SupervisedModule(
        model, {n: e.task for n, e in pipeline.targets.items()},
        {n: max(len(e.classes_), 1) for n, e in pipeline.targets.items()},
        {n: (e.mean_, e.std_) for n, e in pipeline.targets.items() if e.task is TaskKind.REGRESSION},
        lr=config.train.lr, weight_decay=config.train.weight_decay,
        loss_weighting=config.train.loss_weighting, loss_weights=config.train.loss_weights,
        label_smoothing=config.train.label_smoothing, class_weights=class_weights,
        balance=build_balance(config, model, pipeline),
    )


def resolve_fit_weights(config: FitConfig, data: DataModule) -> tuple[FitConfig, dict[str, Any]]:
    """``config`` with its class weights resolved on the training rows (``{target: {class: weight}}``, saved
    so in the bundle's config), and what the metrics report of the weights (``{}`` without any)."""
    rows = data.fit_rows()
    resolved = resolve_class_weights(config.train.class_weight, data.fitted.targets, rows.targets)
    report: dict[str, Any] = {}
    if resolved is not None:
        config = config.model_copy(update={"train": config.train.model_copy(update={"class_weight": resolved})})
        report["class_weight"] = resolved
    weights = sample_weights(rows.targets)
    if weights is not None and config.data.sample_weight is not None:
        report["sample_weight"] = sample_weight_summary(config.data.sample_weight, weights)
    return config, report


def build_balance(config: FitConfig, model: Any, pipeline: DataPipeline) -> ModalityBalance | None:
    """The modality-balancing method of ``config.train.balance`` for ``model`` (None for ``none``); an error
    for a model it does not apply to: a late or early fusion, frozen encoders, one modality, several towers."""
    method = config.train.balance
    if method == "none":
        return None
    flag = f"--balance {method}"
    entry = FUSIONS.get(config.model.fusion)
    if getattr(entry.factory, "raw_inputs", False) or getattr(entry.factory, "produces_predictions", False):
        kind = "an early (raw-input)" if getattr(entry.factory, "raw_inputs", False) else "a late"
        raise ValueError(f"{flag} balances the encoders of a middle fusion; {config.model.fusion!r} is {kind} "
                         "fusion: choose a middle fusion (concat, sum, attention, gated, low_rank, ...; see "
                         "`polymodal fusions`)")
    if config.model.freeze:
        raise ValueError(f"{flag} changes the encoders' gradients, but --freeze keeps the transferred encoders "
                         "fixed: leave out --freeze, or --balance")
    if not isinstance(model, FusionModel) or "shared" not in model.fusions:
        raise ValueError(f"{flag} works with one shared trunk (sharing hard), not with sharing "
                         f"{config.model.sharing!r}")
    if len(model.encoders) < 2:
        raise ValueError(f"{flag} balances several modalities; the table has one ({', '.join(model.encoders)})")
    frozen = [m for m, enc in model.encoders.items() if not any(p.requires_grad for p in enc.parameters())]
    if frozen:
        raise ValueError(f"{flag} changes the encoders' gradients, but the encoder(s) of {', '.join(frozen)} are "
                         "frozen (no trainable weight): choose trainable encoders, or leave out --balance")
    target, encoder = next(iter(pipeline.targets.items()))
    dims = {m: cast(Encoder, enc).output_dim for m, enc in model.encoders.items()}
    return ModalityBalance(method, dims, target, encoder.task, encoder.num_outputs, alpha=config.train.balance_alpha,
                           noise=config.train.balance_noise, every=config.train.balance_every)


def balance_scores(module: SupervisedModule, chunks: Iterable[EncodedData]) -> dict[str, float]:
    """The accuracy of each modality's auxiliary head on ``chunks`` (the rows that hold the modality)."""
    balance = module.balance
    if balance is None:
        return {}
    metrics = {m: module.aux_metrics[m].clone() for m in balance.modalities}
    for collection in metrics.values():
        collection.reset()
    module.eval()
    with torch.no_grad():
        for data in chunks:
            for start in range(0, len(data), 256):
                part = data.subset(np.arange(start, min(start + 256, len(data))))
                features = cast(FusionModel, module.model).encode(part.inputs)
                target = part.targets[balance.target]
                for m, head in balance.heads.items():
                    keep = part.masks[m].bool()
                    update_metrics(metrics[m], balance.task, head(features[m][keep]), target[keep])
    return {m: float(v["accuracy"].compute()) for m, v in metrics.items() if v["accuracy"].update_called}


def run_fingerprint(config: FitConfig | PretrainConfig, data: DataModule) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint: the config (less display options) and the rows
    the data module trains and validates on (see :meth:`DataModule.fingerprint`)."""
    resolved = config.model_dump(mode="json")
    resolved["train"].pop("progress", None)
    resolved["train"].pop("verbose", None)
    resolved["train"].pop("time_limit", None)  # a resumed run may be given another budget
    return {"config": resolved, "rows": data.fingerprint()}


@contextlib.contextmanager
def run_folder(run_dir: str | Path | None, prefix: str) -> Iterator[Path]:
    """``run_dir``, or a temporary folder removed when the run ends (its log is kept in the metrics)."""
    if run_dir is not None:
        yield Path(run_dir)
        return
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def train_metrics(result: TrainResult, kept_folder: bool) -> dict[str, Any]:
    """What the metrics keep of a training result: everything but the history (kept apart) and the rank;
    the log's path only when the run folder is kept."""
    skip = {"history", "global_rank", *(() if kept_folder else ("log_path",))}
    return {k: v for k, v in vars(result).items() if k not in skip}


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


__all__ = ["announce_inputs", "balance_scores", "build_balance", "build_module", "check_outputs",
           "check_transfer_options", "data_module", "finish", "fit_baseline", "prepare_inputs", "resolve_fit_weights",
           "run_fingerprint", "run_folder", "train_metrics"]
