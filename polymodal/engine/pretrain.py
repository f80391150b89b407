"""``pretrain``: a table in, a learned multimodal representation out (no targets needed).

Example
-------
>>> from polymodal.engine.pretrain import embed, pretrain
>>> encoder = pretrain("digits.csv", "contrastive", ignore=["digit"], epochs=5, out="encoder/")  # doctest: +SKIP
>>> embed("encoder/", "digits.csv").shape                                                      # doctest: +SKIP
(1797, 32)
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from polymodal.config import PretrainConfig, with_options
from polymodal.data.module import DataModule, TableDataModule
from polymodal.encoders.pretrained.joint import joint_init
from polymodal.engine.fit_steps import (
    announce_inputs,
    check_outputs,
    data_module,
    prepare_inputs,
    run_fingerprint,
    run_folder,
    train_metrics,
)
from polymodal.engine.pretrain_module import PretrainModule
from polymodal.engine.trainer import train_on
from polymodal.models.dcca import DCCAModel
from polymodal.models.objectives import OBJECTIVES, build_representation_model
from polymodal.pretrained import BUNDLE_KIND, PretrainedModel, TableLike
from polymodal.storage.atomic import atomic_write_json


def pretrain_config(objective: str | None = None, config: PretrainConfig | None = None,
                    **options: Any) -> PretrainConfig:
    """``config`` (default: all defaults) with ``objective`` and ``options`` (fields of any section) set;
    an unknown option is an error listing the valid ones."""
    if objective is not None:
        options["objective"] = objective
    return with_options(config if config is not None else PretrainConfig(), options)


def check_dcca_batches(sizes: dict[str, int], batch_size: int, latent_dim: int,
                       drop_last: Collection[str] = ()) -> None:
    """Deep CCA estimates covariances per batch: every batch, the last included, must hold more rows
    than the latent size. The splits named in ``drop_last`` lose an incomplete last batch, so only
    their full batches count (and they need at least one). Raises a ValueError naming a batch size
    that works, or ``drop_last``."""
    def fits(split: str, n: int, b: int) -> bool:
        if split in drop_last:
            return n >= b > latent_dim
        return min(n, b) > latent_dim and (n % b == 0 or n % b > latent_dim)

    bad = {split: n for split, n in sizes.items() if not fits(split, n, batch_size)}
    if not bad:
        return
    small = {split: n for split, n in sizes.items() if n <= latent_dim}
    if small:
        raise ValueError(f"deep CCA needs more paired rows than the latent size {latent_dim}; the {', '.join(small)} "
                         f"split has {min(small.values())}: use a smaller latent_dim or more rows")
    split, n = next(iter(bad.items()))
    if batch_size <= latent_dim:
        raise ValueError(f"deep CCA estimates correlations per batch, and batch_size {batch_size} is not larger than "
                         f"the latent size {latent_dim}: use batch_size={latent_dim + 1} or more")
    if split in drop_last:
        raise ValueError(f"with drop_last the {split} split's {n} row(s) hold no full batch of {batch_size}: "
                         f"use batch_size={n} or less")
    top = max(sizes.values())
    good = next((b for b in range(latent_dim + 1, top + 1)
                 if b >= batch_size and all(fits(s, m, b) for s, m in sizes.items())), top)
    hint = " or drop_last=True" if split == "training" else ""
    raise ValueError(f"deep CCA estimates correlations per batch, and with batch_size {batch_size} the last {split} "
                     f"batch holds {n % batch_size or n} of {n} row(s), not more than the latent size {latent_dim}; "
                     f"use batch_size={good}{hint} (or a smaller latent_dim)")


def pretrain(
    table: TableLike | DataModule, objective: str | None = None, *, config: PretrainConfig | None = None,
    out: str | Path | None = None, run_dir: str | Path | None = None, resume: bool = False, force: bool = False,
    **options: Any,
) -> PretrainedModel:
    """Learn a representation of ``table``'s modalities with ``objective`` (see ``OBJECTIVES``).

    ``options`` are fields of :class:`DataConfig`, :class:`PretrainModelConfig` or :class:`TrainConfig`
    (``epochs=10``, ``objective_args={"latent_dim": 16}``, ``ignore=["label"]``). Columns named in
    ``targets`` or ``ignore`` are left out. Training keeps the epoch with the lowest validation loss;
    the result is saved to ``out`` when given. ``out`` is checked before training, as by
    :func:`polymodal.engine.fit.fit` (``force=True`` replaces a bundle of another kind or a damaged one).
    ``stream=True`` reads a table larger than memory in chunks (a file, or a folder or glob of Parquet
    shards), as fit does. ``run_dir`` keeps the log and a resume checkpoint written at every epoch end;
    ``resume=True`` continues a killed run from its last completed epoch, to the uninterrupted result.
    """
    cfg = pretrain_config(objective, config, **options)
    if resume and run_dir is None:
        raise ValueError("resume needs the run folder of the run to continue (run_dir=..., --run-dir DIR)")
    OBJECTIVES.get(cfg.model.objective)  # an unknown name fails before any data is read, listing the known ones
    if cfg.model.freeze and not cfg.model.init_from:
        raise ValueError("freeze acts on transferred encoders: give init_from=BUNDLE (--init-from BUNDLE)")
    check_outputs(table, BUNDLE_KIND, out, run_dir, cfg.data.data_root, force)
    data = data_module(table, cfg, supervised=False)
    # init_from=hf:JOINT starts from a joint model's towers; image+text=hf:... becomes one encoder per column
    cfg = cfg.model_copy(update={"model": joint_init(cfg.model)})
    announce_inputs(data)
    cfg, source, preparation = prepare_inputs(cfg, data.schema, left_out=data.left_out)
    data.setup(preparation)
    pipeline = data.fitted
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)  # the initial weights depend on the seed
    model = build_representation_model(cfg.model.objective, pipeline.input_info(), data.kinds, cfg.model.encoders,
                                       cfg.model.encoder_args, cfg.model.objective_args, cfg.model.augment)
    transferred = source.initialise(model, "encoders", cfg.model.freeze) if source else None
    _check_something_trains(model, cfg.model.encoders)
    if isinstance(model, DCCAModel):  # correlations need both views of a row
        if not isinstance(data, TableDataModule):
            raise ValueError("deep CCA does not stream tables yet (data.stream): its batches need every view of a "
                             "row; pretrain it in memory, or choose another objective (contrastive, autoencoder, ...)")
        data.keep_complete_rows(("train", "val"))
        sizes = {"training": len(data.splits["train"]), "validation": len(data.splits["val"])}
        check_dcca_batches(sizes, cfg.train.batch_size, model.embedding_dim,
                           drop_last=("training",) if cfg.train.drop_last else ())
    module = PretrainModule(model, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    with run_folder(run_dir, "polymodal-pretrain-") as work:
        fingerprint = run_fingerprint(cfg, data) if run_dir is not None else None
        result = train_on(module, data, cfg.train, work, fingerprint=fingerprint, resume=resume,
                          select_best=model.select_best_epoch)
        summary = data.summary()
        metrics = {
            "train": train_metrics(result, kept_folder=run_dir is not None),
            "sizes": {k: v for k, v in summary["sizes"].items() if k != "test"},
            "parameters": sum(p.numel() for p in model.parameters()),
            "skipped": summary["skipped"],
            **({"transfer": transferred} if transferred is not None else {}),
            "history": result.history,
        }
        pretrained = PretrainedModel(cfg, pipeline, module.model, metrics)
        pretrained.history = result.history
        atomic_write_json(work / "config.json", cfg.model_dump(mode="json"))
    if out is not None:
        pretrained.save(out, force=force)
    return pretrained


def _check_something_trains(model: Any, encoders: dict[str, str]) -> None:
    """Frozen towers of a joint model have no head to train: say how to fine-tune them, or to use them as they are."""
    joint = sorted(n for n, e in encoders.items() if e.startswith("joint-"))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("loss.")]
    if joint and not trainable:
        raise ValueError(f"nothing to train: the joint model's towers ({', '.join(joint)}) are frozen (the default) "
                         "and need no head; fine-tune them with --encoder-arg A+B.train=last:N (or full), or use the "
                         "model as it is: polymodal embed / retrieve / zero-shot hf:NAME")


def load_pretrained(path: str | Path) -> PretrainedModel:
    """Load a bundle saved by :func:`pretrain` (kind ``"pretrained"``); refuses pickle files."""
    return PretrainedModel.load(path)


def embed(bundle: str | Path | PretrainedModel, table: TableLike) -> np.ndarray:
    """The learned representation ``[N, D]`` of every row of ``table``."""
    model = bundle if isinstance(bundle, PretrainedModel) else PretrainedModel.load(bundle)
    return model.embed(table)
